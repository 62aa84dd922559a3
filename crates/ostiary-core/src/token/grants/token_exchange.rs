//! The token exchange grant (RFC 8693): a confidential client presents a token of a user's (an
//! access token issued to it or meant for it, or an ID token issued to it) and gets an access
//! token for one of its registered resources that names it as the acting party (`act`,
//! delegation), or, for a client an operator registered for impersonation, the subject alone.
//! The new token is never wider than the subject token, never outlives it, and is bound to the
//! subject token's DPoP key when it had one.

use ostiary_jwt::{Algorithm, Claims, Profile, Validator};
use serde_json::Value;
use time::Duration;

use super::Subject;
use crate::client::{Audience, Client, ClientId, GrantType};
use crate::error::{ErrorCode, OAuthError};
use crate::token::access_token::{Actor, Confirmation};
use crate::token::service::{TokenResponse, TokenService, meant_for};
use crate::user::UserId;

/// RFC 8693 3: an access token issued by this server.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 3: an OpenID Connect ID token issued by this server.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// How many parties a delegation chain may name (`act` nested in `act`): each exchange adds
/// one, and a longer chain is more likely a loop than a need.
const MAX_ACTORS: usize = 5;

/// The parameters of an exchange (RFC 8693 2.1), as `TokenRequest::TokenExchange` read them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Exchange<'a> {
    pub subject_token: &'a str,
    pub subject_token_type: &'a str,
    pub actor_token: Option<&'a str>,
    pub requested_token_type: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub resources: &'a [String],
    pub audiences: &'a [String],
}

/// What a verified subject token allows the exchange to pass on.
#[derive(Debug)]
struct SubjectToken {
    sub: String,
    /// What the user delegated: the token's `scope`, or for an ID token the user's consent.
    scopes: Vec<String>,
    /// Its audiences: targets the new token may name besides the client's own resources.
    audiences: Vec<String>,
    /// Unix seconds: the new token expires no later.
    exp: i64,
    /// Who acted before: nested under the acting client in the new token's `act`.
    act: Option<Actor>,
    /// The DPoP key the subject token is bound to.
    jkt: Option<String>,
}

impl TokenService {
    /// RFC 8693 2.2: an access token for `client` acting for the subject token's subject.
    ///
    /// Errors: `unauthorized_client` unless the client is confidential and registered for the
    /// grant;
    /// `invalid_request` for an unsupported token type, an `actor_token`, or a subject token
    /// that is invalid, expired, revoked, not issued to or meant for the client, or bound to
    /// a key the request did not prove; `invalid_scope` for a scope the subject token does
    /// not carry or the client is not registered for, or when none would be left; `invalid_target` for a target that is
    /// neither registered for the client nor an audience of the subject token.
    pub(super) async fn token_exchange(
        &self,
        client: &Client,
        exchange: Exchange<'_>,
        dpop: Option<&Confirmation>,
    ) -> Result<(TokenResponse, Subject), OAuthError> {
        client.require_grant(GrantType::TokenExchange)?;
        // Registration refuses the grant to public clients; checked again here, where it
        // matters, since a public client proves nothing about who is exchanging.
        if client.is_public() {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "token exchange needs a confidential client",
            ));
        }
        if exchange.actor_token.is_some() {
            return Err(invalid_request(
                "actor_token is not accepted: the acting party is the authenticated client",
            ));
        }
        if exchange
            .requested_token_type
            .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
        {
            return Err(invalid_request(
                "requested_token_type: token exchange issues access tokens only",
            ));
        }
        let subject = match exchange.subject_token_type {
            ACCESS_TOKEN_TYPE => {
                self.subject_access_token(client, exchange.subject_token)
                    .await?
            }
            ID_TOKEN_TYPE => {
                self.subject_id_token(client, exchange.subject_token)
                    .await?
            }
            _ => {
                return Err(invalid_request(
                    "subject_token_type must be urn:ietf:params:oauth:token-type:access_token \
                     or urn:ietf:params:oauth:token-type:id_token",
                ));
            }
        };
        // A bound token is exchanged only by the holder of its key, and stays bound to it.
        if let Some(jkt) = &subject.jkt
            && dpop.is_none_or(|proof| &proof.jkt != jkt)
        {
            return Err(invalid_request(
                "the subject token is bound to a DPoP key: send a proof made with that key",
            ));
        }
        let scopes = delegated_scope(exchange.scope, &subject.scopes, client)?;
        let audiences = exchange_audience(&exchange, &subject.audiences, client)?;
        // Within the validator's leeway a token just past `exp` still validates: it is not
        // exchanged for a token with no time left.
        let remaining = Duration::seconds(subject.exp - self.clock.now().unix_timestamp());
        if !remaining.is_positive() {
            return Err(invalid_request("the subject token has expired"));
        }
        // Delegation names the client (over any earlier actor); a client registered for
        // impersonation gets a token naming the subject alone (RFC 8693 1.1).
        let act = (!client.impersonation).then(|| Actor {
            sub: client.id.to_string(),
            act: subject.act.map(Box::new),
        });
        let scope = (!scopes.is_empty()).then(|| scopes.join(" "));
        let mut spec =
            self.access_token_spec(client, &subject.sub, &audiences, scope.as_deref(), dpop);
        spec.lifetime = spec.lifetime.min(remaining);
        spec.act = act.as_ref();
        let mut response = self.issue_access_token(&spec)?.into_response(scope);
        response.issued_token_type = Some(ACCESS_TOKEN_TYPE.to_owned());
        Ok((response, Subject::Delegated(subject.sub)))
    }

    /// An access token of this server's, valid now, not revoked, whose client still exists,
    /// issued to `caller` or meant for it (an audience it is, or introspects), of a user still
    /// enabled.
    async fn subject_access_token(
        &self,
        caller: &Client,
        token: &str,
    ) -> Result<SubjectToken, OAuthError> {
        let invalid =
            || invalid_request("the subject token is not an active access token for this client");
        let claims = self.validate(token).map_err(|_| invalid())?;
        let issued_to = claims
            .str("client_id")
            .and_then(|id| ClientId::parse_any(id).ok())
            .ok_or_else(invalid)?;
        if issued_to != caller.id && !meant_for(caller, &claims.aud) {
            return Err(invalid());
        }
        if self.clients.find(&issued_to).await?.is_none() || self.is_revoked(&claims).await? {
            return Err(invalid());
        }
        let sub = claims.sub.clone().ok_or_else(invalid)?;
        // A client's own token (client credentials) has the client as subject; any other
        // subject is a user, who must still be enabled.
        if sub != issued_to.as_str() {
            self.require_enabled_user(&sub)
                .await
                .map_err(|()| invalid())?;
        }
        Ok(SubjectToken {
            scopes: claims
                .str("scope")
                .map(|s| s.split(' ').map(str::to_owned).collect())
                .unwrap_or_default(),
            exp: claims.exp.ok_or_else(invalid)?,
            act: actor_chain(&claims).map_err(|()| invalid())?,
            jkt: claims
                .all
                .get("cnf")
                .and_then(|cnf| cnf.get("jkt"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            audiences: claims.aud,
            sub,
        })
    }

    /// An ID token this server issued to `caller`, unexpired, of a user still enabled, whose
    /// session's grant to `caller` is still live. It
    /// carries no scope: what the user delegated is what they consented to for this client
    /// (everything it is registered for, for a first-party client).
    async fn subject_id_token(
        &self,
        caller: &Client,
        token: &str,
    ) -> Result<SubjectToken, OAuthError> {
        let invalid =
            || invalid_request("the subject token is not a valid ID token issued to this client");
        let now = self.clock.now().unix_timestamp();
        let keys = self.keys.current().introspection_validator().keys().clone();
        let claims = Validator::new(
            Profile::IdToken,
            self.settings.issuer.clone(),
            caller.id.as_str(),
            keys,
        )
        .allow_only(&[Algorithm::Rs256, Algorithm::Es256, Algorithm::EdDsa])
        .validate(token, now)
        .map_err(|_| invalid())?;
        if claims
            .str("azp")
            .is_some_and(|azp| azp != caller.id.as_str())
        {
            return Err(invalid());
        }
        let sub = claims.sub.clone().ok_or_else(invalid)?;
        let user_id = self
            .require_enabled_user(&sub)
            .await
            .map_err(|()| invalid())?;
        // An ID token cannot be revoked itself: it stands for the grant of its session, and
        // is exchanged only while that grant lives (not after logout, revocation of its
        // refresh token, a replay or revoke-all).
        let sid = claims.str("sid").ok_or_else(invalid)?;
        if !self.store.has_live_grant(&caller.id, &user_id, sid).await? {
            return Err(invalid());
        }
        let scopes = if caller.skip_consent {
            caller
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect()
        } else {
            self.store
                .find_consent(&user_id, &caller.id)
                .await?
                .map(|c| c.scopes.iter().map(|s| s.as_str().to_owned()).collect())
                .unwrap_or_default()
        };
        Ok(SubjectToken {
            sub,
            scopes,
            audiences: Vec::new(),
            exp: claims.exp.ok_or_else(invalid)?,
            act: None,
            jkt: None,
        })
    }

    /// The user `sub` names, if it exists and is enabled.
    async fn require_enabled_user(&self, sub: &str) -> Result<UserId, ()> {
        let id = UserId::parse(sub).map_err(|_| ())?;
        match self.store.find_user(&id).await {
            Ok(Some(user)) if !user.disabled => Ok(id),
            _ => Err(()),
        }
    }
}

/// The scope of the new token: the requested scopes (all the subject token carries without
/// `scope`), each carried by the subject token and registered for the acting client; never
/// none, so a client cannot act for a user with nothing the user delegated.
fn delegated_scope(
    requested: Option<&str>,
    delegated: &[String],
    client: &Client,
) -> Result<Vec<String>, OAuthError> {
    let allowed = |name: &str| {
        delegated.iter().any(|d| d == name) && client.scopes.iter().any(|s| s.as_str() == name)
    };
    let nothing = || {
        OAuthError::new(
            ErrorCode::InvalidScope,
            "the subject token carries no scope this client is registered for",
        )
    };
    let Some(requested) = requested else {
        let scopes: Vec<String> = delegated.iter().filter(|d| allowed(d)).cloned().collect();
        return if scopes.is_empty() {
            Err(nothing())
        } else {
            Ok(scopes)
        };
    };
    let mut scopes: Vec<String> = Vec::new();
    for name in requested.split(' ').filter(|s| !s.is_empty()) {
        if !allowed(name) {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "a requested scope is not in the subject token or not registered for this client",
            ));
        }
        if !scopes.iter().any(|s| s == name) {
            scopes.push(name.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err(nothing());
    }
    Ok(scopes)
}

/// The audiences of the new token: every `resource` and `audience` requested, each a resource
/// registered for the acting client or an audience of the subject token; without either, the
/// client's registered audiences (its own id when it has none).
fn exchange_audience(
    exchange: &Exchange<'_>,
    subject_audiences: &[String],
    client: &Client,
) -> Result<Vec<String>, OAuthError> {
    let requested: Vec<&String> = exchange
        .resources
        .iter()
        .chain(exchange.audiences)
        .collect();
    if requested.is_empty() {
        return crate::token::resolve::resolve_audience(&[], client);
    }
    let mut audiences: Vec<String> = Vec::new();
    for target in requested {
        let registered = Audience::parse(target).is_ok_and(|a| client.audiences.contains(&a));
        if !registered && !subject_audiences.contains(target) {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "a requested resource is neither registered for this client nor an audience of \
                 the subject token",
            ));
        }
        if !audiences.contains(target) {
            audiences.push(target.clone());
        }
    }
    Ok(audiences)
}

/// The subject token's `act` chain, if any, no deeper than `MAX_ACTORS - 1` so the new one
/// stays within `MAX_ACTORS`.
fn actor_chain(claims: &Claims) -> Result<Option<Actor>, ()> {
    let Some(act) = claims.all.get("act") else {
        return Ok(None);
    };
    parse_actor(act, MAX_ACTORS - 1).map(Some)
}

fn parse_actor(value: &Value, depth_left: usize) -> Result<Actor, ()> {
    if depth_left == 0 {
        return Err(());
    }
    let sub = value.get("sub").and_then(Value::as_str).ok_or(())?;
    let act = match value.get("act") {
        Some(inner) => Some(Box::new(parse_actor(inner, depth_left - 1)?)),
        None => None,
    };
    Ok(Actor {
        sub: sub.to_owned(),
        act,
    })
}

fn invalid_request(why: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actor_chains_are_read_and_bounded() {
        let chain = json!({"sub": "a", "act": {"sub": "b"}});
        let actor = parse_actor(&chain, 4).unwrap();
        assert_eq!(actor.sub, "a");
        assert_eq!(actor.act.unwrap().sub, "b");
        let mut deep = json!({"sub": "z"});
        for i in 0..4 {
            deep = json!({"sub": format!("p{i}"), "act": deep});
        }
        assert!(
            parse_actor(&deep, 4).is_err(),
            "five parties exceed the bound"
        );
        assert!(parse_actor(&json!({"act": {"sub": "x"}}), 4).is_err());
    }
}
