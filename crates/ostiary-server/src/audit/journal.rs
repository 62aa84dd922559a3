//! The audit journal on disk: a directory of segment files, each one process's events as JSON
//! lines. A segment is created under a temporary name, locked (`flock`) and only then given
//! its final name, and stays locked while its process holds it: a segment whose lock can be
//! taken belongs to a process that is gone, and any instance sharing the directory replays it.

use std::borrow::Cow;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ostiary_core::audit::{AuditEvent, AuditEventType, Outcome};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A segment's file name ends so; a segment being created ends in `.new`.
const EXTENSION: &str = "jsonl";

/// The most bytes one copy reads from a segment: thousands of events, far above any one line.
pub(super) const READ_BYTES: usize = 1 << 20;

/// Opens (creating it owner-only where missing) the journal directory: it holds who did what
/// from where, as the database does.
pub(super) fn open_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// One segment file, held (open and locked) by this process.
#[derive(Debug)]
pub(super) struct Segment {
    /// The file name: unique across instances, it is the key of the segment's mark in the store.
    pub name: String,
    path: PathBuf,
    file: File,
}

impl Segment {
    /// A new, empty segment in `dir`, locked before any other process can see it.
    pub fn create(dir: &Path) -> io::Result<Self> {
        let name = format!(
            "{:016x}-{}.{EXTENSION}",
            OffsetDateTime::now_utc().unix_timestamp_nanos(),
            ostiary_core::random::random_token::<12>()
        );
        let creating = dir.join(format!("{name}.new"));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&creating)?;
        file.try_lock().map_err(|e| match e {
            TryLockError::Error(e) => e,
            TryLockError::WouldBlock => io::Error::other("a new segment was locked by another"),
        })?;
        let path = dir.join(&name);
        std::fs::rename(&creating, &path)?;
        Ok(Self { name, path, file })
    }

    /// Appends whole lines (one `write` where the kernel takes it all: a process killed in it
    /// leaves at most a torn last line, which was never acknowledged).
    pub fn append(&self, lines: &[u8]) -> io::Result<()> {
        (&self.file).write_all(lines)
    }

    /// The whole lines from byte `from`, up to [`READ_BYTES`] and up to byte `to`: the events
    /// (undecodable lines skipped, and counted) and the offset just past the last whole line.
    pub fn read(&self, from: u64, to: u64) -> io::Result<Lines> {
        let want = usize::try_from(to.saturating_sub(from))
            .unwrap_or(usize::MAX)
            .min(READ_BYTES);
        let mut buf = vec![0; want];
        let mut filled = 0;
        while filled < want {
            match self.file.read_at(&mut buf[filled..], from + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        Ok(decode(&buf, from))
    }

    /// Deletes the file; the lock goes when the handle is dropped, after it.
    pub fn remove(&self) -> io::Result<()> {
        std::fs::remove_file(&self.path)
    }
}

/// What [`Segment::read`] found.
#[derive(Debug, Default)]
pub(super) struct Lines {
    pub events: Vec<AuditEvent>,
    /// The offset just past the last whole line read.
    pub end: u64,
    /// Lines that were not an event (a torn write, or damage on disk): skipped.
    pub skipped: usize,
}

/// Takes every segment of `dir` that no live process holds: an instance that stopped (or was
/// killed) before its journal was copied whole. Segments of running processes are locked and
/// left alone; a segment deleted in the meantime by its owner is passed over.
pub(super) fn claim_orphans(dir: &Path) -> io::Result<Vec<Segment>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(&format!(".{EXTENSION}")))
        .collect();
    names.sort();
    let mut orphans = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => return Err(e),
        }
        // Its owner deletes a segment before letting go of it: no link left means copied.
        if file.metadata()?.nlink() == 0 {
            continue;
        }
        orphans.push(Segment { name, path, file });
    }
    Ok(orphans)
}

/// One event as a journal line. Borrowed where it can be: a value with an escape in it
/// (a quote, a newline) is unescaped into its own string when read back.
#[derive(Serialize, Deserialize)]
struct Line<'a> {
    at: i64,
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    client_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    subject: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    outcome: Cow<'a, str>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
}

/// Appends `event` to `out` as one line (JSON escapes every newline inside a value).
pub(super) fn encode<'a>(event: &'a AuditEvent, out: &mut Vec<u8>) {
    let borrowed = |value: &'a Option<String>| value.as_deref().map(Cow::Borrowed);
    let line = Line {
        at: event.at.unix_timestamp(),
        event: Cow::Borrowed(event.event.as_str()),
        actor: Cow::Borrowed(&event.actor),
        client_id: borrowed(&event.client_id),
        subject: borrowed(&event.subject),
        source_ip: borrowed(&event.source_ip),
        outcome: Cow::Borrowed(event.outcome.as_str()),
        reason: borrowed(&event.reason),
    };
    // Serializing plain strings and integers into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        out.push(b'\n');
    }
}

/// The events of the whole lines in `buf`, which starts at byte `from` of its segment.
fn decode(buf: &[u8], from: u64) -> Lines {
    let Some(last) = buf.iter().rposition(|&b| b == b'\n') else {
        return Lines {
            end: from,
            ..Lines::default()
        };
    };
    let mut lines = Lines {
        end: from + last as u64 + 1,
        ..Lines::default()
    };
    for line in buf[..last].split(|&b| b == b'\n') {
        match parse(line) {
            Some(event) => lines.events.push(event),
            None => lines.skipped += 1,
        }
    }
    lines
}

fn parse(line: &[u8]) -> Option<AuditEvent> {
    let line: Line<'_> = serde_json::from_slice(line).ok()?;
    let owned = |value: Option<Cow<'_, str>>| value.map(Cow::into_owned);
    Some(AuditEvent {
        at: OffsetDateTime::from_unix_timestamp(line.at).ok()?,
        event: line.event.parse::<AuditEventType>().ok()?,
        actor: line.actor.into_owned(),
        client_id: owned(line.client_id),
        subject: owned(line.subject),
        source_ip: owned(line.source_ip),
        outcome: Outcome::parse(&line.outcome)?,
        reason: owned(line.reason),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(subject: &str) -> AuditEvent {
        AuditEvent::new(
            OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            AuditEventType::LoginFailed,
            "client:web",
        )
        .client("web")
        .subject(subject)
        .source_ip(Some("192.0.2.7".into()))
        .failed("bad_password")
    }

    #[test]
    fn events_round_trip_through_lines_even_with_newlines_in_values() {
        let events = [event("alice"), event("line\nbreak \"quoted\""), event("")];
        let mut out = Vec::new();
        for e in &events {
            encode(e, &mut out);
        }
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3);
        let lines = decode(&out, 100);
        assert_eq!(lines.events, events);
        assert_eq!(lines.end, 100 + out.len() as u64);
        assert_eq!(lines.skipped, 0);
    }

    #[test]
    fn a_torn_last_line_is_left_and_a_damaged_line_skipped() {
        let mut out = Vec::new();
        encode(&event("a"), &mut out);
        out.extend_from_slice(b"{\"at\":1,\"garbage\n");
        encode(&event("b"), &mut out);
        let whole = out.len() as u64;
        encode(&event("c"), &mut out);
        out.truncate(out.len() - 5);
        let lines = decode(&out, 0);
        assert_eq!(lines.events, [event("a"), event("b")]);
        assert_eq!(lines.skipped, 1);
        assert_eq!(lines.end, whole, "the torn line is not consumed");
        assert_eq!(decode(b"{\"at\":", 7).end, 7, "no whole line");
    }

    #[test]
    fn a_held_segment_is_nobody_elses_and_a_dropped_one_is_an_orphan() {
        let dir = tempfile::tempdir().unwrap();
        let held = Segment::create(dir.path()).unwrap();
        let mut line = Vec::new();
        encode(&event("a"), &mut line);
        held.append(&line).unwrap();
        let dropped = Segment::create(dir.path()).unwrap();
        dropped.append(&line).unwrap();
        dropped.append(&line).unwrap();
        let dropped_name = dropped.name.clone();
        drop(dropped);

        let orphans = claim_orphans(dir.path()).unwrap();
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].name, dropped_name);
        let read = orphans[0].read(0, u64::MAX).unwrap();
        assert_eq!(read.events.len(), 2);
        assert!(
            claim_orphans(dir.path()).unwrap().is_empty(),
            "claimed: held now"
        );
        for orphan in orphans {
            orphan.remove().unwrap();
        }
        assert_eq!(held.read(0, u64::MAX).unwrap().events.len(), 1, "untouched");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, std::slice::from_ref(&held.name));
    }
}
