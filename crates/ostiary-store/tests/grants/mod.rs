//! Store tests of sessions, codes, grants, refresh tokens and consents, run on both backends:
//! a module per concern, with the users, clients and grants they build on here.

mod cleanup;
mod codes;
mod consents;
mod devices;
mod lookups;
mod pooler;
mod refresh;
mod revocation;
mod sessions;

use std::sync::Arc;

use ostiary_core::admin;
use ostiary_core::client::{ClientId, ClientRegistration, RedirectUri, Scope, UriPolicy};
use ostiary_core::grant::RevocationReason::{
    ClientRequest, ConsentWithdrawn, RevokeAll, UserDisabled,
};
use ostiary_core::grant::{
    AuthorizationCode, Consent, Grant, PresentedCode, RefreshToken, RevokedEverything,
};
use ostiary_core::password::{Password, PasswordHasher};
use ostiary_core::secret::SecretHash;
use ostiary_core::session::{PresentedSession, Session};
use ostiary_core::user::{UserId, Username};
use ostiary_core::{Store, SystemClock};
use ostiary_store::Database;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

/// Whole seconds: the store keeps Unix seconds, so round trips compare equal.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

async fn new_user(store: &dyn Store, name: &str) -> UserId {
    let hasher = PasswordHasher::insecure_fast_for_tests();
    admin::create_user(
        store,
        &hasher,
        &SystemClock,
        Username::parse(name).unwrap(),
        None,
        Password::new(SecretString::from("password one")).unwrap(),
    )
    .await
    .unwrap()
    .id
}

async fn new_client(store: &dyn Store, id: &str) -> ClientId {
    let registration = ClientRegistration {
        name: format!("Client {id}"),
        client_id: Some(ClientId::parse(id).unwrap()),
        redirect_uris: vec![
            RedirectUri::parse(
                "https://app.example.com/cb",
                UriPolicy {
                    allow_insecure_http: false,
                },
            )
            .unwrap(),
        ],
        scopes: scopes(&["openid", "offline_access", "orders:read"]),
        ..ClientRegistration::default()
    };
    admin::register_client(store, &SystemClock, registration)
        .await
        .unwrap()
        .client
        .id
}

fn scopes(names: &[&str]) -> Vec<Scope> {
    names.iter().map(|s| Scope::parse(s).unwrap()).collect()
}

fn session(user: &UserId, sid: &str, at: OffsetDateTime) -> Session {
    Session {
        id_hash: SecretHash::of(&format!("cookie-{sid}")),
        sid: sid.into(),
        user_id: *user,
        auth_time: at,
        mfa: true,
        last_seen: at,
        expires_at: at + Duration::hours(8),
    }
}

fn code(client: &ClientId, user: &UserId, sid: &str, grant_id: &str) -> AuthorizationCode {
    let at = now();
    AuthorizationCode {
        code_hash: code_hash(grant_id),
        grant_id: grant_id.into(),
        client_id: client.clone(),
        user_id: *user,
        sid: sid.into(),
        redirect_uri: "https://app.example.com/cb".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        scopes: scopes(&["openid", "orders:read"]),
        resources: vec!["https://api.example.com".into()],
        auth_time: at,
        expires_at: at + Duration::seconds(60),
        consumed_at: None,
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
        mfa: true,
    }
}

fn code_hash(grant_id: &str) -> SecretHash {
    SecretHash::of(&format!("code-{grant_id}"))
}

fn grant_of(code: &AuthorizationCode, offline: bool) -> Grant {
    let at = now();
    Grant {
        grant_id: code.grant_id.clone(),
        client_id: code.client_id.clone(),
        user_id: code.user_id,
        sid: code.sid.clone(),
        offline,
        scopes: code.scopes.clone(),
        audiences: code.resources.clone(),
        auth_time: code.auth_time,
        created_at: at,
        access_jti: format!("at-{}", code.grant_id),
        access_expires_at: at + Duration::minutes(5),
        revoked_at: None,
        dpop_jkt: code.dpop_jkt.clone(),
        mfa: code.mfa,
    }
}

/// The `n`th refresh token of a grant, with its own access token `at-GRANT-n`.
fn refresh(grant_id: &str, n: u32) -> RefreshToken {
    let at = now();
    RefreshToken {
        token_hash: refresh_hash(grant_id, n),
        grant_id: grant_id.into(),
        issued_at: at,
        expires_at: at + Duration::days(30),
        access_jti: format!("at-{grant_id}-{n}"),
        access_expires_at: at + Duration::minutes(5),
    }
}

fn refresh_hash(grant_id: &str, n: u32) -> SecretHash {
    SecretHash::of(&format!("rt-{grant_id}-{n}"))
}

/// Stores `code` as `/authorize` does, for a signed-in user: its session is stored first
/// when it is not yet.
async fn store_code(store: &dyn Store, code: &AuthorizationCode) {
    sign_in(store, &code.user_id, &code.sid).await;
    assert!(store.insert_code(code).await.unwrap(), "{}", code.grant_id);
}

/// Stores the session `sid` of `user` (as [`session`] makes it), unless one with that `sid`
/// is stored already.
async fn sign_in(store: &dyn Store, user: &UserId, sid: &str) {
    match store.insert_session(&session(user, sid, now())).await {
        Ok(()) | Err(ostiary_core::StoreError::Conflict(_)) => {}
        Err(e) => panic!("storing the session {sid}: {e}"),
    }
}

/// A redeemed code: a live grant with refresh token 0.
async fn issue(
    store: &dyn Store,
    client: &ClientId,
    user: &UserId,
    sid: &str,
    grant_id: &str,
    offline: bool,
) -> Grant {
    let code = code(client, user, sid, grant_id);
    store_code(store, &code).await;
    let grant = grant_of(&code, offline);
    let token = refresh(grant_id, 0);
    assert!(
        store
            .redeem_code(&code.code_hash, now(), &grant, Some(&token))
            .await
            .unwrap()
    );
    grant
}

async fn revoked(store: &dyn Store, jti: &str) -> bool {
    // A far-future `iat`: only the token's own revocation counts here, not the cut-off.
    store.is_access_token_revoked(jti, i64::MAX).await.unwrap()
}

async fn live(store: &dyn Store, grant_id: &str) -> bool {
    let grant = store.find_grant(grant_id).await.unwrap().unwrap();
    grant.revoked_at.is_none()
}

/// Waits until `count` backends of the database wait for a lock.
async fn wait_for_lock_waiters(observer: &mut sqlx::PgConnection, count: i64) {
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *observer)
        .await
        .unwrap();
        if waiting >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {count} statements wait for a lock");
}

/// Two connections of their own to the test's PostgreSQL database (one to hold locks, one
/// to watch who waits); none on SQLite, whose tests of row locks return early.
async fn postgres_pair(db: &Database) -> Option<(sqlx::PgConnection, sqlx::PgConnection)> {
    Some((
        ostiary_store::testing::postgres_connection(db).await?,
        ostiary_store::testing::postgres_connection(db).await?,
    ))
}

/// Begins a logout of session `sid` on `logout` that holds the session's row until the
/// transaction ends: its row is deleted, not yet committed.
async fn begin_logout(logout: &mut sqlx::PgConnection, sid: &str) {
    sqlx::query("BEGIN").execute(&mut *logout).await.unwrap();
    sqlx::query("DELETE FROM sessions WHERE sid = $1")
        .bind(sid)
        .execute(&mut *logout)
        .await
        .unwrap();
}
