//! `InteractionStore`: found by id hash only, replaced while it exists, removed once, purged
//! after expiry.

use ostiary_core::interaction::StoredInteraction;
use ostiary_core::secret::SecretHash;
use ostiary_store::Database;
use time::{Duration, OffsetDateTime};

use crate::store_tests;

store_tests!(
    interactions_insert_find_update_delete,
    an_interaction_is_removed_once,
    expired_interactions_are_purged,
);

fn interaction(id: &str, expires_at: OffsetDateTime) -> StoredInteraction {
    StoredInteraction {
        id_hash: SecretHash::of(id),
        binding_hash: SecretHash::of("csrf cookie"),
        state: r#"{"step":"login"}"#.to_owned(),
        expires_at,
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

async fn interactions_insert_find_update_delete(db: Database) {
    let store = db.store();
    let mut stored = interaction("one", now() + Duration::minutes(10));
    store.insert_interaction(&stored).await.unwrap();
    assert_eq!(
        store
            .find_interaction(&SecretHash::of("one"))
            .await
            .unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        store
            .find_interaction(&SecretHash::of("two"))
            .await
            .unwrap(),
        None
    );
    stored.state = r#"{"step":"consent"}"#.to_owned();
    stored.expires_at = now() + Duration::minutes(20);
    assert!(store.update_interaction(&stored).await.unwrap());
    let found = store.find_interaction(&stored.id_hash).await.unwrap();
    assert_eq!(found, Some(stored.clone()));
    assert!(store.delete_interaction(&stored.id_hash).await.unwrap());
    assert!(!store.update_interaction(&stored).await.unwrap());
    assert_eq!(store.find_interaction(&stored.id_hash).await.unwrap(), None);
}

async fn an_interaction_is_removed_once(db: Database) {
    let store = db.store();
    let stored = interaction("once", now() + Duration::minutes(10));
    store.insert_interaction(&stored).await.unwrap();
    let (a, b) = tokio::join!(
        store.delete_interaction(&stored.id_hash),
        store.delete_interaction(&stored.id_hash)
    );
    assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|x| **x).count(), 1);
}

async fn expired_interactions_are_purged(db: Database) {
    let store = db.store();
    store
        .insert_interaction(&interaction("old", now() - Duration::seconds(1)))
        .await
        .unwrap();
    store
        .insert_interaction(&interaction("live", now() + Duration::seconds(1)))
        .await
        .unwrap();
    assert_eq!(store.purge_expired_interactions(now()).await.unwrap(), 1);
    assert!(
        store
            .find_interaction(&SecretHash::of("old"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_interaction(&SecretHash::of("live"))
            .await
            .unwrap()
            .is_some()
    );
}
