//! `ostiary registration-token create|list|revoke`: the initial access tokens that gate
//! dynamic client registration (RFC 7591 3).

use clap::Subcommand;
use ostiary_core::admin::Actor;
use ostiary_core::registration::RegistrationToken;
use serde::Serialize;

use super::client::parse_duration;
use super::context::AdminContext;
use crate::views::rfc3339;

#[derive(Debug, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Issue an initial access token for POST /register; it is printed once and stored as a
    /// hash. Clients registered with it may also use client_credentials.
    Create {
        /// How long it may be used (e.g. 3600s, 90m, 12h, 30d; default 1 day, at most 365
        /// days).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires: Option<time::Duration>,
        /// How many clients it may register (default 1, at most 1000000).
        #[arg(long, value_name = "N")]
        max_uses: Option<u32>,
    },
    /// List initial access tokens (never the tokens themselves) until they are purged, a day
    /// after they expire at the latest.
    List,
    /// Revoke an initial access token at once; the clients it registered stay.
    Revoke {
        /// The token's id, as `create` and `list` print it.
        #[arg(allow_hyphen_values = true)]
        token_id: String,
    },
}

/// An initial access token as shown to operators.
#[derive(Debug, Serialize)]
struct TokenView<'a> {
    token_id: &'a str,
    created_at: String,
    expires_at: String,
    max_uses: u32,
    uses: u32,
}

impl<'a> From<&'a RegistrationToken> for TokenView<'a> {
    fn from(t: &'a RegistrationToken) -> Self {
        Self {
            token_id: &t.token_id,
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            max_uses: t.max_uses,
            uses: t.uses,
        }
    }
}

#[derive(Debug, Serialize)]
struct Created<'a> {
    /// The Bearer token for `POST /register`, shown this once.
    registration_token: &'a str,
    #[serde(flatten)]
    token: TokenView<'a>,
}

pub async fn run(command: RegistrationTokenCommand, ctx: &AdminContext<'_>) -> anyhow::Result<()> {
    let admin = ctx.admin();
    match command {
        RegistrationTokenCommand::Create { expires, max_uses } => {
            let (record, token) = admin
                .create_registration_token(&Actor::Cli, expires, max_uses)
                .await?;
            ctx.print(&Created {
                registration_token: token.expose(),
                token: TokenView::from(&record),
            })
        }
        RegistrationTokenCommand::List => {
            let tokens = admin.list_registration_tokens().await?;
            ctx.print(&tokens.iter().map(TokenView::from).collect::<Vec<_>>())
        }
        RegistrationTokenCommand::Revoke { token_id } => {
            admin
                .revoke_registration_token(&Actor::Cli, &token_id)
                .await?;
            ctx.print(&serde_json::json!({ "revoked": token_id }))
        }
    }
}
