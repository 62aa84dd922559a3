//! `/v1/clients`: create, list, show, update, delete clients and rotate their secrets, checked
//! as `ostiary client` checks them.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use ostiary_core::admin::{Actor, ClientUpdate};
use ostiary_core::client::{
    Audience, ClientId, ClientJwks, ClientRegistration, GrantType, RedirectUri, Scope,
    TokenEndpointAuthMethod,
};
use ostiary_core::token::AdminCaller;
use ostiary_jwt::Algorithm;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{AdminApiError, Problem};
use super::extract::{Json, Path};
use super::{AdminApi, client_id_of, render};
use crate::views::{ClientView, rfc3339};

/// A new client, as `ostiary client create` takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// The name shown to users on the consent page.
    pub name: String,
    /// Chosen id (letters, digits, `-._~`); generated when absent. Never a URL.
    pub client_id: Option<String>,
    /// A public client (native or browser app): no secret.
    #[serde(default)]
    pub public: bool,
    /// `authorization_code`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:device_code` or
    /// `urn:ietf:params:oauth:grant-type:token-exchange`. Default as for the CLI.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Matched exactly (https; http only for loopback).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// RFC 8707 resources the client may get tokens for (absolute URIs).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// For a resource server: audiences whose tokens it may introspect.
    #[serde(default)]
    pub introspect_audiences: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `client_secret_basic` (default), `client_secret_post`, `private_key_jwt` or `none`.
    #[schema(pattern = "^(client_secret_basic|client_secret_post|private_key_jwt|none)$")]
    pub token_endpoint_auth_method: Option<String>,
    /// The client's public keys (a JWK set), for `private_key_jwt` and request objects.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Where the server fetches the client's public keys.
    pub jwks_uri: Option<String>,
    /// First-party client: users are not asked for consent.
    #[serde(default)]
    pub skip_consent: bool,
    /// Access token lifetime in seconds (1 to 86400); absent: the server's.
    #[serde(default, deserialize_with = "some_whole")]
    #[schema(minimum = 1, maximum = 86_400)]
    pub access_token_lifetime: Option<u32>,
    /// RS256 (default), ES256 or EdDSA.
    #[schema(pattern = "^(RS256|ES256|EdDSA)$")]
    pub id_token_alg: Option<String>,
    /// RFC 9449: every token request must carry a DPoP proof.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126: authorization requests must be pushed first.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Users give a second factor (a TOTP code) before the client gets a code for them.
    #[serde(default)]
    pub require_mfa: bool,
    /// Token exchanges by this client are impersonation (RFC 8693 1.1).
    #[serde(default)]
    pub impersonation: bool,
}

/// The settings to change; absent fields stay, lists replace the registered ones whole.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    pub introspect_audiences: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub skip_consent: Option<bool>,
    /// Seconds (1 to 86400); `null`: back to the server's default.
    #[serde(default, deserialize_with = "present_whole")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 86_400)]
    pub access_token_lifetime: Option<Option<u32>>,
    pub id_token_alg: Option<String>,
    pub dpop_bound_access_tokens: Option<bool>,
    pub require_pushed_authorization_requests: Option<bool>,
    pub require_mfa: Option<bool>,
    pub impersonation: Option<bool>,
}

/// A whole number of seconds, written as JSON writes numbers: `600` or `600.0` (JSON Schema's
/// `integer` includes both).
fn whole<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let number = f64::deserialize(deserializer)?;
    if number.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&number) {
        // Whole and in range: the conversion is exact.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(number as u32)
    } else {
        Err(serde::de::Error::custom(format!(
            "{number} is not a whole number of seconds"
        )))
    }
}

fn some_whole<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Option::<WholeSeconds>::deserialize(deserializer).map(|n| n.map(|WholeSeconds(n)| n))
}

/// A field given, even as `null` (`Some(None)`), as opposed to absent (`None`, by default).
fn present_whole<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<u32>>, D::Error> {
    some_whole(deserializer).map(Some)
}

/// [`whole`] where an `Option` of it is read.
struct WholeSeconds(u32);

impl<'de> Deserialize<'de> for WholeSeconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        whole(deserializer).map(Self)
    }
}

/// A created client, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedClient<'a> {
    #[serde(flatten)]
    pub client: ClientView<'a>,
    /// Absent for a public client or one using private_key_jwt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<&'a str>,
}

/// How long the old secret keeps working after a rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// Seconds (at most 7 days); absent or 0: the old secret stops at once.
    #[serde(default, deserialize_with = "whole")]
    #[schema(minimum = 0, maximum = 604_800)]
    pub keep_old: u32,
}

/// A new secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
    /// When the previous secret stops working (RFC 3339); null: it already has.
    pub previous_secret_expires_at: Option<String>,
}

/// Every client.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList<'a> {
    pub clients: Vec<ClientView<'a>>,
}

/// Every registered client (never a secret).
#[utoipa::path(get, path = "/v1/clients", tag = "clients",
    security(("bearer" = ["ostiary:admin:read"])),
    responses((status = 200, body = ClientList), (status = "4XX", body = Problem)))]
pub async fn list(State(api): State<AdminApi>) -> Result<Json<serde_json::Value>, AdminApiError> {
    let clients = api.admin.list_clients().await?;
    let clients = clients.iter().map(ClientView::from).collect();
    render(&ClientList { clients })
}

/// Registers a client; its secret is in this answer only.
#[utoipa::path(post, path = "/v1/clients", tag = "clients",
    security(("bearer" = ["ostiary:admin"])), request_body = NewClient,
    responses((status = 201, body = CreatedClient), (status = "4XX", body = Problem)))]
pub async fn create(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Json(new): Json<NewClient>,
) -> Result<(StatusCode, Json<serde_json::Value>), AdminApiError> {
    let registration = registration(new, &api)?;
    let registered = api
        .admin
        .create_client(&Actor::Client(caller.client_id), registration)
        .await?;
    let created = CreatedClient {
        client: ClientView::from(&registered.client),
        client_secret: registered.secret.as_ref().map(|s| s.expose()),
    };
    Ok((StatusCode::CREATED, render(&created)?))
}

/// One client (never its secret).
#[utoipa::path(get, path = "/v1/clients/{client_id}", tag = "clients",
    security(("bearer" = ["ostiary:admin:read"])),
    params(("client_id" = String, Path, description = "The client's id, or a metadata document's URL")),
    responses((status = 200, body = ClientView), (status = "4XX", body = Problem)))]
pub async fn show(
    State(api): State<AdminApi>,
    Path(client_id): Path<String>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let client = api.admin.find_client(&client_id_of(&client_id)?).await?;
    render(&ClientView::from(&client))
}

/// Changes a client's settings, checked as a registration is; one that takes a scope,
/// audience or grant away revokes the client's grants. Not the calling client's own (409).
#[utoipa::path(patch, path = "/v1/clients/{client_id}", tag = "clients",
    security(("bearer" = ["ostiary:admin"])), request_body = ClientPatch,
    params(("client_id" = String, Path, description = "The client's id")),
    responses((status = 200, body = ClientView), (status = "4XX", body = Problem)))]
pub async fn update(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(client_id): Path<String>,
    Json(patch): Json<ClientPatch>,
) -> Result<Json<serde_json::Value>, AdminApiError> {
    let id = client_id_of(&client_id)?;
    not_itself(&caller, &id)?;
    let update = client_update(patch, &api)?;
    let client = api
        .admin
        .update_client(&Actor::Client(caller.client_id), &id, update)
        .await?;
    render(&ClientView::from(&client))
}

/// Deletes a client with everything it holds; not the calling client (409).
#[utoipa::path(delete, path = "/v1/clients/{client_id}", tag = "clients",
    security(("bearer" = ["ostiary:admin"])),
    params(("client_id" = String, Path, description = "The client's id, or a metadata document's URL")),
    responses((status = 204), (status = "4XX", body = Problem)))]
pub async fn delete(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(client_id): Path<String>,
) -> Result<StatusCode, AdminApiError> {
    let id = client_id_of(&client_id)?;
    not_itself(&caller, &id)?;
    api.admin
        .delete_client(&Actor::Client(caller.client_id), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a confidential client's secret; the new one is in this answer only.
#[utoipa::path(post, path = "/v1/clients/{client_id}/secret", tag = "clients",
    security(("bearer" = ["ostiary:admin"])), request_body = RotateSecret,
    params(("client_id" = String, Path, description = "The client's id")),
    responses((status = 200, body = RotatedSecret), (status = "4XX", body = Problem)))]
pub async fn rotate_secret(
    State(api): State<AdminApi>,
    Extension(Caller(caller)): Extension<Caller>,
    Path(client_id): Path<String>,
    Json(body): Json<RotateSecret>,
) -> Result<Json<RotatedSecret>, AdminApiError> {
    let id = client_id_of(&client_id)?;
    let keep_old = (body.keep_old > 0).then(|| time::Duration::seconds(i64::from(body.keep_old)));
    let rotated = api
        .admin
        .rotate_client_secret(&Actor::Client(caller.client_id), &id, keep_old)
        .await?;
    Ok(Json(RotatedSecret {
        client_id: id.to_string(),
        client_secret: rotated.secret.expose().to_owned(),
        previous_secret_expires_at: rotated.previous_expires_at.map(rfc3339),
    }))
}

/// Automation cannot lock itself out: the calling client is changed or deleted with the CLI
/// or by another admin client (409). Rotating its own secret stays allowed.
fn not_itself(caller: &AdminCaller, id: &ClientId) -> Result<(), AdminApiError> {
    if &caller.client_id == id {
        return Err(AdminApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "an admin client cannot change or delete itself through the admin API",
        ));
    }
    Ok(())
}

/// Each text parsed as a `T`; the first that does not parse is the error.
fn each<T: std::str::FromStr>(texts: &[String]) -> Result<Vec<T>, AdminApiError>
where
    T::Err: std::fmt::Display,
{
    texts
        .iter()
        .map(|t| {
            t.parse()
                .map_err(|e: T::Err| AdminApiError::invalid(e.to_string()))
        })
        .collect()
}

fn uris(api: &AdminApi, texts: &[String]) -> Result<Vec<RedirectUri>, AdminApiError> {
    texts
        .iter()
        .map(|u| RedirectUri::parse(u, api.uri_policy()).map_err(AdminApiError::from))
        .collect()
}

fn algorithm(text: &str) -> Result<Algorithm, AdminApiError> {
    text.parse()
        .map_err(|e: String| AdminApiError::invalid(format!("id_token_alg: {e}")))
}

fn registration(new: NewClient, api: &AdminApi) -> Result<ClientRegistration, AdminApiError> {
    let jwks = match (new.jwks, new.jwks_uri) {
        (Some(_), Some(_)) => {
            return Err(AdminApiError::invalid("give jwks or jwks_uri, not both"));
        }
        (Some(set), None) => Some(ClientJwks::from_json(&set.to_string())?),
        (None, Some(uri)) => Some(ClientJwks::from_uri(&uri)?),
        (None, None) => None,
    };
    Ok(ClientRegistration {
        name: new.name,
        client_id: new.client_id.as_deref().map(ClientId::parse).transpose()?,
        public: new.public,
        grant_types: each::<GrantType>(&new.grant_types)?,
        redirect_uris: uris(api, &new.redirect_uris)?,
        scopes: each::<Scope>(&new.scopes)?,
        audiences: each::<Audience>(&new.audiences)?,
        introspect_audiences: each::<Audience>(&new.introspect_audiences)?,
        post_logout_redirect_uris: uris(api, &new.post_logout_redirect_uris)?,
        auth_method: new
            .token_endpoint_auth_method
            .as_deref()
            .map(str::parse::<TokenEndpointAuthMethod>)
            .transpose()?,
        skip_consent: new.skip_consent,
        access_token_lifetime: new
            .access_token_lifetime
            .map(|secs| time::Duration::seconds(i64::from(secs))),
        id_token_alg: new.id_token_alg.as_deref().map(algorithm).transpose()?,
        jwks,
        dpop_bound_access_tokens: new.dpop_bound_access_tokens,
        require_pushed_authorization_requests: new.require_pushed_authorization_requests,
        require_mfa: new.require_mfa,
        impersonation: new.impersonation,
    })
}

fn client_update(patch: ClientPatch, api: &AdminApi) -> Result<ClientUpdate, AdminApiError> {
    Ok(ClientUpdate {
        name: patch.name,
        grant_types: patch.grant_types.as_deref().map(each).transpose()?,
        redirect_uris: patch
            .redirect_uris
            .as_deref()
            .map(|u| uris(api, u))
            .transpose()?,
        scopes: patch.scopes.as_deref().map(each).transpose()?,
        audiences: patch.audiences.as_deref().map(each).transpose()?,
        introspect_audiences: patch
            .introspect_audiences
            .as_deref()
            .map(each)
            .transpose()?,
        post_logout_redirect_uris: patch
            .post_logout_redirect_uris
            .as_deref()
            .map(|u| uris(api, u))
            .transpose()?,
        skip_consent: patch.skip_consent,
        access_token_lifetime: patch
            .access_token_lifetime
            .map(|secs| secs.map(|secs| time::Duration::seconds(i64::from(secs)))),
        id_token_alg: patch.id_token_alg.as_deref().map(algorithm).transpose()?,
        dpop_bound_access_tokens: patch.dpop_bound_access_tokens,
        require_pushed_authorization_requests: patch.require_pushed_authorization_requests,
        require_mfa: patch.require_mfa,
        impersonation: patch.impersonation,
    })
}
