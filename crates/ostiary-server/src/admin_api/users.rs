//! `/v1/users`: create, list, show, disable and enable users, set passwords, and read their
//! sessions and consents.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use ostiary_core::admin::{Actor, CreateUser};
use ostiary_core::password::Password;
use ostiary_core::user::{Email, Username};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::error::{AdminApiError, Problem};
use super::extract::{Json, Path, Query};
use super::{AdminApi, client_id_of, page_limit, render};
use crate::views::{ConsentView, SessionView, UserView};

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// ASCII letters, digits and `._-@+`, compared case-insensitively.
    pub username: String,
    pub email: Option<String>,
    /// Under the password policy; stored as an Argon2id hash only.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// A new password: the user's sessions and refresh tokens end with the old one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// Which page of users.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserPage {
    /// Start after this username (the `next_after` of the previous page).
    #[param(pattern = r"^[A-Za-z0-9._@+-]{1,64}$")]
    pub after: Option<String>,
    /// At most this many users (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// A page of users, by username.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList<'a> {
    pub users: Vec<UserView<'a>>,
    /// The `after` of the next page; null when this page was not full (the last one).
    pub next_after: Option<&'a str>,
}

/// A user's live sessions, newest login first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList<'a> {
    pub user_id: String,
    pub sessions: Vec<SessionView<'a>>,
}

/// The clients a user consented to.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentList<'a> {
    pub user_id: String,
    pub consents: Vec<ConsentView<'a>>,
}

pub(super) fn username(text: &str) -> Result<Username, AdminApiError> {
    Username::parse(text).map_err(|e| AdminApiError::not_found(e.to_string()))
}

/// Users by username, a page at a time (never a password hash).
#[utoipa::path(get, path = "/v1/users", tag = "users",
    security(("bearer" = ["ostiary:admin:read"])), params(UserPage),
    responses((status = 200, body = UserList), (status = "4XX", body = Problem)))]
pub async fn list(
    State(api): State<AdminApi>,
    Query(page): Query<UserPage>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let limit = page_limit(page.limit)?;
    let after = page.after.as_deref().map(Username::parse).transpose()?;
    let users = api.admin.list_users(after.as_ref(), limit).await?;
    let full = users.len() == limit as usize;
    render(&UserList {
        users: users.iter().map(UserView::from).collect(),
        next_after: users.last().filter(|_| full).map(|u| u.username.as_str()),
    })
}

/// Creates an account.
#[utoipa::path(post, path = "/v1/users", tag = "users",
    security(("bearer" = ["ostiary:admin"])), request_body = NewUser,
    responses((status = 201, body = UserView), (status = "4XX", body = Problem)))]
pub async fn create(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Json(new): Json<NewUser>,
) -> Result<(StatusCode, Json<serde_json::Value>), AdminApiError> {
    let request = CreateUser {
        username: Username::parse(&new.username)?,
        email: new.email.as_deref().map(Email::parse).transpose()?,
        password: Password::new(new.password)?,
    };
    let user = api
        .admin
        .create_user(&Actor::Client(caller.client_id), request)
        .await?;
    Ok((StatusCode::CREATED, render(&UserView::from(&user))?))
}

/// One user.
#[utoipa::path(get, path = "/v1/users/{username}", tag = "users",
    security(("bearer" = ["ostiary:admin:read"])),
    params(("username" = String, Path, description = "Case-insensitive")),
    responses((status = 200, body = UserView), (status = "4XX", body = Problem)))]
pub async fn show(
    State(api): State<AdminApi>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let user = api.admin.show_user(&username(&name)?).await?;
    render(&UserView::from(&user))
}

/// Disables a user: its sessions end and its refresh tokens are revoked at once.
#[utoipa::path(post, path = "/v1/users/{username}/disable", tag = "users",
    security(("bearer" = ["ostiary:admin"])),
    params(("username" = String, Path, description = "Case-insensitive")),
    responses((status = 200, body = UserView), (status = "4XX", body = Problem)))]
pub async fn disable(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let user = api
        .admin
        .disable_user(&Actor::Client(caller.client_id), &username(&name)?)
        .await?;
    render(&UserView::from(&user))
}

/// Enables a disabled user again (ended sessions and revoked tokens stay so).
#[utoipa::path(post, path = "/v1/users/{username}/enable", tag = "users",
    security(("bearer" = ["ostiary:admin"])),
    params(("username" = String, Path, description = "Case-insensitive")),
    responses((status = 200, body = UserView), (status = "4XX", body = Problem)))]
pub async fn enable(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let user = api
        .admin
        .enable_user(&Actor::Client(caller.client_id), &username(&name)?)
        .await?;
    render(&UserView::from(&user))
}

/// Sets a user's password; the user's sessions and refresh tokens end.
#[utoipa::path(put, path = "/v1/users/{username}/password", tag = "users",
    security(("bearer" = ["ostiary:admin"])), request_body = NewPassword,
    params(("username" = String, Path, description = "Case-insensitive")),
    responses((status = 200, body = UserView), (status = "4XX", body = Problem)))]
pub async fn set_password(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(name): Path<String>,
    Json(body): Json<NewPassword>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let name = username(&name)?;
    let password = Password::new(body.password)?;
    let user = api
        .admin
        .set_password(&Actor::Client(caller.client_id), &name, password)
        .await?;
    render(&UserView::from(&user))
}

/// Where the user is signed in: sessions within their absolute lifetime.
#[utoipa::path(get, path = "/v1/users/{username}/sessions", tag = "users",
    security(("bearer" = ["ostiary:admin:read"])),
    params(("username" = String, Path, description = "Case-insensitive")),
    responses((status = 200, body = SessionList), (status = "4XX", body = Problem)))]
pub async fn sessions(
    State(api): State<AdminApi>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let (user, sessions) = api.admin.list_sessions(&username(&name)?).await?;
    render(&SessionList {
        user_id: user.id.to_string(),
        sessions: sessions.iter().map(SessionView::from).collect(),
    })
}

/// The clients a user consented to, with the scopes.
#[utoipa::path(get, path = "/v1/users/{username}/consents", tag = "users",
    security(("bearer" = ["ostiary:admin:read"])),
    params(("username" = String, Path, description = "Case-insensitive")),
    responses((status = 200, body = ConsentList), (status = "4XX", body = Problem)))]
pub async fn consents(
    State(api): State<AdminApi>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let (user, consents) = api.admin.list_consents(&username(&name)?).await?;
    render(&ConsentList {
        user_id: user.id.to_string(),
        consents: consents.iter().map(ConsentView::from).collect(),
    })
}

/// Withdraws a user's consent for a client, revoking that client's grants for the user.
#[utoipa::path(delete, path = "/v1/users/{username}/consents/{client_id}", tag = "users",
    security(("bearer" = ["ostiary:admin"])),
    params(
        ("username" = String, Path, description = "Case-insensitive"),
        ("client_id" = String, Path, description = "The client's id, or a metadata document's URL"),
    ),
    responses((status = 204), (status = "4XX", body = Problem)))]
pub async fn revoke_consent(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Path((name, client_id)): Path<(String, String)>,
) -> Result<StatusCode, AdminApiError> {
    let client = client_id_of(&client_id)?;
    api.admin
        .revoke_consent(&Actor::Client(caller.client_id), &username(&name)?, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
