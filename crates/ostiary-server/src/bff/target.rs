//! Where a call to `/api/<prefix>/<rest>` goes: the route's upstream plus `<rest>`, and never
//! anywhere else. Each segment of `<rest>` must be plain (see `safe_segment`): a path that
//! could climb out of the upstream's base path, or that some server might decode or
//! normalise into one, is refused rather than normalised.

use url::Url;

use super::config::{BffConfig, Route};
use super::error::BffError;

/// The route and the upstream URL for a request path (as received, still percent-encoded)
/// under `/api/`, and its query.
pub fn resolve<'a>(
    config: &'a BffConfig,
    path: &str,
    query: Option<&str>,
) -> Result<(&'a Route, Url), BffError> {
    let rest = path.strip_prefix("/api/").ok_or(BffError::NotFound)?;
    let (prefix, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let route = config.route(prefix).ok_or(BffError::NotFound)?;
    let refused = BffError::BadRequest("the path is not allowed");
    if !rest.is_empty() && !rest.split('/').all(safe_segment) {
        return Err(refused);
    }
    let base = route.upstream.as_str().trim_end_matches('/');
    let mut target = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{rest}")
    };
    if let Some(query) = query {
        if query.chars().any(|c| c.is_control() || c == '#') {
            return Err(refused);
        }
        target.push('?');
        target.push_str(query);
    }
    let url = Url::parse(&target).map_err(|_| refused)?;
    // Whatever the checks above missed, the URL as parsed stays under the upstream.
    let base_path = route.upstream.path().trim_end_matches('/');
    let under = url.path() == base_path
        || url.path() == "/" && base_path.is_empty()
        || url.path().starts_with(&format!("{base_path}/"));
    if url.origin() != route.upstream.origin() || !under || url.fragment().is_some() {
        return Err(BffError::BadRequest("the path is not allowed"));
    }
    Ok((route, url))
}

/// A path segment made only of what RFC 3986 calls pchar, less `;` (servers that strip
/// `;params` would read `..;` as `..`): unreserved characters, the sub-delimiters `!$&'()*+,=`,
/// `:` and `@`, and percent-escapes of other printable ASCII. Refused: escapes of `.`, `/`,
/// `\`, `%` and `;`, of control characters and of bytes past ASCII (overlong or look-alike
/// encodings a server may normalise into `.` or `/`), raw non-ASCII, and segments of dots
/// only.
fn safe_segment(segment: &str) -> bool {
    if segment.is_empty() || segment.bytes().all(|b| b == b'.') {
        return false;
    }
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let escaped = bytes
                    .get(i + 1..i + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match escaped {
                    Some(b) if (0x20..0x7f).contains(&b) && !b"./\\%;".contains(&b) => i += 3,
                    _ => return false,
                }
            }
            b if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@".contains(&b) => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BffConfig {
        BffConfig::parse(
            r#"
            origin = "http://127.0.0.1:8081"
            issuer = "http://127.0.0.1:8080"
            client_id = "spa"
            client_secret = "s"
            session_secret = "0123456789abcdef0123456789abcdef"
            [[routes]]
            prefix = "orders"
            upstream = "http://127.0.0.1:3000/v1"
            [[routes]]
            prefix = "root"
            upstream = "http://127.0.0.1:4000"
            "#,
            |_| None,
        )
        .unwrap()
    }

    #[test]
    fn paths_map_under_the_upstream() {
        let config = config();
        let (_, url) = resolve(&config, "/api/orders/items/7", Some("x=1&y=%20")).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:3000/v1/items/7?x=1&y=%20");
        let (_, url) = resolve(&config, "/api/orders", None).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:3000/v1");
        let (_, url) = resolve(&config, "/api/root/a%20b", None).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:4000/a%20b");
        let (_, url) = resolve(&config, "/api/root/v1.2/a-b_c~d:e@f,g=h", None).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:4000/v1.2/a-b_c~d:e@f,g=h");
    }

    #[test]
    fn paths_that_leave_the_upstream_are_refused() {
        let config = config();
        for path in [
            "/api/orders/../admin",
            "/api/orders/a/../../admin",
            "/api/orders/./x",
            "/api/orders/%2e%2e/admin",
            "/api/orders/%2E%2E/admin",
            "/api/orders/.%2e/admin",
            "/api/orders/a%2fb",
            "/api/orders/a%2F..%2Fb",
            "/api/orders/a%5c..%5cb",
            "/api/orders/a\\..\\b",
            "/api/orders/%252e%252e/admin",
            "/api/orders//evil.example/x",
            "/api/orders/http://evil.example/",
            "/api/orders/a%00b",
            "/api/orders/a//b",
            "/api/orders/x/..;/..;/admin",
            "/api/orders/x/..%3b/admin",
            "/api/orders/%c0%ae%c0%ae/admin",
            "/api/orders/\u{ff0e}\u{ff0e}/admin",
            "/api/orders/%ef%bc%8e%ef%bc%8e/admin",
            "/api/orders/.../admin",
            "/api/orders/a%1fb",
            "/api/orders/a%zz",
            "/api/orders/a%4",
            "/api/orders/a\"b",
        ] {
            assert!(
                matches!(resolve(&config, path, None), Err(BffError::BadRequest(_))),
                "{path} accepted"
            );
        }
        for path in [
            "/api/other/x",
            "/api/..",
            "/api/",
            "/api/http:%2F%2Fevil/x",
            "/apix",
        ] {
            assert!(
                matches!(resolve(&config, path, None), Err(BffError::NotFound)),
                "{path} found"
            );
        }
        assert!(resolve(&config, "/api/orders/x", Some("a=1#frag")).is_err());
    }
}
