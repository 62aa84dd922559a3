//! Scope and audience of a token request, resolved against what the client is registered for.

use crate::client::{Audience, Client, Scope};
use crate::error::{ErrorCode, OAuthError};

/// The requested scopes (space-separated, RFC 6749 3.3), each registered for the client;
/// all registered scopes when none are requested.
pub fn resolve_scope(requested: Option<&str>, allowed: &[Scope]) -> Result<Vec<Scope>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.to_vec());
    };
    let mut granted: Vec<Scope> = Vec::new();
    for token in requested.split(' ').filter(|t| !t.is_empty()) {
        let scope = allowed
            .iter()
            .find(|s| s.as_str() == token)
            .ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::InvalidScope,
                    "a requested scope is not allowed for this client",
                )
            })?;
        if !granted.contains(scope) {
            granted.push(scope.clone());
        }
    }
    Ok(granted)
}

/// The scope of an authorization request. OpenID Connect Core 3.1.2.1: in a request with
/// `openid` (registered for the client), values the client is not registered for are
/// ignored, and the token response reports what was granted (RFC 6749 3.3). Plain OAuth
/// requests refuse them with `invalid_scope`, as `resolve_scope` does.
pub fn resolve_authorization_scope(
    requested: Option<&str>,
    allowed: &[Scope],
) -> Result<Vec<Scope>, OAuthError> {
    let registered = |name: &str| allowed.iter().any(|s| s.as_str() == name);
    if let Some(requested) = requested
        && requested.split(' ').any(|t| t == OPENID)
        && registered(OPENID)
    {
        let known: Vec<&str> = requested.split(' ').filter(|t| registered(t)).collect();
        return resolve_scope(Some(&known.join(" ")), allowed);
    }
    resolve_scope(requested, allowed)
}

pub(crate) const OPENID: &str = "openid";

/// RFC 8707 for the grants of users: the audiences a code or refresh token authorizes.
/// Requested resources must each be registered for the client, or be the userinfo endpoint
/// in an OpenID Connect request, and are then exactly the audiences. Without a `resource`:
/// the client's default (as `resolve_audience`) plus, for OpenID Connect, the userinfo
/// endpoint. Anything else is `invalid_target`.
pub fn resolve_user_audience(
    resources: &[String],
    client: &Client,
    openid: bool,
    userinfo_audience: &str,
) -> Result<Vec<String>, OAuthError> {
    if resources.is_empty() {
        let mut audiences = resolve_audience(resources, client)?;
        if openid {
            audiences.push(userinfo_audience.to_owned());
        }
        return Ok(audiences);
    }
    let mut audiences: Vec<String> = Vec::new();
    for resource in resources {
        let resource = if openid && resource == userinfo_audience {
            resource.clone()
        } else {
            registered_audience(resource, client)?
        };
        if !audiences.contains(&resource) {
            audiences.push(resource);
        }
    }
    Ok(audiences)
}

/// RFC 8707 2.2: `resource` at the token endpoint names the same or a narrower set than was
/// authorized (`invalid_target` otherwise); without one, everything authorized.
pub fn narrow_audience(
    requested: &[String],
    authorized: &[String],
) -> Result<Vec<String>, OAuthError> {
    if requested.is_empty() {
        return Ok(authorized.to_vec());
    }
    let mut audiences: Vec<String> = Vec::new();
    for resource in requested {
        if !authorized.contains(resource) {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "the requested resource was not authorized for this grant",
            ));
        }
        if !audiences.contains(resource) {
            audiences.push(resource.clone());
        }
    }
    Ok(audiences)
}

/// One `resource`, checked against the client's registered audiences.
fn registered_audience(resource: &str, client: &Client) -> Result<String, OAuthError> {
    let invalid = || {
        OAuthError::new(
            ErrorCode::InvalidTarget,
            "the requested resource is not registered for this client",
        )
    };
    let resource = Audience::parse(resource).map_err(|_| invalid())?;
    if !client.audiences.contains(&resource) {
        return Err(invalid());
    }
    Ok(resource.as_str().to_owned())
}

/// RFC 8707: each `resource` must be one of the client's registered audiences. Without one,
/// every registered audience; a client with none gets a token naming only itself.
pub fn resolve_audience(resources: &[String], client: &Client) -> Result<Vec<String>, OAuthError> {
    if resources.is_empty() {
        return Ok(if client.audiences.is_empty() {
            vec![client.id.as_str().to_owned()]
        } else {
            client
                .audiences
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect()
        });
    }
    let mut audiences: Vec<String> = Vec::new();
    for resource in resources {
        let resource = registered_audience(resource, client)?;
        if !audiences.contains(&resource) {
            audiences.push(resource);
        }
    }
    Ok(audiences)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(names: &[&str]) -> Vec<Scope> {
        names.iter().map(|n| Scope::parse(n).unwrap()).collect()
    }

    #[test]
    fn scope_defaults_to_registered_and_refuses_escalation() {
        let allowed = scopes(&["read", "write"]);
        assert_eq!(resolve_scope(None, &allowed).unwrap(), allowed);
        assert_eq!(
            resolve_scope(Some("write  write"), &allowed).unwrap(),
            scopes(&["write"])
        );
        let err = resolve_scope(Some("read admin"), &allowed).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidScope);
    }

    #[test]
    fn openid_requests_ignore_unknown_scopes_and_plain_oauth_refuses_them() {
        let allowed = scopes(&["openid", "profile"]);
        assert_eq!(
            resolve_authorization_scope(Some("openid x-unknown profile"), &allowed).unwrap(),
            scopes(&["openid", "profile"])
        );
        let err = resolve_authorization_scope(Some("profile x-unknown"), &allowed).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidScope);
        // A client not registered for openid makes no OpenID Connect request.
        let err = resolve_authorization_scope(Some("openid read"), &scopes(&["read"])).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidScope);
    }

    #[test]
    fn token_endpoint_resources_narrow_never_widen() {
        let authorized = vec![
            "https://a.example".to_owned(),
            "https://b.example".to_owned(),
        ];
        assert_eq!(narrow_audience(&[], &authorized).unwrap(), authorized);
        assert_eq!(
            narrow_audience(&["https://b.example".to_owned()], &authorized).unwrap(),
            vec!["https://b.example".to_owned()]
        );
        let err = narrow_audience(&["https://c.example".to_owned()], &authorized).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidTarget);
    }
}
