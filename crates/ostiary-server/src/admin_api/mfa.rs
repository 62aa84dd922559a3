//! `/v1/users/{username}/mfa`: a user's second factors, enrolling a TOTP key for them, and the
//! reset after a lost authenticator.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use ostiary_core::admin::Actor;

use super::auth::Caller;
use super::error::{AdminApiError, Problem};
use super::extract::{Json, Path};
use super::users::username;
use super::{AdminApi, render};
use crate::views::{EnrolledTotpView, SecondFactorsView};

/// A user's second factors (never a key).
#[utoipa::path(get, path = "/v1/users/{username}/mfa", tag = "users",
    security(("bearer" = ["ostiary:admin:read"])),
    params(("username" = String, Path, description = "Case-insensitive")),
    responses((status = 200, body = SecondFactorsView), (status = "4XX", body = Problem)))]
pub async fn show(
    State(api): State<AdminApi>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let status = api.admin.second_factors(&username(&name)?).await?;
    render(&SecondFactorsView::from(&status))
}

/// Enrols a TOTP key (RFC 6238) for the user, answered once; from then on the user gives its
/// codes at every login. 400 when the user already has one (reset it first).
#[utoipa::path(post, path = "/v1/users/{username}/mfa/totp", tag = "users",
    security(("bearer" = ["ostiary:admin"])),
    params(("username" = String, Path, description = "Case-insensitive")),
    responses((status = 201, body = EnrolledTotpView), (status = "4XX", body = Problem)))]
pub async fn enroll_totp(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), AdminApiError> {
    let enrolled = api
        .admin
        .enroll_totp(&Actor::Client(caller.client_id), &username(&name)?)
        .await?;
    Ok((
        StatusCode::CREATED,
        render(&EnrolledTotpView::from(&enrolled))?,
    ))
}

/// Removes the user's second factors: the user's sessions end and their refresh tokens are
/// revoked; where a factor is required they enrol anew at their next login.
#[utoipa::path(delete, path = "/v1/users/{username}/mfa", tag = "users",
    security(("bearer" = ["ostiary:admin"])),
    params(("username" = String, Path, description = "Case-insensitive")),
    responses((status = 200, body = SecondFactorsView), (status = "4XX", body = Problem)))]
pub async fn reset(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let name = username(&name)?;
    api.admin
        .reset_second_factors(&Actor::Client(caller.client_id), &name)
        .await?;
    let status = api.admin.second_factors(&name).await?;
    render(&SecondFactorsView::from(&status))
}
