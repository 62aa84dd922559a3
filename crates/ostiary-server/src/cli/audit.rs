//! `ostiary audit list`. (The admin commands' own events are recorded by the Admin service.)

use clap::Subcommand;
use ostiary_core::audit::{AuditEventType, AuditQuery};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::context::AdminContext;
use super::output::rfc3339;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print security events as JSON lines, oldest first.
    List {
        /// Only events at or after this time (RFC 3339, e.g. 2026-11-25T00:00:00Z).
        #[arg(long, value_parser = parse_time)]
        since: Option<OffsetDateTime>,
        /// Only this event type (e.g. token.issued, client.authentication_failed).
        #[arg(long = "type")]
        event: Option<AuditEventType>,
        /// Only events about this subject (user id, key id, token id, client id). Generated
        /// ids are base64url and may start with `-`.
        #[arg(long, allow_hyphen_values = true)]
        subject: Option<String>,
        /// At most this many of the newest matching events.
        #[arg(long, default_value_t = 10_000)]
        limit: u32,
    },
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

pub async fn run(command: AuditCommand, ctx: &AdminContext<'_>) -> anyhow::Result<()> {
    let AuditCommand::List {
        since,
        event,
        subject,
        limit,
    } = command;
    let query = AuditQuery {
        since,
        event,
        subject,
        limit,
    };
    let events = ctx.admin().audit_events(&query).await?;
    let mut lines = String::new();
    for e in &events {
        let line = serde_json::json!({
            "at": rfc3339(e.at),
            "event": e.event.as_str(),
            "actor": e.actor,
            "client_id": e.client_id,
            "subject": e.subject,
            "source_ip": e.source_ip,
            "outcome": e.outcome.as_str(),
            "reason": e.reason,
        });
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    super::output::print_raw(&lines)
}
