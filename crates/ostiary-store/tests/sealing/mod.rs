//! Changing the root secret: keys sealed under a previous secret open, are re-sealed under
//! the current one by compare-and-set (idempotent, racing instances write once), and retired
//! keys past publication lose their private part.

use std::sync::Arc;

use ostiary_core::clock::ManualClock;
use ostiary_core::keys::{KeyManager, KeyManagerError, KeyRing, KeyState};
use ostiary_jwt::Algorithm;
use ostiary_store::Database;
use time::{Duration, OffsetDateTime};

use crate::store_tests;

store_tests!(
    keys_move_to_the_new_root_secret_once,
    an_instance_on_the_old_secret_follows_key_changes_it_cannot_open,
    a_mistyped_new_secret_locks_nobody_out,
    racing_reseals_write_each_key_once,
    retired_keys_past_publication_lose_their_private_part,
);

const OLD: &[u8] = b"the old root secret of the suite, 32+";
const NEW: &[u8] = b"the new root secret of the suite, 32+";

fn manager(
    db: &Database,
    current: &[u8],
    previous: &[&[u8]],
    clock: Arc<ManualClock>,
) -> KeyManager {
    KeyManager::new(db.store(), current, clock, Duration::hours(1))
        .unwrap()
        .with_previous_secrets(previous.iter().copied())
        .unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(OffsetDateTime::now_utc()))
}

async fn keys_move_to_the_new_root_secret_once(db: Database) {
    let clock = clock();
    let old = manager(&db, OLD, &[], clock.clone());
    let es = old.rotate(Algorithm::Es256).await.unwrap();
    let rs = old.rotate(Algorithm::Rs256).await.unwrap();
    let new_only = manager(&db, NEW, &[], clock.clone());
    assert!(matches!(
        new_only.open(&es),
        Err(KeyManagerError::Unopenable(_))
    ));

    let rotating = manager(&db, NEW, &[OLD], clock.clone());
    assert_eq!(
        rotating.open(&es).unwrap().kid(),
        es.kid,
        "opens with the previous secret"
    );
    let done = rotating.reseal().await.unwrap();
    let mut resealed = done.resealed.clone();
    resealed.sort();
    let mut expected = vec![es.kid.clone(), rs.kid.clone()];
    expected.sort();
    assert_eq!(resealed, expected);
    assert!(done.unopenable.is_empty());
    assert!(
        rotating.reseal().await.unwrap().resealed.is_empty(),
        "idempotent"
    );

    for key in new_only.list().await.unwrap() {
        assert_eq!(
            new_only.open(&key).unwrap().kid(),
            key.kid,
            "the new secret alone opens it"
        );
        assert!(
            old.open(&key).is_ok(),
            "its old sealing is kept while the change lasts"
        );
    }
    // A manager given no previous secret finishes the change: the old sealing goes.
    let finished = new_only.reseal().await.unwrap();
    assert_eq!(finished.finished.len(), 2);
    assert!(finished.resealed.is_empty());
    for key in new_only.list().await.unwrap() {
        assert!(key.previous_sealed_private_key.is_empty());
        assert!(
            old.open(&key).is_err(),
            "the old secret alone no longer opens it"
        );
    }
    // A secret that opens nothing is reported, and nothing is changed.
    let stranger = manager(&db, b"a stranger's root secret, 32 chars+", &[], clock);
    let done = stranger.reseal().await.unwrap();
    assert_eq!(done.unopenable.len(), 2);
    assert!(done.resealed.is_empty());
    for key in new_only.list().await.unwrap() {
        new_only.open(&key).unwrap();
    }
}

/// One instance started with a typo in the new secret re-seals every key under the typo;
/// instances given the intended secret still open the keys (their sealing from before the
/// change is kept) and take them back.
async fn a_mistyped_new_secret_locks_nobody_out(db: Database) {
    let clock = clock();
    let key = manager(&db, OLD, &[], clock.clone())
        .rotate(Algorithm::Es256)
        .await
        .unwrap();
    let typo = manager(
        &db,
        b"the new root secret of the suite, 32",
        &[OLD],
        clock.clone(),
    );
    assert_eq!(typo.reseal().await.unwrap().resealed, vec![key.kid.clone()]);
    let intended = manager(&db, NEW, &[OLD], clock.clone());
    let stored = intended.list().await.unwrap().pop().unwrap();
    assert_eq!(intended.open(&stored).unwrap().kid(), key.kid);
    assert_eq!(
        intended.reseal().await.unwrap().resealed,
        vec![key.kid.clone()]
    );
    let new_only = manager(&db, NEW, &[], clock);
    let stored = new_only.list().await.unwrap().pop().unwrap();
    new_only.open(&stored).unwrap();
    assert_eq!(new_only.reseal().await.unwrap().finished, [key.kid]);
}

async fn racing_reseals_write_each_key_once(db: Database) {
    let clock = clock();
    manager(&db, OLD, &[], clock.clone())
        .rotate(Algorithm::Es256)
        .await
        .unwrap();
    let racers = (0..4).map(|_| {
        let rotating = manager(&db, NEW, &[OLD], clock.clone());
        tokio::spawn(async move { rotating.reseal().await.unwrap().resealed.len() })
    });
    let mut written = 0;
    for racer in racers {
        written += racer.await.unwrap();
    }
    assert_eq!(written, 1);
    let new_only = manager(&db, NEW, &[], clock);
    let key = new_only.list().await.unwrap().pop().unwrap();
    new_only.open(&key).unwrap();
}

async fn retired_keys_past_publication_lose_their_private_part(db: Database) {
    let clock = clock();
    let keys = manager(&db, OLD, &[], clock.clone());
    let first = keys.rotate(Algorithm::Es256).await.unwrap();
    keys.rotate(Algorithm::Es256).await.unwrap();
    assert_eq!(keys.reseal().await.unwrap().erased, 0, "still published");
    clock.advance(Duration::hours(1));
    assert_eq!(keys.reseal().await.unwrap().erased, 1);
    assert_eq!(keys.reseal().await.unwrap().erased, 0);
    let listed = keys.list().await.unwrap();
    let retired = listed.iter().find(|k| k.kid == first.kid).unwrap();
    assert_eq!(retired.state, KeyState::Retired);
    assert!(retired.sealed_private_key.is_empty());
    let active = listed.iter().find(|k| k.state == KeyState::Active).unwrap();
    assert!(!active.sealed_private_key.is_empty());
    keys.open(active).unwrap();
}

/// An instance still on the old secret alone, while others rotate under the new one: it
/// publishes and verifies the new key, signs on with the key it holds while that is
/// published, and stops signing with it once it is revoked.
async fn an_instance_on_the_old_secret_follows_key_changes_it_cannot_open(db: Database) {
    let clock = clock();
    let old = manager(&db, OLD, &[], clock.clone());
    let ring = KeyRing::load(
        old,
        "https://id.example.com".into(),
        vec![Algorithm::Es256],
        None,
    )
    .await
    .unwrap();
    let first = ring
        .current()
        .signing_key(Algorithm::Es256)
        .unwrap()
        .kid()
        .to_owned();
    let new = manager(&db, NEW, &[OLD], clock);
    new.reseal().await.unwrap();
    let second = new.rotate(Algorithm::Es256).await.unwrap();
    assert!(ring.refresh().await.unwrap());
    let snapshot = ring.current();
    assert_eq!(snapshot.signing_key(Algorithm::Es256).unwrap().kid(), first);
    assert!(snapshot.jwks_json().contains(&second.kid));
    new.revoke(&first).await.unwrap();
    assert!(ring.refresh().await.unwrap());
    let snapshot = ring.current();
    assert!(
        snapshot.signing_key(Algorithm::Es256).is_none(),
        "never a revoked key"
    );
    assert!(!snapshot.jwks_json().contains(&first));
    assert!(snapshot.jwks_json().contains(&second.kid));
}
