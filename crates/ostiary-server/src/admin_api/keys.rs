//! `/v1/keys`: list, rotate and revoke signing keys. This instance signs with a new key at
//! once; the others within `OAUTH2_KEY_REFRESH_SECS`.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use ostiary_core::admin::Actor;
use ostiary_jwt::Algorithm;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{AdminApiError, Problem};
use super::extract::{Json, Path};
use super::{AdminApi, render};
use crate::views::KeyView;

/// Every signing key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList<'a> {
    pub keys: Vec<KeyView<'a>>,
}

/// Which algorithm gets a new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// RS256, ES256 or EdDSA (HS256 keys derive from the root secret and are not rotated).
    #[schema(pattern = "^(RS256|ES256|EdDSA)$")]
    pub alg: String,
}

/// Every signing key in every state, oldest first (never a private part).
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    security(("bearer" = ["ostiary:admin:read"])),
    responses((status = 200, body = KeyList), (status = "4XX", body = Problem)))]
pub async fn list(State(api): State<AdminApi>) -> Result<Json<serde_json::Value>, AdminApiError> {
    let keys = api.admin.list_keys().await?;
    render(&KeyList {
        keys: keys.iter().map(KeyView::from).collect(),
    })
}

/// A new active key for `alg`; the previous one is retired and stays published until what it
/// signed has expired.
#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    security(("bearer" = ["ostiary:admin"])), request_body = RotateKey,
    responses((status = 201, body = KeyView), (status = "4XX", body = Problem)))]
pub async fn rotate(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Json(body): Json<RotateKey>,
) -> Result<(StatusCode, Json<serde_json::Value>), AdminApiError> {
    let alg: Algorithm = body
        .alg
        .parse()
        .map_err(|e: String| AdminApiError::invalid(format!("alg: {e}")))?;
    let key = api
        .admin
        .rotate_key(&Actor::Client(caller.client_id), alg)
        .await?;
    api.reload_keys().await;
    Ok((StatusCode::CREATED, render(&KeyView::from(&key))?))
}

/// Revokes a key at once: its private part is erased and what it signed stops validating.
#[utoipa::path(delete, path = "/v1/keys/{kid}", tag = "keys",
    security(("bearer" = ["ostiary:admin"])),
    params(("kid" = String, Path, description = "The key's id")),
    responses((status = 204), (status = "4XX", body = Problem)))]
pub async fn revoke(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(kid): Path<String>,
) -> Result<StatusCode, AdminApiError> {
    api.admin
        .revoke_key(&Actor::Client(caller.client_id), &kid)
        .await?;
    api.reload_keys().await;
    Ok(StatusCode::NO_CONTENT)
}
