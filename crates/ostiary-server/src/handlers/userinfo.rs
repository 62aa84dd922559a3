//! `GET/POST /userinfo` (OpenID Connect Core 5.3): claims about the user, for an access token
//! issued for this endpoint, in `Authorization: Bearer` (RFC 6750 2.1) or, bound to a key,
//! `Authorization: DPoP` with its proof (RFC 9449 7.1).

use axum::Json;
use axum::extract::State;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::ErrorCode;
use ostiary_core::dpop::{DPOP_SIGNING_ALGS, DpopError};
use ostiary_jwt::Algorithm;

use super::no_store;
use crate::extract::authorization::{Scheme, credentials};
use crate::extract::dpop::{DPOP_NONCE, dpop_proof};
use crate::state::AppState;

pub async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some((scheme, token)) = credentials(&headers) else {
        // RFC 6750 3.1, RFC 9449 7.1: no credentials, a bare challenge per scheme.
        return challenge(StatusCode::UNAUTHORIZED, None, None);
    };
    let proof = match (scheme, dpop_proof(&headers)) {
        (Scheme::Bearer, _) => None,
        (Scheme::Dpop, Ok(Some(proof))) => {
            let url = state.metadata["userinfo_endpoint"]
                .as_str()
                .unwrap_or_default();
            match state.dpop.check(proof, method.as_str(), url, Some(token)) {
                Ok(checked) => Some(checked),
                Err(refused) => return proof_refused(refused),
            }
        }
        (Scheme::Dpop, Ok(None) | Err(_)) => {
            return challenge(StatusCode::UNAUTHORIZED, Some("invalid_dpop_proof"), None);
        }
    };
    let key = proof.as_ref().map(|p| &p.confirmation);
    match state.tokens.userinfo(token, key).await {
        Ok(info) => {
            // Recorded only once the token proved valid and bound to the proof's key, so
            // nobody without such a token can fill the store with proofs.
            if let Some(checked) = proof
                && let Err(refused) = state.dpop.use_once(checked).await
            {
                return proof_refused(refused);
            }
            no_store(Json(info))
        }
        Err(e) => match e.code() {
            // The token was good, under the scheme it came with: only that one says why.
            ErrorCode::InsufficientScope => {
                let base = match scheme {
                    Scheme::Bearer => r#"Bearer realm="ostiary""#.to_owned(),
                    Scheme::Dpop => dpop_challenge(),
                };
                let value = format!(r#"{base}, error="insufficient_scope", scope="openid""#);
                respond(StatusCode::FORBIDDEN, vec![value], None)
            }
            ErrorCode::InvalidToken => {
                challenge(StatusCode::UNAUTHORIZED, Some("invalid_token"), None)
            }
            _ => crate::error::ApiError::from(e).into_response(),
        },
    }
}

/// A refused proof: `invalid_dpop_proof`, or `use_dpop_nonce` with the nonce to use.
fn proof_refused(refused: DpopError) -> Response {
    let nonce = refused.nonce.as_deref();
    challenge(
        StatusCode::UNAUTHORIZED,
        Some(refused.error.code().as_str()),
        nonce,
    )
}

/// The `DPoP` challenge's scheme and parameters (RFC 9449 7.1), without an error.
fn dpop_challenge() -> String {
    let algs = Algorithm::accepted_names(&DPOP_SIGNING_ALGS).join(" ");
    format!(r#"DPoP realm="ostiary", algs="{algs}""#)
}

/// Both schemes are offered (RFC 9449 7.1): a bound token sent as Bearer learns from the
/// `DPoP` challenge how to present it. `error` names what failed; proof errors belong to
/// the `DPoP` challenge only.
fn challenge(status: StatusCode, error: Option<&str>, nonce: Option<&str>) -> Response {
    let with_error = |base: String| match error {
        Some(code) => format!(r#"{base}, error="{code}""#),
        None => base,
    };
    let dpop = with_error(dpop_challenge());
    let bearer = match error.filter(|e| !e.contains("dpop")) {
        Some(_) => with_error(r#"Bearer realm="ostiary""#.to_owned()),
        None => r#"Bearer realm="ostiary""#.to_owned(),
    };
    respond(status, vec![bearer, dpop], nonce)
}

/// `status` with these `WWW-Authenticate` values and, for `use_dpop_nonce`, the nonce.
fn respond(status: StatusCode, challenges: Vec<String>, nonce: Option<&str>) -> Response {
    let mut response = no_store(status);
    let headers = response.headers_mut();
    for value in challenges {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(WWW_AUTHENTICATE, value);
        }
    }
    if let Some(nonce) = nonce.and_then(|n| HeaderValue::from_str(n).ok()) {
        headers.insert(DPOP_NONCE, nonce);
    }
    response
}
