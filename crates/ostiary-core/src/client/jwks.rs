//! A client's public keys, registered by value (`jwks`) or by reference (`jwks_uri`) as RFC
//! 7591 2 names them: what `private_key_jwt` assertions (RFC 7523) are checked against.

use ostiary_jwt::remote::is_allowed_url;
use ostiary_jwt::{Jwk, JwkSet, KeySet};
use serde_json::Value;
use url::Url;

use crate::validation::InvalidInput;

/// More keys than any rotation needs; a bound keeps every lookup small.
const MAX_KEYS: usize = 16;
/// The largest inline key set accepted, in bytes of JSON.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The longest `jwks_uri` accepted, in bytes.
const MAX_URI_LEN: usize = 2048;

/// Where a client's public keys come from (RFC 7591 2: never both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientJwks {
    /// `jwks`: the key set itself, checked when registered.
    Value(JwkSet),
    /// `jwks_uri`: an `https` URL (plain `http` only to a loopback host, for development)
    /// fetched by the server with a size limit (256 KiB) and a timeout (5 s), never named by
    /// a request.
    Uri(String),
}

impl ClientJwks {
    /// A `jwks` value as JSON text: a JWK set of 1 to 16 public signing keys, each usable
    /// (supported key type, RSA of at least 2048 bits, EC points on the curve), none with
    /// private members. Keys without `kid` are named by their RFC 7638 thumbprint.
    ///
    /// Errors: `InvalidInput` on `jwks` saying which rule failed.
    pub fn from_json(json: &str) -> Result<Self, InvalidInput> {
        let invalid = |why: &str| InvalidInput::new("jwks", why.to_owned());
        if json.len() > MAX_JWKS_BYTES {
            return Err(invalid("the key set is larger than 64 KiB"));
        }
        let value: Value = serde_json::from_str(json).map_err(|_| invalid("not a JSON JWK set"))?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("a JWK set is an object with a \"keys\" array"))?;
        if keys.is_empty() || keys.len() > MAX_KEYS {
            return Err(invalid("give between 1 and 16 keys"));
        }
        let private = keys.iter().any(|key| {
            key.as_object()
                .is_some_and(|k| Jwk::PRIVATE_MEMBERS.iter().any(|m| k.contains_key(*m)))
        });
        if private {
            return Err(invalid(
                "a key has private members: register only the public keys",
            ));
        }
        let set: JwkSet =
            serde_json::from_value(value).map_err(|_| invalid("a key is not a valid JWK"))?;
        if KeySet::from_jwks(&set).len() != set.keys.len() {
            return Err(invalid(
                "every key must be a public signing key of a supported type \
                 (EC P-256, RSA of 2048 bits or more, Ed25519), with distinct kids",
            ));
        }
        Ok(Self::Value(set))
    }

    /// A `jwks_uri`: `https`, or `http` to a loopback host.
    ///
    /// Errors: `InvalidInput` on `jwks_uri`.
    pub fn from_uri(uri: &str) -> Result<Self, InvalidInput> {
        let invalid = |why: &str| InvalidInput::new("jwks_uri", why.to_owned());
        if uri.len() > MAX_URI_LEN {
            return Err(invalid("longer than 2048 bytes"));
        }
        let url = Url::parse(uri).map_err(|_| invalid("not an absolute URL"))?;
        // What the fetcher itself will insist on, said at registration.
        if !is_allowed_url(&url) || url.fragment().is_some() || !url.username().is_empty() {
            return Err(invalid(
                "must be https (http only to a loopback host), without credentials or fragment",
            ));
        }
        Ok(Self::Uri(uri.to_owned()))
    }

    /// The `jwks` value as stored and shown, or `None` for a `jwks_uri`.
    pub fn value(&self) -> Option<&JwkSet> {
        match self {
            Self::Value(set) => Some(set),
            Self::Uri(_) => None,
        }
    }

    /// The `jwks_uri`, or `None` for keys registered by value.
    pub fn uri(&self) -> Option<&str> {
        match self {
            Self::Uri(uri) => Some(uri),
            Self::Value(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC: &str = r#"{"kty":"EC","crv":"P-256",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn a_public_key_set_is_accepted_and_a_private_one_refused() {
        let set = ClientJwks::from_json(&format!(r#"{{"keys":[{EC}]}}"#)).unwrap();
        assert_eq!(set.value().map(|s| s.keys.len()), Some(1));
        let private = EC.replace(r#""kty""#, r#""d":"AAAA","kty""#);
        let err = ClientJwks::from_json(&format!(r#"{{"keys":[{private}]}}"#)).unwrap_err();
        assert!(err.to_string().contains("private"), "{err}");
    }

    #[test]
    fn empty_unusable_and_malformed_sets_are_refused() {
        for bad in [
            "",
            "[]",
            r#"{"keys":[]}"#,
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#,
            r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}"#,
            r#"{"keys":"x"}"#,
        ] {
            assert!(ClientJwks::from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jwks_uris_must_be_https_off_loopback() {
        assert!(ClientJwks::from_uri("https://client.example.com/jwks.json").is_ok());
        assert!(ClientJwks::from_uri("http://127.0.0.1:9000/jwks").is_ok());
        for bad in [
            "http://client.example.com/jwks.json",
            "ftp://client.example.com/jwks",
            "https://user:pw@client.example.com/jwks",
            "https://client.example.com/jwks#frag",
            "/jwks",
        ] {
            assert!(ClientJwks::from_uri(bad).is_err(), "{bad}");
        }
    }
}
