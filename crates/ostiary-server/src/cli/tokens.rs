//! `ostiary tokens revoke-all`: incident response. Every session ends, every unredeemed code
//! is void, every grant is revoked (refresh tokens, and the access tokens issued under them).

use clap::Subcommand;
use ostiary_core::audit::AuditEventType;
use ostiary_core::{Clock, SystemClock};
use ostiary_store::Database;

use super::output::print_json;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Revoke every refresh token, authorization code and session.
    RevokeAll,
}

pub async fn run(command: TokensCommand, db: &Database) -> anyhow::Result<()> {
    match command {
        TokensCommand::RevokeAll => {
            let revoked = db
                .store()
                .revoke_everything(SystemClock.now_seconds())
                .await?;
            super::audit::record(db, AuditEventType::RevokedAll, |e| e).await?;
            print_json(&revoked)
        }
    }
}
