//! Session key rotation (`OAUTH2_SESSION_KEY_PREVIOUS`): a cookie of ours that opens only
//! under the previous key is re-sealed under the current one, in the request (so every
//! handler reads it as usual) and in the response (a `Set-Cookie`, unless the handler set that
//! cookie itself). Once every instance runs without the previous key, cookies still sealed
//! under it are simply unreadable: those browsers are signed out.

use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::Cookie;

use crate::state::AppState;

/// The middleware; a no-op without a previous key.
pub async fn rekey(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(previous) = state.previous_cookie_key.clone() else {
        return next.run(request).await;
    };
    let current = PrivateCookieJar::from_headers(request.headers(), state.cookie_key.clone());
    let old = PrivateCookieJar::from_headers(request.headers(), previous);
    let lifetime = state.sessions.settings().absolute;
    let mut resealed = PrivateCookieJar::new(state.cookie_key.clone());
    let mut any = false;
    for cookie in old.iter() {
        if current.get(cookie.name()).is_some() {
            continue;
        }
        let (name, value) = (cookie.name().to_owned(), cookie.value().to_owned());
        if let Some(cookie) = state.cookies.rebuilt(&name, value, lifetime) {
            resealed = resealed.add(cookie);
            any = true;
        }
    }
    if !any {
        return next.run(request).await;
    }
    let set_cookies: Vec<HeaderValue> = resealed
        .into_response()
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    replace_request_cookies(request.headers_mut(), &set_cookies);
    let mut response = next.run(request).await;
    let set_by_handler: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(cookie_name)
        .collect();
    let mut reissued = false;
    for value in set_cookies {
        if cookie_name(&value).is_some_and(|name| !set_by_handler.contains(&name)) {
            response.headers_mut().append(SET_COOKIE, value);
            reissued = true;
        }
    }
    if reissued {
        // A browser sends its session cookie for the stylesheet too, whose answer is
        // publicly cacheable: a shared cache must never keep (and hand out) a Set-Cookie.
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The name of the cookie a `Set-Cookie` value sets.
fn cookie_name(set_cookie: &HeaderValue) -> Option<String> {
    let text = set_cookie.to_str().ok()?;
    Cookie::parse(text).ok().map(|c| c.name().to_owned())
}

/// The request's `Cookie` header(s) as one, with the values of the re-sealed cookies
/// replaced by their new ones.
fn replace_request_cookies(headers: &mut HeaderMap, set_cookies: &[HeaderValue]) {
    let replacements: Vec<(String, String)> = set_cookies
        .iter()
        .filter_map(|v| Cookie::parse(v.to_str().ok()?).ok())
        .map(|c| (c.name().to_owned(), c.value().to_owned()))
        .collect();
    let pairs: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            match replacements.iter().find(|(n, _)| n == name) {
                Some((name, value)) => format!("{name}={value}"),
                None => pair.to_owned(),
            }
        })
        .collect();
    headers.remove(COOKIE);
    if let Ok(value) = HeaderValue::from_str(&pairs.join("; ")) {
        headers.insert(COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_cookies_change_and_the_headers_become_one() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; ostiary_session=old"));
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        let set = [HeaderValue::from_static(
            "ostiary_session=new; HttpOnly; Path=/",
        )];
        replace_request_cookies(&mut headers, &set);
        let all: Vec<_> = headers.get_all(COOKIE).iter().collect();
        assert_eq!(all, ["a=1; ostiary_session=new; b=2"]);
        assert_eq!(cookie_name(&set[0]).as_deref(), Some("ostiary_session"));
    }
}
