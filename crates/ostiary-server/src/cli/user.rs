//! `ostiary user create|disable|consents|revoke-consent`.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use ostiary_core::SystemClock;
use ostiary_core::audit::AuditEventType;
use ostiary_core::client::ClientId;
use ostiary_core::password::{Password, PasswordHasher};
use ostiary_core::user::{self, Email, Username};
use ostiary_store::Database;
use secrecy::SecretString;

use super::output::{print_json, rfc3339};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin, never from the command line.
    Create {
        #[arg(long)]
        username: Username,
        #[arg(long)]
        email: Option<Email>,
        /// Read the password from stdin (required: argv is visible to other local users).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user: its sessions and refresh tokens stop working at once.
    Disable {
        #[arg(allow_hyphen_values = true)]
        username: Username,
    },
    /// List the clients a user has consented to, with the scopes.
    Consents {
        #[arg(allow_hyphen_values = true)]
        username: Username,
    },
    /// Withdraw a user's consent for a client; the client's refresh tokens for the user are
    /// revoked with it.
    RevokeConsent {
        #[arg(allow_hyphen_values = true)]
        username: Username,
        #[arg(long, allow_hyphen_values = true)]
        client: ClientId,
    },
}

pub async fn run(command: UserCommand, config: &Config, db: &Database) -> anyhow::Result<()> {
    let store = db.store();
    match command {
        UserCommand::Create {
            username, email, ..
        } => {
            let password = Password::new(read_password_from_stdin()?)?;
            let hasher = PasswordHasher::new(config.argon2)?;
            let user = user::create_user(&*store, &hasher, &SystemClock, username, email, password)
                .await?;
            super::audit::record(db, AuditEventType::UserCreated, |e| {
                e.subject(user.id.to_string())
            })
            .await?;
            print_json(&serde_json::json!({
                "user_id": user.id.to_string(),
                "username": user.username.as_str(),
            }))
        }
        UserCommand::Disable { username } => {
            let user = user::disable_user(&*store, &SystemClock, &username).await?;
            super::audit::record(db, AuditEventType::UserDisabled, |e| {
                e.subject(user.id.to_string())
            })
            .await?;
            print_json(&serde_json::json!({
                "user_id": user.id.to_string(),
                "username": user.username.as_str(),
                "disabled": true,
            }))
        }
        UserCommand::Consents { username } => {
            let user = find(&*store, &username).await?;
            let consents = store.list_consents(&user.id).await?;
            let consents: Vec<_> = consents
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "client_id": c.client_id.as_str(),
                        "scopes": c.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                        "granted_at": rfc3339(c.granted_at),
                    })
                })
                .collect();
            print_json(&serde_json::json!({
                "user_id": user.id.to_string(),
                "consents": consents,
            }))
        }
        UserCommand::RevokeConsent { username, client } => {
            let user = find(&*store, &username).await?;
            if !user::revoke_consent(&*store, &SystemClock, &user.id, &client).await? {
                anyhow::bail!(
                    "user {} has no consent for client {client}",
                    username.as_str()
                );
            }
            super::audit::record(db, AuditEventType::ConsentRevoked, |e| {
                e.subject(user.id.to_string()).client(client.as_str())
            })
            .await?;
            print_json(&serde_json::json!({
                "user_id": user.id.to_string(),
                "client_id": client.as_str(),
                "revoked": true,
            }))
        }
    }
}

async fn find(store: &dyn ostiary_core::Store, username: &Username) -> anyhow::Result<user::User> {
    store
        .find_user_by_username(username)
        .await?
        .with_context(|| format!("user {} not found", username.as_str()))
}

/// The whole of stdin, less one trailing newline (what `echo` or a here-string adds).
fn read_password_from_stdin() -> anyhow::Result<SecretString> {
    let mut input = String::new();
    std::io::stdin()
        .take(Password::MAX_BYTES as u64 + 3)
        .read_to_string(&mut input)
        .context("the password on stdin is not valid UTF-8")?;
    let trimmed = input
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&input);
    Ok(SecretString::from(trimmed.to_owned()))
}
