//! The audit journal on disk: a directory of segment files, each one process's events as JSON
//! lines. A segment is created under a temporary name, locked (`flock`) and only then given
//! its final name, and stays locked while its process holds it: a segment whose lock can be
//! taken belongs to a process that is gone, and any instance sharing the directory (on one
//! host: `flock` is not to be trusted over a network file system) replays it. Segment names
//! start with the database's identity (kept in the database), so that an instance replays
//! only segments meant for its own database. Lines that cannot be stored are set aside in [`REJECTED`].

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

/// The most bytes one copy reads from a segment: thousands of events, far above any one line
/// (an event's fields are bounded by `AuditEvent`).
pub(super) const READ_BYTES: usize = 1 << 20;

/// Where lines that are not events, or events the database refuses, are kept (never read
/// back by the server; for the operator). Not a segment name.
pub(super) const REJECTED: &str = "rejected.log";

/// Opens (creating it owner-only where missing) the journal directory: it holds who did what
/// from where, as the database does.
pub(super) fn open_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Refuses a journal directory that another user owns or may write to: anyone who can put a
/// file in it can put forged events into the audit trail. `ours` is a file this process
/// just created there (its owner is this process's user).
pub(super) fn check_dir(dir: &Path, ours: &Path) -> io::Result<()> {
    let dir_meta = std::fs::metadata(dir)?;
    let uid = std::fs::metadata(ours)?.uid();
    if dir_meta.uid() != uid || dir_meta.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "must be owned by the server's user and writable by no one else (mode {:o}); \
             chmod 700 it",
            dir_meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Appends whole lines to [`REJECTED`] (owner-only).
pub(super) fn reject(dir: &Path, lines: &[u8]) -> io::Result<()> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(dir.join(REJECTED))?
        .write_all(lines)
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
    /// A new, empty segment in `dir` for the database `database` (its identity), locked
    /// before any other process can see it.
    pub fn create(dir: &Path, database: &str) -> io::Result<Self> {
        let name = format!(
            "{database}-{:016x}-{}.{EXTENSION}",
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
        let path = dir.join(&name);
        let locked = file
            .try_lock()
            .map_err(|e| match e {
                TryLockError::Error(e) => e,
                TryLockError::WouldBlock => io::Error::other("a new segment was locked"),
            })
            .and_then(|()| std::fs::rename(&creating, &path));
        if let Err(e) = locked {
            let _ = std::fs::remove_file(&creating);
            return Err(e);
        }
        Ok(Self { name, path, file })
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends whole lines in one `write`. A process killed in it leaves at most a torn last
    /// line, which was never acknowledged. A write the kernel takes only in part (a full
    /// disk) fails rather than writing the rest: another thread's line may already follow
    /// the part, which is then a torn line the reader sets aside.
    pub fn append(&self, lines: &[u8]) -> io::Result<()> {
        loop {
            match (&self.file).write(lines) {
                Ok(written) if written == lines.len() => return Ok(()),
                Ok(written) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("{written} of {} bytes written", lines.len()),
                    ));
                }
                // Nothing was written.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The file's length in bytes. With the journal's lock held alone (no append under way):
    /// every line appended whole, and the part of a write that failed midway.
    pub fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// The whole lines from byte `from`, up to [`READ_BYTES`] and up to byte `to`: the events
    /// (lines that are not one set apart) and the offset just past the last whole line.
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
        let mut lines = decode(&buf, from);
        // A full read without a line end: no event is this long, so it is damage; set aside
        // what was read, and the rest of that line fails to parse on the next read.
        if lines.end == from && filled == READ_BYTES {
            lines.rejected = buf;
            lines.rejected.push(b'\n');
            lines.end = from + filled as u64;
        }
        Ok(lines)
    }

    /// Deletes the file; the lock goes when the handle is dropped, after it.
    pub fn remove(&self) -> io::Result<()> {
        std::fs::remove_file(&self.path)
    }
}

/// What [`Segment::read`] found.
#[derive(Debug, Default)]
pub(super) struct Lines {
    /// Each event, with the offset just past its line.
    pub events: Vec<(AuditEvent, u64)>,
    /// The offset just past the last whole line read.
    pub end: u64,
    /// Lines that were not an event (damage on disk, an event type this version does not
    /// know, or the torn part in front of a line read back), for [`reject`].
    pub rejected: Vec<u8>,
}

/// Takes every segment of `dir` for the database `database` that no live process holds: an
/// instance that stopped (or was killed) before its journal was copied whole. Segments of
/// running processes are locked and left alone; one deleted in the meantime by its owner is
/// passed over, and so is anything that is not a regular file of the directory's owner (a
/// file that cannot be taken is logged and left for the operator).
pub(super) fn claim_orphans(dir: &Path, database: &str) -> io::Result<Vec<Segment>> {
    let owner = std::fs::metadata(dir)?.uid();
    let prefix = format!("{database}-");
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with(&prefix) && name.ends_with(&format!(".{EXTENSION}")))
        .collect();
    names.sort();
    let mut orphans = Vec::new();
    for name in names {
        let path = dir.join(&name);
        match claim(&path, owner) {
            Ok(Some(file)) => orphans.push(Segment { name, path, file }),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(segment = %path.display(), error = %e, "an audit journal segment cannot be replayed; left in place");
            }
        }
    }
    Ok(orphans)
}

/// The segment at `path`, locked, if it is an orphan: a regular file of `owner` that no
/// process holds and that its owner has not deleted.
fn claim(path: &Path, owner: u32) -> io::Result<Option<File>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() && meta.uid() == owner => {}
        Ok(_) => {
            return Err(io::Error::other(
                "not a regular file of the directory's owner",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let file = match OpenOptions::new().read(true).append(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(None),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    // Its owner deletes a segment before letting go of it: no link left means copied.
    if file.metadata()?.nlink() == 0 {
        return Ok(None);
    }
    Ok(Some(file))
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
    let mut at = from;
    for line in buf[..last].split(|&b| b == b'\n') {
        at += line.len() as u64 + 1;
        let (damage, event) = match parse(line) {
            Some(event) => (&[][..], Some(event)),
            None => recover(line),
        };
        if !damage.is_empty() {
            lines.rejected.extend_from_slice(damage);
            lines.rejected.push(b'\n');
        }
        if let Some(event) = event {
            lines.events.push((event, at));
        }
    }
    lines
}

/// How every line starts (the first field of [`Line`]). Inside a value a quote is escaped,
/// so these bytes start a line wherever they appear.
const LINE_START: &[u8] = b"{\"at\":";

/// A line that is not an event: a write that failed midway (a full disk) leaves a torn
/// line, and an append on another thread may have finished it with a whole line of its
/// own. That line is read from where it starts; what comes before it is damage.
fn recover(line: &[u8]) -> (&[u8], Option<AuditEvent>) {
    let start = line
        .windows(LINE_START.len())
        .rposition(|window| window == LINE_START)
        .filter(|&start| start > 0);
    match start.and_then(|start| Some((start, parse(&line[start..])?))) {
        Some((start, event)) => (&line[..start], Some(event)),
        None => (line, None),
    }
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

    fn events(lines: &Lines) -> Vec<AuditEvent> {
        lines.events.iter().map(|(e, _)| e.clone()).collect()
    }

    #[test]
    fn events_round_trip_through_lines_even_with_newlines_in_values() {
        let events_in = [event("alice"), event("line\nbreak \"quoted\""), event("")];
        let mut out = Vec::new();
        let mut ends = Vec::new();
        for e in &events_in {
            encode(e, &mut out);
            ends.push(100 + out.len() as u64);
        }
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3);
        let lines = decode(&out, 100);
        assert_eq!(events(&lines), events_in);
        let read_ends: Vec<u64> = lines.events.iter().map(|(_, end)| *end).collect();
        assert_eq!(read_ends, ends, "each event knows where its line ends");
        assert_eq!(lines.end, 100 + out.len() as u64);
        assert!(lines.rejected.is_empty());
    }

    #[test]
    fn a_torn_last_line_is_left_and_a_damaged_line_set_aside() {
        let mut out = Vec::new();
        encode(&event("a"), &mut out);
        out.extend_from_slice(b"{\"at\":1,\"garbage\n");
        encode(&event("b"), &mut out);
        let whole = out.len() as u64;
        encode(&event("c"), &mut out);
        out.truncate(out.len() - 5);
        let lines = decode(&out, 0);
        assert_eq!(events(&lines), [event("a"), event("b")]);
        assert_eq!(lines.rejected, b"{\"at\":1,\"garbage\n");
        assert_eq!(lines.end, whole, "the torn line is not consumed");
        assert_eq!(decode(b"{\"at\":", 7).end, 7, "no whole line");
    }

    #[test]
    fn a_whole_line_behind_a_torn_one_is_still_read() {
        let mut out = Vec::new();
        encode(&event("a"), &mut out);
        let after_a = out.len() as u64;
        // A write that failed midway, then another thread's whole line right behind it.
        let mut torn = Vec::new();
        encode(&event("torn"), &mut torn);
        torn.truncate(torn.len() - 9);
        out.extend_from_slice(&torn);
        encode(&event("b"), &mut out);
        let after_b = out.len() as u64;
        encode(&event("c"), &mut out);
        let lines = decode(&out, 0);
        assert_eq!(events(&lines), [event("a"), event("b"), event("c")]);
        let ends: Vec<u64> = lines.events.iter().map(|(_, end)| *end).collect();
        assert_eq!(ends, [after_a, after_b, out.len() as u64]);
        assert_eq!(lines.rejected, [torn, b"\n".to_vec()].concat());
    }

    #[test]
    fn a_read_that_finds_no_line_end_in_a_full_buffer_sets_it_aside() {
        let dir = tempfile::tempdir().unwrap();
        let segment = Segment::create(dir.path(), "db").unwrap();
        let mut long = vec![b'x'; READ_BYTES + 10];
        long.push(b'\n');
        segment.append(&long).unwrap();
        let mut line = Vec::new();
        encode(&event("after"), &mut line);
        segment.append(&line).unwrap();
        let first = segment.read(0, u64::MAX).unwrap();
        assert_eq!(first.end, READ_BYTES as u64);
        assert!(first.events.is_empty());
        let second = segment.read(first.end, u64::MAX).unwrap();
        assert_eq!(events(&second), [event("after")]);
        assert_eq!(
            second.rejected, b"xxxxxxxxxx\n",
            "the rest of the long line"
        );
    }

    #[test]
    fn a_held_segment_is_nobody_elses_and_a_dropped_one_is_an_orphan_of_its_database() {
        let dir = tempfile::tempdir().unwrap();
        let held = Segment::create(dir.path(), "db").unwrap();
        let mut line = Vec::new();
        encode(&event("a"), &mut line);
        held.append(&line).unwrap();
        let dropped = Segment::create(dir.path(), "db").unwrap();
        dropped.append(&line).unwrap();
        dropped.append(&line).unwrap();
        let dropped_name = dropped.name.clone();
        drop(dropped);
        drop(Segment::create(dir.path(), "otherdb").unwrap());
        std::os::unix::fs::symlink(
            held.path(),
            dir.path().join(format!("db-{EXTENSION}-link.{EXTENSION}")),
        )
        .unwrap();

        let orphans = claim_orphans(dir.path(), "db").unwrap();
        let names: Vec<_> = orphans.iter().map(|o| o.name.clone()).collect();
        assert_eq!(
            names,
            [dropped_name],
            "not the held one, another database's or a link"
        );
        let read = orphans[0].read(0, u64::MAX).unwrap();
        assert_eq!(read.events.len(), 2);
        assert!(
            claim_orphans(dir.path(), "db").unwrap().is_empty(),
            "claimed: held now"
        );
        for orphan in orphans {
            orphan.remove().unwrap();
        }
        assert_eq!(held.read(0, u64::MAX).unwrap().events.len(), 1, "untouched");
        assert_eq!(claim_orphans(dir.path(), "otherdb").unwrap().len(), 1);
    }

    #[test]
    fn a_directory_others_may_write_to_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        open_dir(&journal).unwrap();
        let segment = Segment::create(&journal, "db").unwrap();
        check_dir(&journal, segment.path()).unwrap();
        std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o770)).unwrap();
        let refused = check_dir(&journal, segment.path()).unwrap_err().to_string();
        assert!(refused.contains("mode 770"), "{refused}");
    }
}
