//! The access token a call needs: the session's own while it has 30 seconds left, otherwise a
//! new one from the refresh token, presented by one caller at a time across every instance
//! (a rotated refresh token presented twice revokes its family, RFC 9700 section 4.14.2).

use std::time::Duration;

use secrecy::ExposeSecret;
use time::OffsetDateTime;

use super::Bff;
use super::error::BffError;
use super::login::{now, shown_claims, unavailable};
use super::session::{AccessToken, Open};
use super::upstream::TokenError;

/// Seconds before expiry that a token is replaced: it must not expire on the way to the API.
const MARGIN_SECS: i64 = 30;
/// How long one instance may hold the right to refresh a session.
const CLAIM_SECS: i64 = 60;
/// How long a refresh may take (the token request, its nonce retry, a key set fetch): well
/// below `CLAIM_SECS`.
pub(super) const REFRESH_WITHIN: Duration = Duration::from_secs(30);
/// How often a caller waiting for another's refresh looks again.
const POLL: Duration = Duration::from_millis(100);

/// What a forwarded call presents: the token and, for a DPoP-bound one, the key.
#[derive(Debug)]
pub struct Credential {
    pub token: secrecy::SecretString,
    pub token_type: String,
    pub dpop_key: Option<ostiary_jwt::SigningKey>,
}

impl Credential {
    /// The key to prove possession with: only for a token the server bound to it (RFC 9449
    /// section 5, `token_type` `DPoP`); a Bearer token is sent as one.
    pub fn proof_key(&self) -> Option<&ostiary_jwt::SigningKey> {
        self.dpop_key
            .as_ref()
            .filter(|_| self.token_type.eq_ignore_ascii_case("dpop"))
    }
}

/// The access token for `audience` in the session the cookie `id` names.
pub async fn access_token(
    bff: &Bff,
    id: &str,
    audience: Option<&str>,
) -> Result<Credential, BffError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(CLAIM_SECS as u64);
    // Once another request has refreshed, its token serves while it is valid at all.
    let mut margin = MARGIN_SECS;
    loop {
        let open = bff
            .sessions
            .find(id)
            .await?
            .ok_or(BffError::LoginRequired)?;
        if let Some(token) = open.tokens.access_for(audience, now(), margin) {
            return credential(&open, token);
        }
        if open.tokens.refresh_token.is_none() {
            // Nothing can renew it: the session is over.
            bff.sessions
                .store
                .delete_bff_session(&open.record.id_hash)
                .await?;
            return Err(BffError::LoginRequired);
        }
        let at = OffsetDateTime::now_utc();
        // Held by another request that is refreshing: wait for its tokens without writing.
        let held = open
            .record
            .refresh_claimed_until
            .is_some_and(|until| until > at);
        let claimed = !held
            && bff
                .sessions
                .store
                .claim_bff_refresh(
                    &open.record.id_hash,
                    open.record.version,
                    at,
                    at + time::Duration::seconds(CLAIM_SECS),
                )
                .await?;
        if claimed {
            return refresh(bff, open, audience).await;
        }
        // Another request is refreshing this session: its tokens will do.
        if tokio::time::Instant::now() >= deadline {
            return Err(BffError::Unavailable);
        }
        tokio::time::sleep(POLL).await;
        margin = 0;
    }
}

/// Presents the refresh token for a token for `audience` and stores what comes back.
async fn refresh(
    bff: &Bff,
    mut open: Open,
    audience: Option<&str>,
) -> Result<Credential, BffError> {
    let id_hash = open.record.id_hash.clone();
    let dpop_key = open.tokens.dpop_signing_key()?;
    let refresh_token = open
        .tokens
        .refresh_token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default();
    let mut params = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    if let Some(audience) = audience {
        params.push(("resource", audience));
    }
    // Well within the claim: a refresh that outlived it could race the next claimant's.
    let response = tokio::time::timeout(REFRESH_WITHIN, bff.auth.token(&params, dpop_key.as_ref()))
        .await
        .unwrap_or_else(|_| {
            Err(TokenError::Unavailable(anyhow::anyhow!(
                "the refresh took too long"
            )))
        });
    let response = match response {
        Ok(response) => response,
        Err(TokenError::Refused(error)) if error == "invalid_grant" => {
            // The family ended (revoked, reused, the user disabled): so does the session.
            tracing::info!("the session's refresh token was refused; session ended");
            bff.sessions.store.delete_bff_session(&id_hash).await?;
            return Err(BffError::LoginRequired);
        }
        // Anything else (a quota, a proof the server did not like, a secret being rotated)
        // says nothing about the session: it stays, and a later call tries again.
        Err(e) => {
            bff.sessions
                .store
                .release_bff_refresh(&id_hash, open.record.version)
                .await?;
            return Err(unavailable(e));
        }
    };
    // A new ID token (OpenID Connect Core 12.2) brings the user's claims up to date; one
    // that does not validate, or names another user, changes nothing.
    if let Some(id_token) = response.id_token {
        match bff.auth.id_tokens.validate(&id_token, now()).await {
            Ok(claims)
                if claims.sub.as_deref()
                    == open.tokens.claims.get("sub").and_then(|s| s.as_str()) =>
            {
                open.tokens.claims = shown_claims(claims.all);
            }
            _ => tracing::warn!("a refreshed ID token was refused; the session keeps the first"),
        }
    }
    if response.refresh_token.is_some() {
        open.tokens.refresh_token = response.refresh_token;
    }
    open.tokens.set_access(AccessToken {
        audience: audience.map(str::to_owned),
        token: response.access_token,
        token_type: response.token_type,
        expires_at: now() + response.expires_in.unwrap_or(60),
    });
    if !bff.sessions.update(&open, &open.tokens).await? {
        if bff
            .sessions
            .store
            .find_bff_session(&id_hash)
            .await?
            .is_some()
        {
            // Updated by another caller after all: its tokens stand, and this access token
            // is still good for this one call.
            tracing::warn!("a BFF session was updated while this request refreshed it");
        } else {
            // Ended meanwhile (logout): what was just issued is revoked with it.
            if let Some(token) = &open.tokens.refresh_token {
                bff.auth.revoke(token).await;
            }
            return Err(BffError::LoginRequired);
        }
    }
    let token = open
        .tokens
        .access_for(audience, now(), 0)
        .ok_or(BffError::BadGateway("the server issued an expired token"))?;
    credential(&open, token)
}

fn credential(open: &Open, token: &AccessToken) -> Result<Credential, BffError> {
    Ok(Credential {
        token: token.token.clone(),
        token_type: token.token_type.clone(),
        dpop_key: open.tokens.dpop_signing_key()?,
    })
}
