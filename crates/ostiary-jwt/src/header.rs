//! The JOSE header, parsed strictly. Parameters that would let a token choose its own key
//! (`jku`, `x5u`, `x5c`; an embedded `jwk` outside DPoP proofs), compression (`zip`, RFC 8725
//! 3.6) and critical extensions we do not implement (`crit`, RFC 7515 4.1.11) are refused,
//! never followed.

use serde_json::{Map, Value};

use crate::validate::ValidationError;
use crate::verifying_key::MAX_KID_LEN;
use crate::{Algorithm, strict_json};

const ALWAYS_FORBIDDEN: [&str; 6] = ["jku", "x5u", "x5c", "zip", "crit", "b64"];

/// Whether the token carries its own public key (DPoP proofs only, RFC 9449 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmbeddedKey {
    Refused,
    Required,
}

#[derive(Debug)]
pub(crate) struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub jwk: Option<Map<String, Value>>,
}

pub(crate) fn parse(bytes: &[u8], embedded: EmbeddedKey) -> Result<Header, ValidationError> {
    let map = strict_json::parse_object(bytes).map_err(ValidationError::Malformed)?;
    if let Some(name) = ALWAYS_FORBIDDEN
        .iter()
        .find(|name| map.contains_key(**name))
    {
        return Err(ValidationError::ForbiddenHeader(name));
    }
    let jwk = match (map.get("jwk"), embedded) {
        (Some(_), EmbeddedKey::Refused) => return Err(ValidationError::ForbiddenHeader("jwk")),
        (None, EmbeddedKey::Required) => return Err(ValidationError::InvalidHeader("jwk")),
        (Some(Value::Object(jwk)), EmbeddedKey::Required) => Some(jwk.clone()),
        (Some(_), EmbeddedKey::Required) => return Err(ValidationError::InvalidHeader("jwk")),
        (None, EmbeddedKey::Refused) => None,
    };
    let alg = string(&map, "alg")?.ok_or(ValidationError::MissingAlgorithm)?;
    let alg = Algorithm::from_header_name(alg)
        .ok_or_else(|| ValidationError::UnsupportedAlgorithm(alg.chars().take(32).collect()))?;
    let kid = string(&map, "kid")?;
    if kid.is_some_and(|kid| kid.is_empty() || kid.len() > MAX_KID_LEN) {
        return Err(ValidationError::UnknownKey);
    }
    Ok(Header {
        alg,
        kid: kid.map(str::to_owned),
        typ: string(&map, "typ")?.map(str::to_owned),
        jwk,
    })
}

fn string<'a>(
    map: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, ValidationError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ValidationError::InvalidHeader(name)),
    }
}
