//! `SecondFactorStore`: one TOTP key per user (the first enrolment stands), its codes' steps
//! accepted in increasing order only, re-sealed only from the sealing it was read with, and
//! only for a user who exists.

use ostiary_core::SystemClock;
use ostiary_core::admin;
use ostiary_core::mfa::StoredTotp;
use ostiary_core::password::{Password, PasswordHasher};
use ostiary_core::user::{UserId, Username};
use ostiary_store::Database;
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::store_tests;

store_tests!(
    a_users_key_is_stored_once_and_removed,
    a_reseal_replaces_only_the_sealing_it_read,
    only_a_later_step_is_accepted,
    a_key_needs_its_user,
);

async fn user(db: &Database, name: &str) -> UserId {
    admin::create_user(
        &*db.store(),
        &PasswordHasher::insecure_fast_for_tests(),
        &SystemClock,
        Username::parse(name).unwrap(),
        None,
        Password::new(SecretString::from("a long passphrase")).unwrap(),
    )
    .await
    .unwrap()
    .id
}

fn totp(user_id: UserId, sealed: &[u8]) -> StoredTotp {
    StoredTotp {
        user_id,
        sealed_secret: sealed.to_vec(),
        last_step: 100,
        created_at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    }
}

async fn a_users_key_is_stored_once_and_removed(db: Database) {
    let store = db.store();
    let alice = user(&db, "alice").await;
    let bob = user(&db, "bob").await;
    assert_eq!(store.find_totp(&alice).await.unwrap(), None);
    let first = totp(alice, b"sealed one \x00\xff");
    assert!(store.insert_totp(&first).await.unwrap());
    assert!(
        !store
            .insert_totp(&totp(alice, b"sealed two"))
            .await
            .unwrap(),
        "a second enrolment does not replace the first"
    );
    assert_eq!(store.find_totp(&alice).await.unwrap(), Some(first.clone()));
    assert!(store.insert_totp(&totp(bob, b"bob's")).await.unwrap());
    let listed = store.list_totp().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&first));
    assert!(store.delete_totp(&alice).await.unwrap());
    assert!(!store.delete_totp(&alice).await.unwrap());
    assert_eq!(store.find_totp(&alice).await.unwrap(), None);
    assert!(store.find_totp(&bob).await.unwrap().is_some());
}

async fn a_reseal_replaces_only_the_sealing_it_read(db: Database) {
    let store = db.store();
    let alice = user(&db, "alice").await;
    store.insert_totp(&totp(alice, b"old")).await.unwrap();
    assert!(!store.reseal_totp(&alice, b"stale", b"new").await.unwrap());
    assert!(store.reseal_totp(&alice, b"old", b"new").await.unwrap());
    let stored = store.find_totp(&alice).await.unwrap().unwrap();
    assert_eq!(stored.sealed_secret, b"new");
    assert!(!store.reseal_totp(&alice, b"old", b"newer").await.unwrap());
}

async fn a_key_needs_its_user(db: Database) {
    let store = db.store();
    let alice = user(&db, "alice").await;
    store.insert_totp(&totp(alice, b"sealed")).await.unwrap();
    let nobody = UserId::generate();
    assert!(
        store.insert_totp(&totp(nobody, b"sealed")).await.is_err(),
        "a key needs its user"
    );
    assert_eq!(store.list_totp().await.unwrap().len(), 1);
}

async fn only_a_later_step_is_accepted(db: Database) {
    let store = db.store();
    let alice = user(&db, "alice").await;
    assert!(
        !store.use_totp_step(&alice, 101).await.unwrap(),
        "no key yet"
    );
    store.insert_totp(&totp(alice, b"sealed")).await.unwrap();
    assert!(
        !store.use_totp_step(&alice, 100).await.unwrap(),
        "the step last used"
    );
    assert!(
        !store.use_totp_step(&alice, 99).await.unwrap(),
        "an older one"
    );
    assert!(store.use_totp_step(&alice, 101).await.unwrap());
    assert!(!store.use_totp_step(&alice, 101).await.unwrap(), "once");
    assert!(store.use_totp_step(&alice, 103).await.unwrap());
    assert_eq!(
        store.find_totp(&alice).await.unwrap().unwrap().last_step,
        103
    );
}
