//! The grants of users at the token endpoint: `authorization_code` (RFC 6749 4.1.3 with
//! PKCE) and `refresh_token` (RFC 6749 6, rotated on every use as RFC 9700 4.14 asks).

use ostiary_jwt::KeySealer;
use time::OffsetDateTime;

use super::id_token::{IdTokenClaims, at_hash};
use super::resolve::{OPENID, narrow_audience, resolve_user_audience};
use super::service::{TokenResponse, TokenService, scope_string};
use crate::client::{Client, GrantType, Scope};
use crate::error::{ErrorCode, OAuthError};
use crate::grant::{Grant, RefreshToken, RevocationReason, StoredRefreshToken};
use crate::pkce::CodeChallenge;
use crate::random::random_token;
use crate::secret::SecretHash;
use crate::user::UserId;

/// The token request of the authorization code grant.
#[derive(Debug, Clone, Copy)]
pub struct CodeRedemption<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    /// RFC 8707 2.2: the resources the access token is for, within those authorized.
    pub resources: &'a [String],
}

/// Tokens issued to a user's client, and whose they are (for the audit trail).
#[derive(Debug)]
pub struct UserTokens {
    pub response: TokenResponse,
    pub user_id: UserId,
}

/// Why a user grant failed. A replay is told apart so it can be audited.
#[derive(Debug)]
pub enum GrantError {
    Refused(OAuthError),
    /// A used code or a rotated refresh token came back: its grant was revoked.
    Replayed {
        user_id: UserId,
        error: OAuthError,
    },
}

impl From<OAuthError> for GrantError {
    fn from(error: OAuthError) -> Self {
        Self::Refused(error)
    }
}

impl From<crate::StoreError> for GrantError {
    fn from(error: crate::StoreError) -> Self {
        Self::Refused(error.into())
    }
}

fn invalid_grant(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, why)
}

const OFFLINE_ACCESS: &str = "offline_access";
const ROTATION_ANSWER: &[u8] = b"ostiary refresh rotation answer";

fn has(scopes: &[Scope], name: &str) -> bool {
    scopes.iter().any(|s| s.as_str() == name)
}

impl TokenService {
    /// RFC 6749 4.1.3: a code is redeemed once, by its client, with its redirect URI and the
    /// PKCE verifier. A second redemption revokes everything the first one issued.
    pub async fn authorization_code(
        &self,
        client: &Client,
        redemption: CodeRedemption<'_>,
    ) -> Result<UserTokens, GrantError> {
        client.require_grant(GrantType::AuthorizationCode)?;
        let code_hash = SecretHash::of(redemption.code);
        let Some(code) = self.store.find_code(&code_hash).await? else {
            return Err(invalid_grant("the code is invalid").into());
        };
        let now = self.clock.now_seconds();
        if code.client_id != client.id {
            return Err(invalid_grant("the code was issued to another client").into());
        }
        // Possession first: only the holder of the verifier can trigger the replay defence,
        // so a code seen in a log or a history cannot be used to revoke the user's grant.
        let redirect_uri = redemption.redirect_uri.ok_or_else(|| {
            OAuthError::new(ErrorCode::InvalidRequest, "redirect_uri is required")
        })?;
        let verifier = redemption.code_verifier.ok_or_else(|| {
            OAuthError::new(ErrorCode::InvalidRequest, "code_verifier is required")
        })?;
        if redirect_uri != code.redirect_uri {
            return Err(
                invalid_grant("redirect_uri does not match the authorization request").into(),
            );
        }
        if !CodeChallenge::from_stored(code.code_challenge.clone()).verify(verifier) {
            return Err(
                invalid_grant("the code_verifier does not match the code_challenge").into(),
            );
        }
        if code.consumed_at.is_some() {
            return Err(self.replayed(&code.grant_id, code.user_id, "code").await);
        }
        if now >= code.expires_at {
            return Err(invalid_grant("the code has expired").into());
        }
        self.check_user(code.user_id).await?;

        let audiences = resolve_user_audience(
            &code.resources,
            client,
            has(&code.scopes, OPENID),
            &self.settings.userinfo_audience(),
        )?;
        let token_audiences = narrow_audience(redemption.resources, &audiences)?;
        let offline = has(&code.scopes, OFFLINE_ACCESS);
        let grant = Grant {
            grant_id: code.grant_id.clone(),
            client_id: client.id.clone(),
            user_id: code.user_id,
            sid: code.sid.clone(),
            offline,
            scopes: code.scopes.clone(),
            audiences,
            auth_time: code.auth_time,
            created_at: now,
            access_jti: String::new(),
            access_expires_at: now,
            revoked_at: None,
        };
        let (response, access) = self.user_tokens(
            client,
            &grant,
            &grant.scopes,
            &token_audiences,
            code.nonce.as_deref(),
        )?;
        let grant = Grant {
            access_jti: access.jti,
            access_expires_at: access.expires_at,
            ..grant
        };
        let refresh = response.refresh_token.as_deref().map(|token| RefreshToken {
            token_hash: SecretHash::of(token),
            grant_id: grant.grant_id.clone(),
            issued_at: now,
            expires_at: now + self.settings.refresh_token_lifetime,
            access_jti: grant.access_jti.clone(),
            access_expires_at: grant.access_expires_at,
        });
        let redeemed = self
            .store
            .redeem_code(&code_hash, now, &grant, refresh.as_ref())
            .await?;
        if !redeemed {
            // Another redemption won the race (this one is the replay), or the code was voided
            // meanwhile (logout, revoke-all).
            let voided = self
                .store
                .find_code(&code_hash)
                .await?
                .is_none_or(|c| c.consumed_at.is_none());
            if voided {
                return Err(invalid_grant("the code is invalid").into());
            }
            return Err(self.replayed(&code.grant_id, code.user_id, "code").await);
        }
        Ok(UserTokens {
            response,
            user_id: code.user_id,
        })
    }

    /// RFC 6749 6: a refresh token is exchanged for new tokens and a new refresh token.
    /// `resources` narrows the access token's audience within the grant's (RFC 8707 2.2).
    pub async fn refresh_token(
        &self,
        client: &Client,
        presented: &str,
        scope: Option<&str>,
        resources: &[String],
    ) -> Result<UserTokens, GrantError> {
        client.require_grant(GrantType::RefreshToken)?;
        let invalid = || invalid_grant("the refresh token is invalid, expired or revoked");
        let hash = SecretHash::of(presented);
        let Some((stored, grant)) = self.find_refresh(&hash).await? else {
            return Err(invalid().into());
        };
        if grant.client_id != client.id {
            return Err(invalid_grant("the refresh token was issued to another client").into());
        }
        let now = self.clock.now_seconds();
        if grant.revoked_at.is_some() || now >= stored.token.expires_at {
            return Err(invalid().into());
        }
        self.check_user(grant.user_id).await?;
        if let Some(rotated_at) = stored.rotated_at {
            return self
                .retry_or_replay(&grant, &stored, rotated_at, presented)
                .await;
        }
        let scopes = match scope {
            None => grant.scopes.clone(),
            Some(requested) => narrowed_scopes(requested, &grant.scopes)?,
        };
        let audiences = narrow_audience(resources, &grant.audiences)?;
        let (response, access) = self.user_tokens(client, &grant, &scopes, &audiences, None)?;
        let Some(new_token) = response.refresh_token.as_deref() else {
            return Err(OAuthError::server_error().into());
        };
        let new = RefreshToken {
            token_hash: SecretHash::of(new_token),
            grant_id: grant.grant_id.clone(),
            issued_at: now,
            expires_at: now + self.settings.refresh_token_lifetime,
            access_jti: access.jti,
            access_expires_at: access.expires_at,
        };
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
        Ok(UserTokens {
            response,
            user_id: grant.user_id,
        })
    }

    /// A rotated refresh token came back: inside the grace period the same answer as its
    /// rotation gave (a client that lost the response retries), afterwards a replay.
    async fn retry_or_replay(
        &self,
        grant: &Grant,
        stored: &StoredRefreshToken,
        rotated_at: OffsetDateTime,
        presented: &str,
    ) -> Result<UserTokens, GrantError> {
        // Times are whole seconds: a zero grace period means none at all, not "the same
        // second".
        let grace = self.settings.refresh_grace;
        let now = self.clock.now_seconds();
        if grace.is_positive()
            && now - rotated_at <= grace
            && let Some(answer) = &stored.rotation_answer
            && let Some(response) = open_answer(presented, &grant.grant_id, answer)
        {
            return Ok(UserTokens {
                response,
                user_id: grant.user_id,
            });
        }
        Err(self
            .replayed(&grant.grant_id, grant.user_id, "refresh token")
            .await)
    }

    /// RFC 9700 4.14 and RFC 6749 4.1.2: a reused code or refresh token means one copy is in
    /// the wrong hands, so the whole grant goes (refresh tokens and access tokens).
    async fn replayed(&self, grant_id: &str, user_id: UserId, what: &'static str) -> GrantError {
        if let Err(e) = self
            .store
            .revoke_grant(
                grant_id,
                self.clock.now_seconds(),
                RevocationReason::ReuseDetected,
            )
            .await
        {
            return GrantError::Refused(e.into());
        }
        tracing::warn!(what, "replay detected; the grant was revoked");
        GrantError::Replayed {
            user_id,
            error: invalid_grant("the grant was already used; it has been revoked"),
        }
    }

    async fn check_user(&self, user_id: UserId) -> Result<(), OAuthError> {
        let user = self.store.find_user(&user_id).await?;
        match user {
            Some(user) if !user.disabled => Ok(()),
            _ => Err(invalid_grant("the user is disabled or gone")),
        }
    }

    /// Access token, ID token (for `openid`) and refresh token (where the client may have one:
    /// OpenID Connect requests need `offline_access` for it, Core 11).
    fn user_tokens(
        &self,
        client: &Client,
        grant: &Grant,
        scopes: &[Scope],
        audiences: &[String],
        nonce: Option<&str>,
    ) -> Result<(TokenResponse, super::service::IssuedAccessToken), OAuthError> {
        let subject = grant.user_id.to_string();
        let scope = scope_string(scopes);
        let access = self.issue_access_token(client, &subject, audiences, scope.clone())?;
        let openid = has(&grant.scopes, OPENID);
        let id_token = if openid {
            Some(self.id_token(client, grant, nonce, &access.token)?)
        } else {
            None
        };
        let refresh_token = (client.allows_grant(GrantType::RefreshToken)
            && (grant.offline || !openid))
            .then(random_token::<32>);
        let response = TokenResponse {
            access_token: access.token.clone(),
            token_type: "Bearer".to_owned(),
            expires_in: access.lifetime.whole_seconds(),
            scope,
            refresh_token,
            id_token,
        };
        Ok((response, access))
    }

    fn id_token(
        &self,
        client: &Client,
        grant: &Grant,
        nonce: Option<&str>,
        access_token: &str,
    ) -> Result<String, OAuthError> {
        let alg = client.id_token_alg;
        let snapshot = self.keys.current();
        let key = snapshot.signing_key(alg).ok_or_else(|| {
            tracing::error!(%alg, "no active signing key for ID tokens");
            OAuthError::server_error()
        })?;
        let now = self.clock.now().unix_timestamp();
        let claims = IdTokenClaims {
            iss: &self.settings.issuer,
            sub: grant.user_id.to_string(),
            aud: client.id.as_str(),
            azp: client.id.as_str(),
            exp: now + self.settings.access_token_lifetime.whole_seconds(),
            iat: now,
            auth_time: grant.auth_time.unix_timestamp(),
            nonce,
            at_hash: at_hash(alg, access_token),
            sid: &grant.sid,
            amr: ["pwd"],
        };
        ostiary_jwt::encode(key, "JWT", &claims).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::server_error()
        })
    }
}

/// RFC 6749 6: a refresh may narrow the scope, never widen it.
fn narrowed_scopes(requested: &str, granted: &[Scope]) -> Result<Vec<Scope>, OAuthError> {
    super::resolve::resolve_scope(Some(requested), granted)
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
