//! Prometheus metrics, in an explicit registry (no globals), served on their own listener
//! (`OAUTH2_METRICS_BIND`), never on the public port. Names follow the original server's so
//! its dashboards and alerts keep working.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::state::AppState;
use ostiary_core::grant::RevocationReason;

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    tokens_issued: IntCounterVec,
    failed_authentications: IntCounterVec,
    tokens_revoked: IntCounterVec,
    signing_key_age: IntGaugeVec,
    db_connections: IntGaugeVec,
    active_sessions: IntGauge,
    rate_limited: IntCounterVec,
    audit_journal_pending: IntGauge,
}

/// Which credential failed: a client's, or a user's password (MFA when it comes).
#[derive(Debug, Clone, Copy)]
pub enum AuthFailure {
    Client,
    User,
    /// A user code at the device verification page that names no pending authorization.
    UserCode,
}

impl AuthFailure {
    const ALL: [Self; 3] = [Self::Client, Self::User, Self::UserCode];

    fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::User => "user",
            Self::UserCode => "user_code",
        }
    }
}

/// What a 429 limited: failed client authentications, failed logins, or a client's quota.
#[derive(Debug, Clone, Copy)]
pub enum RateLimited {
    Client,
    Login,
    Quota,
    UserCode,
}

impl RateLimited {
    const ALL: [Self; 4] = [Self::Client, Self::Login, Self::Quota, Self::UserCode];

    fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client_auth",
            Self::Login => "login",
            Self::Quota => "quota",
            Self::UserCode => "user_code",
        }
    }
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "oauth2_server_http_requests_total",
                "HTTP requests by method, route template and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "oauth2_server_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route"],
        )?;
        let tokens_issued = IntCounterVec::new(
            Opts::new(
                "oauth2_server_oauth_token_issued_total",
                "Access tokens issued by grant type",
            ),
            &["grant_type"],
        )?;
        let failed_authentications = IntCounterVec::new(
            Opts::new(
                "oauth2_server_oauth_failed_authentications",
                "Failed authentications by kind",
            ),
            &["kind"],
        )?;
        // Read from the database at scrape time: the totals of every process sharing it (the
        // CLI's revoke-all, user disable and consent withdrawal included). Every instance
        // reports the same figures, so aggregate them with max, not sum.
        let tokens_revoked = IntCounterVec::new(
            Opts::new(
                "oauth2_server_oauth_token_revoked_total",
                "Revocations (grants and single access tokens) by reason, over the whole database",
            ),
            &["reason"],
        )?;
        let signing_key_age = IntGaugeVec::new(
            Opts::new(
                "oauth2_server_signing_key_age_seconds",
                "Age of the active signing key",
            ),
            &["alg"],
        )?;
        let db_connections = IntGaugeVec::new(
            Opts::new(
                "oauth2_server_db_pool_connections",
                "Database pool connections by state",
            ),
            &["state"],
        )?;
        let active_sessions = IntGauge::new(
            "oauth2_server_active_sessions",
            "Login sessions within their idle and absolute lifetimes",
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "oauth2_server_rate_limited_total",
                "Requests refused with 429, by what was limited",
            ),
            &["kind"],
        )?;
        let audit_journal_pending = IntGauge::new(
            "oauth2_server_audit_journal_pending_bytes",
            "Audit journal bytes not yet copied to the database (grows while it refuses them)",
        )?;
        registry.register(Box::new(audit_journal_pending.clone()))?;
        registry.register(Box::new(active_sessions.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(tokens_issued.clone()))?;
        registry.register(Box::new(failed_authentications.clone()))?;
        registry.register(Box::new(tokens_revoked.clone()))?;
        registry.register(Box::new(signing_key_age.clone()))?;
        registry.register(Box::new(db_connections.clone()))?;
        // Present from the start, so alerts on rate() have a series before the first failure.
        for kind in AuthFailure::ALL {
            failed_authentications.with_label_values(&[kind.as_str()]);
        }
        for kind in RateLimited::ALL {
            rate_limited.with_label_values(&[kind.as_str()]);
        }
        for reason in RevocationReason::ALL {
            tokens_revoked.with_label_values(&[reason.as_str()]);
        }
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            tokens_issued,
            failed_authentications,
            tokens_revoked,
            signing_key_age,
            db_connections,
            active_sessions,
            rate_limited,
            audit_journal_pending,
        })
    }

    pub fn token_issued(&self, grant_type: &str) {
        self.tokens_issued.with_label_values(&[grant_type]).inc();
    }

    pub fn authentication_failed(&self, kind: AuthFailure) {
        self.failed_authentications
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    pub fn rate_limited(&self, kind: RateLimited) {
        self.rate_limited.with_label_values(&[kind.as_str()]).inc();
    }

    /// Brings the revocation counters up to the database's running totals.
    fn sync_revocations(&self, totals: &[(RevocationReason, u64)]) {
        for (reason, total) in totals {
            let counter = self.tokens_revoked.with_label_values(&[reason.as_str()]);
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    /// The text exposition, with gauges read at scrape time.
    fn render(&self, state: &AppState) -> Result<Vec<u8>, prometheus::Error> {
        let now = state.clock.now();
        for key in state.tokens.keys().active_keys() {
            let age = (now - key.created_at).whole_seconds();
            self.signing_key_age
                .with_label_values(&[key.alg.as_str()])
                .set(age);
        }
        let pool = state.store.pool_stats();
        self.db_connections
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle));
        self.db_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool.open - pool.idle));
        self.db_connections
            .with_label_values(&["max"])
            .set(i64::from(pool.max));
        self.audit_journal_pending
            .set(i64::try_from(state.audit.pending_bytes()).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}

/// Counts and times every request of the public router by its route template and method, so
/// that unknown paths and invented methods cannot create unbounded label values.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let duration = metrics.http_duration.with_label_values(&[method, route]);
    let started = Instant::now();
    let response = next.run(request).await;
    duration.observe(started.elapsed().as_secs_f64());
    metrics
        .http_requests
        .with_label_values(&[method, route, response.status().as_str()])
        .inc();
    response
}

fn method_label(method: &Method) -> &'static str {
    [
        Method::GET,
        Method::POST,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ]
    .iter()
    .find(|m| *m == method)
    .map_or("other", |m| m.as_str())
}

/// The router of the metrics listener: `GET /metrics` only.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<AppState>) -> Response {
    match state.store.revocation_counts().await {
        Ok(totals) => state.metrics.sync_revocations(&totals),
        Err(e) => {
            tracing::warn!(error = %ostiary_core::error_chain(&e), "reading revocation totals failed")
        }
    }
    match state.sessions.count_live().await {
        Ok(n) => state
            .metrics
            .active_sessions
            .set(i64::try_from(n).unwrap_or(i64::MAX)),
        Err(e) => {
            tracing::warn!(error = %ostiary_core::error_chain(&e), "counting sessions failed")
        }
    }
    match state.metrics.render(&state) {
        Ok(body) => ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics encoding failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        for invented in ["FOO", "GETX", "BREW"] {
            let method = Method::from_bytes(invented.as_bytes()).expect("a valid token");
            assert_eq!(method_label(&method), "other");
        }
    }
}
