//! The JWTs the BFF signs: DPoP proofs (RFC 9449) and client assertions (RFC 7523).

use ostiary_jwt::{KeyError, SigningKey};
use serde_json::json;

/// Seconds a client assertion is valid: long enough for one request.
const ASSERTION_LIFETIME_SECS: i64 = 60;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A DPoP proof (RFC 9449 section 4.2) for one request: `htm` the method, `htu` the URL
/// without query or fragment, `ath` the access token's SHA-256 (base64url) when one is sent,
/// and the server's `nonce` when it gave one.
pub fn dpop_proof(
    key: &SigningKey,
    htm: &str,
    htu: &str,
    access_token: Option<&str>,
    nonce: Option<&str>,
) -> Result<String, KeyError> {
    let htu = htu.split(['?', '#']).next().unwrap_or(htu);
    let mut claims = json!({
        "jti": random_id(),
        "htm": htm,
        "htu": htu,
        "iat": now(),
    });
    if let Some(token) = access_token {
        claims["ath"] = ostiary_core::pkce::s256(token).into();
    }
    if let Some(nonce) = nonce {
        claims["nonce"] = nonce.into();
    }
    ostiary_jwt::encode_with_jwk(key, "dpop+jwt", &claims)
}

/// A `private_key_jwt` client assertion (RFC 7523 section 3): issued by and about the
/// client, for the server's issuer, with a fresh `jti`.
pub fn client_assertion(
    key: &SigningKey,
    client_id: &str,
    issuer: &str,
) -> Result<String, KeyError> {
    let now = now();
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": issuer,
        "jti": random_id(),
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECS,
    });
    ostiary_jwt::encode(key, "JWT", &claims)
}

fn random_id() -> String {
    ostiary_core::random::random_token::<16>()
}
