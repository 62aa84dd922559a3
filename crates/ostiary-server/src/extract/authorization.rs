//! The `Authorization` header of requests that carry a token (RFC 6750 2.1, RFC 9449 7.1).

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// How the token is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// The scheme and token of `Authorization: Bearer|DPoP <token>` (scheme case-insensitive,
/// RFC 7235 2.1); one header only.
pub fn credentials(headers: &HeaderMap) -> Option<(Scheme, &str)> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim();
    if token.is_empty() || token.contains(' ') {
        return None;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Some((Scheme::Bearer, token))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Some((Scheme::Dpop, token))
    } else {
        None
    }
}

/// The token of `Authorization: Bearer <token>`; `None` for no header, another scheme, or
/// more than one header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    match credentials(headers)? {
        (Scheme::Bearer, token) => Some(token),
        (Scheme::Dpop, _) => None,
    }
}
