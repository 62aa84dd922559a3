//! `ostiary tokens revoke-all`: incident response. Every session ends, every unredeemed code
//! is void, every grant is revoked, and every access token issued until now is inactive
//! wherever Ostiary answers (one cut-off time, checked with the signature). With
//! `--rotate-keys` the signing keys are replaced and the old ones revoked, so APIs validating
//! access tokens offline reject them too.

use std::sync::Arc;

use clap::Subcommand;
use ostiary_core::audit::AuditEventType;
use ostiary_core::{Clock, SystemClock};
use ostiary_store::Database;
use serde_json::json;

use super::output::print_json;
use crate::config::{Config, resolve_secrets};
use crate::state::key_manager;

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

pub async fn run(command: TokensCommand, config: &Config, db: &Database) -> anyhow::Result<()> {
    match command {
        TokensCommand::RevokeAll { rotate_keys } => {
            // The secret is resolved first: a missing one refuses the command before anything
            // is revoked, rather than halfway.
            let manager = if rotate_keys {
                let secrets = resolve_secrets(config)?;
                Some(key_manager(&secrets, db.store(), Arc::new(SystemClock))?)
            } else {
                None
            };
            let revoked = db
                .store()
                .revoke_everything(SystemClock.now_seconds())
                .await?;
            super::audit::record(db, AuditEventType::RevokedAll, |e| e).await?;
            let mut output = serde_json::to_value(revoked)?;
            if let Some(manager) = manager {
                let (created, revoked_keys) = manager.replace_all().await?;
                for key in &created {
                    super::audit::record(db, AuditEventType::KeyRotated, |e| {
                        e.subject(key.kid.clone())
                    })
                    .await?;
                }
                for kid in &revoked_keys {
                    super::audit::record(db, AuditEventType::KeyRevoked, |e| {
                        e.subject(kid.clone())
                    })
                    .await?;
                }
                output["keys_created"] = json!(created.iter().map(|k| &k.kid).collect::<Vec<_>>());
                output["keys_revoked"] = json!(revoked_keys);
            }
            print_json(&output)
        }
    }
}
