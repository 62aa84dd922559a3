//! `/bff/callback`: the end of a sign-in. The response must answer the sign-in this browser
//! started (`state`, the issuer by RFC 9207); the code buys tokens with the PKCE verifier and
//! the session's DPoP key; the ID token must be the server's, for this client and this
//! sign-in (`nonce`); then the tokens become a new session and the browser gets its cookie.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ostiary_jwt::{Claims, SigningKey};
use secrecy::ExposeSecret;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::Bff;
use super::cookies::{self, LOGIN, SESSION};
use super::error::BffError;
use super::login::{LOGIN_CONTEXT, Pending, now, redirect, shown_claims, unavailable};
use super::session::{AccessToken, Tokens, open_dpop_key};
use super::upstream::TokenError;

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
    let pending = pending_sign_in(&bff, &headers)?;
    check_response(&bff, &query, &pending)?;
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
    let key = dpop.as_ref().map(|(key, _)| key);
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
    let response = bff.auth.token(&params, key).await.map_err(|e| match e {
        TokenError::Refused(_) => BffError::BadRequest("the code was refused; start again"),
        TokenError::Unavailable(e) => unavailable(TokenError::Unavailable(e)),
    })?;
    let id_token = response
        .id_token
        .ok_or(BffError::BadGateway("the server sent no ID token"))?;
    let claims = verified_id_token(&bff, &id_token, &pending.nonce).await?;
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
    // The ID token carries little about the user; userinfo has the rest (profile, email).
    let mut shown = shown_claims(claims.all);
    if audience.is_none() || audience == bff.auth.userinfo_endpoint() {
        add_userinfo(&bff, &mut shown, &sub, &access, key).await;
    }
    let tokens = Tokens {
        refresh_token: response.refresh_token,
        claims: shown,
        access: vec![access],
        dpop_key: dpop.map(|(_, der)| der),
    };
    end_previous_session(&bff, &headers).await?;
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

/// The sign-in this browser started, from its sealed cookie, if it is still on.
fn pending_sign_in(bff: &Bff, headers: &HeaderMap) -> Result<Pending, BffError> {
    cookies::get(headers, LOGIN)
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        .and_then(|sealed| bff.login_sealer.open(LOGIN_CONTEXT, &sealed).ok())
        .and_then(|plain| serde_json::from_slice::<Pending>(&plain).ok())
        .filter(|p| p.expires_at > now())
        .ok_or(BffError::BadRequest(
            "no sign-in is in progress; start again",
        ))
}

/// The response answers this sign-in (`state`) and comes from this server (RFC 9207: a
/// response naming another issuer, or none from a server that names itself, may be a mix-up
/// attack).
fn check_response(bff: &Bff, query: &CallbackQuery, pending: &Pending) -> Result<(), BffError> {
    let state_matches = query
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(pending.state.as_bytes())));
    if !state_matches {
        return Err(BffError::BadRequest(
            "the state does not match this sign-in",
        ));
    }
    match query.iss.as_deref() {
        Some(iss) if iss != bff.config.issuer => Err(BffError::BadRequest(
            "the response comes from another issuer",
        )),
        None if bff.auth.sends_iss() => Err(BffError::BadRequest(
            "the response does not name its issuer",
        )),
        _ => Ok(()),
    }
}

/// The ID token of a sign-in (OpenID Connect Core 3.1.3.7): the server's signature, issuer,
/// this client as audience, unexpired, this sign-in's `nonce`, and, for a token of several
/// audiences, this client as `azp`.
async fn verified_id_token(bff: &Bff, id_token: &str, nonce: &str) -> Result<Claims, BffError> {
    let claims = bff
        .auth
        .id_tokens
        .validate(id_token, now())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "the ID token of a sign-in was refused");
            BffError::BadGateway("the server's ID token is not valid")
        })?;
    let nonce_matches = claims
        .str("nonce")
        .is_some_and(|n| bool::from(n.as_bytes().ct_eq(nonce.as_bytes())));
    if !nonce_matches {
        return Err(BffError::BadRequest("the ID token is not for this sign-in"));
    }
    let azp = claims.str("azp");
    if azp.is_some_and(|azp| azp != bff.config.client_id) || (claims.aud.len() > 1 && azp.is_none())
    {
        return Err(BffError::BadGateway(
            "the ID token was issued to another party",
        ));
    }
    Ok(claims)
}

/// Adds userinfo's claims (OpenID Connect Core 5.3) to `shown`, those of `sub` only (section
/// 5.3.2). A failure leaves the ID token's claims alone: it is logged, not the user's problem.
async fn add_userinfo(
    bff: &Bff,
    shown: &mut serde_json::Map<String, serde_json::Value>,
    sub: &str,
    access: &AccessToken,
    key: Option<&SigningKey>,
) {
    match bff.auth.userinfo(access, key).await {
        Ok(more) if more.get("sub").and_then(|s| s.as_str()) == Some(sub) => {
            for (name, value) in shown_claims(more) {
                shown.entry(name).or_insert(value);
            }
        }
        Ok(_) => tracing::warn!("userinfo named another subject; its claims are not shown"),
        Err(e) => tracing::warn!(error = ostiary_core::error_chain(&e), "userinfo failed"),
    }
}

/// A session this browser had before ends, its refresh token with it: one browser, one
/// session.
async fn end_previous_session(bff: &Bff, headers: &HeaderMap) -> Result<(), BffError> {
    if let Some(previous) = cookies::get(headers, SESSION)
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
    Ok(())
}
