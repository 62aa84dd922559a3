//! `ostiary user create|disable`.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use ostiary_core::SystemClock;
use ostiary_core::audit::AuditEventType;
use ostiary_core::password::{Password, PasswordHasher};
use ostiary_core::user::{self, Email, Username};
use ostiary_store::Database;
use secrecy::SecretString;

use super::output::print_json;
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
            let user = user::disable_user(&*store, &username).await?;
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
    }
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
