//! `ostiary keys list|rotate|revoke`.

use std::sync::Arc;

use clap::Subcommand;
use ostiary_core::SystemClock;
use ostiary_core::audit::AuditEventType;
use ostiary_jwt::Algorithm;
use ostiary_store::Database;
use serde_json::json;

use super::output::{print_json, rfc3339};
use crate::config::{Config, resolve_secrets};
use crate::state::key_manager;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their state (never their private parts).
    List,
    /// Create a new active key; the previous active key of that algorithm is retired and
    /// stays published until every token it signed has expired.
    Rotate {
        #[arg(long, default_value = "ES256", value_parser = parse_alg)]
        alg: Algorithm,
    },
    /// Revoke a key at once: tokens it signed stop validating (incident response).
    Revoke {
        /// Key ids are base64url and may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    match s.parse::<Algorithm>()? {
        Algorithm::Hs256 => {
            Err("HS256 keys derive from OAUTH2_JWT_SECRET and are not rotated here".into())
        }
        alg => Ok(alg),
    }
}

pub async fn run(command: KeysCommand, config: &Config, db: &Database) -> anyhow::Result<()> {
    // Listing and revoking never touch private parts; only rotation needs the root secret.
    let secrets = match command {
        KeysCommand::Rotate { .. } => Some(resolve_secrets(config)?),
        _ => None,
    };
    match command {
        KeysCommand::List => {
            let keys = db.store().list_signing_keys().await?;
            let listed: Vec<_> = keys
                .iter()
                .map(|k| {
                    json!({
                        "kid": k.kid,
                        "alg": k.alg.as_str(),
                        "state": k.state.as_str(),
                        "created_at": rfc3339(k.created_at),
                        "retired_at": k.retired_at.map(rfc3339),
                        "publish_until": k.publish_until.map(rfc3339),
                        "revoked_at": k.revoked_at.map(rfc3339),
                    })
                })
                .collect();
            print_json(&listed)
        }
        KeysCommand::Rotate { alg } => {
            let secrets = secrets.ok_or_else(|| anyhow::anyhow!("secrets unavailable"))?;
            let manager = key_manager(&secrets, db.store(), Arc::new(SystemClock))?;
            let key = manager.rotate(alg).await?;
            super::audit::record(db, AuditEventType::KeyRotated, |e| {
                e.subject(key.kid.clone())
            })
            .await?;
            print_json(&json!({ "kid": key.kid, "alg": alg.as_str(), "state": "active" }))
        }
        KeysCommand::Revoke { kid } => {
            if !db
                .store()
                .revoke_signing_key(&kid, time::OffsetDateTime::now_utc())
                .await?
            {
                anyhow::bail!("no signing key {kid}");
            }
            super::audit::record(db, AuditEventType::KeyRevoked, |e| e.subject(kid.clone()))
                .await?;
            print_json(&json!({ "kid": kid, "state": "revoked" }))
        }
    }
}
