//! `BffSessionStore`: sessions round-trip, one claimant refreshes at a time, updates land only
//! on the version they were made from, and logout by `sid` or `sub` ends exactly those.

use ostiary_core::bff::BffSession;
use ostiary_core::secret::SecretHash;
use ostiary_store::Database;
use time::{Duration, OffsetDateTime};

use crate::store_tests;

store_tests!(
    a_bff_session_round_trips_and_its_id_is_unique,
    one_claimant_refreshes_and_only_from_the_current_version,
    racing_claims_give_the_refresh_to_one,
    logout_by_sid_or_sub_ends_only_those_sessions,
    expired_bff_sessions_are_purged,
);

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn session(id: &str, sub: &str, sid: Option<&str>) -> BffSession {
    BffSession {
        id_hash: SecretHash::of(id),
        sub: sub.into(),
        sid: sid.map(Into::into),
        sealed: vec![0, 1, 2, 255],
        version: 0,
        refresh_claimed_until: None,
        created_at: now(),
        expires_at: now() + Duration::hours(8),
    }
}

async fn a_bff_session_round_trips_and_its_id_is_unique(db: Database) {
    let store = db.store();
    let one = session("one", "alice", Some("sid-1"));
    store.insert_bff_session(&one).await.unwrap();
    assert_eq!(
        store.find_bff_session(&one.id_hash).await.unwrap(),
        Some(one.clone())
    );
    assert!(matches!(
        store.insert_bff_session(&one).await,
        Err(ostiary_core::StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .find_bff_session(&SecretHash::of("two"))
            .await
            .unwrap(),
        None
    );
    assert!(store.delete_bff_session(&one.id_hash).await.unwrap());
    assert!(!store.delete_bff_session(&one.id_hash).await.unwrap());
    assert_eq!(store.find_bff_session(&one.id_hash).await.unwrap(), None);
}

async fn one_claimant_refreshes_and_only_from_the_current_version(db: Database) {
    let store = db.store();
    let one = session("one", "alice", None);
    let id = &one.id_hash;
    store.insert_bff_session(&one).await.unwrap();
    let until = now() + Duration::seconds(15);
    assert!(store.claim_bff_refresh(id, 0, now(), until).await.unwrap());
    let claimed = store.find_bff_session(id).await.unwrap().unwrap();
    assert_eq!(claimed.refresh_claimed_until, Some(until));
    // Held: nobody else, not even at the same version, until the claim runs out.
    assert!(!store.claim_bff_refresh(id, 0, now(), until).await.unwrap());
    assert!(
        store
            .claim_bff_refresh(id, 0, until, until + Duration::seconds(15))
            .await
            .unwrap()
    );
    // The update lands once, from the version it was made from, and frees the claim.
    assert!(store.update_bff_session(id, 0, b"new").await.unwrap());
    assert!(!store.update_bff_session(id, 0, b"stale").await.unwrap());
    let stored = store.find_bff_session(id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.sealed.as_slice()), (1, &b"new"[..]));
    assert_eq!(stored.refresh_claimed_until, None);
    assert!(!store.claim_bff_refresh(id, 0, now(), until).await.unwrap());
    assert!(store.claim_bff_refresh(id, 1, now(), until).await.unwrap());
    // A released claim can be taken again at once; the tokens are unchanged.
    store.release_bff_refresh(id, 1).await.unwrap();
    assert!(store.claim_bff_refresh(id, 1, now(), until).await.unwrap());
    let stored = store.find_bff_session(id).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.sealed.as_slice()), (1, &b"new"[..]));
}

async fn racing_claims_give_the_refresh_to_one(db: Database) {
    let store = db.store();
    let one = session("one", "alice", None);
    store.insert_bff_session(&one).await.unwrap();
    let until = now() + Duration::seconds(15);
    let claims = futures::future::join_all((0..8).map(|_| {
        let store = store.clone();
        let id = one.id_hash.clone();
        async move { store.claim_bff_refresh(&id, 0, now(), until).await.unwrap() }
    }))
    .await;
    assert_eq!(claims.iter().filter(|c| **c).count(), 1);
}

async fn logout_by_sid_or_sub_ends_only_those_sessions(db: Database) {
    let store = db.store();
    for s in [
        session("a1", "alice", Some("sid-a")),
        session("a2", "alice", Some("sid-a")),
        session("a3", "alice", Some("sid-b")),
        session("b1", "bob", Some("sid-c")),
    ] {
        store.insert_bff_session(&s).await.unwrap();
    }
    assert_eq!(store.delete_bff_sessions_by_sid("sid-a").await.unwrap(), 2);
    assert_eq!(store.delete_bff_sessions_by_sid("sid-a").await.unwrap(), 0);
    let alive = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .find_bff_session(&SecretHash::of(id))
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(alive("a3").await && alive("b1").await);
    assert_eq!(store.delete_bff_sessions_by_sub("alice").await.unwrap(), 1);
    assert!(!alive("a3").await);
    assert!(alive("b1").await);
}

async fn expired_bff_sessions_are_purged(db: Database) {
    let store = db.store();
    let mut old = session("old", "alice", None);
    old.expires_at = now() - Duration::seconds(1);
    store.insert_bff_session(&old).await.unwrap();
    store
        .insert_bff_session(&session("live", "alice", None))
        .await
        .unwrap();
    assert_eq!(store.purge_expired_bff_sessions(now()).await.unwrap(), 1);
    assert_eq!(store.find_bff_session(&old.id_hash).await.unwrap(), None);
    assert!(
        store
            .find_bff_session(&SecretHash::of("live"))
            .await
            .unwrap()
            .is_some()
    );
}
