//! The BFF's two cookies. The session cookie names a session and nothing else: `HttpOnly`
//! (no script reads it), `Secure`, `SameSite=Strict` (no other site's page sends it) and
//! `__Host-` (set by this origin only, for the whole path, never by a sibling domain). The
//! login cookie carries one sign-in's `state`, `nonce` and PKCE verifier, sealed, and is
//! `SameSite=Lax`: the server's redirect back to the callback is a navigation from its site.

use axum::http::{HeaderMap, HeaderValue, header};

/// The session cookie.
pub const SESSION: &str = "__Host-ostiary-bff";
/// The sign-in in progress.
pub const LOGIN: &str = "__Host-ostiary-bff-login";
/// Seconds a sign-in may take, from `/bff/login` to `/bff/callback`.
pub const LOGIN_LIFETIME_SECS: i64 = 600;

/// The value of cookie `name` in the request, if present once. Two cookies of one name (one
/// planted by a sibling domain, say) are refused rather than guessed between.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if key == name {
                if found.is_some() {
                    return None;
                }
                found = Some(value);
            }
        }
    }
    found
}

/// `Set-Cookie` for `name` with `value`, living `max_age` seconds (`0` deletes it).
pub fn set(name: &str, value: &str, same_site: &str, max_age: i64) -> HeaderValue {
    let cookie = format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite={same_site}"
    );
    // Names are constants and values base64url: always a valid header value.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the cookie `name`.
pub fn clear(name: &str, same_site: &str) -> HeaderValue {
    set(name, "", same_site, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_read_only_when_it_is_there_once() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-ostiary-bff=abc"),
        );
        assert_eq!(get(&headers, SESSION), Some("abc"));
        assert_eq!(get(&headers, LOGIN), None);
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-ostiary-bff=planted"),
        );
        assert_eq!(get(&headers, SESSION), None);
    }

    #[test]
    fn cookies_are_host_only_http_only_and_secure() {
        let cookie = set(SESSION, "v", "Strict", 60);
        assert_eq!(
            cookie,
            "__Host-ostiary-bff=v; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Strict"
        );
        assert!(clear(LOGIN, "Lax").to_str().unwrap().contains("Max-Age=0"));
    }
}
