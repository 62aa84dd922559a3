//! Compact JWS serialization of claims under one signing key.

use serde::Serialize;

use crate::{SigningKey, b64, signing_key::KeyError};

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

/// Signs `claims` as a compact JWS (RFC 7515 section 7.1): `header.payload.signature`, each
/// part base64url without padding, with a header of exactly `alg`, `kid` (the key's) and `typ`
/// (e.g. `at+jwt` for access tokens, RFC 9068 section 2.1, or `JWT` for ID tokens).
///
/// Fails with [`KeyError::Invalid`] if `claims` does not serialize to JSON, or with the
/// signing error of the key.
pub fn encode(key: &SigningKey, typ: &str, claims: &impl Serialize) -> Result<String, KeyError> {
    let header = Header {
        alg: key.alg().as_str(),
        kid: key.kid(),
        typ,
    };
    let header = serde_json::to_vec(&header).map_err(|_| KeyError::Invalid("header"))?;
    let payload =
        serde_json::to_vec(claims).map_err(|_| KeyError::Invalid("claims do not serialize"))?;
    let mut token = b64::encode(header);
    token.push('.');
    token.push_str(&b64::encode(payload));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64::encode(signature));
    Ok(token)
}
