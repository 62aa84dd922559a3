//! Requests that act with the session's tokens must come from the SPA itself: they carry
//! `X-CSRF: 1`, which a cross-site form or a simple cross-origin request cannot send (a
//! script must ask for it, and CORS preflights it, which the BFF never allows), and any
//! `Origin` they carry is the BFF's own. State-changing methods must carry `Origin`.

use axum::http::{HeaderMap, Method};

use super::error::BffError;

/// The custom header the SPA sends on every call.
pub const CSRF_HEADER: &str = "x-csrf";

/// Checks the CSRF header and the origin of a call from the SPA.
pub fn check_call(method: &Method, headers: &HeaderMap, origin: &str) -> Result<(), BffError> {
    if headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1") {
        return Err(BffError::Forbidden("the X-CSRF: 1 header is required"));
    }
    check_origin(method, headers, origin)
}

/// Checks only the origin: for form posts of the SPA's own pages (`/bff/logout`).
pub fn check_origin(method: &Method, headers: &HeaderMap, origin: &str) -> Result<(), BffError> {
    let sent = headers.get(axum::http::header::ORIGIN);
    match sent {
        Some(sent) if sent.as_bytes() != origin.as_bytes() => {
            return Err(BffError::Forbidden("the request comes from another origin"));
        }
        None if !is_safe(method) => {
            return Err(BffError::Forbidden("the Origin header is required"));
        }
        _ => {}
    }
    // Fetch metadata (sent by current browsers): another site's request, whatever it carries.
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return Err(BffError::Forbidden("the request comes from another site"));
    }
    Ok(())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const ORIGIN: &str = "https://app.example";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn calls_need_the_csrf_header_and_their_own_origin() {
        let ok = headers(&[("x-csrf", "1"), ("origin", ORIGIN)]);
        assert!(check_call(&Method::POST, &ok, ORIGIN).is_ok());
        assert!(check_call(&Method::GET, &headers(&[("x-csrf", "1")]), ORIGIN).is_ok());
        for bad in [
            headers(&[("origin", ORIGIN)]),
            headers(&[("x-csrf", "0"), ("origin", ORIGIN)]),
            headers(&[("x-csrf", "1"), ("origin", "https://evil.example")]),
            headers(&[("x-csrf", "1"), ("origin", "null")]),
            headers(&[("x-csrf", "1")]),
            headers(&[
                ("x-csrf", "1"),
                ("origin", ORIGIN),
                ("sec-fetch-site", "cross-site"),
            ]),
        ] {
            assert!(check_call(&Method::POST, &bad, ORIGIN).is_err(), "{bad:?}");
        }
        // A safe method may omit Origin, but not carry another one.
        let other = headers(&[("x-csrf", "1"), ("origin", "https://evil.example")]);
        assert!(check_call(&Method::GET, &other, ORIGIN).is_err());
    }
}
