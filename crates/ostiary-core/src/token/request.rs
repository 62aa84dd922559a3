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
        if !audiences.iter().any(|a| a == resource.as_str()) {
            audiences.push(resource.as_str().to_owned());
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
}
