//! `/v1/tokens/revoke-all`: incident response, as `ostiary tokens revoke-all` does it.

use axum::Extension;
use axum::extract::State;
use ostiary_core::admin::Actor;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{AdminApiError, Problem};
use super::extract::Json;
use super::{AdminApi, render};

/// Whether the signing keys go too.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeAll {
    /// Also replace every signing key and revoke the old ones, so APIs validating offline
    /// reject what they signed.
    #[serde(default)]
    pub rotate_keys: bool,
}

/// What was ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedAll {
    pub sessions: u64,
    pub codes: u64,
    pub grants: u64,
    /// The new keys' ids, with `rotate_keys`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_created: Option<Vec<String>>,
    /// The old keys' ids, with `rotate_keys`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_revoked: Option<Vec<String>>,
}

/// Every session ends, every unredeemed code is void, every grant is revoked and every
/// access token issued until now is inactive.
#[utoipa::path(post, path = "/v1/tokens/revoke-all", tag = "tokens",
    security(("bearer" = ["ostiary:admin"])), request_body = RevokeAll,
    responses((status = 200, body = RevokedAll), (status = "4XX", body = Problem)))]
pub async fn revoke_all(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Json(body): Json<RevokeAll>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let done = api
        .admin
        .revoke_everything(&Actor::Client(caller.client_id), body.rotate_keys)
        .await?;
    if done.keys.is_some() {
        api.reload_keys().await;
    }
    render(&RevokedAll {
        sessions: done.revoked.sessions,
        codes: done.revoked.codes,
        grants: done.revoked.grants,
        keys_created: done
            .keys
            .as_ref()
            .map(|k| k.created.iter().map(|key| key.kid.clone()).collect()),
        keys_revoked: done.keys.map(|k| k.revoked),
    })
}
