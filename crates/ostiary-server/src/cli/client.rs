//! `ostiary client create|list|delete|rotate-secret`.

use clap::{Args, Subcommand};
use ostiary_core::SystemClock;
use ostiary_core::audit::AuditEventType;
use ostiary_core::client::{
    self, Audience, ClientId, ClientRegistration, GrantType, RedirectUri, Scope,
    TokenEndpointAuthMethod, UriPolicy,
};
use ostiary_jwt::Algorithm;
use ostiary_store::Database;
use serde::Serialize;

use super::output::{ClientView, print_json};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; its secret is printed once and never stored in the clear.
    Create(CreateArgs),
    /// List clients (never their secrets).
    List,
    /// Delete a client.
    Delete {
        /// Generated ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        client_id: ClientId,
    },
    /// Replace a confidential client's secret; the old one stops working within
    /// OAUTH2_CLIENT_CACHE_SECS.
    RotateSecret {
        #[arg(allow_hyphen_values = true)]
        client_id: ClientId,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    name: String,
    /// Chosen id (letters, digits, - . _ ~); generated when absent.
    #[arg(long, allow_hyphen_values = true)]
    client_id: Option<ClientId>,
    /// A public client (native or browser app): no secret, authenticates with `none`.
    #[arg(long)]
    public: bool,
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<GrantType>,
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
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    #[arg(long, value_name = "METHOD")]
    token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,
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

#[derive(Debug, Serialize)]
struct Created<'a> {
    #[serde(flatten)]
    client: ClientView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
}

pub async fn run(command: ClientCommand, config: &Config, db: &Database) -> anyhow::Result<()> {
    let store = db.store();
    match command {
        ClientCommand::Create(args) => {
            let policy = UriPolicy {
                allow_insecure_http: !config.is_production(),
            };
            let parse_uris = |uris: &[String]| -> Result<Vec<RedirectUri>, _> {
                uris.iter().map(|u| RedirectUri::parse(u, policy)).collect()
            };
            let registration = ClientRegistration {
                name: args.name,
                client_id: args.client_id,
                public: args.public,
                grant_types: args.grant_types,
                redirect_uris: parse_uris(&args.redirect_uris)?,
                scopes: args.scopes,
                audiences: args.audiences,
                introspect_audiences: args.introspect_audiences,
                post_logout_redirect_uris: parse_uris(&args.post_logout_redirect_uris)?,
                auth_method: args.token_endpoint_auth_method,
                skip_consent: args.skip_consent,
                access_token_lifetime: args
                    .access_token_lifetime
                    .map(|secs| time::Duration::seconds(i64::from(secs))),
                id_token_alg: args.id_token_alg,
            };
            let registered = client::register_client(&*store, &SystemClock, registration).await?;
            let id = registered.client.id.as_str();
            super::audit::record(db, AuditEventType::ClientCreated, |e| {
                e.client(id).subject(id)
            })
            .await?;
            print_json(&Created {
                client: ClientView::from(&registered.client),
                client_secret: registered.secret.as_ref().map(|s| s.expose()),
            })
        }
        ClientCommand::List => {
            let clients = store.list_clients().await?;
            print_json(&clients.iter().map(ClientView::from).collect::<Vec<_>>())
        }
        ClientCommand::Delete { client_id } => {
            client::delete_client(&*store, &client_id).await?;
            let id = client_id.as_str();
            super::audit::record(db, AuditEventType::ClientDeleted, |e| {
                e.client(id).subject(id)
            })
            .await?;
            print_json(&serde_json::json!({ "deleted": client_id.as_str() }))
        }
        ClientCommand::RotateSecret { client_id } => {
            let secret = client::rotate_secret(&*store, &client_id).await?;
            let id = client_id.as_str();
            super::audit::record(db, AuditEventType::ClientSecretRotated, |e| {
                e.client(id).subject(id)
            })
            .await?;
            print_json(&serde_json::json!({
                "client_id": client_id.as_str(),
                "client_secret": secret.expose(),
            }))
        }
    }
}
