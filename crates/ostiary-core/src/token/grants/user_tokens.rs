//! What the grants of users share: the tokens a grant yields (access token, ID token,
//! refresh token), the user check, and the replay defence that revokes a grant.

use time::OffsetDateTime;

use super::{GrantError, invalid_grant};
use crate::client::{Client, GrantType, Scope};
use crate::error::OAuthError;
use crate::grant::{Grant, RefreshToken, RevocationReason};
use crate::random::random_token;
use crate::secret::SecretHash;
use crate::token::Confirmation;
use crate::token::access_token::IssuedAccessToken;
use crate::token::id_token::{IdTokenClaims, at_hash};
use crate::token::resolve::{OPENID, narrow_audience, resolve_user_audience};
use crate::token::service::{TokenResponse, TokenService, scope_string};
use crate::user::UserId;

/// OpenID Connect Core 11: the scope that lets an OpenID Connect grant have a refresh token.
pub(super) const OFFLINE_ACCESS: &str = "offline_access";

pub(super) fn has(scopes: &[Scope], name: &str) -> bool {
    scopes.iter().any(|s| s.as_str() == name)
}

/// What a new grant is made of: who authorized what, in which login session.
pub(super) struct NewGrant<'a> {
    pub grant_id: String,
    pub user_id: UserId,
    pub sid: String,
    pub scopes: &'a [Scope],
    /// The RFC 8707 resources the user authorized (empty: the client's default audience).
    pub resources: &'a [String],
    pub auth_time: OffsetDateTime,
    /// The login gave a second factor.
    pub mfa: bool,
}

/// RFC 9449 5 and 10: a grant bound to a DPoP key (`bound`, from `dpop_jkt` or a public
/// client's first proof) is used only with a proof of that key; `invalid_grant` otherwise.
pub(super) fn check_binding(
    bound: Option<&str>,
    dpop: Option<&Confirmation>,
    what: &'static str,
) -> Result<(), OAuthError> {
    match bound {
        Some(jkt) if dpop.is_none_or(|proof| proof.jkt != jkt) => Err(invalid_grant(what)),
        _ => Ok(()),
    }
}

impl TokenService {
    /// Access token (bound to `dpop`'s key when given), ID token (for `openid`) and refresh
    /// token (where the client may have one: OpenID Connect requests need `offline_access`
    /// for it, Core 11).
    pub(super) fn user_tokens(
        &self,
        client: &Client,
        grant: &Grant,
        scopes: &[Scope],
        audiences: &[String],
        nonce: Option<&str>,
        dpop: Option<&Confirmation>,
    ) -> Result<(TokenResponse, IssuedAccessToken), OAuthError> {
        let subject = grant.user_id.to_string();
        let scope = scope_string(scopes);
        let spec = self.access_token_spec(client, &subject, audiences, scope.as_deref(), dpop);
        let access = self.issue_access_token(&spec)?;
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
            token_type: access.token_type.to_owned(),
            expires_in: access.lifetime.whole_seconds(),
            scope,
            refresh_token,
            id_token,
            issued_token_type: None,
        };
        Ok((response, access))
    }

    /// A new grant (`authorization_code`, `device_code`) and its first tokens: the grant to
    /// store, with the first access token's `jti` and expiry filled in, the response, and the
    /// refresh token's record when one is issued. The grant's audiences are those the user
    /// authorized (RFC 8707); the access token's, `requested` narrowed within them (RFC 8707
    /// 2.2, `invalid_target` beyond). A public client's grant is bound to the DPoP key of the
    /// request, if any: it has no other proof of being the refresh token's holder (RFC 9449 5).
    pub(super) fn open_grant(
        &self,
        client: &Client,
        grant: NewGrant<'_>,
        requested: &[String],
        nonce: Option<&str>,
        dpop: Option<&Confirmation>,
    ) -> Result<(TokenResponse, Grant, Option<RefreshToken>), OAuthError> {
        let audiences = resolve_user_audience(
            grant.resources,
            client,
            has(grant.scopes, OPENID),
            &self.settings.userinfo_audience(),
        )?;
        let token_audiences = narrow_audience(requested, &audiences)?;
        let now = self.clock.now_seconds();
        let grant = Grant {
            grant_id: grant.grant_id,
            client_id: client.id.clone(),
            user_id: grant.user_id,
            sid: grant.sid,
            offline: has(grant.scopes, OFFLINE_ACCESS),
            scopes: grant.scopes.to_vec(),
            audiences,
            auth_time: grant.auth_time,
            mfa: grant.mfa,
            created_at: now,
            access_jti: String::new(),
            access_expires_at: now,
            revoked_at: None,
            dpop_jkt: dpop
                .filter(|_| client.is_public())
                .map(|proof| proof.jkt.clone()),
        };
        let (response, access) =
            self.user_tokens(client, &grant, &grant.scopes, &token_audiences, nonce, dpop)?;
        let refresh = response
            .refresh_token
            .as_deref()
            .map(|token| self.refresh_record(token, &grant.grant_id, now, &access));
        let grant = Grant {
            access_jti: access.jti,
            access_expires_at: access.expires_at,
            ..grant
        };
        Ok((response, grant, refresh))
    }

    /// The stored record of `token`, a refresh token of `grant` issued `now` with `access`.
    pub(super) fn refresh_record(
        &self,
        token: &str,
        grant_id: &str,
        now: OffsetDateTime,
        access: &IssuedAccessToken,
    ) -> RefreshToken {
        RefreshToken {
            token_hash: SecretHash::of(token),
            grant_id: grant_id.to_owned(),
            issued_at: now,
            expires_at: now + self.settings.refresh_token_lifetime,
            access_jti: access.jti.clone(),
            access_expires_at: access.expires_at,
        }
    }

    /// OpenID Connect Core 2 and 3.1.3.6, signed with the client's ID token algorithm.
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
            amr: if grant.mfa {
                &["pwd", "otp", "mfa"]
            } else {
                &["pwd"]
            },
        };
        ostiary_jwt::encode(key, "JWT", &claims).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::server_error()
        })
    }

    /// `invalid_grant` unless the user exists and is enabled.
    pub(super) async fn check_user(&self, user_id: UserId) -> Result<(), OAuthError> {
        let user = self.store.find_user(&user_id).await?;
        match user {
            Some(user) if !user.disabled => Ok(()),
            _ => Err(user_unusable()),
        }
    }

    /// RFC 9700 4.14 and RFC 6749 4.1.2: a reused code or refresh token means one copy is in
    /// the wrong hands, so the whole grant goes (refresh tokens and access tokens).
    pub(super) async fn replayed(
        &self,
        grant_id: &str,
        user_id: UserId,
        what: &'static str,
    ) -> GrantError {
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
}

/// What a grant of a disabled or deleted user answers.
pub(super) fn user_unusable() -> OAuthError {
    invalid_grant("the user is disabled or gone")
}
