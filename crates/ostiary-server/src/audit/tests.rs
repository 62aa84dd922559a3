//! The writer and the copier together on a real SQLite store: a broken segment replaced,
//! every event copied once, the journal empty after close.

use super::*;
use ostiary_core::audit::{AuditEventType, AuditQuery};
use time::OffsetDateTime;

fn event(n: usize) -> AuditEvent {
    AuditEvent::new(
        OffsetDateTime::now_utc(),
        AuditEventType::TokenIssued,
        "client:svc",
    )
    .subject(format!("t{n}"))
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".jsonl"))
        .collect();
    names.sort();
    names
}

async fn subjects(store: &dyn Store) -> Vec<String> {
    let query = AuditQuery {
        since: None,
        event: None,
        subject: None,
        before: None,
        limit: 10_000,
    };
    let mut subjects: Vec<String> = store
        .list_audit_events(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.subject.unwrap())
        .collect();
    subjects.sort();
    subjects
}

#[tokio::test]
async fn a_broken_segment_is_replaced_and_every_event_copied_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("o.db").display());
    let database = ostiary_store::Database::open(&url, 2).await.unwrap();
    database.migrate().await.unwrap();
    let store = database.store();
    let journal = dir.path().join("journal");
    let audit = AuditLog::start(store.clone(), &journal).await.unwrap();
    let first = segments(&journal);
    assert_eq!(first.len(), 1);

    for n in 0..3 {
        audit.record(event(n)).await;
    }
    // A write failed (a full disk, say): the next events go straight to the database, and
    // the copier's next round starts a new segment.
    mark_broken(&audit);
    for n in 3..5 {
        audit.record(event(n)).await;
    }
    audit.flush().await;
    let second = segments(&journal);
    assert_eq!(second.len(), 1);
    assert_ne!(second, first, "the broken segment was copied and deleted");
    for n in 5..7 {
        audit.record(event(n)).await;
    }
    assert!(audit.pending_bytes() > 0, "appended, not yet copied");
    audit.flush().await;
    assert_eq!(audit.pending_bytes(), 0);
    let all: Vec<String> = {
        let mut all: Vec<String> = (0..7).map(|n| format!("t{n}")).collect();
        all.sort();
        all
    };
    assert_eq!(subjects(&*store).await, all);

    audit.close().await;
    assert!(
        segments(&journal).is_empty(),
        "closed: nothing left to replay"
    );
    audit.record(event(7)).await;
    assert_eq!(
        subjects(&*store).await.len(),
        8,
        "after close, straight to the database"
    );
    assert_eq!(
        store.audit_journal_copied(&second[0]).await.unwrap(),
        0,
        "marks forgotten"
    );
}

/// Requests on several threads append at once (they share the journal's lock) while the
/// copier copies: every event reaches the database exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_appended_at_once_from_many_threads_are_each_copied_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_database, store) = sqlite_store(dir.path()).await;
    let audit = AuditLog::start(store.clone(), &dir.path().join("journal"))
        .await
        .unwrap();
    let appenders: Vec<_> = (0..8)
        .map(|thread| {
            let audit = audit.clone();
            tokio::spawn(async move {
                for n in 0..250 {
                    audit.record(event(thread * 1000 + n)).await;
                    if n % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for appender in appenders {
        appender.await.unwrap();
    }
    audit.flush().await;
    assert_eq!(audit.pending_bytes(), 0);
    let mut all: Vec<String> = (0..8)
        .flat_map(|thread| (0..250).map(move |n| format!("t{}", thread * 1000 + n)))
        .collect();
    all.sort();
    assert_eq!(subjects(&*store).await, all);
    audit.close().await;
}

/// A write failed midway (a full disk) and another thread's line landed behind its part
/// before the failure was marked: the copier closes the segment where its file ends, so that
/// line's event is copied; only the torn part is set aside, and a torn part at a segment's
/// end is not counted as pending once the segment is copied.
#[tokio::test]
async fn a_line_appended_behind_a_torn_write_is_copied() {
    let dir = tempfile::tempdir().unwrap();
    let (_database, store) = sqlite_store(dir.path()).await;
    let journal = dir.path().join("journal");
    let audit = AuditLog::start(store.clone(), &journal).await.unwrap();
    audit.record(event(0)).await;
    let torn = lines(&[event(99)])[..20].to_vec();
    let segment = active_segment(&audit);
    segment.append(&torn).unwrap();
    audit.record(event(1)).await;
    mark_broken(&audit);
    audit.flush().await;
    assert_eq!(subjects(&*store).await, ["t0", "t1"]);
    let rejected = std::fs::read(journal.join(journal::REJECTED)).unwrap();
    assert_eq!(rejected, [torn.clone(), b"\n".to_vec()].concat());
    assert!(!segment.path().exists(), "copied, then deleted");

    // The next segment ends in a torn part: once it is closed and copied, nothing is pending.
    let next = active_segment(&audit);
    next.append(&torn).unwrap();
    mark_broken(&audit);
    audit.flush().await;
    assert!(!next.path().exists());
    assert_eq!(audit.pending_bytes(), 0);
}

/// The segment `audit` appends to now.
fn active_segment(audit: &AuditLog) -> Arc<Segment> {
    let inner = audit.inner.as_ref().unwrap();
    inner.journal.read().unwrap().segment.clone().unwrap()
}

/// What a failed write does to the active segment (a full disk, say).
fn mark_broken(audit: &AuditLog) {
    let inner = audit.inner.as_ref().unwrap();
    inner
        .journal
        .read()
        .unwrap()
        .broken
        .store(true, Ordering::Relaxed);
}

async fn sqlite_store(dir: &Path) -> (ostiary_store::Database, Arc<dyn Store>) {
    let url = format!("sqlite://{}", dir.join("o.db").display());
    let database = ostiary_store::Database::open(&url, 2).await.unwrap();
    database.migrate().await.unwrap();
    let store = database.store();
    (database, store)
}

fn lines(events: &[AuditEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        journal::encode(e, &mut out);
    }
    out
}

/// A commit that happened but was reported lost: the store's mark has moved past the batch,
/// so the copy is refused, reads the mark back and copies nothing twice.
#[tokio::test]
async fn a_copy_whose_batch_is_already_in_reads_the_mark_back_and_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_database, store) = sqlite_store(dir.path()).await;
    let segment = Segment::create(dir.path(), "db").unwrap();
    let batch: Vec<_> = (0..3).map(event).collect();
    let bytes = lines(&batch);
    segment.append(&bytes).unwrap();
    let end = bytes.len() as u64;
    let committed = mark(&segment, 0, end);
    store
        .append_audit_events(&batch, Some(&committed))
        .await
        .unwrap();

    let mut copied = 0;
    let refused = copier::copy(&*store, dir.path(), &segment, &mut copied, end).await;
    assert!(matches!(
        refused,
        Err(copier::Failure::Store(StoreError::Conflict(_)))
    ));
    assert_eq!(copied, end, "the mark read back");
    let again = copier::copy(&*store, dir.path(), &segment, &mut copied, end).await;
    assert!(matches!(again, Ok(0)));
    assert_eq!(subjects(&*store).await, ["t0", "t1", "t2"]);
}

/// An orphan with a damaged line: its events are copied, the line set aside once, the file
/// deleted.
#[tokio::test]
async fn a_replayed_orphan_sets_a_damaged_line_aside_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_database, store) = sqlite_store(dir.path()).await;
    let orphan = Segment::create(dir.path(), "db").unwrap();
    let mut bytes = lines(&[event(0)]);
    bytes.extend_from_slice(b"{\"damaged\"\n");
    bytes.extend(lines(&[event(1)]));
    orphan.append(&bytes).unwrap();
    drop(orphan);

    let replayed = copier::replay_orphans(&*store, dir.path(), "db").await;
    assert!(matches!(replayed, Ok(2)));
    assert_eq!(subjects(&*store).await, ["t0", "t1"]);
    let rejected = std::fs::read(dir.path().join(journal::REJECTED)).unwrap();
    assert_eq!(rejected, b"{\"damaged\"\n");
    assert!(segments(dir.path()).is_empty());
    assert!(matches!(
        copier::replay_orphans(&*store, dir.path(), "db").await,
        Ok(0)
    ));
}

/// A mark of `segment` from `from` to `copied`.
fn mark(segment: &Segment, from: u64, copied: u64) -> ostiary_core::audit::JournalMark {
    ostiary_core::audit::JournalMark {
        segment: segment.name.clone(),
        from,
        copied,
    }
}
