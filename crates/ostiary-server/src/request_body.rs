//! Request bodies are read in full, within the size limit and a deadline, before a handler runs.
//!
//! Without this a declared body that never arrives held a handler until the request timeout
//! and ended in a 503: anyone could make the server report failures at will. Now a body
//! declared larger than the limit is refused at once (413, before a byte of it is read) and
//! one that does not arrive in time ends in a 408, both the client's fault and said so.
//! tower-http's body limit answers in plain text and its body timeout restarts with every
//! chunk (a trickle never trips it), hence this small layer.

use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use ostiary_core::{ErrorCode, OAuthError};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy)]
pub struct BodyRules {
    /// `OAUTH2_HTTP_BODY_LIMIT_BYTES`
    pub limit: usize,
    /// `OAUTH2_HTTP_BODY_TIMEOUT_SECS`
    pub timeout: Duration,
}

pub async fn read_body(State(rules): State<BodyRules>, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let limit = u64::try_from(rules.limit).unwrap_or(u64::MAX);
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(rules.timeout, Limited::new(body, rules.limit).collect());
    match read.await {
        Ok(Ok(collected)) => {
            let body = Body::from(collected.to_bytes());
            next.run(Request::from_parts(parts, body)).await
        }
        // Chunked bodies declare no length: they are cut off when they pass the limit.
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => too_large(),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body could not be read");
            refuse(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        }
        Err(_) => refuse(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        ),
    }
}

fn too_large() -> Response {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is too large",
    )
}

fn refuse(status: StatusCode, description: &'static str) -> Response {
    ApiError::with_status(
        OAuthError::new(ErrorCode::InvalidRequest, description),
        status,
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly

    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use axum::Router;
    use axum::body::Bytes;
    use axum::routing::post;
    use hyper::body::Frame;
    use tower::ServiceExt;

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

    async fn send(request: Request) -> (StatusCode, serde_json::Value) {
        let app = Router::new()
            .route(
                "/",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .layer(axum::middleware::from_fn_with_state(RULES, read_body));
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    fn post_with(body: Body, length: Option<&str>) -> Request {
        let mut request = Request::post("/");
        if let Some(length) = length {
            request = request.header(CONTENT_LENGTH, length);
        }
        request.body(body).unwrap()
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_without_reading() {
        let (status, json) = send(post_with(Body::new(Stalled), Some("1000000000000"))).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(json["error"], "invalid_request");
    }

    #[tokio::test]
    async fn an_undeclared_body_over_the_limit_is_refused() {
        let (status, json) = send(post_with(Body::from("x".repeat(17)), None)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(json["error"], "invalid_request");
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_gets_408() {
        let (status, json) = send(post_with(Body::new(Stalled), Some("10"))).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(json["error"], "invalid_request");
    }

    #[tokio::test]
    async fn complete_bodies_reach_the_handler() {
        let response = Router::new()
            .route(
                "/",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .layer(axum::middleware::from_fn_with_state(RULES, read_body))
            .oneshot(post_with(Body::from("x".repeat(16)), Some("16")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), 64)
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"16");
    }
}
