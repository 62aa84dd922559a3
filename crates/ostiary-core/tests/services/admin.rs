//! The Admin service: each operation does what it says to the store and records its own
//! audit event (type, actor, subject, client), and a refused one records nothing.

use std::sync::Arc;

use ostiary_core::admin::{Actor, Admin, CreateUser};
use ostiary_core::audit::{AuditEvent, AuditEventType, Outcome};
use ostiary_core::client::{
    ClientId, ClientRegistration, GrantType, RedirectUri, Scope, UriPolicy,
};
use ostiary_core::grant::{AuthorizationCode, Consent, Grant, RefreshToken};
use ostiary_core::keys::{KeyManager, KeyState};
use ostiary_core::password::{Argon2Params, Password, PasswordHasher};
use ostiary_core::secret::SecretHash;
use ostiary_core::session::Session;
use ostiary_core::user::{User, Username};
use ostiary_core::{AdminError, Clock, Store, SystemClock};
use ostiary_jwt::Algorithm;
use ostiary_store::Database;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

use crate::support::Recorded;

struct Bench {
    admin: Admin,
    store: Arc<dyn Store>,
    audit: Arc<Recorded>,
    _dir: tempfile::TempDir,
}

/// An Admin over a fresh SQLite database, with every part: hasher and key manager.
async fn bench() -> Bench {
    let (store, audit, admin, dir) = bare().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let keys = KeyManager::new(
        store.clone(),
        b"a root secret of more than thirty-two bytes",
        clock,
        Duration::days(1),
    )
    .unwrap();
    let hasher = PasswordHasher::new(Argon2Params::default()).unwrap();
    Bench {
        admin: admin.with_hasher(hasher).with_keys(keys),
        store,
        audit,
        _dir: dir,
    }
}

/// An Admin built with neither hasher nor key manager, as a front end without secrets has,
/// over a fresh SQLite file in a directory that lives as long as the test keeps it.
/// (A file, not `sqlite::memory:`: opening that leaves an empty `file:sqlx-in-memory-N` file
/// in the working directory.)
async fn bare() -> (Arc<dyn Store>, Arc<Recorded>, Admin, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("admin.db").display());
    let db = Database::open(&url, 2).await.unwrap();
    db.migrate().await.unwrap();
    let store = db.store();
    let audit = Arc::new(Recorded::default());
    let admin = Admin::new(store.clone(), audit.clone(), Arc::new(SystemClock));
    (store, audit, admin, dir)
}

fn machine(id: &str) -> ClientRegistration {
    ClientRegistration {
        name: format!("Client {id}"),
        client_id: Some(ClientId::parse(id).unwrap()),
        grant_types: vec![GrantType::ClientCredentials],
        ..ClientRegistration::default()
    }
}

fn web(id: &str) -> ClientRegistration {
    let uri = RedirectUri::parse(
        "https://app.example.com/cb",
        UriPolicy {
            allow_insecure_http: false,
        },
    )
    .unwrap();
    ClientRegistration {
        name: format!("Web {id}"),
        client_id: Some(ClientId::parse(id).unwrap()),
        redirect_uris: vec![uri],
        scopes: vec![Scope::parse("openid").unwrap()],
        ..ClientRegistration::default()
    }
}

async fn user(admin: &Admin, name: &str) -> User {
    let request = CreateUser {
        username: Username::parse(name).unwrap(),
        email: None,
        password: Password::new(SecretString::from("a long enough password")).unwrap(),
    };
    admin.create_user(&Actor::Cli, request).await.unwrap()
}

fn now() -> OffsetDateTime {
    SystemClock.now_seconds()
}

fn session(user: &User, sid: &str) -> Session {
    Session {
        id_hash: SecretHash::of(&format!("cookie-{sid}")),
        sid: sid.into(),
        user_id: user.id,
        auth_time: now(),
        mfa: false,
        last_seen: now(),
        expires_at: now() + Duration::hours(8),
    }
}

/// A redeemed code in session `sid`: a live grant `grant_id` with one refresh token.
async fn issue(store: &dyn Store, client: &str, user: &User, sid: &str, grant_id: &str) {
    let at = now();
    let code = AuthorizationCode {
        code_hash: SecretHash::of(&format!("code-{grant_id}")),
        grant_id: grant_id.into(),
        client_id: ClientId::parse(client).unwrap(),
        user_id: user.id,
        sid: sid.into(),
        redirect_uri: "https://app.example.com/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        nonce: None,
        scopes: vec![Scope::parse("openid").unwrap()],
        resources: vec![],
        auth_time: at,
        expires_at: at + Duration::seconds(60),
        consumed_at: None,
        dpop_jkt: None,
        mfa: false,
    };
    assert!(store.insert_code(&code).await.unwrap());
    let grant = Grant {
        grant_id: grant_id.into(),
        client_id: code.client_id.clone(),
        user_id: user.id,
        sid: sid.into(),
        offline: true,
        scopes: code.scopes.clone(),
        audiences: vec![],
        auth_time: at,
        created_at: at,
        access_jti: format!("at-{grant_id}"),
        access_expires_at: at + Duration::minutes(5),
        revoked_at: None,
        dpop_jkt: None,
        mfa: false,
    };
    let refresh = RefreshToken {
        token_hash: SecretHash::of(&format!("rt-{grant_id}")),
        grant_id: grant_id.into(),
        issued_at: at,
        expires_at: at + Duration::days(30),
        access_jti: format!("at-{grant_id}-0"),
        access_expires_at: at + Duration::minutes(5),
    };
    let redeemed = store
        .redeem_code(&code.code_hash, at, &grant, Some(&refresh))
        .await
        .unwrap();
    assert!(redeemed);
}

async fn grant_revoked(store: &dyn Store, grant_id: &str) -> bool {
    let grant = store.find_grant(grant_id).await.unwrap().unwrap();
    grant.revoked_at.is_some()
}

/// Asserts one successful event of the CLI: its type, subject and client.
fn assert_cli_event(
    event: &AuditEvent,
    kind: AuditEventType,
    subject: Option<&str>,
    client: Option<&str>,
) {
    assert_eq!(event.event, kind, "{event:?}");
    assert_eq!(event.actor, "cli", "{event:?}");
    assert_eq!(event.subject.as_deref(), subject, "{event:?}");
    assert_eq!(event.client_id.as_deref(), client, "{event:?}");
    assert_eq!(event.outcome, Outcome::Success, "{event:?}");
    assert_eq!(event.reason, None, "{event:?}");
    assert_eq!(event.source_ip, None, "{event:?}");
    assert_eq!(event.at.nanosecond(), 0, "stored to the second");
}

#[tokio::test]
async fn creating_a_client_records_client_created_by_the_cli() {
    let b = bench().await;
    let registered = b
        .admin
        .create_client(&Actor::Cli, machine("billing"))
        .await
        .unwrap();
    let secret = registered
        .secret
        .expect("a confidential client gets a secret");
    let stored = b.admin.list_clients().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id.as_str(), "billing");
    assert!(
        stored[0]
            .secret_hash
            .as_ref()
            .unwrap()
            .verify(secret.expose())
    );
    let events = b.audit.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_cli_event(
        &events[0],
        AuditEventType::ClientCreated,
        Some("billing"),
        Some("billing"),
    );
}

#[tokio::test]
async fn a_refused_registration_stores_and_records_nothing() {
    let b = bench().await;
    let mut public_machine = machine("spa");
    public_machine.public = true;
    let refused = b.admin.create_client(&Actor::Cli, public_machine).await;
    assert!(
        matches!(&refused, Err(AdminError::Invalid(e)) if e.field == "grant_type"),
        "{refused:?}"
    );
    b.admin
        .create_client(&Actor::Cli, machine("dup"))
        .await
        .unwrap();
    let taken = b.admin.create_client(&Actor::Cli, machine("dup")).await;
    assert!(
        matches!(&taken, Err(AdminError::Invalid(e)) if e.reason.contains("already registered")),
        "{taken:?}"
    );
    assert_eq!(b.admin.list_clients().await.unwrap().len(), 1);
    assert_eq!(b.audit.events().len(), 1, "only the one registration");
}

#[tokio::test]
async fn rotating_a_secret_makes_the_old_one_fail() {
    let b = bench().await;
    let old = b
        .admin
        .create_client(&Actor::Cli, machine("svc"))
        .await
        .unwrap()
        .secret
        .unwrap();
    let id = ClientId::parse("svc").unwrap();
    let new = b
        .admin
        .rotate_client_secret(&Actor::Cli, &id, None)
        .await
        .unwrap();
    let stored = b.store.find_client(&id).await.unwrap().unwrap();
    let hash = stored.secret_hash.unwrap();
    assert!(!hash.verify(old.expose()), "the old secret still works");
    assert!(hash.verify(new.secret.expose()));
    let events = b.audit.events();
    assert_eq!(events.len(), 2);
    assert_cli_event(
        &events[1],
        AuditEventType::ClientSecretRotated,
        Some("svc"),
        Some("svc"),
    );

    let mut spa = web("spa");
    spa.public = true;
    b.admin.create_client(&Actor::Cli, spa).await.unwrap();
    let spa = ClientId::parse("spa").unwrap();
    let refused = b.admin.rotate_client_secret(&Actor::Cli, &spa, None).await;
    assert!(
        matches!(refused, Err(AdminError::Invalid(_))),
        "{refused:?}"
    );
    let unknown = ClientId::parse("nobody").unwrap();
    let missing = b
        .admin
        .rotate_client_secret(&Actor::Cli, &unknown, None)
        .await;
    assert!(
        matches!(&missing, Err(AdminError::NotFound(m)) if m == "client nobody not found"),
        "{missing:?}"
    );
    assert_eq!(b.audit.events().len(), 3, "no event for a refused rotation");
}

#[tokio::test]
async fn deleting_a_client_records_client_deleted_and_an_unknown_one_is_not_found() {
    let b = bench().await;
    b.admin
        .create_client(&Actor::Cli, machine("a"))
        .await
        .unwrap();
    b.admin
        .create_client(&Actor::Cli, machine("b"))
        .await
        .unwrap();
    let a = ClientId::parse("a").unwrap();
    b.admin.delete_client(&Actor::Cli, &a).await.unwrap();
    let left: Vec<_> = b.admin.list_clients().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id.as_str(), "b");
    let again = b.admin.delete_client(&Actor::Cli, &a).await;
    assert!(
        matches!(&again, Err(AdminError::NotFound(m)) if m == "client a not found"),
        "{again:?}"
    );
    let events = b.audit.events();
    assert_eq!(events.len(), 3);
    assert_cli_event(
        &events[2],
        AuditEventType::ClientDeleted,
        Some("a"),
        Some("a"),
    );
}

#[tokio::test]
async fn creating_a_user_records_user_created_with_the_user_id() {
    let b = bench().await;
    let alice = user(&b.admin, "Alice").await;
    assert_eq!(alice.username.as_str(), "alice");
    let stored = b
        .store
        .find_user_by_username(&alice.username)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.id, alice.id);
    assert!(stored.password_hash.as_str().starts_with("$argon2id$"));
    let taken = b
        .admin
        .create_user(
            &Actor::Cli,
            CreateUser {
                username: Username::parse("ALICE").unwrap(),
                email: None,
                password: Password::new(SecretString::from("another password")).unwrap(),
            },
        )
        .await;
    assert!(
        matches!(&taken, Err(AdminError::Invalid(e)) if e.reason == "alice is already taken"),
        "{taken:?}"
    );
    let events = b.audit.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let id = alice.id.to_string();
    assert_cli_event(&events[0], AuditEventType::UserCreated, Some(&id), None);
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_refresh_tokens() {
    let b = bench().await;
    b.admin
        .create_client(&Actor::Cli, web("web"))
        .await
        .unwrap();
    let alice = user(&b.admin, "alice").await;
    let bob = user(&b.admin, "bob").await;
    let (sa, sb) = (session(&alice, "s-a"), session(&bob, "s-b"));
    b.store.insert_session(&sa).await.unwrap();
    b.store.insert_session(&sb).await.unwrap();
    issue(&*b.store, "web", &alice, "s-a", "alice-grant").await;
    issue(&*b.store, "web", &bob, "s-b", "bob-grant").await;

    let disabled = b
        .admin
        .disable_user(&Actor::Cli, &alice.username)
        .await
        .unwrap();
    assert!(disabled.disabled);
    let stored = b.store.find_user(&alice.id).await.unwrap().unwrap();
    assert!(stored.disabled);
    assert_eq!(b.store.find_session(&sa.id_hash).await.unwrap(), None);
    assert!(grant_revoked(&*b.store, "alice-grant").await);
    let rotated = b
        .store
        .rotate_refresh_token(
            &SecretHash::of("rt-alice-grant"),
            now(),
            b"answer",
            &RefreshToken {
                token_hash: SecretHash::of("rt-alice-grant-1"),
                grant_id: "alice-grant".into(),
                issued_at: now(),
                expires_at: now() + Duration::days(30),
                access_jti: "at-alice-grant-1".into(),
                access_expires_at: now() + Duration::minutes(5),
            },
        )
        .await
        .unwrap();
    assert!(!rotated, "the refresh token still rotates");
    assert!(
        b.store
            .is_access_token_revoked("at-alice-grant-0", i64::MAX)
            .await
            .unwrap(),
        "the access token issued with the refresh token is revoked too"
    );
    // Bob is untouched.
    assert!(b.store.find_session(&sb.id_hash).await.unwrap().is_some());
    assert!(!grant_revoked(&*b.store, "bob-grant").await);

    let events = b.audit.events();
    let last = events.last().unwrap();
    let id = alice.id.to_string();
    assert_cli_event(last, AuditEventType::UserDisabled, Some(&id), None);
    let nobody = Username::parse("nobody").unwrap();
    let missing = b.admin.disable_user(&Actor::Cli, &nobody).await;
    assert!(
        matches!(&missing, Err(AdminError::NotFound(m)) if m == "user nobody not found"),
        "{missing:?}"
    );
    assert_eq!(b.audit.events().len(), events.len());
}

#[tokio::test]
async fn revoking_a_consent_records_it_with_the_client_and_a_missing_one_records_nothing() {
    let b = bench().await;
    b.admin
        .create_client(&Actor::Cli, web("web"))
        .await
        .unwrap();
    let erin = user(&b.admin, "erin").await;
    let web_id = ClientId::parse("web").unwrap();
    b.store
        .save_consent(&Consent {
            user_id: erin.id,
            client_id: web_id.clone(),
            scopes: vec![Scope::parse("openid").unwrap()],
            granted_at: now(),
        })
        .await
        .unwrap();
    b.store
        .insert_session(&session(&erin, "s-e"))
        .await
        .unwrap();
    issue(&*b.store, "web", &erin, "s-e", "erin-grant").await;
    let (listed_user, consents) = b.admin.list_consents(&erin.username).await.unwrap();
    assert_eq!(listed_user.id, erin.id);
    assert_eq!(consents.len(), 1);

    let before = b.audit.events().len();
    b.admin
        .revoke_consent(&Actor::Cli, &erin.username, &web_id)
        .await
        .unwrap();
    assert!(
        b.admin
            .list_consents(&erin.username)
            .await
            .unwrap()
            .1
            .is_empty()
    );
    assert!(grant_revoked(&*b.store, "erin-grant").await);
    let events = b.audit.events();
    assert_eq!(events.len(), before + 1);
    let id = erin.id.to_string();
    assert_cli_event(
        &events[before],
        AuditEventType::ConsentRevoked,
        Some(&id),
        Some("web"),
    );

    let again = b
        .admin
        .revoke_consent(&Actor::Cli, &erin.username, &web_id)
        .await;
    assert!(
        matches!(&again, Err(AdminError::NotFound(m)) if m == "user erin has no consent for client web"),
        "{again:?}"
    );
    assert_eq!(b.audit.events().len(), before + 1);
}

#[tokio::test]
async fn revoke_all_records_tokens_revoked_all_and_ends_every_session() {
    let b = bench().await;
    b.admin
        .create_client(&Actor::Cli, web("web"))
        .await
        .unwrap();
    let alice = user(&b.admin, "alice").await;
    let s = session(&alice, "s-a");
    b.store.insert_session(&s).await.unwrap();
    issue(&*b.store, "web", &alice, "s-a", "g").await;
    let before = b.audit.events().len();

    let done = b.admin.revoke_everything(&Actor::Cli, false).await.unwrap();
    assert_eq!(done.revoked.sessions, 1);
    assert_eq!(done.revoked.grants, 1);
    assert!(done.keys.is_none());
    assert_eq!(b.store.find_session(&s.id_hash).await.unwrap(), None);
    assert!(grant_revoked(&*b.store, "g").await);
    let events = b.audit.events();
    assert_eq!(events.len(), before + 1, "{events:?}");
    assert_cli_event(&events[before], AuditEventType::RevokedAll, None, None);
}

#[tokio::test]
async fn revoke_all_with_rotate_keys_replaces_and_revokes_every_key() {
    let b = bench().await;
    let old = b
        .admin
        .rotate_key(&Actor::Cli, Algorithm::Es256)
        .await
        .unwrap();
    let done = b.admin.revoke_everything(&Actor::Cli, true).await.unwrap();
    let keys = done.keys.expect("keys were replaced");
    assert_eq!(keys.created.len(), 1);
    assert_eq!(keys.created[0].alg, Algorithm::Es256);
    assert_eq!(keys.revoked, vec![old.kid.clone()]);
    let listed = b.admin.list_keys().await.unwrap();
    let state = |kid: &str| listed.iter().find(|k| k.kid == kid).unwrap().state;
    assert_eq!(state(&old.kid), KeyState::Revoked);
    assert_eq!(state(&keys.created[0].kid), KeyState::Active);

    let events = b.audit.events();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_cli_event(&events[0], AuditEventType::KeyRotated, Some(&old.kid), None);
    assert_cli_event(&events[1], AuditEventType::RevokedAll, None, None);
    let new_kid = keys.created[0].kid.as_str();
    assert_cli_event(&events[2], AuditEventType::KeyRotated, Some(new_kid), None);
    assert_cli_event(&events[3], AuditEventType::KeyRevoked, Some(&old.kid), None);
}

#[tokio::test]
async fn rotating_keys_without_a_key_manager_is_refused_before_anything_is_revoked() {
    let (store, audit, admin, _dir) = bare().await;
    admin.create_client(&Actor::Cli, web("web")).await.unwrap();
    let refused = admin.revoke_everything(&Actor::Cli, true).await;
    assert!(
        matches!(refused, Err(AdminError::Unavailable(_))),
        "{refused:?}"
    );
    let rotate = admin.rotate_key(&Actor::Cli, Algorithm::Es256).await;
    assert!(
        matches!(rotate, Err(AdminError::Unavailable(_))),
        "{rotate:?}"
    );
    let request = CreateUser {
        username: Username::parse("carol").unwrap(),
        email: None,
        password: Password::new(SecretString::from("a long enough password")).unwrap(),
    };
    let create = admin.create_user(&Actor::Cli, request).await;
    assert!(
        matches!(create, Err(AdminError::Unavailable(_))),
        "{create:?}"
    );
    let carol = Username::parse("carol").unwrap();
    assert!(store.find_user_by_username(&carol).await.unwrap().is_none());
    assert_eq!(audit.events().len(), 1, "only the client's creation");
    // What needs neither part still works.
    assert!(admin.list_keys().await.unwrap().is_empty());
}

#[tokio::test]
async fn rotating_and_revoking_a_key_record_its_kid() {
    let b = bench().await;
    let first = b
        .admin
        .rotate_key(&Actor::Cli, Algorithm::EdDsa)
        .await
        .unwrap();
    let second = b
        .admin
        .rotate_key(&Actor::Cli, Algorithm::EdDsa)
        .await
        .unwrap();
    b.admin.revoke_key(&Actor::Cli, &first.kid).await.unwrap();
    let listed = b.admin.list_keys().await.unwrap();
    let state = |kid: &str| listed.iter().find(|k| k.kid == kid).unwrap().state;
    assert_eq!(state(&first.kid), KeyState::Revoked);
    assert_eq!(state(&second.kid), KeyState::Active);

    let missing = b.admin.revoke_key(&Actor::Cli, "nope").await;
    assert!(
        matches!(&missing, Err(AdminError::NotFound(m)) if m == "no signing key nope"),
        "{missing:?}"
    );
    let hs256 = b.admin.rotate_key(&Actor::Cli, Algorithm::Hs256).await;
    assert!(matches!(hs256, Err(AdminError::Invalid(_))), "{hs256:?}");
    let events = b.audit.events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_cli_event(
        &events[0],
        AuditEventType::KeyRotated,
        Some(&first.kid),
        None,
    );
    assert_cli_event(
        &events[1],
        AuditEventType::KeyRotated,
        Some(&second.kid),
        None,
    );
    assert_cli_event(
        &events[2],
        AuditEventType::KeyRevoked,
        Some(&first.kid),
        None,
    );
}

#[tokio::test]
async fn a_client_acting_through_an_api_is_the_events_actor() {
    let b = bench().await;
    let console = Actor::Client(ClientId::parse("ops-console").unwrap());
    b.admin
        .create_client(&console, machine("svc"))
        .await
        .unwrap();
    let events = b.audit.events();
    assert_eq!(events[0].actor, "client:ops-console");
    assert_eq!(events[0].subject.as_deref(), Some("svc"));
}
