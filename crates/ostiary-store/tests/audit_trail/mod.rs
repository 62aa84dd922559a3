//! The audit trail's cursor (for `audit list --follow`), its retention purge, and the marks of
//! the servers' journal segments.

use ostiary_core::audit::{AuditEvent, AuditEventType, JournalMark};
use ostiary_store::Database;
use time::{Duration, OffsetDateTime};

use crate::store_tests;

store_tests!(
    followers_read_every_event_after_their_cursor_in_order,
    retention_removes_only_old_events_a_chunk_at_a_time,
    a_journal_mark_moves_with_its_events_per_segment,
    the_database_keeps_the_first_journal_identity_it_is_given,
);

fn event(at: OffsetDateTime, subject: &str) -> AuditEvent {
    AuditEvent::new(at, AuditEventType::TokenIssued, "client:svc").subject(subject)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

async fn followers_read_every_event_after_their_cursor_in_order(db: Database) {
    let store = db.store();
    assert_eq!(store.latest_audit_id().await.unwrap(), 0);
    let first: Vec<_> = (0..3).map(|n| event(now(), &format!("a{n}"))).collect();
    store.append_audit_events(&first, None).await.unwrap();
    let cursor = store.latest_audit_id().await.unwrap();
    let all = store.audit_events_after(0, 100).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all.last().unwrap().0, cursor);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "ids grow");
    let second: Vec<_> = (0..5).map(|n| event(now(), &format!("b{n}"))).collect();
    store.append_audit_events(&second, None).await.unwrap();
    let page = store.audit_events_after(cursor, 2).await.unwrap();
    let subjects: Vec<_> = page
        .iter()
        .map(|(_, e)| e.subject.clone().unwrap())
        .collect();
    assert_eq!(subjects, ["b0", "b1"], "oldest first, at most the limit");
    let rest = store.audit_events_after(page[1].0, 100).await.unwrap();
    assert_eq!(rest.len(), 3);
    assert_eq!(rest[2].1, second[4]);
}

async fn retention_removes_only_old_events_a_chunk_at_a_time(db: Database) {
    let store = db.store();
    let old: Vec<_> = (0..7)
        .map(|n| event(now() - Duration::days(100), &format!("old{n}")))
        .collect();
    let recent: Vec<_> = (0..2).map(|n| event(now(), &format!("new{n}"))).collect();
    store.append_audit_events(&old, None).await.unwrap();
    store.append_audit_events(&recent, None).await.unwrap();
    let cutoff = now() - Duration::days(90);
    assert_eq!(store.purge_audit_events(cutoff, 5).await.unwrap(), 5);
    assert_eq!(store.purge_audit_events(cutoff, 5).await.unwrap(), 2);
    assert_eq!(store.purge_audit_events(cutoff, 5).await.unwrap(), 0);
    let left = store.audit_events_after(0, 100).await.unwrap();
    let left: Vec<_> = left.into_iter().map(|(_, e)| e).collect();
    assert_eq!(left, recent);
}

async fn a_journal_mark_moves_with_its_events_per_segment(db: Database) {
    let store = db.store();
    let mark = |segment: &str, from, copied| JournalMark {
        segment: segment.to_owned(),
        from,
        copied,
    };
    assert_eq!(store.audit_journal_copied("a.jsonl").await.unwrap(), 0);
    let batch: Vec<_> = (0..3).map(|n| event(now(), &format!("j{n}"))).collect();
    store
        .append_audit_events(&batch, Some(&mark("a.jsonl", 0, 600)))
        .await
        .unwrap();
    store
        .append_audit_events(&batch[..1], Some(&mark("a.jsonl", 600, 800)))
        .await
        .unwrap();
    // A batch copied again from where an earlier copy started (its commit was reported
    // lost, but happened): refused, nothing written.
    let again = store
        .append_audit_events(&batch[..1], Some(&mark("a.jsonl", 600, 800)))
        .await;
    assert!(
        matches!(again, Err(ostiary_core::StoreError::Conflict(_))),
        "{again:?}"
    );
    // Only lines that were not events: the mark moves, nothing is appended.
    store
        .append_audit_events(&[], Some(&mark("b.jsonl", 0, 40)))
        .await
        .unwrap();
    assert_eq!(store.audit_journal_copied("a.jsonl").await.unwrap(), 800);
    assert_eq!(store.audit_journal_copied("b.jsonl").await.unwrap(), 40);
    assert_eq!(store.audit_events_after(0, 100).await.unwrap().len(), 4);
    // A segment the store has no mark of takes one only from 0.
    let unknown = store
        .append_audit_events(&batch[..1], Some(&mark("c.jsonl", 100, 200)))
        .await;
    assert!(
        matches!(unknown, Err(ostiary_core::StoreError::Conflict(_))),
        "{unknown:?}"
    );
    assert_eq!(store.audit_journal_copied("c.jsonl").await.unwrap(), 0);
    assert_eq!(store.audit_events_after(0, 100).await.unwrap().len(), 4);
    store.forget_audit_journal("a.jsonl").await.unwrap();
    assert_eq!(store.audit_journal_copied("a.jsonl").await.unwrap(), 0);
    assert_eq!(store.audit_journal_copied("b.jsonl").await.unwrap(), 40);
}

async fn the_database_keeps_the_first_journal_identity_it_is_given(db: Database) {
    let store = db.store();
    assert_eq!(
        store.audit_journal_database("first").await.unwrap(),
        "first"
    );
    assert_eq!(
        store.audit_journal_database("second").await.unwrap(),
        "first"
    );
}
