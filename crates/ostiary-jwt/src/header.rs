//! The JOSE header, parsed strictly. Parameters that would let a token choose its own key
//! (`jku`, `x5u`, `x5c`, an embedded `jwk`), compression (`zip`, RFC 8725 3.6) and critical
//! extensions we do not implement (`crit`, RFC 7515 4.1.11) are refused, never followed.

use serde_json::{Map, Value};

use crate::validate::ValidationError;
use crate::verifying_key::MAX_KID_LEN;
use crate::{Algorithm, strict_json};

const FORBIDDEN: [&str; 7] = ["jku", "x5u", "x5c", "jwk", "zip", "crit", "b64"];

#[derive(Debug)]
pub(crate) struct Header {
    pub alg: Algorithm,
    pub kid: String,
    pub typ: Option<String>,
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Header, ValidationError> {
    let map = strict_json::parse_object(bytes).map_err(ValidationError::Malformed)?;
    if let Some(name) = FORBIDDEN.iter().find(|name| map.contains_key(**name)) {
        return Err(ValidationError::ForbiddenHeader(name));
    }
    let alg = string(&map, "alg")?.ok_or(ValidationError::MissingAlgorithm)?;
    let alg: Algorithm = alg
        .parse()
        .map_err(|_| ValidationError::UnsupportedAlgorithm(alg.chars().take(32).collect()))?;
    let kid = string(&map, "kid")?.ok_or(ValidationError::MissingKid)?;
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        return Err(ValidationError::UnknownKey);
    }
    Ok(Header {
        alg,
        kid: kid.to_owned(),
        typ: string(&map, "typ")?.map(str::to_owned),
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
