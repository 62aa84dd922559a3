//! DPoP proofs (RFC 9449): `typ` `dpop+jwt`, signed by the public key carried in the header,
//! bound to one HTTP method and URI, fresh, and (at resource servers) to the access token.
//! This is the only profile that takes its key from the token, which is why no other profile
//! accepts an embedded `jwk`.

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::{Map, Value};

use crate::header::{self, EmbeddedKey};
use crate::validate::{DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_LEN, ValidationError};
use crate::{Algorithm, Jwk, VerifyingKey, b64, htu, strict_json};

/// Callers keep `jti`s to refuse replays; a bound keeps that store small.
const MAX_JTI_LEN: usize = 256;

/// What a valid DPoP proof established (RFC 9449 section 4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    /// RFC 7638 thumbprint of the proof key: what `cnf.jkt` binds a token to.
    pub jkt: String,
    /// The proof's unique ID (1 to 256 bytes): the caller refuses a `jti` it has seen within
    /// the proof lifetime (RFC 9449 section 11.1).
    pub jti: String,
    /// When the proof was made, Unix seconds.
    pub iat: i64,
    /// The server-provided nonce the proof carries, for the caller to compare (RFC 9449
    /// section 8).
    pub nonce: Option<String>,
}

/// Validates DPoP proof JWTs (RFC 9449): `typ` `dpop+jwt`, an asymmetric algorithm, signed by
/// the public `jwk` in its header (private members refused), `htm` and `htu` matching the
/// request (`htu` without query and fragment, after RFC 3986 normalization), `iat` at most
/// 60 seconds old and not in the future (each with 30 seconds of leeway), and `ath` when an
/// access token is presented with it. `Default` is the only constructor.
#[derive(Debug, Clone)]
pub struct DpopValidator {
    allowed: Vec<Algorithm>,
    max_age: i64,
    leeway: i64,
}

impl Default for DpopValidator {
    fn default() -> Self {
        Self {
            allowed: Algorithm::ASYMMETRIC.to_vec(),
            max_age: 60,
            leeway: DEFAULT_LEEWAY_SECS,
        }
    }
}

impl DpopValidator {
    /// Validates `proof` for a request of `method` to `uri` at Unix time `now`. With
    /// `access_token`, the proof's `ath` must be that token's SHA-256 hash. Replay of `jti`
    /// is the caller's to track (it knows its storage).
    pub fn validate(
        &self,
        proof: &str,
        method: &str,
        uri: &str,
        access_token: Option<&str>,
        now: i64,
    ) -> Result<DpopProof, ValidationError> {
        if proof.len() > DEFAULT_MAX_TOKEN_LEN {
            return Err(ValidationError::TooLarge);
        }
        let mut parts = proof.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ValidationError::Malformed("expected three segments".into()));
        };
        let decode = |part: &str| {
            b64::decode(part).ok_or_else(|| ValidationError::Malformed("not base64url".into()))
        };
        let header = header::parse(&decode(h64)?, EmbeddedKey::Required)?;
        if !self.allowed.contains(&header.alg) {
            return Err(ValidationError::AlgorithmNotAllowed(header.alg));
        }
        if header.typ.as_deref() != Some("dpop+jwt") {
            return Err(ValidationError::WrongType);
        }
        let jwk = header.jwk.ok_or(ValidationError::InvalidHeader("jwk"))?;
        let (key, jkt) = embedded_key(jwk)?;
        if key.alg() != header.alg {
            return Err(ValidationError::AlgorithmMismatch);
        }
        let signed = &proof[..h64.len() + 1 + p64.len()];
        if !key.verify(signed.as_bytes(), &decode(s64)?) {
            return Err(ValidationError::BadSignature);
        }
        let claims =
            strict_json::parse_object(&decode(p64)?).map_err(ValidationError::Malformed)?;
        let text = |name: &'static str| match claims.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(ValidationError::InvalidClaim(name)),
            None => Err(ValidationError::MissingClaim(name)),
        };
        let jti = text("jti")?;
        if jti.is_empty() || jti.len() > MAX_JTI_LEN {
            return Err(ValidationError::InvalidClaim("jti"));
        }
        if text("htm")? != method {
            return Err(ValidationError::InvalidClaim("htm"));
        }
        if !htu::same_resource(text("htu")?, uri) {
            return Err(ValidationError::InvalidClaim("htu"));
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or(ValidationError::MissingClaim("iat"))?;
        if iat > now.saturating_add(self.leeway) {
            return Err(ValidationError::IssuedInFuture);
        }
        if iat < now.saturating_sub(self.max_age + self.leeway) {
            return Err(ValidationError::Expired);
        }
        if let Some(token) = access_token {
            let expected = b64::encode(digest(&SHA256, token.as_bytes()));
            if text("ath")? != expected {
                return Err(ValidationError::InvalidClaim("ath"));
            }
        }
        Ok(DpopProof {
            jkt,
            jti: jti.to_owned(),
            iat,
            nonce: match text("nonce") {
                Ok(nonce) => Some(nonce.to_owned()),
                Err(ValidationError::MissingClaim(_)) => None,
                Err(e) => return Err(e),
            },
        })
    }
}

fn embedded_key(jwk: Map<String, Value>) -> Result<(VerifyingKey, String), ValidationError> {
    if Jwk::PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(ValidationError::InvalidHeader("jwk"));
    }
    let mut jwk: Jwk = serde_json::from_value(Value::Object(jwk))
        .map_err(|_| ValidationError::InvalidHeader("jwk"))?;
    let jkt = jwk
        .thumbprint()
        .ok_or(ValidationError::InvalidHeader("jwk"))?;
    jwk.kid = Some(jkt.clone());
    let key = VerifyingKey::from_jwk(&jwk).map_err(|_| ValidationError::InvalidHeader("jwk"))?;
    Ok((key, jkt))
}
