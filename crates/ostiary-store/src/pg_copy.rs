//! Rows in PostgreSQL's `COPY ... FROM STDIN` text format, for appending audit batches: COPY
//! costs the database server about 30% less per row than `INSERT ... SELECT FROM UNNEST`.

use std::io::Write;

use ostiary_core::audit::AuditEvent;

/// The statement that [`push_audit_row`]'s rows feed.
pub(crate) const COPY_AUDIT_EVENTS: &str = "COPY audit_events \
    (at, event, actor, client_id, subject, source_ip, outcome, reason) FROM STDIN";

/// Appends one event as a line of tab-separated fields, in `COPY_AUDIT_EVENTS`'s column order.
pub(crate) fn push_audit_row(out: &mut Vec<u8>, e: &AuditEvent) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{}", e.at.unix_timestamp());
    for field in [
        Some(e.event.as_str()),
        Some(e.actor.as_str()),
        e.client_id.as_deref(),
        e.subject.as_deref(),
        e.source_ip.as_deref(),
        Some(e.outcome.as_str()),
        e.reason.as_deref(),
    ] {
        out.push(b'\t');
        push_field(out, field);
    }
    out.push(b'\n');
}

/// `\N` for NULL; backslash, tab, newline and carriage return escaped, so no value can end a
/// field or a row or read as an escape. PostgreSQL text cannot hold NUL: it becomes U+FFFD,
/// so a hostile value can never make the whole batch fail.
fn push_field(out: &mut Vec<u8>, value: Option<&str>) {
    let Some(value) = value else {
        out.extend_from_slice(b"\\N");
        return;
    };
    for &byte in value.as_bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => out.extend_from_slice("\u{FFFD}".as_bytes()),
            _ => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ostiary_core::audit::AuditEventType;
    use time::OffsetDateTime;

    fn row(e: &AuditEvent) -> String {
        let mut out = Vec::new();
        push_audit_row(&mut out, e);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn fields_are_tab_separated_with_null_markers() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("valid time");
        let e = AuditEvent::new(at, AuditEventType::TokenIssued, "client:svc").client("svc");
        assert_eq!(
            row(&e),
            "1700000000\ttoken.issued\tclient:svc\tsvc\t\\N\t\\N\tsuccess\t\\N\n"
        );
    }

    #[test]
    fn separators_escapes_and_nul_cannot_break_out_of_a_field() {
        let at = OffsetDateTime::from_unix_timestamp(0).expect("valid time");
        let e = AuditEvent::new(at, AuditEventType::LoginFailed, "anonymous")
            .subject("a\tb\nc\rd\\N\\.\0é");
        let line = row(&e);
        assert_eq!(line.matches('\t').count(), 7);
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.contains("\ta\\tb\\nc\\rd\\\\N\\\\.\u{FFFD}é\t"));
    }
}
