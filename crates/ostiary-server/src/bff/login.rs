//! Signing in: `/bff/login` starts an authorization-code flow with PKCE (OAuth 2.1 section
//! 4.1, pushed with PAR where the server offers it) and `/bff/callback` finishes it, checks
//! the ID token, and gives the browser a session cookie. `/bff/user` shows the SPA who is
//! signed in.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_core::random::random_token;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::Bff;
use super::cookies::{self, LOGIN, LOGIN_LIFETIME_SECS, SESSION};
use super::error::BffError;
use super::guard;
use super::jwt::s256;
use super::session::{AccessToken, Tokens, new_dpop_key, open_dpop_key};
use super::upstream::TokenError;

/// One sign-in in progress, sealed into the login cookie.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    code_verifier: String,
    return_to: String,
    /// Unix seconds after which the sign-in is refused.
    expires_at: i64,
    /// The session's DPoP key (see `new_dpop_key`), when the server offers DPoP: its
    /// thumbprint went out as `dpop_jkt`, so the code is redeemed only with it.
    #[serde(serialize_with = "super::session::expose_optional")]
    dpop_key: Option<SecretString>,
}

/// Authenticated data of the login cookie's sealing: it opens as nothing else.
const LOGIN_CONTEXT: &[u8] = b"bff login";

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
    let challenge = s256(&pending.code_verifier);
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

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// `GET /bff/callback`: the code for tokens, the tokens into a new session, 303 to where the
/// sign-in started.
pub async fn callback(
    State(bff): State<Arc<Bff>>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response, BffError> {
    let Query(query) = query.map_err(|_| BffError::BadRequest("the query is malformed"))?;
    let pending = cookies::get(&headers, LOGIN)
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        .and_then(|sealed| bff.login_sealer.open(LOGIN_CONTEXT, &sealed).ok())
        .and_then(|plain| serde_json::from_slice::<Pending>(&plain).ok())
        .filter(|p| p.expires_at > now())
        .ok_or(BffError::BadRequest(
            "no sign-in is in progress; start again",
        ))?;
    let state_matches = query
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(pending.state.as_bytes())));
    if !state_matches {
        return Err(BffError::BadRequest(
            "the state does not match this sign-in",
        ));
    }
    // RFC 9207: a response naming another issuer, or none from a server that names itself,
    // may be a mix-up attack.
    match query.iss.as_deref() {
        Some(iss) if iss != bff.config.issuer => {
            return Err(BffError::BadRequest(
                "the response comes from another issuer",
            ));
        }
        None if bff.auth.sends_iss() => {
            return Err(BffError::BadRequest(
                "the response does not name its issuer",
            ));
        }
        _ => {}
    }
    if query.error.is_some() {
        // The user declined or the server refused: back to the SPA, signed out.
        return Ok(redirect(
            &pending.return_to,
            Some(cookies::clear(LOGIN, "Lax")),
        ));
    }
    let code = query
        .code
        .ok_or(BffError::BadRequest("the response carries no code"))?;
    let dpop = match pending.dpop_key {
        Some(der) => Some((open_dpop_key(&der)?, der)),
        None => None,
    };
    let redirect_uri = bff.config.redirect_uri();
    let audience = bff.audiences().next();
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", pending.code_verifier.as_str()),
    ];
    if let Some(audience) = audience {
        params.push(("resource", audience));
    }
    let response = bff
        .auth
        .token(&params, dpop.as_ref().map(|(key, _)| key))
        .await
        .map_err(|e| match e {
            TokenError::Refused(_) => BffError::BadRequest("the code was refused; start again"),
            TokenError::Unavailable(e) => unavailable(TokenError::Unavailable(e)),
        })?;
    let id_token = response
        .id_token
        .ok_or(BffError::BadGateway("the server sent no ID token"))?;
    let claims = bff
        .auth
        .id_tokens
        .validate(&id_token, now())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "the ID token of a sign-in was refused");
            BffError::BadGateway("the server's ID token is not valid")
        })?;
    let nonce_matches = claims
        .str("nonce")
        .is_some_and(|n| bool::from(n.as_bytes().ct_eq(pending.nonce.as_bytes())));
    if !nonce_matches {
        return Err(BffError::BadRequest("the ID token is not for this sign-in"));
    }
    // OpenID Connect Core 3.1.3.7, steps 4 and 5: a token for several audiences names this
    // client as the party it was issued to.
    let azp = claims.str("azp");
    if azp.is_some_and(|azp| azp != bff.config.client_id) || (claims.aud.len() > 1 && azp.is_none())
    {
        return Err(BffError::BadGateway(
            "the ID token was issued to another party",
        ));
    }
    let sub = claims
        .sub
        .clone()
        .ok_or(BffError::BadGateway("the ID token has no sub"))?;
    let sid = claims.str("sid").map(str::to_owned);
    let access = AccessToken {
        audience: audience.map(str::to_owned),
        expires_at: now() + response.expires_in.unwrap_or(60),
        token_type: response.token_type,
        token: response.access_token,
    };
    let mut shown = shown_claims(claims.all.clone());
    // The ID token carries little about the user; userinfo has the rest (profile, email).
    if audience.is_none() || audience == bff.auth.userinfo_endpoint() {
        let key = dpop.as_ref().map(|(key, _)| key);
        match bff.auth.userinfo(&access, key).await {
            // OpenID Connect Core 5.3.2: only claims about the same subject.
            Ok(more) if more.get("sub").and_then(|s| s.as_str()) == Some(sub.as_str()) => {
                for (name, value) in shown_claims(more) {
                    shown.entry(name).or_insert(value);
                }
            }
            Ok(_) => tracing::warn!("userinfo named another subject; its claims are not shown"),
            Err(e) => tracing::warn!(error = ostiary_core::error_chain(&e), "userinfo failed"),
        }
    }
    let tokens = Tokens {
        refresh_token: response.refresh_token,
        claims: shown,
        access: vec![access],
        dpop_key: dpop.map(|(_, der)| der),
    };
    // A session this browser had before ends, its refresh token with it: one browser, one
    // session.
    if let Some(previous) = cookies::get(&headers, SESSION)
        && let Some(previous) = bff.sessions.find(previous).await?
    {
        bff.sessions
            .store
            .delete_bff_session(&previous.record.id_hash)
            .await?;
        if let Some(token) = &previous.tokens.refresh_token {
            bff.auth.revoke(token).await;
        }
    }
    let id = bff.sessions.create(sub, sid, &tokens).await?;
    let mut response = redirect(&pending.return_to, Some(cookies::clear(LOGIN, "Lax")));
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(
            SESSION,
            id.expose_secret(),
            "Strict",
            i64::from(bff.config.session_lifetime_secs),
        ),
    );
    Ok(response)
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

fn redirect(location: &str, cookie: Option<header::HeaderValue>) -> Response {
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
