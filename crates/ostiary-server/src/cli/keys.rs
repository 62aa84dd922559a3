//! `ostiary keys list|rotate [--alg A | --all]|revoke|reseal`.

use clap::Subcommand;
use ostiary_core::admin::Actor;
use ostiary_jwt::Algorithm;
use serde_json::json;

use super::context::AdminContext;
use crate::views::KeyView;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their state (never their private parts).
    List,
    /// Create a new active key; the previous active key of that algorithm is retired and
    /// stays published until every token it signed has expired.
    Rotate {
        /// The key's algorithm: ES256, RS256 or EdDSA (HS256 derives from OAUTH2_JWT_SECRET).
        #[arg(long, default_value = "ES256", value_parser = parse_alg)]
        alg: Algorithm,
        /// Rotate the keys of every algorithm the server signs with (ES256, RS256, EdDSA).
        #[arg(long, conflicts_with = "alg")]
        all: bool,
    },
    /// Revoke a key at once: tokens it signed stop validating (incident response).
    Revoke {
        /// Key ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Seal every signing key under the current OAUTH2_JWT_SECRET (opening those sealed
    /// under an old one with OAUTH2_JWT_SECRET_PREVIOUS), and erase the private parts of
    /// retired keys no longer published. A running server does the same once a minute.
    Reseal,
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    match s.parse::<Algorithm>()? {
        Algorithm::Hs256 => {
            Err("HS256 keys derive from OAUTH2_JWT_SECRET and are not rotated here".into())
        }
        alg => Ok(alg),
    }
}

pub async fn run(command: KeysCommand, ctx: &AdminContext<'_>) -> anyhow::Result<()> {
    match command {
        KeysCommand::List => {
            let keys = ctx.admin().list_keys().await?;
            ctx.print(&keys.iter().map(KeyView::from).collect::<Vec<_>>())
        }
        // Only rotation and re-sealing open private parts, so only they need the root secret.
        KeysCommand::Rotate { alg, all: false } => {
            let key = ctx.admin_with_keys()?.rotate_key(&Actor::Cli, alg).await?;
            ctx.print(&json!({ "kid": key.kid, "alg": alg.as_str(), "state": "active" }))
        }
        KeysCommand::Rotate { all: true, .. } => {
            let admin = ctx.admin_with_keys()?;
            let mut rotated = Vec::new();
            for alg in Algorithm::ASYMMETRIC {
                let key = admin.rotate_key(&Actor::Cli, alg).await?;
                rotated.push(json!({ "kid": key.kid, "alg": alg.as_str(), "state": "active" }));
            }
            ctx.print(&rotated)
        }
        KeysCommand::Revoke { kid } => {
            ctx.admin().revoke_key(&Actor::Cli, &kid).await?;
            ctx.print(&json!({ "kid": kid, "state": "revoked" }))
        }
        KeysCommand::Reseal => {
            let done = ctx.admin_with_keys()?.reseal_keys(&Actor::Cli).await?;
            ctx.print(&done)
        }
    }
}
