//! `/v1/audit`: the audit trail, filtered, newest page first.

use axum::extract::State;
use ostiary_core::audit::{AuditEventType, AuditQuery};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::error::{AdminApiError, Problem};
use super::extract::{Json, Query};
use super::{AdminApi, page_limit, render};
use crate::views::AuditEventView;

/// Which events.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only events at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only events of this type (e.g. `client.created`; the document lists them all).
    pub event: Option<String>,
    /// Only events about this user, key, token or route.
    pub subject: Option<String>,
    /// Only events older than this id (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// At most this many events (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// An event with its id (ids grow with each event).
#[derive(Debug, Serialize, ToSchema)]
pub struct NumberedEvent<'a> {
    pub id: i64,
    #[serde(flatten)]
    pub event: AuditEventView<'a>,
}

/// The newest matching events, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage<'a> {
    pub events: Vec<NumberedEvent<'a>>,
    /// The `before` of the next (older) page; null when this page was not full (the last).
    pub next_before: Option<i64>,
}

/// Security events, newest page first; page back with `before`.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    security(("bearer" = ["ostiary:admin:read"])), params(AuditFilter),
    responses((status = 200, body = AuditPage), (status = "4XX", body = Problem)))]
pub async fn list(
    State(api): State<AdminApi>,
    Query(filter): Query<AuditFilter>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let limit = page_limit(filter.limit)?;
    let query = AuditQuery {
        since: filter
            .since
            .as_deref()
            .map(|s| {
                OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|_| AdminApiError::invalid("since must be an RFC 3339 time"))
            })
            .transpose()?,
        event: filter
            .event
            .as_deref()
            .map(|e| e.parse::<AuditEventType>().map_err(AdminApiError::invalid))
            .transpose()?,
        subject: filter.subject,
        before: filter.before,
        limit,
    };
    // Read-your-writes: what this instance recorded before the call is in the answer.
    api.state.audit.flush().await;
    let events = api.admin.audit_events(&query).await?;
    let next_before = events
        .first()
        .filter(|_| events.len() == limit as usize)
        .map(|(id, _)| *id);
    render(&AuditPage {
        events: events
            .iter()
            .map(|(id, e)| NumberedEvent {
                id: *id,
                event: AuditEventView::from(e),
            })
            .collect(),
        next_before,
    })
}
