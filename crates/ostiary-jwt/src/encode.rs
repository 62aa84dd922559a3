//! Compact JWS serialization of claims under one signing key.

use serde::Serialize;

use crate::{Jwk, SigningKey, b64, signing_key::KeyError};

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
    typ: &'a str,
    /// The public key itself, for proofs of possession (RFC 9449 section 4.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    jwk: Option<&'a Jwk>,
}

/// Signs `claims` as a compact JWS (RFC 7515 section 7.1): `header.payload.signature`, each
/// part base64url without padding, with a header of exactly `alg`, `kid` (the key's) and `typ`
/// (e.g. `at+jwt` for access tokens, RFC 9068 section 2.1, or `JWT` for ID tokens).
///
/// Fails with [`KeyError::Invalid`] if `claims` does not serialize to JSON, or with the
/// signing error of the key.
pub fn encode(key: &SigningKey, typ: &str, claims: &impl Serialize) -> Result<String, KeyError> {
    sign(
        key,
        &Header {
            alg: key.alg().as_str(),
            kid: Some(key.kid()),
            typ,
            jwk: None,
        },
        claims,
    )
}

/// Signs `claims` as a compact JWS whose header is `alg`, `typ` and the key's public `jwk`
/// (no `kid`): a proof of possession such as a DPoP proof (RFC 9449 section 4.2, `typ`
/// `dpop+jwt`), which the receiver checks against the key it carries.
///
/// Fails with [`KeyError::Invalid`] for a symmetric key (it has no public JWK) or claims that
/// do not serialize, or with the signing error of the key.
pub fn encode_with_jwk(
    key: &SigningKey,
    typ: &str,
    claims: &impl Serialize,
) -> Result<String, KeyError> {
    let jwk = key
        .public_jwk()
        .ok_or(KeyError::Invalid("a symmetric key has no public JWK"))?;
    // Only the members that define the key: its `kid`, `use` and `alg` say nothing here.
    let jwk = Jwk {
        kid: None,
        use_: None,
        alg: None,
        ..jwk.clone()
    };
    sign(
        key,
        &Header {
            alg: key.alg().as_str(),
            kid: None,
            typ,
            jwk: Some(&jwk),
        },
        claims,
    )
}

fn sign(
    key: &SigningKey,
    header: &Header<'_>,
    claims: &impl Serialize,
) -> Result<String, KeyError> {
    let header = serde_json::to_vec(header).map_err(|_| KeyError::Invalid("header"))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, DpopValidator};

    #[test]
    fn a_proof_carries_the_public_key_alone_and_verifies_against_it() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg).unwrap();
            let claims = serde_json::json!({
                "jti": "j1", "htm": "POST", "htu": "https://as.example/token", "iat": 1_900_000_000,
            });
            let proof = encode_with_jwk(&key, "dpop+jwt", &claims).unwrap();
            let header: serde_json::Value =
                serde_json::from_slice(&b64::decode(proof.split('.').next().unwrap()).unwrap())
                    .unwrap();
            assert!(header.get("kid").is_none(), "{header}");
            let jwk = header["jwk"].as_object().unwrap();
            assert!(
                jwk.keys()
                    .all(|k| ["kty", "crv", "x", "y"].contains(&k.as_str()))
            );
            let checked = DpopValidator::default()
                .validate(
                    &proof,
                    "POST",
                    "https://as.example/token",
                    None,
                    1_900_000_001,
                )
                .unwrap();
            assert_eq!(
                Some(checked.jkt),
                key.public_jwk().and_then(Jwk::thumbprint)
            );
        }
        let hmac = SigningKey::hs256("k", &[7; 32]);
        assert!(encode_with_jwk(&hmac, "dpop+jwt", &serde_json::json!({})).is_err());
    }
}
