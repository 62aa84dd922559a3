//! Signing in: `/bff/login` starts an authorization-code flow with PKCE (OAuth 2.1 section
//! 4.1, pushed with PAR and bound with DPoP where the server offers them), which
//! `/bff/callback` finishes (`callback.rs`). `/bff/user` shows the SPA who is signed in.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_core::random::random_token;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::Bff;
use super::cookies::{self, LOGIN, LOGIN_LIFETIME_SECS};
use super::error::BffError;
use super::guard;
use super::session::new_dpop_key;
use super::upstream::TokenError;

/// One sign-in in progress, sealed into the login cookie.
#[derive(Serialize, Deserialize)]
pub(super) struct Pending {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
    pub return_to: String,
    /// Unix seconds after which the sign-in is refused.
    pub expires_at: i64,
    /// The session's DPoP key (see `new_dpop_key`), when the server offers DPoP: its
    /// thumbprint went out as `dpop_jkt`, so the code is redeemed only with it.
    #[serde(serialize_with = "super::session::expose_optional")]
    pub dpop_key: Option<SecretString>,
}

/// Authenticated data of the login cookie's sealing: it opens as nothing else.
pub(super) const LOGIN_CONTEXT: &[u8] = b"bff login";

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

/// `GET /bff/login?return_to=/path`: 303 to the authorization server.
pub async fn login(
    State(bff): State<Arc<Bff>>,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Result<Response, BffError> {
    let Query(query) = query.map_err(|_| BffError::BadRequest("the query is malformed"))?;
    let dpop = if bff.auth.dpop {
        Some(new_dpop_key()?)
    } else {
        None
    };
    let dpop_jkt = dpop
        .as_ref()
        .and_then(|(key, _)| key.public_jwk())
        .and_then(ostiary_jwt::Jwk::thumbprint);
    let pending = Pending {
        state: random_token::<32>(),
        nonce: random_token::<32>(),
        code_verifier: random_token::<32>(),
        return_to: local_path(query.return_to.as_deref()),
        expires_at: now() + LOGIN_LIFETIME_SECS,
        dpop_key: dpop.map(|(_, der)| der),
    };
    let challenge = ostiary_core::pkce::s256(&pending.code_verifier);
    let scope = bff.config.scopes.join(" ");
    let redirect_uri = bff.config.redirect_uri();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", bff.config.client_id.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", scope.as_str()),
        ("state", pending.state.as_str()),
        ("nonce", pending.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // RFC 9449 section 10: the code is bound to the session's key.
    if let Some(jkt) = &dpop_jkt {
        params.push(("dpop_jkt", jkt.as_str()));
    }
    // RFC 8707: every API's audience is authorized now; each token asks for one of them.
    for audience in bff.audiences() {
        params.push(("resource", audience));
    }
    let url = bff
        .auth
        .authorization_url(&params)
        .await
        .map_err(unavailable)?;
    let sealed = bff
        .login_sealer
        .seal(
            LOGIN_CONTEXT,
            &serde_json::to_vec(&pending).map_err(anyhow::Error::from)?,
        )
        .map_err(anyhow::Error::from)?;
    Ok(redirect(
        &url,
        Some(cookies::set(
            LOGIN,
            &URL_SAFE_NO_PAD.encode(sealed),
            "Lax",
            LOGIN_LIFETIME_SECS,
        )),
    ))
}

/// `GET /bff/user` (with `X-CSRF: 1`): the ID token's claims about the user, as JSON.
pub async fn user(
    State(bff): State<Arc<Bff>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, BffError> {
    guard::check_call(&method, &headers, &bff.config.origin)?;
    let session = bff.session(&headers).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(session.tokens.claims),
    )
        .into_response())
}

/// The claims the SPA may show: what the ID token says about the user, not the protocol's
/// own members (audience, times, nonce, hashes, session id).
pub(super) fn shown_claims(
    claims: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    const PROTOCOL: [&str; 11] = [
        "iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "sid", "azp", "jti",
    ];
    claims
        .into_iter()
        .filter(|(k, _)| !PROTOCOL.contains(&k.as_str()))
        .collect()
}

/// Where to go after signing in: a path of this origin only (`/` otherwise), never
/// `//host` or `/\host`, which browsers read as another host.
fn local_path(return_to: Option<&str>) -> String {
    match return_to {
        Some(path)
            if path.starts_with('/')
                && path.is_ascii()
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 2048
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

pub(super) fn redirect(location: &str, cookie: Option<header::HeaderValue>) -> Response {
    let mut response =
        (StatusCode::SEE_OTHER, [(header::CACHE_CONTROL, "no-store")]).into_response();
    if let Ok(location) = header::HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub(super) fn unavailable(e: TokenError) -> BffError {
    tracing::warn!(
        error = ostiary_core::error_chain(&e),
        "the authorization server failed"
    );
    BffError::Unavailable
}

pub(super) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_origin() {
        assert_eq!(local_path(Some("/orders?x=1")), "/orders?x=1");
        for hostile in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "/a\\b",
            "/a\nb",
            "/caf\u{e9}",
            "",
        ] {
            assert_eq!(local_path(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn protocol_claims_are_not_shown() {
        let claims =
            serde_json::json!({"sub": "u", "name": "Alice", "nonce": "n", "sid": "s", "aud": "c"});
        let shown = shown_claims(claims.as_object().unwrap().clone());
        assert_eq!(
            serde_json::Value::Object(shown),
            serde_json::json!({"sub": "u", "name": "Alice"})
        );
    }
}
