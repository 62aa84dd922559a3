//! Store tests of sessions, codes, grants, refresh tokens and consents, run on both backends.

use std::sync::Arc;

use ostiary_core::client::{self, ClientId, ClientRegistration, RedirectUri, Scope, UriPolicy};
use ostiary_core::grant::RevocationReason::{
    ClientRequest, ConsentWithdrawn, RevokeAll, UserDisabled,
};
use ostiary_core::grant::{AuthorizationCode, Consent, Grant, RefreshToken, RevokedEverything};
use ostiary_core::password::{Password, PasswordHasher};
use ostiary_core::secret::SecretHash;
use ostiary_core::session::Session;
use ostiary_core::user::{self, UserId, Username};
use ostiary_core::{Store, SystemClock};
use ostiary_store::Database;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};

crate::store_tests!(
    sessions_insert_find_touch_delete,
    user_sessions_end_together_and_expired_ones_are_purged,
    code_round_trips_and_redeems_once,
    concurrent_redemptions_have_one_winner,
    refresh_token_rotates_once,
    using_a_successor_ends_the_grace_of_earlier_tokens,
    revoke_everything_sets_the_cutoff_and_revocations_are_counted,
    concurrent_rotations_have_one_winner,
    rotation_is_refused_once_the_grant_is_revoked,
    revoke_grant_revokes_its_access_tokens,
    revoke_session_grants_spares_offline_grants_and_other_sessions,
    a_session_takes_its_unredeemed_codes_and_online_grants_when_it_ends_or_expires,
    revoke_user_grants_with_and_without_a_client,
    revoke_everything_counts_and_ends_everything,
    purge_drops_expired_codes_tokens_and_orphaned_grants,
    consents_upsert_find_list_delete,
    deleting_a_client_removes_its_codes_grants_and_consents,
    disabling_a_user_ends_sessions_and_revokes_grants,
);

/// Whole seconds: the store keeps Unix seconds, so round trips compare equal.
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

async fn new_user(store: &dyn Store, name: &str) -> UserId {
    let hasher = PasswordHasher::insecure_fast_for_tests();
    user::create_user(
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
    client::register_client(store, &SystemClock, registration)
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
    store.insert_code(&code).await.unwrap();
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

async fn sessions_insert_find_touch_delete(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let s = session(&alice, "sid-1", now());
    store.insert_session(&s).await.unwrap();
    assert_eq!(
        store.find_session(&s.id_hash).await.unwrap(),
        Some(s.clone())
    );
    let unknown = SecretHash::of("no such cookie");
    assert_eq!(store.find_session(&unknown).await.unwrap(), None);

    // The sid is public and unique: a second session cannot take it.
    let twin = Session {
        id_hash: SecretHash::of("another cookie"),
        ..s.clone()
    };
    assert!(store.insert_session(&twin).await.is_err());

    let later = s.last_seen + Duration::minutes(3);
    store.touch_session(&s.id_hash, later).await.unwrap();
    store.touch_session(&unknown, later).await.unwrap();
    let touched = store.find_session(&s.id_hash).await.unwrap().unwrap();
    assert_eq!(touched.last_seen, later);
    assert_eq!(touched.auth_time, s.auth_time);

    // Expiry is the core's decision: an expired session is still returned.
    let old = Session {
        expires_at: now() - Duration::hours(1),
        ..session(&alice, "sid-old", now() - Duration::hours(9))
    };
    store.insert_session(&old).await.unwrap();
    assert_eq!(store.find_session(&old.id_hash).await.unwrap(), Some(old));

    assert_eq!(
        store.delete_session(&s.id_hash).await.unwrap(),
        Some(touched)
    );
    assert_eq!(store.delete_session(&s.id_hash).await.unwrap(), None);
    assert_eq!(store.find_session(&s.id_hash).await.unwrap(), None);
}

async fn user_sessions_end_together_and_expired_ones_are_purged(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let bob = new_user(&*store, "bob").await;
    let t = now();
    for sid in ["a1", "a2"] {
        store
            .insert_session(&session(&alice, sid, t))
            .await
            .unwrap();
    }
    let b = session(&bob, "b1", t);
    store.insert_session(&b).await.unwrap();
    assert_eq!(store.delete_user_sessions(&alice).await.unwrap(), 2);
    assert_eq!(store.delete_user_sessions(&alice).await.unwrap(), 0);
    assert!(store.find_session(&b.id_hash).await.unwrap().is_some());

    let expired = Session {
        expires_at: t - Duration::seconds(1),
        ..session(&bob, "b-expired", t - Duration::hours(8))
    };
    store.insert_session(&expired).await.unwrap();
    assert_eq!(store.purge_expired_sessions(t).await.unwrap(), 1);
    assert_eq!(store.find_session(&expired.id_hash).await.unwrap(), None);
    assert!(store.find_session(&b.id_hash).await.unwrap().is_some());
}

async fn code_round_trips_and_redeems_once(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let c = code(&web, &alice, "sid-1", "g1");
    store.insert_code(&c).await.unwrap();
    assert_eq!(
        store.find_code(&c.code_hash).await.unwrap(),
        Some(c.clone())
    );
    assert!(
        store.insert_code(&c).await.is_err(),
        "a code is stored once"
    );
    let without_nonce = AuthorizationCode {
        nonce: None,
        resources: vec![],
        ..code(&web, &alice, "sid-1", "g2")
    };
    store.insert_code(&without_nonce).await.unwrap();
    assert_eq!(
        store.find_code(&without_nonce.code_hash).await.unwrap(),
        Some(without_nonce)
    );

    let grant = grant_of(&c, false);
    let at = now();
    assert!(
        store
            .redeem_code(&c.code_hash, at, &grant, None)
            .await
            .unwrap()
    );
    let consumed = store.find_code(&c.code_hash).await.unwrap().unwrap();
    assert_eq!(consumed.consumed_at, Some(at));
    assert_eq!(store.find_grant("g1").await.unwrap(), Some(grant.clone()));

    // A replay changes nothing: no second grant, no refresh token.
    let replay = Grant {
        access_jti: "at-replay".into(),
        ..grant.clone()
    };
    let token = refresh("g1", 1);
    assert!(
        !store
            .redeem_code(
                &c.code_hash,
                at + Duration::seconds(5),
                &replay,
                Some(&token)
            )
            .await
            .unwrap()
    );
    assert_eq!(store.find_grant("g1").await.unwrap(), Some(grant));
    assert_eq!(
        store.find_refresh_token(&token.token_hash).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .find_code(&c.code_hash)
            .await
            .unwrap()
            .unwrap()
            .consumed_at,
        Some(at)
    );

    let unknown = SecretHash::of("no such code");
    assert_eq!(store.find_code(&unknown).await.unwrap(), None);
    let other = grant_of(&code(&web, &alice, "sid-1", "g3"), false);
    assert!(!store.redeem_code(&unknown, at, &other, None).await.unwrap());
    assert_eq!(store.find_grant("g3").await.unwrap(), None);
    assert_eq!(store.find_grant("nope").await.unwrap(), None);
}

async fn concurrent_redemptions_have_one_winner(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let c = code(&web, &alice, "sid-1", "g1");
    store.insert_code(&c).await.unwrap();
    let grant = grant_of(&c, false);
    let attempts = (0..8).map(|n| {
        let store = Arc::clone(&store);
        let (hash, grant, token) = (c.code_hash.clone(), grant.clone(), refresh("g1", n));
        async move {
            store
                .redeem_code(&hash, now(), &grant, Some(&token))
                .await
                .expect("a lost race is Ok(false), never an error")
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    assert_eq!(
        outcomes.iter().filter(|won| **won).count(),
        1,
        "{outcomes:?}"
    );
    // Only the winner's refresh token was written.
    let mut written = 0;
    for n in 0..8 {
        let hash = refresh_hash("g1", n);
        if store.find_refresh_token(&hash).await.unwrap().is_some() {
            written += 1;
        }
    }
    assert_eq!(written, 1);
}

async fn refresh_token_rotates_once(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "g1", false).await;
    let first = refresh("g1", 0);
    let stored = store
        .find_refresh_token(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    // `issue` wrote token 0 a moment ago, possibly in an earlier second: compare all but times.
    let untimed = |t: &RefreshToken| {
        (
            t.token_hash.clone(),
            t.grant_id.clone(),
            t.access_jti.clone(),
        )
    };
    assert_eq!(untimed(&stored.token), untimed(&first));
    assert_eq!((stored.rotated_at, stored.rotation_answer), (None, None));

    let at = now();
    let second = refresh("g1", 1);
    assert!(
        store
            .rotate_refresh_token(&first.token_hash, at, b"sealed answer", &second)
            .await
            .unwrap()
    );
    let old = store
        .find_refresh_token(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.rotated_at, Some(at));
    assert_eq!(old.rotation_answer.as_deref(), Some(&b"sealed answer"[..]));
    let new = store
        .find_refresh_token(&second.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.token, second);
    assert_eq!(new.rotated_at, None);

    // The old token is spent: a second rotation writes nothing and keeps the first answer.
    let third = refresh("g1", 2);
    assert!(
        !store
            .rotate_refresh_token(&first.token_hash, at, b"other", &third)
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_refresh_token(&third.token_hash).await.unwrap(),
        None
    );
    let old = store
        .find_refresh_token(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.rotation_answer.as_deref(), Some(&b"sealed answer"[..]));

    let unknown = SecretHash::of("no such token");
    assert_eq!(store.find_refresh_token(&unknown).await.unwrap(), None);
    assert!(
        !store
            .rotate_refresh_token(&unknown, at, b"x", &third)
            .await
            .unwrap()
    );
    // A token cannot be rotated into another family.
    issue(&*store, &web, &alice, "sid-1", "g2", false).await;
    let foreign = refresh("g2", 1);
    assert!(
        !store
            .rotate_refresh_token(&second.token_hash, at, b"x", &foreign)
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_refresh_token(&foreign.token_hash).await.unwrap(),
        None
    );
}

async fn concurrent_rotations_have_one_winner(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "g1", false).await;
    let old = refresh_hash("g1", 0);
    let attempts = (1..=8).map(|n| {
        let store = Arc::clone(&store);
        let old = old.clone();
        async move {
            let won = store
                .rotate_refresh_token(
                    &old,
                    now(),
                    format!("answer {n}").as_bytes(),
                    &refresh("g1", n),
                )
                .await
                .expect("a lost race is Ok(false), never an error");
            (n, won)
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let winners: Vec<u32> = outcomes
        .iter()
        .filter(|(_, w)| *w)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0];
    let spent = store.find_refresh_token(&old).await.unwrap().unwrap();
    assert_eq!(
        spent.rotation_answer,
        Some(format!("answer {winner}").into_bytes())
    );
    for n in 1..=8 {
        let found = store
            .find_refresh_token(&refresh_hash("g1", n))
            .await
            .unwrap();
        assert_eq!(found.is_some(), n == winner, "token {n}");
    }
}

async fn rotation_is_refused_once_the_grant_is_revoked(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "g1", false).await;
    assert!(
        store
            .revoke_grant("g1", now(), ClientRequest)
            .await
            .unwrap()
    );
    let next = refresh("g1", 1);
    assert!(
        !store
            .rotate_refresh_token(&refresh_hash("g1", 0), now(), b"x", &next)
            .await
            .unwrap()
    );
    let old = store
        .find_refresh_token(&refresh_hash("g1", 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.rotated_at, None, "nothing written");
    assert_eq!(
        store.find_refresh_token(&next.token_hash).await.unwrap(),
        None
    );
}

async fn revoke_grant_revokes_its_access_tokens(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "g1", false).await;
    issue(&*store, &web, &alice, "sid-1", "g2", false).await;
    assert!(
        store
            .rotate_refresh_token(&refresh_hash("g1", 0), now(), b"a", &refresh("g1", 1))
            .await
            .unwrap()
    );
    let at = now();
    assert!(store.revoke_grant("g1", at, ClientRequest).await.unwrap());
    let grant = store.find_grant("g1").await.unwrap().unwrap();
    assert_eq!(grant.revoked_at, Some(at));
    for jti in ["at-g1", "at-g1-0", "at-g1-1"] {
        assert!(revoked(&*store, jti).await, "{jti}");
    }
    for jti in ["at-g2", "at-g2-0"] {
        assert!(!revoked(&*store, jti).await, "{jti}");
    }
    assert!(live(&*store, "g2").await);
    // Revoking again, or an unknown grant, reports nothing live and keeps the first time.
    assert!(
        !store
            .revoke_grant("g1", at + Duration::hours(1), ClientRequest)
            .await
            .unwrap()
    );
    assert!(!store.revoke_grant("nope", at, ClientRequest).await.unwrap());
    let grant = store.find_grant("g1").await.unwrap().unwrap();
    assert_eq!(grant.revoked_at, Some(at));
}

async fn revoke_session_grants_spares_offline_grants_and_other_sessions(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "online", false).await;
    issue(&*store, &web, &alice, "sid-1", "offline", true).await;
    issue(&*store, &web, &alice, "sid-2", "elsewhere", false).await;
    assert_eq!(
        store.revoke_session_grants("sid-1", now()).await.unwrap(),
        1
    );
    assert!(!live(&*store, "online").await);
    assert!(revoked(&*store, "at-online").await && revoked(&*store, "at-online-0").await);
    assert!(live(&*store, "offline").await);
    assert!(!revoked(&*store, "at-offline").await);
    assert!(live(&*store, "elsewhere").await);
    assert_eq!(
        store.revoke_session_grants("sid-1", now()).await.unwrap(),
        0
    );
    assert_eq!(
        store.revoke_session_grants("sid-x", now()).await.unwrap(),
        0
    );
}

async fn revoke_user_grants_with_and_without_a_client(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let bob = new_user(&*store, "bob").await;
    let web = new_client(&*store, "web").await;
    let cli = new_client(&*store, "cli").await;
    issue(&*store, &web, &alice, "s-a", "alice-web", false).await;
    issue(&*store, &cli, &alice, "s-a", "alice-cli", true).await;
    issue(&*store, &web, &bob, "s-b", "bob-web", false).await;

    let n = store
        .revoke_user_grants(&alice, Some(&cli), now(), ConsentWithdrawn)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(!live(&*store, "alice-cli").await);
    assert!(revoked(&*store, "at-alice-cli-0").await);
    assert!(live(&*store, "alice-web").await);

    assert_eq!(
        store
            .revoke_user_grants(&alice, None, now(), UserDisabled)
            .await
            .unwrap(),
        1
    );
    assert!(!live(&*store, "alice-web").await);
    assert!(revoked(&*store, "at-alice-web").await);
    assert!(live(&*store, "bob-web").await);
    assert!(!revoked(&*store, "at-bob-web").await);
    assert_eq!(
        store
            .revoke_user_grants(&alice, None, now(), UserDisabled)
            .await
            .unwrap(),
        0
    );
}

async fn revoke_everything_counts_and_ends_everything(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let t = now();
    for sid in ["s1", "s2"] {
        store
            .insert_session(&session(&alice, sid, t))
            .await
            .unwrap();
    }
    issue(&*store, &web, &alice, "s1", "g1", false).await;
    issue(&*store, &web, &alice, "s1", "g2", true).await;
    issue(&*store, &web, &alice, "s1", "g3", false).await;
    assert!(store.revoke_grant("g3", t, ClientRequest).await.unwrap());
    let pending = code(&web, &alice, "s1", "pending");
    store.insert_code(&pending).await.unwrap();

    let at = now();
    let done = store.revoke_everything(at).await.unwrap();
    assert_eq!(
        done,
        RevokedEverything {
            sessions: 2,
            codes: 1,
            grants: 2,
        }
    );
    assert_eq!(
        store
            .find_session(&session(&alice, "s1", t).id_hash)
            .await
            .unwrap(),
        None
    );
    let grant = grant_of(&pending, false);
    assert!(
        !store
            .redeem_code(&pending.code_hash, at, &grant, None)
            .await
            .unwrap(),
        "pending codes are spent"
    );
    for g in ["g1", "g2"] {
        assert!(!live(&*store, g).await, "{g}");
        assert!(revoked(&*store, &format!("at-{g}")).await);
        assert!(revoked(&*store, &format!("at-{g}-0")).await);
    }
    assert_eq!(
        store.revoke_everything(at).await.unwrap(),
        RevokedEverything::default()
    );
}

async fn purge_drops_expired_codes_tokens_and_orphaned_grants(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    // g1: code and refresh token 0 expire within the hour, access token within 5 minutes.
    issue(&*store, &web, &alice, "s1", "g1", false).await;
    // g2: like g1 but with a refresh token that lives on.
    issue(&*store, &web, &alice, "s1", "g2", false).await;
    assert!(
        store
            .rotate_refresh_token(&refresh_hash("g2", 0), now(), b"a", &refresh("g2", 1))
            .await
            .unwrap()
    );
    let stale = code(&web, &alice, "s1", "never-redeemed");
    store.insert_code(&stale).await.unwrap();

    // Nothing has expired yet.
    assert_eq!(store.purge_expired_grants(now()).await.unwrap(), 0);

    // Two days on, refresh tokens (30 days) still live: only the three codes go.
    assert_eq!(
        store
            .purge_expired_grants(now() + Duration::days(2))
            .await
            .unwrap(),
        3
    );
    assert_eq!(store.find_code(&stale.code_hash).await.unwrap(), None);
    assert!(store.find_grant("g1").await.unwrap().is_some());

    // Past the refresh tokens' lifetime: 3 refresh tokens and both grants.
    assert_eq!(
        store
            .purge_expired_grants(now() + Duration::days(31))
            .await
            .unwrap(),
        5
    );
    assert_eq!(store.find_grant("g1").await.unwrap(), None);
    assert_eq!(store.find_grant("g2").await.unwrap(), None);
}

async fn consents_upsert_find_list_delete(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let cli = new_client(&*store, "cli").await;
    let t = now();
    let first = Consent {
        user_id: alice,
        client_id: web.clone(),
        scopes: scopes(&["openid"]),
        granted_at: t,
    };
    store.save_consent(&first).await.unwrap();
    assert_eq!(
        store.find_consent(&alice, &web).await.unwrap(),
        Some(first.clone())
    );
    let wider = Consent {
        scopes: scopes(&["openid", "orders:read"]),
        granted_at: t + Duration::minutes(1),
        ..first.clone()
    };
    store.save_consent(&wider).await.unwrap();
    assert_eq!(
        store.find_consent(&alice, &web).await.unwrap(),
        Some(wider.clone())
    );
    let other = Consent {
        client_id: cli.clone(),
        ..first.clone()
    };
    store.save_consent(&other).await.unwrap();
    assert_eq!(
        store.list_consents(&alice).await.unwrap(),
        vec![other, wider],
        "ordered by client id"
    );
    assert!(store.delete_consent(&alice, &web).await.unwrap());
    assert!(!store.delete_consent(&alice, &web).await.unwrap());
    assert_eq!(store.find_consent(&alice, &web).await.unwrap(), None);
    assert_eq!(store.list_consents(&alice).await.unwrap().len(), 1);
}

async fn deleting_a_client_removes_its_codes_grants_and_consents(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let cli = new_client(&*store, "cli").await;
    issue(&*store, &web, &alice, "s1", "g-web", true).await;
    issue(&*store, &cli, &alice, "s1", "g-cli", true).await;
    let pending = code(&web, &alice, "s1", "pending");
    store.insert_code(&pending).await.unwrap();
    for client_id in [&web, &cli] {
        let consent = Consent {
            user_id: alice,
            client_id: client_id.clone(),
            scopes: scopes(&["openid"]),
            granted_at: now(),
        };
        store.save_consent(&consent).await.unwrap();
    }

    assert!(store.delete_client(&web).await.unwrap());
    assert_eq!(store.find_code(&pending.code_hash).await.unwrap(), None);
    assert_eq!(store.find_code(&code_hash("g-web")).await.unwrap(), None);
    assert_eq!(store.find_grant("g-web").await.unwrap(), None);
    assert_eq!(
        store
            .find_refresh_token(&refresh_hash("g-web", 0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.find_consent(&alice, &web).await.unwrap(), None);
    // Access tokens it was issued outlive the rows: they are recorded as revoked.
    assert!(revoked(&*store, "at-g-web").await && revoked(&*store, "at-g-web-0").await);

    assert!(live(&*store, "g-cli").await);
    assert!(!revoked(&*store, "at-g-cli").await);
    assert!(store.find_consent(&alice, &cli).await.unwrap().is_some());
    assert!(
        store
            .find_code(&code_hash("g-cli"))
            .await
            .unwrap()
            .is_some()
    );
}

async fn disabling_a_user_ends_sessions_and_revokes_grants(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let bob = new_user(&*store, "bob").await;
    let web = new_client(&*store, "web").await;
    let a = session(&alice, "s-a", now());
    let b = session(&bob, "s-b", now());
    store.insert_session(&a).await.unwrap();
    store.insert_session(&b).await.unwrap();
    issue(&*store, &web, &alice, "s-a", "alice-offline", true).await;
    issue(&*store, &web, &bob, "s-b", "bob-web", false).await;

    let alice_name = Username::parse("alice").unwrap();
    user::disable_user(&*store, &SystemClock, &alice_name)
        .await
        .unwrap();
    assert_eq!(store.find_session(&a.id_hash).await.unwrap(), None);
    assert!(!live(&*store, "alice-offline").await, "offline grants too");
    assert!(revoked(&*store, "at-alice-offline-0").await);
    assert!(store.find_session(&b.id_hash).await.unwrap().is_some());
    assert!(live(&*store, "bob-web").await);
}

async fn a_session_takes_its_unredeemed_codes_and_online_grants_when_it_ends_or_expires(
    db: Database,
) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let pending = code(&web, &alice, "sid-1", "pending");
    store.insert_code(&pending).await.unwrap();
    let elsewhere = code(&web, &alice, "sid-2", "elsewhere-code");
    store.insert_code(&elsewhere).await.unwrap();
    store.revoke_session_grants("sid-1", now()).await.unwrap();
    assert_eq!(store.find_code(&pending.code_hash).await.unwrap(), None);
    assert!(
        store
            .find_code(&elsewhere.code_hash)
            .await
            .unwrap()
            .is_some()
    );

    // Expiry does what a logout does.
    let t = now();
    let expired = Session {
        expires_at: t - Duration::seconds(1),
        ..session(&alice, "sid-old", t - Duration::hours(8))
    };
    store.insert_session(&expired).await.unwrap();
    issue(&*store, &web, &alice, "sid-old", "old-online", false).await;
    issue(&*store, &web, &alice, "sid-old", "old-offline", true).await;
    let old_code = code(&web, &alice, "sid-old", "old-code");
    store.insert_code(&old_code).await.unwrap();
    assert_eq!(store.purge_expired_sessions(t).await.unwrap(), 1);
    assert!(!live(&*store, "old-online").await);
    assert!(revoked(&*store, "at-old-online").await);
    assert!(live(&*store, "old-offline").await);
    assert_eq!(store.find_code(&old_code.code_hash).await.unwrap(), None);
}

async fn using_a_successor_ends_the_grace_of_earlier_tokens(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    issue(&*store, &web, &alice, "sid-1", "g1", false).await;
    issue(&*store, &web, &alice, "sid-2", "g2", false).await;
    let at = now();
    let (t0, t1, t2) = (refresh("g1", 0), refresh("g1", 1), refresh("g1", 2));
    assert!(
        store
            .rotate_refresh_token(&t0.token_hash, at, b"a0", &t1)
            .await
            .unwrap()
    );
    assert!(
        store
            .rotate_refresh_token(&refresh_hash("g2", 0), at, b"b0", &refresh("g2", 1))
            .await
            .unwrap()
    );
    let answer = |hash: SecretHash| {
        let store = store.clone();
        async move {
            store
                .find_refresh_token(&hash)
                .await
                .unwrap()
                .unwrap()
                .rotation_answer
        }
    };
    assert_eq!(
        answer(t0.token_hash.clone()).await.as_deref(),
        Some(&b"a0"[..])
    );
    // Presenting t1 proves the client received it: t0's answer goes, t1 keeps its own.
    assert!(
        store
            .rotate_refresh_token(&t1.token_hash, at, b"a1", &t2)
            .await
            .unwrap()
    );
    assert_eq!(answer(t0.token_hash).await, None);
    assert_eq!(answer(t1.token_hash).await.as_deref(), Some(&b"a1"[..]));
    // Another family is untouched.
    assert_eq!(
        answer(refresh_hash("g2", 0)).await.as_deref(),
        Some(&b"b0"[..])
    );
}

async fn revoke_everything_sets_the_cutoff_and_revocations_are_counted(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    assert_eq!(store.revocation_counts().await.unwrap(), vec![]);
    issue(&*store, &web, &alice, "s1", "g1", false).await;
    issue(&*store, &web, &alice, "s1", "g2", true).await;
    assert!(
        store
            .revoke_grant("g1", now(), ClientRequest)
            .await
            .unwrap()
    );
    store
        .revoke_access_token("jti-1", &web, now() + Duration::minutes(5))
        .await
        .unwrap();
    // Recorded twice, counted once.
    store
        .revoke_access_token("jti-1", &web, now() + Duration::minutes(5))
        .await
        .unwrap();

    let at = now();
    let before = at.unix_timestamp();
    assert!(!store.is_access_token_revoked("any", before).await.unwrap());
    store.revoke_everything(at).await.unwrap();
    // Every token issued at or before the cut-off, whatever its jti; none issued after.
    assert!(store.is_access_token_revoked("any", before).await.unwrap());
    assert!(
        store
            .is_access_token_revoked("any", before - 3600)
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_access_token_revoked("any", before + 1)
            .await
            .unwrap()
    );
    // The cut-off never moves back.
    store
        .revoke_everything(at - Duration::hours(1))
        .await
        .unwrap();
    assert!(store.is_access_token_revoked("any", before).await.unwrap());

    let counts = store.revocation_counts().await.unwrap();
    let count = |reason| {
        counts
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    };
    // g1 and jti-1 at the client's request; g2 and two cut-offs by revoke-all.
    assert_eq!(count(ClientRequest), 2, "{counts:?}");
    assert_eq!(count(RevokeAll), 3, "{counts:?}");
    assert_eq!(count(UserDisabled), 0, "{counts:?}");
}
