//! `ostiary user create|disable|enable|set-password|list|show|consents|revoke-consent|mfa|
//! mfa-reset`.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use ostiary_core::admin::{Actor, CreateUser};
use ostiary_core::client::ClientId;
use ostiary_core::password::Password;
use ostiary_core::user::{Email, Username};
use secrecy::SecretString;

use super::context::AdminContext;
use crate::views::{ConsentView, EnrolledTotpView, SecondFactorsView, UserView};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin, never from the command line.
    Create {
        /// The login name: ASCII letters, digits and . _ - @ +, compared case-insensitively.
        #[arg(long)]
        username: Username,
        /// The user's email address, kept for the operator.
        #[arg(long)]
        email: Option<Email>,
        /// Read the password from stdin (required: argv is visible to other local users).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user: its sessions and refresh tokens stop working at once.
    Disable {
        /// The username (case-insensitive).
        #[arg(allow_hyphen_values = true)]
        username: Username,
    },
    /// Enable a disabled user again: it may log in (ended sessions and revoked tokens stay so).
    Enable {
        /// The username (case-insensitive).
        #[arg(allow_hyphen_values = true)]
        username: Username,
    },
    /// Set a user's password, read from stdin; the user's sessions and refresh tokens end.
    SetPassword {
        /// The username (case-insensitive).
        #[arg(allow_hyphen_values = true)]
        username: Username,
        /// Read the password from stdin (required: argv is visible to other local users).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users as JSON, by username (no password hashes).
    List {
        /// Start after this username (the last one of the previous page).
        #[arg(long, allow_hyphen_values = true)]
        after: Option<Username>,
        /// At most this many users (1 to 10000).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
    },
    /// Show one user as JSON (no password hash).
    Show {
        /// The username (case-insensitive).
        #[arg(allow_hyphen_values = true)]
        username: Username,
    },
    /// List the clients a user has consented to, with the scopes.
    Consents {
        /// The username (case-insensitive).
        #[arg(allow_hyphen_values = true)]
        username: Username,
    },
    /// Withdraw a user's consent for a client; the client's refresh tokens for the user are
    /// revoked with it.
    RevokeConsent {
        /// The username (case-insensitive).
        #[arg(allow_hyphen_values = true)]
        username: Username,
        /// The client whose consent is withdrawn (a metadata document client by its URL).
        #[arg(long, allow_hyphen_values = true, value_parser = ClientId::parse_any)]
        client: ClientId,
    },
    /// Show a user's second factors as JSON; with --enroll-totp, enrol a new TOTP key and
    /// print it once (`totp_secret`, `otpauth_uri`) to hand to the user.
    Mfa {
        /// The username (case-insensitive).
        #[arg(allow_hyphen_values = true)]
        username: Username,
        /// Enrol a TOTP key (RFC 6238) for the user, who then gives its codes at every login.
        /// Refused when the user already has one (reset it first).
        #[arg(long)]
        enroll_totp: bool,
    },
    /// Remove a user's second factors (a lost authenticator): the user's sessions end and
    /// their refresh tokens are revoked; where a factor is required they enrol anew at login.
    MfaReset {
        /// The username (case-insensitive).
        #[arg(allow_hyphen_values = true)]
        username: Username,
    },
}

pub async fn run(command: UserCommand, ctx: &AdminContext<'_>) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            username, email, ..
        } => {
            let password = Password::new(read_password_from_stdin()?)?;
            let request = CreateUser {
                username,
                email,
                password,
            };
            let user = ctx
                .admin_with_hasher()?
                .create_user(&Actor::Cli, request)
                .await?;
            ctx.print(&serde_json::json!({
                "user_id": user.id.to_string(),
                "username": user.username.as_str(),
            }))
        }
        UserCommand::Disable { username } => {
            let user = ctx.admin().disable_user(&Actor::Cli, &username).await?;
            ctx.print(&serde_json::json!({
                "user_id": user.id.to_string(),
                "username": user.username.as_str(),
                "disabled": true,
            }))
        }
        UserCommand::Enable { username } => {
            let user = ctx.admin().enable_user(&Actor::Cli, &username).await?;
            ctx.print(&UserView::from(&user))
        }
        UserCommand::SetPassword { username, .. } => {
            let password = Password::new(read_password_from_stdin()?)?;
            let user = ctx
                .admin_with_hasher()?
                .set_password(&Actor::Cli, &username, password)
                .await?;
            ctx.print(&serde_json::json!({
                "user_id": user.id.to_string(),
                "username": user.username.as_str(),
                "password_set": true,
                "sessions_ended": true,
            }))
        }
        UserCommand::List { after, limit } => {
            let users = ctx.admin().list_users(after.as_ref(), limit).await?;
            ctx.print(&serde_json::json!({
                "users": users.iter().map(UserView::from).collect::<Vec<_>>(),
            }))
        }
        UserCommand::Show { username } => {
            let user = ctx.admin().show_user(&username).await?;
            ctx.print(&UserView::from(&user))
        }
        UserCommand::Consents { username } => {
            let (user, consents) = ctx.admin().list_consents(&username).await?;
            let consents: Vec<_> = consents.iter().map(ConsentView::from).collect();
            ctx.print(&serde_json::json!({
                "user_id": user.id.to_string(),
                "consents": consents,
            }))
        }
        UserCommand::RevokeConsent { username, client } => {
            let user = ctx
                .admin()
                .revoke_consent(&Actor::Cli, &username, &client)
                .await?;
            ctx.print(&serde_json::json!({
                "user_id": user.id.to_string(),
                "client_id": client.as_str(),
                "revoked": true,
            }))
        }
        UserCommand::Mfa {
            username,
            enroll_totp: false,
        } => {
            let status = ctx.admin().second_factors(&username).await?;
            ctx.print(&SecondFactorsView::from(&status))
        }
        UserCommand::Mfa {
            username,
            enroll_totp: true,
        } => {
            let enrolled = ctx
                .admin_with_factors()?
                .enroll_totp(&Actor::Cli, &username)
                .await?;
            ctx.print(&EnrolledTotpView::from(&enrolled))
        }
        UserCommand::MfaReset { username } => {
            let removed = ctx
                .admin()
                .reset_second_factors(&Actor::Cli, &username)
                .await?;
            let status = ctx.admin().second_factors(&username).await?;
            let mut view = serde_json::to_value(SecondFactorsView::from(&status))?;
            view["removed"] = removed.into();
            view["sessions_ended"] = true.into();
            ctx.print(&view)
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
