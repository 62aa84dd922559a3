//! The `DPoP` request header (RFC 9449 4.1): at most one proof per request.

use axum::http::HeaderMap;
use ostiary_core::{ErrorCode, OAuthError};

/// The header's name (RFC 9449 4.1); `DPoP-Nonce` carries server nonces (section 8).
pub const DPOP: &str = "dpop";
pub const DPOP_NONCE: &str = "dpop-nonce";

/// The proof the request carries, if any.
///
/// Errors: `invalid_dpop_proof` for two `DPoP` headers or one that is not visible ASCII
/// (RFC 9449 4.3, check 1: exactly one proof).
pub fn dpop_proof(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let invalid = || OAuthError::new(ErrorCode::InvalidDpopProof, "send exactly one DPoP proof");
    let mut values = headers.get_all(DPOP).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => value.to_str().map(Some).map_err(|_| invalid()),
        (Some(_), Some(_)) => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn one_proof_is_read_and_two_are_refused() {
        let mut headers = HeaderMap::new();
        assert_eq!(dpop_proof(&headers).unwrap(), None);
        headers.insert(DPOP, HeaderValue::from_static("a.b.c"));
        assert_eq!(dpop_proof(&headers).unwrap(), Some("a.b.c"));
        headers.append(DPOP, HeaderValue::from_static("d.e.f"));
        assert_eq!(
            dpop_proof(&headers).unwrap_err().code(),
            ErrorCode::InvalidDpopProof
        );
    }
}
