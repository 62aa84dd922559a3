//! `ostiary client create|list|show|update|delete|rotate-secret`.

use clap::{Args, Subcommand};
use ostiary_core::admin::Actor;
use ostiary_core::client::{
    Audience, ClientId, ClientJwks, ClientRegistration, GrantType, RedirectUri, Scope,
    TokenEndpointAuthMethod, UriPolicy,
};
use ostiary_jwt::Algorithm;
use serde::Serialize;

use super::context::AdminContext;
use crate::views::{ClientView, rfc3339};

/// A duration as operators write one: whole seconds, or a number with `s`, `m`, `h` or `d`.
pub(super) fn parse_duration(text: &str) -> Result<time::Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err("use a number with s, m, h or d (e.g. 12h)".into()),
    };
    let number: i64 = number
        .parse()
        .map_err(|_| "use a number with s, m, h or d (e.g. 12h)".to_owned())?;
    number
        .checked_mul(seconds_per_unit)
        .map(time::Duration::seconds)
        .ok_or_else(|| "too long".to_owned())
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; its secret is printed once and never stored in the clear.
    Create(Box<CreateArgs>),
    /// List clients (never their secrets).
    List,
    /// One client as JSON (never its secret).
    Show {
        /// The client's id (generated ids are base64url and may start with `-`), or the URL
        /// of a client ID metadata document the server stored.
        #[arg(allow_hyphen_values = true, value_parser = ClientId::parse_any)]
        client_id: ClientId,
    },
    /// Change a client's settings (as create checks them); lists given replace the
    /// registered ones. Running servers see the change within OAUTH2_CLIENT_CACHE_SECS.
    Update(Box<super::client_update::UpdateArgs>),
    /// Delete a client. A metadata document client goes with everything it holds, and its
    /// document is fetched anew at its next use.
    Delete {
        /// Generated ids are base64url and may start with `-`; a metadata document client's
        /// id is its URL.
        #[arg(allow_hyphen_values = true, value_parser = ClientId::parse_any)]
        client_id: ClientId,
    },
    /// Replace a confidential client's secret; the old one stops working within
    /// OAUTH2_CLIENT_CACHE_SECS, or when --keep-old ends.
    RotateSecret {
        /// The client's id (generated ids are base64url and may start with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: ClientId,
        /// Keep the old secret working this long too (e.g. 3600s, 90m, 12h, 7d; at most 7
        /// days), while the client's instances are redeployed with the new one.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        keep_old: Option<time::Duration>,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The name shown to users on the consent page.
    #[arg(long)]
    name: String,
    /// Chosen id (letters, digits, - . _ ~); generated when absent. Never a URL: URLs name
    /// client ID metadata documents, which the server fetches itself.
    #[arg(long, allow_hyphen_values = true)]
    client_id: Option<ClientId>,
    /// A public client (native or browser app): no secret, authenticates with `none`.
    #[arg(long)]
    public: bool,
    /// A grant the client may use, repeatable: authorization_code, refresh_token,
    /// client_credentials, urn:ietf:params:oauth:grant-type:device_code,
    /// urn:ietf:params:oauth:grant-type:token-exchange (confidential clients; implicit and
    /// password do not exist here). Default: authorization_code and refresh_token for a
    /// public client or one with redirect URIs, client_credentials otherwise.
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<GrantType>,
    /// A redirect URI, repeatable, matched exactly (https; http only for loopback, any port).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// May be repeated or space-separated.
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ' ')]
    scopes: Vec<Scope>,
    /// RFC 8707 resource the client may request tokens for (absolute URI).
    #[arg(long = "audience", value_name = "URI")]
    audiences: Vec<Audience>,
    /// For a resource server: an audience whose tokens this client may introspect.
    #[arg(long = "introspect-audience", value_name = "URI")]
    introspect_audiences: Vec<Audience>,
    /// Where RP-initiated logout may send the browser back to, repeatable, matched exactly.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// How the client authenticates: client_secret_basic (default), client_secret_post,
    /// private_key_jwt (default when --jwks or --jwks-uri is given) or none (--public).
    #[arg(long, value_name = "METHOD")]
    token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
    /// The client's public keys as a JWK set (JSON), for private_key_jwt and signed request
    /// objects.
    #[arg(long, value_name = "JSON", conflicts_with = "jwks_uri")]
    jwks: Option<String>,
    /// Where the server fetches the client's public keys (https; http only to loopback), for
    /// private_key_jwt and signed request objects.
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
    /// Every token request must carry a DPoP proof (RFC 9449): the client's access tokens
    /// are always bound to its key.
    #[arg(long)]
    require_dpop: bool,
    /// Authorization requests are accepted only pushed to the PAR endpoint first (RFC 9126).
    #[arg(long)]
    require_par: bool,
    /// Users give a second factor (a TOTP code, enrolling one at their next login if they
    /// have none) before the client gets a code or a device approval for them.
    #[arg(long)]
    require_mfa: bool,
    /// Token exchanges by this client are impersonation (RFC 8693 1.1): the tokens name the
    /// user alone, without the `act` claim naming the client. Needs the token-exchange grant.
    #[arg(long)]
    allow_impersonation: bool,
    /// First-party client: users are not asked for consent.
    #[arg(long)]
    skip_consent: bool,
    /// Access token lifetime for this client, in seconds (1 to 86400; default: the server's).
    #[arg(long, value_name = "SECS")]
    access_token_lifetime: Option<u32>,
    /// Signing algorithm of this client's ID tokens: RS256 (default), ES256 or EdDSA.
    #[arg(long, value_name = "ALG")]
    id_token_alg: Option<Algorithm>,
}

impl CreateArgs {
    /// The arguments as a registration; redirect URIs are checked against the environment's
    /// policy (plain `http` only on loopback in production).
    fn registration(self, policy: UriPolicy) -> anyhow::Result<ClientRegistration> {
        let parse_uris = |uris: &[String]| -> Result<Vec<RedirectUri>, _> {
            uris.iter().map(|u| RedirectUri::parse(u, policy)).collect()
        };
        Ok(ClientRegistration {
            name: self.name,
            client_id: self.client_id,
            public: self.public,
            grant_types: self.grant_types,
            redirect_uris: parse_uris(&self.redirect_uris)?,
            scopes: self.scopes,
            audiences: self.audiences,
            introspect_audiences: self.introspect_audiences,
            post_logout_redirect_uris: parse_uris(&self.post_logout_redirect_uris)?,
            auth_method: self.token_endpoint_auth_method,
            skip_consent: self.skip_consent,
            access_token_lifetime: self
                .access_token_lifetime
                .map(|secs| time::Duration::seconds(i64::from(secs))),
            id_token_alg: self.id_token_alg,
            jwks: match (self.jwks, self.jwks_uri) {
                (Some(json), _) => Some(ClientJwks::from_json(&json)?),
                (None, Some(uri)) => Some(ClientJwks::from_uri(&uri)?),
                (None, None) => None,
            },
            dpop_bound_access_tokens: self.require_dpop,
            require_pushed_authorization_requests: self.require_par,
            require_mfa: self.require_mfa,
            impersonation: self.allow_impersonation,
        })
    }
}

#[derive(Debug, Serialize)]
struct Created<'a> {
    #[serde(flatten)]
    client: ClientView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
}

pub async fn run(command: ClientCommand, ctx: &AdminContext<'_>) -> anyhow::Result<()> {
    let admin = ctx.admin();
    match command {
        ClientCommand::Create(args) => {
            let policy = UriPolicy {
                allow_insecure_http: !ctx.config().is_production(),
            };
            let registration = args.registration(policy)?;
            let registered = admin.create_client(&Actor::Cli, registration).await?;
            ctx.print(&Created {
                client: ClientView::from(&registered.client),
                client_secret: registered.secret.as_ref().map(|s| s.expose()),
            })
        }
        ClientCommand::List => {
            let clients = admin.list_clients().await?;
            ctx.print(&clients.iter().map(ClientView::from).collect::<Vec<_>>())
        }
        ClientCommand::Show { client_id } => {
            let client = admin.find_client(&client_id).await?;
            ctx.print(&ClientView::from(&client))
        }
        ClientCommand::Update(args) => {
            let policy = UriPolicy {
                allow_insecure_http: !ctx.config().is_production(),
            };
            let id = args.client_id.clone();
            let update = args.update(policy)?;
            let client = admin.update_client(&Actor::Cli, &id, update).await?;
            ctx.print(&ClientView::from(&client))
        }
        ClientCommand::Delete { client_id } => {
            admin.delete_client(&Actor::Cli, &client_id).await?;
            ctx.print(&serde_json::json!({ "deleted": client_id.as_str() }))
        }
        ClientCommand::RotateSecret {
            client_id,
            keep_old,
        } => {
            let rotated = admin
                .rotate_client_secret(&Actor::Cli, &client_id, keep_old)
                .await?;
            ctx.print(&serde_json::json!({
                "client_id": client_id.as_str(),
                "client_secret": rotated.secret.expose(),
                "previous_secret_expires_at": rotated.previous_expires_at.map(rfc3339),
            }))
        }
    }
}
