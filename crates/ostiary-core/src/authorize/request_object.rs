//! Signed authorization requests (RFC 9101): a `request` parameter holding a JWT the client
//! signed with one of its registered keys, checked with `ostiary-jwt`'s request-object profile
//! (`typ` `oauth-authz-req+jwt`, `iss` the client, `aud` this issuer, `exp` and `nbf` within an
//! hour of each other, `jti` used once). Its claims are the request: parameters sent beside it
//! are ignored, `client_id` aside, which must name the same client.

use ostiary_jwt::MAX_LEEWAY_SECS;
use serde_json::Value;
use time::OffsetDateTime;

use super::request::single;
use super::{AuthorizeError, Authorizer};
use crate::client::{ClientId, SignedByClient};
use crate::error::{ErrorCode, OAuthError};
use crate::store::one_time_key;

/// The longest a request object may be valid, `nbf` to `exp`, in seconds (FAPI 2.0's bound).
pub const MAX_REQUEST_OBJECT_LIFETIME_SECS: i64 = 3600;
/// Claims of the JWT itself, not parameters of the request.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];
/// What the replay record of a request object's `jti` is bound to, besides the client.
const REPLAY_PURPOSE: &str = "request_object";

impl Authorizer {
    /// The parameters of the request object in `params` (RFC 9101 6.3), for the client their
    /// `client_id` names. Failures are shown to the user: until the object is verified
    /// nothing says where a redirect may go.
    pub(super) async fn open_request_object(
        &self,
        params: &[(String, String)],
    ) -> Result<Vec<(String, String)>, AuthorizeError> {
        let page = |why: &'static str| {
            AuthorizeError::Page(OAuthError::new(ErrorCode::InvalidRequestObject, why))
        };
        let value = |name: &'static str| single(params, name).ok().flatten();
        let client_id = value("client_id").ok_or_else(|| page("client_id is required"))?;
        let request = value("request").ok_or_else(|| page("request must be sent once"))?;
        let unknown = || page("the client is unknown");
        let client_id = ClientId::parse_any(client_id).map_err(|_| unknown())?;
        let client = self
            .clients
            .find(&client_id)
            .await
            .map_err(|e| AuthorizeError::Page(e.into()))?
            .ok_or_else(unknown)?;
        let now = self.clock.now().unix_timestamp();
        let kind = SignedByClient::RequestObject {
            issuer: self.issuer.clone(),
        };
        let claims = self
            .client_keys
            .validate(&client, &kind, request, now)
            .await
            .map_err(|reason| {
                tracing::debug!(client_id = %client.id, reason, "request object refused");
                page("the request object is invalid or not signed by a key of the client")
            })?;
        let (Some(exp), Some(nbf), Some(jti)) = (claims.exp, claims.nbf, claims.jti.as_deref())
        else {
            return Err(page("the request object needs exp, nbf and jti"));
        };
        if exp
            .checked_sub(nbf)
            .is_none_or(|lifetime| lifetime > MAX_REQUEST_OBJECT_LIFETIME_SECS)
        {
            return Err(page("the request object is valid for more than an hour"));
        }
        if claims
            .str("client_id")
            .is_some_and(|inside| inside != client.id.as_str())
        {
            return Err(page(
                "client_id differs inside and outside the request object",
            ));
        }
        let keep_until = OffsetDateTime::from_unix_timestamp(exp.saturating_add(MAX_LEEWAY_SECS))
            .map_err(|_| page("exp is out of range"))?;
        let once = one_time_key(REPLAY_PURPOSE, client.id.as_str(), jti);
        let first_use = self
            .store
            .use_once(&once, keep_until, self.clock.now_seconds())
            .await
            .map_err(|e| AuthorizeError::Page(e.into()))?;
        if !first_use {
            return Err(page("the request object was already used"));
        }
        let mut opened = vec![("client_id".to_owned(), client.id.as_str().to_owned())];
        for (name, value) in claims.all {
            if JWT_CLAIMS.contains(&name.as_str()) || name == "client_id" {
                continue;
            }
            if name == "request" || name == "request_uri" {
                return Err(page("a request object cannot hold another request"));
            }
            match value {
                Value::String(s) => opened.push((name, s)),
                Value::Number(n) => opened.push((name, n.to_string())),
                // RFC 8707 `resource` may repeat: an array is one parameter per value.
                Value::Array(items) if name == "resource" => {
                    for item in items {
                        let Value::String(s) = item else {
                            return Err(page("resource values must be strings"));
                        };
                        opened.push((name.clone(), s));
                    }
                }
                // Structured parameters (OpenID Connect `claims`) travel as their JSON.
                other => opened.push((name, other.to_string())),
            }
        }
        Ok(opened)
    }
}
