//! `/api/<prefix>/...`: the SPA's calls, forwarded to the route's API with the session's
//! access token. Only to configured upstreams (see `target`), with the request and response
//! bodies bounded, and without the browser's cookies or hop-by-hop headers in either
//! direction: the API never sees the session cookie, the browser never sees the token.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use secrecy::ExposeSecret;

use super::Bff;
use super::access::{Credential, access_token};
use super::cookies::{self, SESSION};
use super::error::BffError;
use super::guard;
use super::jwt;
use super::target;
use super::upstream::{BodyError, read_bounded};

/// The methods an API is called with.
const FORWARDED_METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];
/// Request headers never forwarded: hop-by-hop ones (RFC 9110 section 7.6.1), the browser's
/// credentials and the BFF's own, and what describes (or claims to describe) the browser's
/// connection to the BFF.
const DROPPED_REQUEST_HEADERS: [&str; 21] = [
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "cf-connecting-ip",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "cookie",
    "authorization",
    "dpop",
    "x-csrf",
    "origin",
    "referer",
];
/// Response headers never passed back: hop-by-hop ones, and cookies the API tries to set on
/// the BFF's origin.
const DROPPED_RESPONSE_HEADERS: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "set-cookie",
    "set-cookie2",
];

/// Forwards one call.
pub async fn forward(
    State(bff): State<Arc<Bff>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, BffError> {
    guard::check_call(&method, &headers, &bff.config.origin)?;
    if !FORWARDED_METHODS.contains(&method) {
        return Err(BffError::MethodNotAllowed);
    }
    let (route, url) = target::resolve(&bff.config, uri.path(), uri.query())?;
    let id = cookies::get(&headers, SESSION).ok_or(BffError::LoginRequired)?;
    // The session first: no body is read for a request without one.
    let credential = access_token(&bff, id, route.audience.as_deref()).await?;
    let body = read_body(body, bff.config.max_request_bytes).await?;
    let mut response = send(&bff, &method, &url, &headers, &body, &credential, None).await?;
    // RFC 9449 section 9: the API asks for its nonce in the proof; once.
    if let Some(nonce) = nonce_asked(&response, &credential) {
        response = send(
            &bff,
            &method,
            &url,
            &headers,
            &body,
            &credential,
            Some(&nonce),
        )
        .await?;
    }
    pass_back(response, bff.config.max_response_bytes).await
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, BffError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BffError::TooLarge),
        Err(_) => Err(BffError::BadRequest("the request body could not be read")),
    }
}

async fn send(
    bff: &Bff,
    method: &Method,
    url: &url::Url,
    headers: &HeaderMap,
    body: &Bytes,
    credential: &Credential,
    nonce: Option<&str>,
) -> Result<reqwest::Response, BffError> {
    let mut request = bff.http.request(method.clone(), url.as_str());
    for (name, value) in headers {
        if !dropped(name, headers, &DROPPED_REQUEST_HEADERS) {
            request = request.header(name, value);
        }
    }
    let token = credential.token.expose_secret();
    request = match credential.proof_key() {
        Some(key) => {
            let proof = jwt::dpop_proof(key, method.as_str(), url.as_str(), Some(token), nonce)
                .map_err(anyhow::Error::from)?;
            request
                .header(header::AUTHORIZATION, format!("DPoP {token}"))
                .header("dpop", proof)
        }
        None => request.header(header::AUTHORIZATION, format!("Bearer {token}")),
    };
    request.body(body.clone()).send().await.map_err(|e| {
        if e.is_timeout() {
            BffError::GatewayTimeout
        } else {
            tracing::warn!(error = ostiary_core::error_chain(&e), %url, "the API could not be reached");
            BffError::BadGateway("the API could not be reached")
        }
    })
}

/// The nonce a DPoP API asks for with `401` and `error="use_dpop_nonce"`.
fn nonce_asked(response: &reqwest::Response, credential: &Credential) -> Option<String> {
    credential.proof_key()?;
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)?
        .to_str()
        .ok()?;
    if response.status() != reqwest::StatusCode::UNAUTHORIZED
        || !challenge.contains("use_dpop_nonce")
    {
        return None;
    }
    Some(
        response
            .headers()
            .get("dpop-nonce")?
            .to_str()
            .ok()?
            .to_owned(),
    )
}

async fn pass_back(mut upstream: reqwest::Response, limit: usize) -> Result<Response, BffError> {
    let body = read_bounded(&mut upstream, limit)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => BffError::BadGateway("the API's response is too large"),
            BodyError::Failed(e) if e.is_timeout() => BffError::GatewayTimeout,
            BodyError::Failed(_) => BffError::BadGateway("the API's response broke off"),
        })?;
    let mut response = (upstream.status(), body).into_response();
    for (name, value) in upstream.headers() {
        if !dropped(name, upstream.headers(), &DROPPED_RESPONSE_HEADERS)
            && !name.as_str().starts_with("access-control-")
        {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    // An API's answer is data on the SPA's origin, never a page or a script there: whatever
    // it declares, it runs nothing, is framed nowhere, and is not sniffed into HTML.
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(response)
}

/// A header of `list`, or one the message's `Connection` header names as hop-by-hop.
fn dropped(name: &HeaderName, headers: &HeaderMap, list: &[&str]) -> bool {
    let name = name.as_str();
    list.contains(&name)
        || name.starts_with("x-forwarded-")
        || name == "forwarded"
        || headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_hop_by_hop_and_connection_named_headers_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, X-Secret"),
        );
        for name in [
            "cookie",
            "authorization",
            "x-secret",
            "x-forwarded-for",
            "x-csrf",
            "host",
        ] {
            let name = HeaderName::from_static(name);
            assert!(dropped(&name, &headers, &DROPPED_REQUEST_HEADERS), "{name}");
        }
        for name in ["accept", "content-type", "if-none-match", "x-request-id"] {
            let name = HeaderName::from_static(name);
            assert!(
                !dropped(&name, &headers, &DROPPED_REQUEST_HEADERS),
                "{name}"
            );
        }
        let set_cookie = HeaderName::from_static("set-cookie");
        assert!(dropped(
            &set_cookie,
            &HeaderMap::new(),
            &DROPPED_RESPONSE_HEADERS
        ));
    }
}
