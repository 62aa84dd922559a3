//! Request bodies are read in full, within the size limit and a deadline, by the one
//! function every body-reading extractor calls.
//!
//! Without this a declared body that never arrived held a handler until the request timeout
//! and ended in a 503: anyone could make the server report failures at will. Now a body
//! declared larger than the limit is refused at once (413, before a byte of it is read) and
//! one that does not arrive in time ends in a 408, both the client's fault and said so.
//! tower-http's body limit answers in plain text and its body timeout restarts with every
//! chunk (a trickle never trips it), hence this small function. It runs where a body is
//! read, not as a layer in front of every request: a request pays for its body once.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use ostiary_core::{ErrorCode, OAuthError};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy)]
pub struct BodyRules {
    /// `OAUTH2_HTTP_BODY_LIMIT_BYTES`
    pub limit: usize,
    /// `OAUTH2_HTTP_BODY_TIMEOUT_SECS`, for the whole body
    pub timeout: Duration,
}

impl BodyRules {
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            limit: config.http_body_limit_bytes,
            timeout: config.http_body_timeout,
        }
    }
}

/// 400 `invalid_request` unless the request's `Content-Type` is `mime` (parameters such as
/// `charset` aside, case-insensitive) and the body has no content coding (`Content-Encoding`
/// absent or `identity`: a compressed body would be read as garbage parameters). 400 and
/// not 415: the OAuth endpoints answer every malformed request so (RFC 6749 5.2, RFC 7591
/// 3.2.2), a missing body included, as clients and the other servers expect.
pub fn require_type(headers: &HeaderMap, mime: &'static str) -> Result<(), ApiError> {
    let coded = headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if coded {
        return Err(ApiError::from(OAuthError::new(
            ErrorCode::InvalidRequest,
            "the body must not be content-coded (Content-Encoding)",
        )));
    }
    let matches = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|given| given.trim().eq_ignore_ascii_case(mime));
    if matches {
        return Ok(());
    }
    Err(ApiError::from(OAuthError::new(
        ErrorCode::InvalidRequest,
        format!("the body must be {mime}"),
    )))
}

/// The whole body: 413 (`invalid_request`) at once when `Content-Length` exceeds the limit,
/// or as soon as an undeclared body passes it; 408 when it is not complete in time.
pub async fn read(headers: &HeaderMap, body: Body, rules: BodyRules) -> Result<Bytes, ApiError> {
    let limit = u64::try_from(rules.limit).unwrap_or(u64::MAX);
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(rules.timeout, Limited::new(body, rules.limit).collect());
    match read.await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        // Chunked bodies declare no length: they are cut off when they pass the limit.
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body could not be read");
            Err(refuse(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            ))
        }
        Err(_) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        )),
    }
}

fn too_large() -> ApiError {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is too large",
    )
}

fn refuse(status: StatusCode, description: &'static str) -> ApiError {
    ApiError::with_status(
        OAuthError::new(ErrorCode::InvalidRequest, description),
        status,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use axum::body::HttpBody;
    use axum::response::IntoResponse;
    use hyper::body::Frame;

    use super::*;

    const RULES: BodyRules = BodyRules {
        limit: 16,
        timeout: Duration::from_millis(200),
    };

    /// A body whose bytes never come.
    struct Stalled;

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Pending
        }
    }

    async fn refused(body: Body, length: Option<&str>) -> (StatusCode, serde_json::Value) {
        let mut headers = HeaderMap::new();
        if let Some(length) = length {
            headers.insert(CONTENT_LENGTH, length.parse().unwrap());
        }
        let response = read(&headers, body, RULES)
            .await
            .unwrap_err()
            .into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_without_reading() {
        let (status, json) = refused(Body::new(Stalled), Some("1000000000000")).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(json["error"], "invalid_request");
    }

    #[tokio::test]
    async fn an_undeclared_body_over_the_limit_is_refused() {
        let (status, json) = refused(Body::from("x".repeat(17)), None).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(json["error"], "invalid_request");
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_gets_408() {
        let (status, json) = refused(Body::new(Stalled), Some("10")).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(json["error"], "invalid_request");
    }

    #[test]
    fn only_the_named_type_without_a_content_coding_is_taken() {
        const FORM: &str = "application/x-www-form-urlencoded";
        let headers = |pairs: &[(&str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(
                    axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    value.parse().unwrap(),
                );
            }
            headers
        };
        for taken in [
            &[("content-type", FORM)][..],
            &[(
                "content-type",
                "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            )],
            &[("content-type", FORM), ("content-encoding", "identity")],
        ] {
            assert!(require_type(&headers(taken), FORM).is_ok(), "{taken:?}");
        }
        for refused in [
            &[][..],
            &[("content-type", "application/json")],
            &[("content-type", FORM), ("content-encoding", "gzip")],
            &[
                ("content-type", FORM),
                ("content-encoding", "identity"),
                ("content-encoding", "br"),
            ],
        ] {
            let response = require_type(&headers(refused), FORM)
                .unwrap_err()
                .into_response();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{refused:?}");
        }
    }

    #[tokio::test]
    async fn complete_bodies_are_read_whole() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, "16".parse().unwrap());
        let body = read(&headers, Body::from("x".repeat(16)), RULES)
            .await
            .unwrap();
        assert_eq!(&body[..], "x".repeat(16).as_bytes());
    }
}
