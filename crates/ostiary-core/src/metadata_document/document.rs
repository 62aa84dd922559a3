//! A fetched metadata document read as client metadata (RFC 7591 2) and checked: its
//! `client_id` is its URL byte for byte, the client is public (`none`) or signs with keys
//! given by value (`private_key_jwt`), acts only for users, and meets every rule of dynamic
//! registration under the operator's registration policy.

use crate::client::{ClientId, ClientRegistration, GrantType, TokenEndpointAuthMethod};
use crate::registration::{ClientMetadata, RegistrationPolicy};

/// What a document asks for, checked; the reason it was refused otherwise (for logs).
pub fn registration(
    id: &ClientId,
    body: &[u8],
    policy: &RegistrationPolicy,
) -> Result<ClientRegistration, String> {
    // A member named twice (at any depth) could be read otherwise by another reader.
    let object = ostiary_jwt::strict_json::parse_object(body)
        .map_err(|e| format!("not client metadata JSON: {e}"))?;
    let mut metadata: ClientMetadata = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| format!("not client metadata JSON: {e}"))?;
    if metadata.client_id.as_deref() != Some(id.as_str()) {
        return Err("its client_id is not the URL it was fetched from".into());
    }
    if metadata.client_secret.is_some() {
        return Err("a metadata document must not hold a client_secret".into());
    }
    if metadata.redirect_uris.as_ref().is_none_or(Vec::is_empty) {
        return Err("redirect_uris is required".into());
    }
    // Nobody issues such a client a secret: it is public unless it signs with its own keys.
    let method = match metadata.token_endpoint_auth_method.as_deref() {
        None | Some("none") => TokenEndpointAuthMethod::None,
        Some("private_key_jwt") => TokenEndpointAuthMethod::PrivateKeyJwt,
        Some(other) => {
            return Err(format!(
                "token_endpoint_auth_method {other:?}: only none or private_key_jwt"
            ));
        }
    };
    if method == TokenEndpointAuthMethod::PrivateKeyJwt && metadata.jwks.is_none() {
        return Err("private_key_jwt needs the public keys by value (jwks)".into());
    }
    metadata.token_endpoint_auth_method = Some(method.as_str().to_owned());
    for grant in metadata.grant_types.iter().flatten() {
        let allowed = [GrantType::AuthorizationCode, GrantType::RefreshToken]
            .iter()
            .any(|g| g.as_str() == grant);
        if !allowed {
            return Err(format!(
                "grant type {grant:?}: only authorization_code and refresh_token"
            ));
        }
    }
    if metadata.client_name.is_none() {
        // The host is what vouches for such a client; its URL may be too long for a name.
        metadata.client_name = id.document_host();
    }
    // Registration's own rules: redirect URIs, response types, scopes within the policy,
    // jwks_uri refused (keys by value only), never first-party.
    metadata
        .into_registration(id.clone(), policy, false)
        .map_err(|e| e.description().to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::client::{Scope, UriPolicy};
    use crate::registration::RegistrationMode;

    const URL: &str = "https://app.example.com/oauth/client.json";

    fn policy() -> RegistrationPolicy {
        RegistrationPolicy {
            mode: RegistrationMode::Off,
            scopes: ["openid", "profile"]
                .map(|s| Scope::parse(s).unwrap())
                .to_vec(),
            audiences: Vec::new(),
            uri_policy: UriPolicy {
                allow_insecure_http: false,
            },
            endpoint: String::new(),
        }
    }

    fn document() -> Value {
        json!({
            "client_id": URL,
            "client_name": "Agent",
            "redirect_uris": ["https://app.example.com/cb"],
            "logo_uri": "https://app.example.com/logo.png",
        })
    }

    fn read(doc: &Value) -> Result<ClientRegistration, String> {
        let id = ClientId::parse_any(URL).unwrap();
        registration(&id, doc.to_string().as_bytes(), &policy())
    }

    fn with(field: &str, value: Value) -> Value {
        let mut doc = document();
        doc[field] = value;
        doc
    }

    #[test]
    fn a_minimal_document_is_a_public_code_client() {
        let r = read(&document()).unwrap();
        assert_eq!(r.client_id.unwrap().as_str(), URL);
        assert_eq!(r.name, "Agent");
        assert!(r.public);
        assert_eq!(r.auth_method, Some(TokenEndpointAuthMethod::None));
        assert_eq!(
            r.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(r.redirect_uris[0].as_str(), "https://app.example.com/cb");
        assert_eq!(r.scopes, policy().scopes);
        assert!(!r.skip_consent);
    }

    #[test]
    fn a_member_named_twice_at_any_depth_is_refused() {
        let id = ClientId::parse_any(URL).unwrap();
        let read_text = |text: &str| registration(&id, text.as_bytes(), &policy());
        let mut doc = with("token_endpoint_auth_method", json!("private_key_jwt"));
        doc["jwks"] = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1", "use": "sig",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        }]});
        let once = doc.to_string();
        assert!(read_text(&once).is_ok());
        // Inside a key, where the struct's own check of its fields does not reach.
        let twice = once.replace(r#""kid":"k1""#, r#""kid":"k1","kid":"k2""#);
        assert_ne!(twice, once);
        assert!(read_text(&twice).is_err());
    }

    #[test]
    fn without_a_name_the_host_names_the_client() {
        let mut doc = document();
        doc.as_object_mut().unwrap().remove("client_name");
        assert_eq!(read(&doc).unwrap().name, "app.example.com");
    }

    #[test]
    fn private_key_jwt_with_keys_by_value_is_accepted() {
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1", "use": "sig",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        }]});
        let mut doc = with("token_endpoint_auth_method", json!("private_key_jwt"));
        doc["jwks"] = jwks;
        let r = read(&doc).unwrap();
        assert_eq!(r.auth_method, Some(TokenEndpointAuthMethod::PrivateKeyJwt));
        assert!(!r.public);
        assert!(r.jwks.is_some());
    }

    #[test]
    fn documents_breaking_a_rule_are_refused() {
        let mut no_redirects = document();
        no_redirects
            .as_object_mut()
            .unwrap()
            .remove("redirect_uris");
        let cases = [
            (
                with("client_id", json!("https://app.example.com/other")),
                "client_id",
            ),
            (with("client_id", json!(format!("{URL} "))), "client_id"),
            (with("client_id", Value::Null), "client_id"),
            (no_redirects, "redirect_uris"),
            (with("redirect_uris", json!([])), "redirect_uris"),
            (
                with("redirect_uris", json!(["http://app.example.com/cb"])),
                "plain http",
            ),
            (
                with("redirect_uris", json!(["https://app.example.com/cb#x"])),
                "fragment",
            ),
            (
                with("redirect_uris", json!(["javascript:alert(1)"])),
                "scheme",
            ),
            (
                with("token_endpoint_auth_method", json!("client_secret_basic")),
                "none or private_key_jwt",
            ),
            (
                with("token_endpoint_auth_method", json!("client_secret_post")),
                "none or private_key_jwt",
            ),
            (
                with("token_endpoint_auth_method", json!("private_key_jwt")),
                "jwks",
            ),
            (
                with("grant_types", json!(["client_credentials"])),
                "client_credentials",
            ),
            (
                with(
                    "grant_types",
                    json!([
                        "authorization_code",
                        "urn:ietf:params:oauth:grant-type:device_code"
                    ]),
                ),
                "device_code",
            ),
            (with("grant_types", json!(["implicit"])), "implicit"),
            (with("response_types", json!(["token"])), "response_types"),
            (with("scope", json!("openid admin")), "admin"),
            (
                with("jwks_uri", json!("https://app.example.com/jwks")),
                "jwks_uri",
            ),
            (with("client_secret", json!("s3cret")), "client_secret"),
        ];
        for (doc, expected) in cases {
            let err = read(&doc).unwrap_err();
            assert!(err.contains(expected), "{doc}: {err}");
        }
        for not_metadata in [&b"[]"[..], b"null", b"{", b"\"x\"", b"{\"client_id\": 1}"] {
            let id = ClientId::parse_any(URL).unwrap();
            assert!(registration(&id, not_metadata, &policy()).is_err());
        }
    }
}
