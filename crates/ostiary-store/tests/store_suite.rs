//! The one store test suite, run against SQLite always and PostgreSQL when configured.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test bodies are not #[test] fns

mod audit_trail;
mod bff_sessions;
mod changes;
mod documents;
mod grants;
mod interactions;
mod key_clients;
mod pushed;
mod registrations;
mod sealing;
mod second_factors;
mod support;

use ostiary_core::admin;
use ostiary_core::client::{
    ClientId, ClientRegistration, GrantType, RedirectUri, Scope, UriPolicy,
};
use ostiary_core::keys::{KeyManager, KeyManagerError, KeyState};
use ostiary_core::password::{Password, PasswordHasher};
use ostiary_core::user::{Email, Username};
use ostiary_core::{AdminError, StoreError, SystemClock};
use ostiary_jwt::Algorithm;
use ostiary_store::Database;
use secrecy::SecretString;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

store_tests!(
    migrations_seed_nothing_and_are_idempotent,
    ping_answers,
    confidential_client_round_trips,
    public_client_keeps_no_secret,
    duplicate_client_id_is_a_conflict,
    delete_client_removes_only_that_client,
    rotate_secret_invalidates_the_old_secret,
    client_settings_are_replaced_and_the_rest_kept,
    rotate_secret_keeps_the_old_one_for_an_overlap,
    rotate_secret_refuses_public_clients,
    hostile_strings_are_stored_literally,
    user_round_trips_and_usernames_ignore_case,
    duplicate_username_is_a_conflict,
    disable_user_marks_the_account,
    users_are_listed_in_pages_and_take_new_password_hashes,
    keys_rotate_retire_and_revoke,
    concurrent_activation_keeps_one_active_key_per_algorithm,
    sealed_keys_open_only_with_the_root_secret,
    access_token_revocations_are_idempotent_and_purged,
    a_value_the_database_refuses_is_unstorable_not_a_backend_failure,
    automatic_rotation_happens_only_when_due,
    audit_events_append_and_filter,
    a_large_audit_batch_is_written_whole_and_in_order,
    a_nul_in_an_audit_field_does_not_lose_the_batch,
    client_id_token_alg_round_trips,
);

const POLICY: UriPolicy = UriPolicy {
    allow_insecure_http: false,
};

fn web_app(id: &str) -> ClientRegistration {
    ClientRegistration {
        name: "Web app".into(),
        client_id: Some(ClientId::parse(id).unwrap()),
        redirect_uris: vec![RedirectUri::parse("https://app.example.com/cb", POLICY).unwrap()],
        scopes: vec![
            Scope::parse("openid").unwrap(),
            Scope::parse("orders:read").unwrap(),
        ],
        audiences: vec!["https://api.example.com".parse().unwrap()],
        ..ClientRegistration::default()
    }
}

async fn migrations_seed_nothing_and_are_idempotent(db: Database) {
    db.migrate().await.expect("second migration run is a no-op");
    let store = db.store();
    assert!(store.list_clients().await.unwrap().is_empty());
    let nobody = Username::parse("admin").unwrap();
    assert!(
        store
            .find_user_by_username(&nobody)
            .await
            .unwrap()
            .is_none()
    );
}

async fn ping_answers(db: Database) {
    db.store().ping().await.unwrap();
}

async fn confidential_client_round_trips(db: Database) {
    let store = db.store();
    let registered = admin::register_client(&*store, &SystemClock, web_app("web"))
        .await
        .unwrap();
    let secret = registered
        .secret
        .expect("confidential clients get a secret");
    let found = store
        .find_client(&registered.client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, registered.client);
    assert_eq!(
        found.grant_types,
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    );
    assert!(found.secret_hash.unwrap().verify(secret.expose()));
    assert_eq!(store.list_clients().await.unwrap(), vec![registered.client]);
}

async fn public_client_keeps_no_secret(db: Database) {
    let store = db.store();
    let registered = admin::register_client(
        &*store,
        &SystemClock,
        ClientRegistration {
            public: true,
            ..web_app("spa")
        },
    )
    .await
    .unwrap();
    assert!(registered.secret.is_none());
    let found = store
        .find_client(&registered.client.id)
        .await
        .unwrap()
        .unwrap();
    assert!(found.is_public() && found.secret_hash.is_none());
}

async fn duplicate_client_id_is_a_conflict(db: Database) {
    let store = db.store();
    admin::register_client(&*store, &SystemClock, web_app("dup"))
        .await
        .unwrap();
    let err = admin::register_client(&*store, &SystemClock, web_app("dup"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AdminError::Invalid(ref e) if e.field == "client_id"),
        "{err:?}"
    );
    let first = admin::register_client(&*store, &SystemClock, web_app("dup2"))
        .await
        .unwrap();
    let err = store.insert_client(&first.client).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("client")), "{err:?}");
    assert_eq!(store.list_clients().await.unwrap().len(), 2);
}

async fn delete_client_removes_only_that_client(db: Database) {
    let store = db.store();
    admin::register_client(&*store, &SystemClock, web_app("a"))
        .await
        .unwrap();
    admin::register_client(&*store, &SystemClock, web_app("b"))
        .await
        .unwrap();
    let a = ClientId::parse("a").unwrap();
    admin::delete_client(&*store, &a).await.unwrap();
    assert!(store.find_client(&a).await.unwrap().is_none());
    assert!(matches!(
        admin::delete_client(&*store, &a).await,
        Err(AdminError::NotFound(_))
    ));
    assert_eq!(store.list_clients().await.unwrap().len(), 1);
}

async fn client_settings_are_replaced_and_the_rest_kept(db: Database) {
    let store = db.store();
    let registered = admin::register_client(&*store, &SystemClock, web_app("upd"))
        .await
        .unwrap();
    let mut changed = registered.client.clone();
    changed.name = "Renamed".into();
    changed.redirect_uris = vec![RedirectUri::parse("https://new.example.com/cb", POLICY).unwrap()];
    changed.scopes = vec![Scope::parse("openid").unwrap()];
    changed.audiences = Vec::new();
    changed.skip_consent = true;
    changed.access_token_lifetime = Some(Duration::seconds(60));
    changed.require_pushed_authorization_requests = true;
    assert!(store.update_client_settings(&changed, None).await.unwrap());
    let stored = store.find_client(&changed.id).await.unwrap().unwrap();
    assert_eq!(stored, changed);
    assert_eq!(stored.secret_hash, registered.client.secret_hash);
    let mut unknown = changed.clone();
    unknown.id = ClientId::parse("nope").unwrap();
    assert!(!store.update_client_settings(&unknown, None).await.unwrap());
}

async fn rotate_secret_invalidates_the_old_secret(db: Database) {
    let store = db.store();
    let registered = admin::register_client(&*store, &SystemClock, web_app("rot"))
        .await
        .unwrap();
    let old = registered.secret.unwrap();
    let new = admin::rotate_secret(&*store, &SystemClock, &registered.client.id, None)
        .await
        .unwrap();
    let hash = store
        .find_client(&registered.client.id)
        .await
        .unwrap()
        .unwrap()
        .secret_hash
        .unwrap();
    assert!(hash.verify(new.secret.expose()));
    assert!(!hash.verify(old.expose()));
    let unknown = ClientId::parse("nope").unwrap();
    assert!(matches!(
        admin::rotate_secret(&*store, &SystemClock, &unknown, None).await,
        Err(AdminError::NotFound(_))
    ));
}

async fn rotate_secret_keeps_the_old_one_for_an_overlap(db: Database) {
    let store = db.store();
    let registered = admin::register_client(&*store, &SystemClock, web_app("rot"))
        .await
        .unwrap();
    let first = registered.secret.unwrap();
    let id = registered.client.id;
    let rotated = admin::rotate_secret(&*store, &SystemClock, &id, Some(Duration::hours(2)))
        .await
        .unwrap();
    let until = rotated.previous_expires_at.expect("an overlap");
    let client = store.find_client(&id).await.unwrap().unwrap();
    assert!(client.secret_hash.unwrap().verify(rotated.secret.expose()));
    let previous = client.previous_secret.expect("the old secret is kept");
    assert!(previous.hash.verify(first.expose()));
    assert_eq!(previous.expires_at, until);

    // The next rotation without an overlap keeps nothing; with one, only the latest secret.
    admin::rotate_secret(&*store, &SystemClock, &id, None)
        .await
        .unwrap();
    let client = store.find_client(&id).await.unwrap().unwrap();
    assert_eq!(client.previous_secret, None);
    for bad in [Duration::days(8), Duration::ZERO, Duration::seconds(-5)] {
        assert!(matches!(
            admin::rotate_secret(&*store, &SystemClock, &id, Some(bad)).await,
            Err(AdminError::Invalid(_))
        ));
    }
}

async fn rotate_secret_refuses_public_clients(db: Database) {
    let store = db.store();
    let spa = ClientRegistration {
        public: true,
        ..web_app("spa")
    };
    let registered = admin::register_client(&*store, &SystemClock, spa)
        .await
        .unwrap();
    assert!(
        admin::rotate_secret(&*store, &SystemClock, &registered.client.id, None)
            .await
            .is_err()
    );
    // Even a direct store call cannot give a public client a secret.
    let sneaky = ostiary_core::secret::ClientSecret::generate().hash();
    assert!(
        !store
            .update_client_secret(&registered.client.id, &sneaky, None)
            .await
            .unwrap()
    );
    let found = store
        .find_client(&registered.client.id)
        .await
        .unwrap()
        .unwrap();
    assert!(found.secret_hash.is_none());
}

async fn hostile_strings_are_stored_literally(db: Database) {
    let store = db.store();
    let name = "Robert'); DROP TABLE clients;-- \u{1F512} \"quoted\"";
    let registration = ClientRegistration {
        name: name.into(),
        ..web_app("bobby")
    };
    let registered = admin::register_client(&*store, &SystemClock, registration)
        .await
        .unwrap();
    let found = store
        .find_client(&registered.client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.name, name);
    assert_eq!(store.list_clients().await.unwrap().len(), 1);
}

async fn user_round_trips_and_usernames_ignore_case(db: Database) {
    let store = db.store();
    let hasher = PasswordHasher::insecure_fast_for_tests();
    let created = admin::create_user(
        &*store,
        &hasher,
        &SystemClock,
        Username::parse("Alice").unwrap(),
        Some(Email::parse("alice@example.com").unwrap()),
        Password::new(SecretString::from("correct horse battery")).unwrap(),
    )
    .await
    .unwrap();
    let by_name = store
        .find_user_by_username(&Username::parse("ALICE").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name, created);
    assert_eq!(
        store.find_user(&created.id).await.unwrap().unwrap(),
        created
    );
    assert!(hasher.verify("correct horse battery", &by_name.password_hash));
    assert!(!by_name.password_hash.as_str().contains("correct horse"));
    assert!(!by_name.disabled);
}

async fn duplicate_username_is_a_conflict(db: Database) {
    let store = db.store();
    let hasher = PasswordHasher::insecure_fast_for_tests();
    for (name, expect_ok) in [("bob", true), ("BOB", false)] {
        let result = admin::create_user(
            &*store,
            &hasher,
            &SystemClock,
            Username::parse(name).unwrap(),
            None,
            Password::new(SecretString::from("password one")).unwrap(),
        )
        .await;
        assert_eq!(result.is_ok(), expect_ok, "{name}: {result:?}");
    }
}

async fn users_are_listed_in_pages_and_take_new_password_hashes(db: Database) {
    let store = db.store();
    let hasher = PasswordHasher::insecure_fast_for_tests();
    for name in ["mallory", "bob", "alice"] {
        admin::create_user(
            &*store,
            &hasher,
            &SystemClock,
            Username::parse(name).unwrap(),
            None,
            Password::new(SecretString::from("password one")).unwrap(),
        )
        .await
        .unwrap();
    }
    let names = |users: Vec<ostiary_core::user::User>| -> Vec<String> {
        users
            .into_iter()
            .map(|u| u.username.as_str().to_owned())
            .collect()
    };
    assert_eq!(
        names(store.list_users(None, 10).await.unwrap()),
        ["alice", "bob", "mallory"]
    );
    let bob = Username::parse("bob").unwrap();
    assert_eq!(
        names(store.list_users(Some(&bob), 1).await.unwrap()),
        ["mallory"]
    );
    let user = store.find_user_by_username(&bob).await.unwrap().unwrap();
    let new_hash = hasher
        .hash(&Password::new(SecretString::from("password two")).unwrap())
        .unwrap();
    assert!(store.set_user_password(&user.id, &new_hash).await.unwrap());
    let stored = store.find_user(&user.id).await.unwrap().unwrap();
    assert!(hasher.verify("password two", &stored.password_hash));
    assert!(
        !store
            .set_user_password(&ostiary_core::user::UserId::generate(), &new_hash)
            .await
            .unwrap(),
        "no such user"
    );
}

async fn disable_user_marks_the_account(db: Database) {
    let store = db.store();
    let hasher = PasswordHasher::insecure_fast_for_tests();
    let carol = Username::parse("carol").unwrap();
    let created = admin::create_user(
        &*store,
        &hasher,
        &SystemClock,
        carol.clone(),
        None,
        Password::new(SecretString::from("password one")).unwrap(),
    )
    .await
    .unwrap();
    admin::disable_user(&*store, &SystemClock, &carol)
        .await
        .unwrap();
    assert!(
        store
            .find_user(&created.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    let nobody = Username::parse("nobody").unwrap();
    assert!(matches!(
        admin::disable_user(&*store, &SystemClock, &nobody).await,
        Err(AdminError::NotFound(_))
    ));
}

fn key_manager(db: &Database, secret: &[u8]) -> KeyManager {
    KeyManager::new(
        db.store(),
        secret,
        Arc::new(SystemClock),
        Duration::hours(1),
    )
    .unwrap()
}

const ROOT: &[u8] = b"root secret for the store suite, 32+";

async fn keys_rotate_retire_and_revoke(db: Database) {
    let keys = key_manager(&db, ROOT);
    keys.ensure_active(&[Algorithm::Es256, Algorithm::Rs256])
        .await
        .unwrap();
    keys.ensure_active(&[Algorithm::Es256]).await.unwrap();
    let listed = keys.list().await.unwrap();
    assert_eq!(listed.len(), 2, "ensure_active is idempotent");
    let first = listed
        .iter()
        .find(|k| k.alg == Algorithm::Es256)
        .unwrap()
        .clone();

    let second = keys.rotate(Algorithm::Es256).await.unwrap();
    let listed = keys.list().await.unwrap();
    let old = listed.iter().find(|k| k.kid == first.kid).unwrap();
    assert_eq!(old.state, KeyState::Retired);
    let until = old.publish_until.unwrap();
    assert!(until > OffsetDateTime::now_utc() + Duration::minutes(59));
    assert!(old.verifies_at(OffsetDateTime::now_utc()));
    assert!(!old.verifies_at(until + Duration::seconds(1)));
    assert_eq!(
        listed.iter().find(|k| k.kid == second.kid).unwrap().state,
        KeyState::Active
    );
    keys.open(&second).unwrap();

    keys.revoke(&first.kid).await.unwrap();
    let revoked = keys
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.kid == first.kid)
        .unwrap();
    assert_eq!(revoked.state, KeyState::Revoked);
    assert!(revoked.sealed_private_key.is_empty(), "private part erased");
    assert!(!revoked.verifies_at(OffsetDateTime::now_utc()));
    assert!(matches!(
        keys.revoke("nope").await,
        Err(KeyManagerError::NotFound(_))
    ));
}

async fn concurrent_activation_keeps_one_active_key_per_algorithm(db: Database) {
    let a = key_manager(&db, ROOT);
    let b = key_manager(&db, ROOT);
    let (ra, rb) = tokio::join!(
        a.ensure_active(&[Algorithm::EdDsa]),
        b.ensure_active(&[Algorithm::EdDsa])
    );
    ra.unwrap();
    rb.unwrap();
    let current = a.list().await.unwrap();
    let active: Vec<_> = current
        .iter()
        .filter(|k| k.state == KeyState::Active)
        .collect();
    assert_eq!(active.len(), 1, "{current:?}");
    // A rotation based on a stale view of the active key is refused, not doubled.
    let stale = active[0].kid.clone();
    a.rotate(Algorithm::EdDsa).await.unwrap();
    let store = db.store();
    let extra = b
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.kid != stale)
        .unwrap();
    let mut twin = extra.clone();
    twin.kid = "another".into();
    let err = store
        .activate_signing_key(&twin, Some(&stale), OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

async fn sealed_keys_open_only_with_the_root_secret(db: Database) {
    let keys = key_manager(&db, ROOT);
    let key = keys.rotate(Algorithm::Rs256).await.unwrap();
    let stored = keys.list().await.unwrap().pop().unwrap();
    assert_eq!(stored.public_jwk, key.public_jwk);
    let opened = keys.open(&stored).unwrap();
    assert_eq!(opened.kid(), key.kid);
    let other = key_manager(&db, b"a different root secret, also 32+!");
    assert!(matches!(
        other.open(&stored),
        Err(KeyManagerError::Unopenable(_))
    ));
}

async fn access_token_revocations_are_idempotent_and_purged(db: Database) {
    let store = db.store();
    let client = ClientId::parse("svc").unwrap();
    let now = OffsetDateTime::now_utc();
    store
        .revoke_access_token("old", &client, now - Duration::minutes(1))
        .await
        .unwrap();
    store
        .revoke_access_token("live", &client, now + Duration::minutes(5))
        .await
        .unwrap();
    store
        .revoke_access_token("live", &client, now + Duration::minutes(5))
        .await
        .unwrap();
    assert!(store.is_access_token_revoked("live", 0).await.unwrap());
    assert!(!store.is_access_token_revoked("other", 0).await.unwrap());
    assert_eq!(store.purge_expired_revocations(now).await.unwrap(), 1);
    assert!(!store.is_access_token_revoked("old", 0).await.unwrap());
    assert!(store.is_access_token_revoked("live", 0).await.unwrap());
}

async fn automatic_rotation_happens_only_when_due(db: Database) {
    let clock = Arc::new(ostiary_core::clock::ManualClock::new(
        OffsetDateTime::now_utc(),
    ));
    let keys = KeyManager::new(db.store(), ROOT, clock.clone(), Duration::hours(1)).unwrap();
    keys.ensure_active(&[Algorithm::Es256]).await.unwrap();
    let max_age = Duration::days(30);
    assert!(
        !keys
            .rotate_if_older_than(Algorithm::Es256, max_age)
            .await
            .unwrap()
    );
    clock.advance(Duration::days(29));
    assert!(
        !keys
            .rotate_if_older_than(Algorithm::Es256, max_age)
            .await
            .unwrap()
    );
    clock.advance(Duration::days(2));
    assert!(
        keys.rotate_if_older_than(Algorithm::Es256, max_age)
            .await
            .unwrap()
    );
    assert!(
        !keys
            .rotate_if_older_than(Algorithm::Es256, max_age)
            .await
            .unwrap(),
        "fresh key"
    );
    let listed = keys.list().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .count(),
        1
    );
    assert_eq!(
        listed
            .iter()
            .filter(|k| k.state == KeyState::Retired)
            .count(),
        1
    );
}

async fn a_large_audit_batch_is_written_whole_and_in_order(db: Database) {
    use ostiary_core::audit::{AuditEvent, AuditEventType};
    let store = db.store();
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    // Text that an encoding of the batch could mangle: quotes, escapes, control characters,
    // non-ASCII, and a string that looks like a number must come back as the same string.
    let awkward = [
        "42",
        "a\"b",
        "back\\slash",
        "tab\tnew\nline",
        "é✓ 😀",
        "[1,2]",
        "null",
        "\\N",
        "\\.",
        "cr\rend\\",
    ];
    let events: Vec<AuditEvent> = (0..2100)
        .map(|i| {
            AuditEvent::new(t0, AuditEventType::TokenIssued, "client:svc")
                .subject(format!("s{i}"))
                .failed(awkward[i % awkward.len()])
        })
        .collect();
    store.append_audit_events(&events, None).await.unwrap();
    let all = newest_events(5000);
    assert_eq!(listed(&*store, &all).await.unwrap(), events);
}

/// The events `query` lists, without their ids.
async fn listed(
    store: &dyn ostiary_core::Store,
    query: &ostiary_core::audit::AuditQuery,
) -> Result<Vec<ostiary_core::audit::AuditEvent>, ostiary_core::StoreError> {
    let numbered = store.list_audit_events(query).await?;
    Ok(numbered.into_iter().map(|(_, event)| event).collect())
}

/// The newest `limit` audit events, unfiltered.
fn newest_events(limit: u32) -> ostiary_core::audit::AuditQuery {
    ostiary_core::audit::AuditQuery {
        since: None,
        event: None,
        subject: None,
        before: None,
        limit,
    }
}

/// PostgreSQL text cannot hold NUL. A value carrying one is stored with U+FFFD in its place
/// rather than failing the statement, which would lose every other event of the batch.
async fn a_nul_in_an_audit_field_does_not_lose_the_batch(db: Database) {
    use ostiary_core::audit::{AuditEvent, AuditEventType};
    let store = db.store();
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let events = [
        AuditEvent::new(t0, AuditEventType::LoginSucceeded, "user:u1").subject("u1"),
        AuditEvent::new(t0, AuditEventType::LoginFailed, "anonymous").subject("bad\0id"),
        AuditEvent::new(t0, AuditEventType::TokenIssued, "client:svc").subject("u2"),
    ];
    store.append_audit_events(&events, None).await.unwrap();
    let all = newest_events(10);
    let stored = listed(&*store, &all).await.unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0], events[0]);
    assert_eq!(stored[2], events[2]);
    let kept = stored[1].subject.as_deref().unwrap();
    assert!(kept.starts_with("bad") && kept.ends_with("id"), "{kept:?}");
}

async fn audit_events_append_and_filter(db: Database) {
    use ostiary_core::audit::{AuditEvent, AuditEventType, AuditQuery, Outcome};
    let store = db.store();
    let t0 = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let events = vec![
        AuditEvent::new(
            t0 - Duration::hours(1),
            AuditEventType::ClientCreated,
            "cli",
        )
        .client("svc"),
        AuditEvent::new(t0, AuditEventType::TokenIssued, "client:svc")
            .client("svc")
            .subject("svc")
            .source_ip(Some("127.0.0.1".into())),
        AuditEvent::new(t0, AuditEventType::ClientAuthenticationFailed, "client:svc")
            .client("svc")
            .failed("bad_secret"),
    ];
    store.append_audit_events(&events, None).await.unwrap();
    let all = newest_events(100);
    assert_eq!(listed(&*store, &all).await.unwrap(), events);
    let recent = AuditQuery {
        since: Some(t0),
        ..all.clone()
    };
    assert_eq!(listed(&*store, &recent).await.unwrap().len(), 2);
    let failed = AuditQuery {
        event: Some(AuditEventType::ClientAuthenticationFailed),
        ..all.clone()
    };
    let found = listed(&*store, &failed).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].outcome, Outcome::Failure);
    assert_eq!(found[0].reason.as_deref(), Some("bad_secret"));
    let by_subject = AuditQuery {
        subject: Some("svc".into()),
        ..all.clone()
    };
    assert_eq!(
        listed(&*store, &by_subject).await.unwrap(),
        vec![events[1].clone()]
    );
    let newest = AuditQuery {
        limit: 1,
        ..all.clone()
    };
    assert_eq!(
        listed(&*store, &newest).await.unwrap(),
        vec![events[2].clone()],
        "newest, oldest first"
    );

    // Paging back: each page's first id is where the next (older) page ends.
    let page = AuditQuery { limit: 2, ..all };
    let newer = store.list_audit_events(&page).await.unwrap();
    assert_eq!(newer.len(), 2);
    assert!(newer[0].0 < newer[1].0, "ids grow, oldest first");
    assert_eq!(newer[1].1, events[2]);
    let older = AuditQuery {
        before: Some(newer[0].0),
        ..page.clone()
    };
    let older = store.list_audit_events(&older).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].1, events[0]);
    let none = AuditQuery {
        before: Some(older[0].0),
        ..page
    };
    assert!(store.list_audit_events(&none).await.unwrap().is_empty());
}

async fn client_id_token_alg_round_trips(db: Database) {
    let store = db.store();
    let default = admin::register_client(&*store, &SystemClock, web_app("plain"))
        .await
        .unwrap();
    assert_eq!(default.client.id_token_alg, Algorithm::Rs256);
    for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let id = format!("alg-{}", alg.as_str().to_lowercase());
        let registration = ClientRegistration {
            id_token_alg: Some(alg),
            ..web_app(&id)
        };
        let registered = admin::register_client(&*store, &SystemClock, registration)
            .await
            .unwrap();
        let found = store
            .find_client(&registered.client.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id_token_alg, alg);
        assert_eq!(found, registered.client);
    }
}

/// PostgreSQL text cannot hold a NUL (SQLSTATE 22021, a data exception): that is the input's
/// fault, reported as `Unstorable` so the protocol layer answers `invalid_request` rather
/// than a passing fault. SQLite stores it; the server refuses such values before either.
async fn a_value_the_database_refuses_is_unstorable_not_a_backend_failure(db: Database) {
    let store = db.store();
    let client = ClientId::parse("svc").unwrap();
    let result = store
        .revoke_access_token(
            "a\0b",
            &client,
            OffsetDateTime::now_utc() + Duration::minutes(5),
        )
        .await;
    match db {
        Database::Postgres(_) => assert!(
            matches!(result, Err(StoreError::Unstorable(_))),
            "{result:?}"
        ),
        Database::Sqlite(_) => assert!(result.is_ok(), "{result:?}"),
    }
}
