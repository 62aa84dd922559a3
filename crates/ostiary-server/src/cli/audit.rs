//! `ostiary audit list [--follow]`. (The admin commands' own events are recorded by the Admin
//! service.)

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Subcommand;
use ostiary_core::audit::{AuditEvent, AuditEventType, AuditQuery};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::context::AdminContext;
use crate::views::AuditEventView;

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
        /// Then keep printing new matching events as they are recorded (until interrupted),
        /// for a SIEM to tail. An event recorded while the command starts may print twice.
        #[arg(long)]
        follow: bool,
    },
}

/// How often a follower asks for new events.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// Events read per request while following.
const FOLLOW_PAGE: u32 = 10_000;
/// How long an id skipped over is waited for: a transaction of another instance may commit
/// after one that took a higher id (PostgreSQL), and must still be printed.
const LATE_COMMIT: Duration = Duration::from_secs(10);
/// The most skipped ids remembered at once (a rolled-back batch leaves its ids unused).
const MAX_SKIPPED: usize = 100_000;

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

pub async fn run(command: AuditCommand, ctx: &AdminContext<'_>) -> anyhow::Result<()> {
    let AuditCommand::List {
        since,
        event,
        subject,
        limit,
        follow,
    } = command;
    let query = AuditQuery {
        since,
        event,
        subject,
        before: None,
        limit,
    };
    let admin = ctx.admin();
    // Taken before the listing, so nothing recorded meanwhile is missed.
    let cursor = admin.latest_audit_id().await?;
    let events = admin.audit_events(&query).await?;
    print_lines(events.iter().map(|(_, e)| e))?;
    if follow {
        let mut follower = Follower {
            cursor,
            skipped: BTreeMap::new(),
        };
        loop {
            let from = follower.from();
            let page = match admin.audit_events_after(from, FOLLOW_PAGE).await {
                Ok(page) => page,
                // The database may be restarting: keep following.
                Err(e) => {
                    eprintln!("reading the audit trail failed ({e}); retrying");
                    tokio::time::sleep(FOLLOW_EVERY).await;
                    continue;
                }
            };
            let full = page.len() == FOLLOW_PAGE as usize;
            let new = follower.take(page, Instant::now());
            print_lines(new.iter().filter(|e| matches(&query, e)))?;
            if !full {
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
        }
    }
    Ok(())
}

/// Whether `e` matches the query's filters (its time, type and subject).
fn matches(query: &AuditQuery, e: &AuditEvent) -> bool {
    query.since.is_none_or(|since| e.at >= since)
        && query.event.is_none_or(|t| e.event == t)
        && query
            .subject
            .as_ref()
            .is_none_or(|s| e.subject.as_ref() == Some(s))
}

/// Where a follower stands: every id up to `cursor` was printed except the `skipped` ones,
/// which it still waits for (since when) in case they commit late.
struct Follower {
    cursor: i64,
    skipped: BTreeMap<i64, Instant>,
}

impl Follower {
    /// The id to read after: just below the oldest id still awaited, or the cursor.
    fn from(&self) -> i64 {
        self.skipped
            .keys()
            .next()
            .map_or(self.cursor, |oldest| oldest - 1)
    }

    /// The events of `page` not printed yet, in order; moves the cursor and notes the ids
    /// skipped over.
    fn take(&mut self, page: Vec<(i64, AuditEvent)>, now: Instant) -> Vec<AuditEvent> {
        let mut new = Vec::new();
        for (id, event) in page {
            if id > self.cursor {
                for gap in (self.cursor + 1)..id {
                    if self.skipped.len() >= MAX_SKIPPED {
                        break;
                    }
                    self.skipped.insert(gap, now);
                }
                self.cursor = id;
                new.push(event);
            } else if self.skipped.remove(&id).is_some() {
                new.push(event);
            }
        }
        // Waited for only a while, and only within half a page of the cursor: a page read
        // from below the oldest one then always reaches past the cursor.
        let oldest = self.cursor - i64::from(FOLLOW_PAGE / 2);
        self.skipped
            .retain(|id, since| *id > oldest && now.duration_since(*since) < LATE_COMMIT);
        new
    }
}

fn print_lines<'a>(events: impl Iterator<Item = &'a AuditEvent>) -> anyhow::Result<()> {
    let mut lines = String::new();
    for e in events {
        let line = serde_json::to_string(&AuditEventView::from(e))?;
        lines.push_str(&line);
        lines.push('\n');
    }
    if lines.is_empty() {
        return Ok(());
    }
    super::output::print_raw(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ostiary_core::audit::AuditEventType;

    fn event() -> AuditEvent {
        AuditEvent::new(
            OffsetDateTime::UNIX_EPOCH,
            AuditEventType::TokenIssued,
            "test",
        )
    }

    #[test]
    fn a_late_commit_below_the_cursor_is_printed_once() {
        let now = Instant::now();
        let mut follower = Follower {
            cursor: 10,
            skipped: BTreeMap::new(),
        };
        // 12 is seen before 11 commits.
        assert_eq!(follower.take(vec![(12, event())], now).len(), 1);
        assert_eq!(follower.from(), 10, "11 is still awaited");
        let page = vec![(11, event()), (12, event())];
        assert_eq!(follower.take(page, now).len(), 1, "11 only");
        assert_eq!(follower.from(), 12);
        // An id that never commits is given up after a while.
        follower.take(vec![(14, event())], now);
        assert_eq!(follower.from(), 12);
        follower.take(vec![], now + LATE_COMMIT);
        assert_eq!(follower.from(), 14);
        // Far behind the cursor, a skipped id is given up at once: every page read from
        // below it still brings new events.
        let far = 14 + i64::from(FOLLOW_PAGE);
        follower.take(vec![(far, event())], now);
        assert!(far - follower.from() <= i64::from(FOLLOW_PAGE / 2));
    }
}
