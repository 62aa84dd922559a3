//! The authorization code grant (RFC 6749 4.1.3 with PKCE, RFC 7636 4.5): a code is redeemed
//! once, by its client, with its redirect URI and verifier, for the user's first tokens.

use super::user_tokens::{NewGrant, check_binding, user_unusable};
use super::{GrantError, Subject, invalid_grant};
use crate::client::{Client, GrantType};
use crate::error::{ErrorCode, OAuthError};
use crate::grant::PresentedCode;
use crate::pkce::CodeChallenge;
use crate::secret::SecretHash;
use crate::token::Confirmation;
use crate::token::service::{TokenResponse, TokenService};

impl TokenService {
    /// RFC 6749 4.1.3: a code is redeemed once, by its client, with its redirect URI and the
    /// PKCE verifier. A second redemption revokes everything the first one issued.
    /// `resources` narrows the access token's audience within the authorized ones (RFC 8707
    /// 2.2). A code requested with `dpop_jkt` needs a proof of that key (RFC 9449 10).
    pub(super) async fn authorization_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        resources: &[String],
        dpop: Option<&Confirmation>,
    ) -> Result<(TokenResponse, Subject), GrantError> {
        client.require_grant(GrantType::AuthorizationCode)?;
        let code_hash = SecretHash::of(code);
        let Some(PresentedCode {
            code,
            user_disabled,
        }) = self.store.find_presented_code(&code_hash).await?
        else {
            return Err(invalid_grant("the code is invalid").into());
        };
        let now = self.clock.now_seconds();
        if code.client_id != client.id {
            return Err(invalid_grant("the code was issued to another client").into());
        }
        // Possession first: only the holder of the verifier can trigger the replay defence,
        // so a code seen in a log or a history cannot be used to revoke the user's grant.
        let redirect_uri = redirect_uri.ok_or_else(|| {
            OAuthError::new(ErrorCode::InvalidRequest, "redirect_uri is required")
        })?;
        let verifier = code_verifier.ok_or_else(|| {
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
        check_binding(
            code.dpop_jkt.as_deref(),
            dpop,
            "the code is bound to another DPoP key (dpop_jkt)",
        )?;
        if code.consumed_at.is_some() {
            return Err(self.replayed(&code.grant_id, code.user_id, "code").await);
        }
        if now >= code.expires_at {
            return Err(invalid_grant("the code has expired").into());
        }
        if user_disabled {
            return Err(user_unusable().into());
        }

        let grant = NewGrant {
            grant_id: code.grant_id.clone(),
            user_id: code.user_id,
            sid: code.sid.clone(),
            scopes: &code.scopes,
            resources: &code.resources,
            auth_time: code.auth_time,
            mfa: code.mfa,
        };
        let (response, grant, refresh) =
            self.open_grant(client, grant, resources, code.nonce.as_deref(), dpop)?;
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
        Ok((response, Subject::User(code.user_id)))
    }
}
