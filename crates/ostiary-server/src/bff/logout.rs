//! Signing out. `POST /bff/logout` (a form of the SPA's page) ends the session here, revokes
//! its refresh token, and sends the browser to the server's end-session endpoint
//! (RP-Initiated Logout 1.0). `POST /bff/backchannel-logout` is the server telling the BFF a
//! session ended there (Back-Channel Logout 1.0): every session of that `sid`, or of that
//! `sub` when the token names no `sid`, ends.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ostiary_core::secret::SecretHash;
use serde::Deserialize;

use super::Bff;
use super::cookies::{self, SESSION};
use super::error::BffError;
use super::guard;
use super::login::{now, redirect};

/// `POST /bff/logout`: 303 to the server's end-session endpoint, or to the SPA.
pub async fn logout(
    State(bff): State<Arc<Bff>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, BffError> {
    guard::check_origin(&method, &headers, &bff.config.origin)?;
    let home = format!("{}/", bff.config.origin);
    let mut location = home.clone();
    if let Some(id) = cookies::get(&headers, SESSION) {
        if let Some(open) = bff.sessions.find(id).await? {
            bff.sessions
                .store
                .delete_bff_session(&open.record.id_hash)
                .await?;
            if let Some(token) = &open.tokens.refresh_token {
                bff.auth.revoke(token).await;
            }
            if let Some(url) = bff.auth.end_session_url(&home) {
                location = url;
            }
        } else {
            // An unknown or ended id: nothing to end, the cookie goes anyway.
            let _ = bff
                .sessions
                .store
                .delete_bff_session(&SecretHash::of(id))
                .await;
        }
    }
    Ok(redirect(&location, Some(cookies::clear(SESSION, "Strict"))))
}

#[derive(Debug, Deserialize)]
pub struct LogoutToken {
    logout_token: String,
}

/// `POST /bff/backchannel-logout` with `logout_token`: 200 once the sessions it names are
/// ended; 400 `invalid_request` for a token that does not validate (section 2.8).
pub async fn backchannel(
    State(bff): State<Arc<Bff>>,
    form: Result<Form<LogoutToken>, FormRejection>,
) -> Result<Response, BffError> {
    let Form(form) = form.map_err(|_| {
        BffError::BadRequest(
            "expected a form (application/x-www-form-urlencoded) with logout_token",
        )
    })?;
    let claims = bff
        .auth
        .logout_tokens
        .validate(&form.logout_token, now())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "a logout token was refused");
            BffError::BadRequest("the logout token is not valid")
        })?;
    // Section 2.6 step 7: a logout token is used once (its jti, until it expires).
    let (Some(jti), Some(exp)) = (claims.jti.as_deref(), claims.exp) else {
        return Err(BffError::BadRequest("the logout token is not valid"));
    };
    let at = time::OffsetDateTime::now_utc();
    let expires_at = time::OffsetDateTime::from_unix_timestamp(exp).unwrap_or(at);
    let key = SecretHash::of(&format!("bff logout token {jti}"));
    if !bff.sessions.store.use_once(&key, expires_at, at).await? {
        return Err(BffError::BadRequest("the logout token was used before"));
    }
    let ended = match (claims.str("sid"), claims.sub.as_deref()) {
        (Some(sid), _) => bff.sessions.store.delete_bff_sessions_by_sid(sid).await?,
        (None, Some(sub)) => bff.sessions.store.delete_bff_sessions_by_sub(sub).await?,
        (None, None) => return Err(BffError::BadRequest("the logout token names no session")),
    };
    tracing::info!(ended, "back-channel logout");
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response())
}
