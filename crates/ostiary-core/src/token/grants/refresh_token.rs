//! The refresh token grant (RFC 6749 6): a refresh token is exchanged for new tokens and
//! rotated on every use (RFC 9700 4.14); a rotated token presented again revokes its family,
//! except for the same client's retry inside the grace period, which gets the same answer.

use ostiary_jwt::KeySealer;
use time::OffsetDateTime;

use super::user_tokens::{check_binding, user_unusable};
use super::{GrantError, Subject, invalid_grant};
use crate::client::{Client, GrantType, Scope};
use crate::error::OAuthError;
use crate::grant::{Grant, RefreshFamily, StoredRefreshToken};
use crate::secret::SecretHash;
use crate::token::Confirmation;
use crate::token::resolve::{narrow_audience, resolve_scope};
use crate::token::service::{TokenResponse, TokenService};

/// The purpose the rotation answer's sealing key is derived for.
const ROTATION_ANSWER: &[u8] = b"ostiary refresh rotation answer";

impl TokenService {
    /// RFC 6749 6: a refresh token is exchanged for new tokens and a new refresh token.
    /// `scope` may narrow the grant's scope, never widen it (`invalid_scope`); `resources`
    /// narrows the access token's audience within the grant's (RFC 8707 2.2). A public
    /// client's grant bound to a DPoP key is refreshed only with a proof of it (RFC 9449 5).
    pub(super) async fn refresh_token(
        &self,
        client: &Client,
        presented: &str,
        scope: Option<&str>,
        resources: &[String],
        dpop: Option<&Confirmation>,
    ) -> Result<(TokenResponse, Subject), GrantError> {
        client.require_grant(GrantType::RefreshToken)?;
        let invalid = || invalid_grant("the refresh token is invalid, expired or revoked");
        let hash = SecretHash::of(presented);
        let Some(RefreshFamily {
            token: stored,
            grant,
            user_disabled,
        }) = self.store.find_refresh_family(&hash).await?
        else {
            return Err(invalid().into());
        };
        if grant.client_id != client.id {
            return Err(invalid_grant("the refresh token was issued to another client").into());
        }
        let now = self.clock.now_seconds();
        if grant.revoked_at.is_some() || now >= stored.token.expires_at {
            return Err(invalid().into());
        }
        if user_disabled {
            return Err(user_unusable().into());
        }
        // A second factor required after the login was made (the client's setting or the
        // server's turned on later): the grant ends here, the user signs in again with one.
        if (self.settings.require_mfa || client.require_mfa) && !grant.mfa {
            return Err(invalid_grant(
                "the client requires a second factor the login did not give",
            )
            .into());
        }
        check_binding(
            grant.dpop_jkt.as_deref(),
            dpop,
            "the refresh token is bound to another DPoP key",
        )?;
        if let Some(rotated_at) = stored.rotated_at {
            return self
                .retry_or_replay(&grant, &stored, rotated_at, presented)
                .await;
        }
        // RFC 9449 5: a public client that starts using DPoP binds its refresh tokens from
        // then on (the first proof's key wins a race; the loser is refused, not bound).
        if let Some(proof) = dpop
            && client.is_public()
            && grant.dpop_jkt.is_none()
            && !self
                .store
                .bind_grant_key(&grant.grant_id, &proof.jkt)
                .await?
        {
            return Err(invalid_grant("the refresh token is bound to another DPoP key").into());
        }
        let scopes = match scope {
            None => grant.scopes.clone(),
            Some(requested) => narrowed_scopes(requested, &grant.scopes)?,
        };
        let audiences = narrow_audience(resources, &grant.audiences)?;
        let (response, access) =
            self.user_tokens(client, &grant, &scopes, &audiences, None, dpop)?;
        let Some(new_token) = response.refresh_token.as_deref() else {
            return Err(OAuthError::server_error().into());
        };
        let new = self.refresh_record(new_token, &grant.grant_id, now, &access);
        let answer = seal_answer(presented, &grant.grant_id, &response)?;
        let rotated = self
            .store
            .rotate_refresh_token(&hash, now, &answer, &new)
            .await?;
        if !rotated {
            // A concurrent request rotated it first: answer as that retry would be answered.
            let Some(stored) = self.store.find_refresh_token(&hash).await? else {
                return Err(invalid().into());
            };
            // Not rotated after all: the grant was revoked while this rotation ran.
            let Some(rotated_at) = stored.rotated_at else {
                return Err(invalid().into());
            };
            return self
                .retry_or_replay(&grant, &stored, rotated_at, presented)
                .await;
        }
        Ok((response, Subject::User(grant.user_id)))
    }

    /// A rotated refresh token came back: inside the grace period the same answer as its
    /// rotation gave (a client that lost the response retries), afterwards a replay.
    async fn retry_or_replay(
        &self,
        grant: &Grant,
        stored: &StoredRefreshToken,
        rotated_at: OffsetDateTime,
        presented: &str,
    ) -> Result<(TokenResponse, Subject), GrantError> {
        // Times are whole seconds: a zero grace period means none at all, not "the same
        // second".
        let grace = self.settings.refresh_grace;
        let now = self.clock.now_seconds();
        if grace.is_positive()
            && now - rotated_at <= grace
            && let Some(answer) = &stored.rotation_answer
            && let Some(response) = open_answer(presented, &grant.grant_id, answer)
        {
            return Ok((response, Subject::User(grant.user_id)));
        }
        Err(self
            .replayed(&grant.grant_id, grant.user_id, "refresh token")
            .await)
    }
}

/// RFC 6749 6: a refresh may narrow the scope, never widen it.
fn narrowed_scopes(requested: &str, granted: &[Scope]) -> Result<Vec<Scope>, OAuthError> {
    resolve_scope(Some(requested), granted)
}

/// The rotation's answer, sealed under a key derived from the presented (old) refresh token:
/// the database alone can never reproduce the new tokens.
fn seal_answer(
    presented: &str,
    grant_id: &str,
    response: &TokenResponse,
) -> Result<Vec<u8>, OAuthError> {
    let json = serde_json::to_vec(response).map_err(|_| OAuthError::server_error())?;
    KeySealer::for_purpose(presented.as_bytes(), ROTATION_ANSWER)
        .and_then(|sealer| sealer.seal(grant_id.as_bytes(), &json))
        .map_err(|_| OAuthError::server_error())
}

fn open_answer(presented: &str, grant_id: &str, sealed: &[u8]) -> Option<TokenResponse> {
    let json = KeySealer::for_purpose(presented.as_bytes(), ROTATION_ANSWER)
        .and_then(|sealer| sealer.open(grant_id.as_bytes(), sealed))
        .ok()?;
    serde_json::from_slice(&json).ok()
}
