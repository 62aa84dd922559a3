//! `ostiary tokens revoke-all`: incident response. Every session ends, every unredeemed code
//! is void, every grant is revoked, and every access token issued until now is inactive
//! wherever Ostiary answers (one cut-off time, checked with the signature). With
//! `--rotate-keys` the signing keys are replaced and the old ones revoked, so APIs validating
//! access tokens offline reject them too.

use clap::Subcommand;
use ostiary_core::admin::Actor;
use serde_json::json;

use super::context::AdminContext;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Revoke every refresh token, authorization code and session, and every access token
    /// issued until now.
    RevokeAll {
        /// Also replace every signing key and revoke the old ones (needs OAUTH2_JWT_SECRET):
        /// access tokens then fail offline validation too, once APIs re-read the JWKS.
        #[arg(long)]
        rotate_keys: bool,
    },
}

pub async fn run(command: TokensCommand, ctx: &AdminContext<'_>) -> anyhow::Result<()> {
    match command {
        TokensCommand::RevokeAll { rotate_keys } => {
            // With --rotate-keys the secret is resolved first: a missing one refuses the
            // command before anything is revoked, rather than halfway.
            let admin = if rotate_keys {
                ctx.admin_with_keys()?
            } else {
                ctx.admin()
            };
            let done = admin.revoke_everything(&Actor::Cli, rotate_keys).await?;
            let mut output = serde_json::to_value(done.revoked)?;
            if let Some(keys) = done.keys {
                output["keys_created"] =
                    json!(keys.created.iter().map(|k| &k.kid).collect::<Vec<_>>());
                output["keys_revoked"] = json!(keys.revoked);
            }
            ctx.print(&output)
        }
    }
}
