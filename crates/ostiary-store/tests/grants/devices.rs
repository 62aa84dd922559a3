//! Device authorizations (RFC 8628): found by either code, polled with compare-and-set,
//! answered once while pending, redeemed once into a grant, voided with their session (logout
//! or expiry), by revoke-all or with the user's access, and purged after expiry.

use ostiary_core::device::{DeviceApproval, DeviceAuthorization, DeviceStatus};

use super::*;

crate::store_tests!(
    a_device_authorization_is_found_by_either_code_and_user_codes_are_unique,
    polls_are_recorded_by_compare_and_set,
    an_authorization_is_answered_once_while_pending_and_live,
    an_approval_is_stored_only_while_its_session_is,
    an_approval_waits_for_a_logout_in_progress_and_is_not_stored,
    an_approved_authorization_is_redeemed_once_into_a_grant,
    racing_redemptions_have_one_winner,
    logout_revoke_all_and_expiry_void_device_authorizations,
    ending_a_users_access_takes_sessions_codes_approvals_and_every_grant,
    revoking_a_clients_grants_takes_its_codes_and_approvals_too,
);

fn device(client: &ClientId, name: &str) -> DeviceAuthorization {
    DeviceAuthorization {
        device_code_hash: SecretHash::of(&format!("device-{name}")),
        user_code_hash: SecretHash::of(&format!("user-{name}")),
        client_id: client.clone(),
        scopes: scopes(&["openid", "offline_access"]),
        resources: vec!["https://api.example.com".into()],
        expires_at: now() + Duration::minutes(10),
        interval: Duration::seconds(5),
        last_polled_at: None,
        status: DeviceStatus::Pending,
    }
}

fn approval(user: &UserId, sid: &str) -> DeviceStatus {
    DeviceStatus::Approved(DeviceApproval {
        user_id: *user,
        sid: sid.into(),
        auth_time: now() - Duration::minutes(1),
        mfa: true,
    })
}

fn grant_for(d: &DeviceAuthorization, user: &UserId, sid: &str, grant_id: &str) -> Grant {
    Grant {
        grant_id: grant_id.into(),
        client_id: d.client_id.clone(),
        user_id: *user,
        sid: sid.into(),
        offline: false,
        scopes: d.scopes.clone(),
        audiences: d.resources.clone(),
        auth_time: now(),
        created_at: now(),
        access_jti: format!("at-{grant_id}"),
        access_expires_at: now() + Duration::minutes(5),
        revoked_at: None,
        dpop_jkt: None,
        mfa: true,
    }
}

async fn a_device_authorization_is_found_by_either_code_and_user_codes_are_unique(db: Database) {
    let store = db.store();
    let tv = new_client(&*store, "tv").await;
    let d = device(&tv, "one");
    store.insert_device_authorization(&d).await.unwrap();
    let found = store
        .find_device_authorization(&d.device_code_hash)
        .await
        .unwrap();
    assert_eq!(found, Some(d.clone()));
    let by_user_code = store
        .find_device_authorization_by_user_code(&d.user_code_hash)
        .await
        .unwrap();
    assert_eq!(by_user_code, Some(d.clone()));
    assert_eq!(
        store
            .find_device_authorization(&d.user_code_hash)
            .await
            .unwrap(),
        None,
        "each code is looked up in its own column"
    );
    let same_user_code = DeviceAuthorization {
        device_code_hash: SecretHash::of("another device"),
        ..d.clone()
    };
    assert!(matches!(
        store.insert_device_authorization(&same_user_code).await,
        Err(ostiary_core::StoreError::Conflict(_))
    ));
}

async fn polls_are_recorded_by_compare_and_set(db: Database) {
    let store = db.store();
    let tv = new_client(&*store, "tv").await;
    let d = device(&tv, "poll");
    store.insert_device_authorization(&d).await.unwrap();
    let hash = &d.device_code_hash;
    let first = now();
    assert!(
        store
            .record_device_poll(hash, None, first, 5)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_device_poll(hash, None, first, 5)
            .await
            .unwrap(),
        "a second poll that saw no earlier poll lost the race"
    );
    let later = first + Duration::seconds(2);
    assert!(
        store
            .record_device_poll(hash, Some(first), later, 10)
            .await
            .unwrap()
    );
    let stored = store
        .find_device_authorization(hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.last_polled_at, Some(later));
    assert_eq!(stored.interval, Duration::seconds(10));
    assert!(
        !store
            .record_device_poll(&SecretHash::of("unknown"), None, later, 5)
            .await
            .unwrap()
    );
}

async fn an_authorization_is_answered_once_while_pending_and_live(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    sign_in(&*store, &alice, "sid-1").await;
    let tv = new_client(&*store, "tv").await;
    let d = device(&tv, "answer");
    store.insert_device_authorization(&d).await.unwrap();
    let hash = &d.device_code_hash;
    let approved = approval(&alice, "sid-1");
    assert!(
        store
            .settle_device_authorization(hash, &approved, now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .settle_device_authorization(hash, &DeviceStatus::Denied, now())
            .await
            .unwrap(),
        "answered once"
    );
    let stored = store
        .find_device_authorization(hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, approved);

    let denied = device(&tv, "denied");
    store.insert_device_authorization(&denied).await.unwrap();
    let denied_hash = &denied.device_code_hash;
    assert!(
        store
            .settle_device_authorization(denied_hash, &DeviceStatus::Denied, now())
            .await
            .unwrap()
    );
    let stored = store
        .find_device_authorization(denied_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, DeviceStatus::Denied);

    let late = device(&tv, "late");
    store.insert_device_authorization(&late).await.unwrap();
    assert!(
        !store
            .settle_device_authorization(&late.device_code_hash, &approved, late.expires_at)
            .await
            .unwrap(),
        "not after expiry"
    );
}

/// A logout that ends the session before the approval is written leaves the authorization
/// pending: the device never gets tokens for a session that was already over. A denial needs
/// no session.
async fn an_approval_is_stored_only_while_its_session_is(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let tv = new_client(&*store, "tv").await;
    let d = device(&tv, "after-logout");
    store.insert_device_authorization(&d).await.unwrap();
    let hash = &d.device_code_hash;
    assert!(
        !store
            .settle_device_authorization(hash, &approval(&alice, "sid-gone"), now())
            .await
            .unwrap(),
        "approved without its session"
    );
    let stored = store
        .find_device_authorization(hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, DeviceStatus::Pending);

    let signed_in = session(&alice, "sid-1", now());
    store.insert_session(&signed_in).await.unwrap();
    store.delete_session(&signed_in.id_hash).await.unwrap();
    assert!(
        !store
            .settle_device_authorization(hash, &approval(&alice, "sid-1"), now())
            .await
            .unwrap(),
        "approved after its session's logout"
    );
    assert!(
        store
            .settle_device_authorization(hash, &DeviceStatus::Denied, now())
            .await
            .unwrap()
    );
}

/// PostgreSQL: an approval waits for a logout in progress (it key-share locks the session)
/// and, the session gone, is not stored.
async fn an_approval_waits_for_a_logout_in_progress_and_is_not_stored(db: Database) {
    let Some((mut logout, mut observer)) = postgres_pair(&db).await else {
        return;
    };
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let tv = new_client(&*store, "tv").await;
    sign_in(&*store, &alice, "sid-1").await;
    let d = device(&tv, "during-logout");
    store.insert_device_authorization(&d).await.unwrap();
    begin_logout(&mut logout, "sid-1").await;
    let approving = tokio::spawn({
        let (store, hash) = (Arc::clone(&store), d.device_code_hash.clone());
        async move {
            store
                .settle_device_authorization(&hash, &approval(&alice, "sid-1"), now())
                .await
        }
    });
    wait_for_lock_waiters(&mut observer, 1).await;
    sqlx::query("COMMIT").execute(&mut logout).await.unwrap();
    assert!(
        !approving.await.unwrap().unwrap(),
        "approved after the logout"
    );
    let stored = store
        .find_device_authorization(&d.device_code_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, DeviceStatus::Pending);
}

async fn an_approved_authorization_is_redeemed_once_into_a_grant(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    sign_in(&*store, &alice, "sid-1").await;
    let tv = new_client(&*store, "tv").await;
    let d = device(&tv, "redeem");
    store.insert_device_authorization(&d).await.unwrap();
    let hash = &d.device_code_hash;
    let grant = grant_for(&d, &alice, "sid-1", "dg1");
    let token = refresh("dg1", 0);
    assert!(
        !store
            .redeem_device_code(hash, &grant, Some(&token))
            .await
            .unwrap(),
        "a pending authorization is not redeemed"
    );
    assert_eq!(store.find_grant("dg1").await.unwrap(), None);
    store
        .settle_device_authorization(hash, &approval(&alice, "sid-1"), now())
        .await
        .unwrap();
    assert!(
        store
            .redeem_device_code(hash, &grant, Some(&token))
            .await
            .unwrap()
    );
    assert_eq!(store.find_grant("dg1").await.unwrap(), Some(grant.clone()));
    assert!(
        store
            .find_refresh_token(&token.token_hash)
            .await
            .unwrap()
            .is_some()
    );
    let stored = store
        .find_device_authorization(hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, DeviceStatus::Redeemed);
    let again = grant_for(&d, &alice, "sid-1", "dg2");
    assert!(!store.redeem_device_code(hash, &again, None).await.unwrap());
    assert_eq!(
        store.find_grant("dg2").await.unwrap(),
        None,
        "nothing written"
    );
}

async fn racing_redemptions_have_one_winner(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    sign_in(&*store, &alice, "sid-1").await;
    let tv = new_client(&*store, "tv").await;
    let d = device(&tv, "race");
    store.insert_device_authorization(&d).await.unwrap();
    store
        .settle_device_authorization(&d.device_code_hash, &approval(&alice, "sid-1"), now())
        .await
        .unwrap();
    let attempts = (0..6).map(|n| {
        let store = store.clone();
        let hash = d.device_code_hash.clone();
        let grant = grant_for(&d, &alice, "sid-1", &format!("race-{n}"));
        tokio::spawn(async move { store.redeem_device_code(&hash, &grant, None).await.unwrap() })
    });
    let mut winners = 0;
    for attempt in attempts {
        winners += usize::from(attempt.await.unwrap());
    }
    assert_eq!(winners, 1);
}

async fn logout_revoke_all_and_expiry_void_device_authorizations(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    sign_in(&*store, &alice, "sid-1").await;
    sign_in(&*store, &alice, "sid-2").await;
    let tv = new_client(&*store, "tv").await;
    // Approved in session sid-1: the session's logout voids it before it is redeemed.
    let approved = device(&tv, "approved");
    store.insert_device_authorization(&approved).await.unwrap();
    store
        .settle_device_authorization(
            &approved.device_code_hash,
            &approval(&alice, "sid-1"),
            now(),
        )
        .await
        .unwrap();
    let other_session = device(&tv, "other-session");
    store
        .insert_device_authorization(&other_session)
        .await
        .unwrap();
    store
        .settle_device_authorization(
            &other_session.device_code_hash,
            &approval(&alice, "sid-2"),
            now(),
        )
        .await
        .unwrap();
    // Approved in session sid-3, which expires before the device polls.
    let expiring = device(&tv, "expiring");
    store.insert_device_authorization(&expiring).await.unwrap();
    store
        .insert_session(&session(&alice, "sid-3", now() - Duration::hours(9)))
        .await
        .unwrap();
    store
        .settle_device_authorization(
            &expiring.device_code_hash,
            &approval(&alice, "sid-3"),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(store.purge_expired_sessions(now()).await.unwrap(), 1);
    store.revoke_session_grants("sid-1", now()).await.unwrap();
    let find = |d: &DeviceAuthorization| {
        let (store, hash) = (store.clone(), d.device_code_hash.clone());
        async move { store.find_device_authorization(&hash).await.unwrap() }
    };
    assert_eq!(find(&approved).await, None);
    assert_eq!(find(&expiring).await, None, "its session expired");
    assert!(find(&other_session).await.is_some());

    // Revoke-all voids the pending and approved ones, counted as codes.
    let pending = device(&tv, "pending");
    store.insert_device_authorization(&pending).await.unwrap();
    let everything = store.revoke_everything(now()).await.unwrap();
    assert_eq!(everything.codes, 2);
    assert_eq!(find(&pending).await, None);
    assert_eq!(find(&other_session).await, None);

    // Expired ones are purged; live ones stay.
    let expired = DeviceAuthorization {
        expires_at: now() - Duration::minutes(1),
        ..device(&tv, "expired")
    };
    let live = device(&tv, "live");
    store.insert_device_authorization(&expired).await.unwrap();
    store.insert_device_authorization(&live).await.unwrap();
    assert!(store.purge_expired_grants(now()).await.unwrap() >= 1);
    assert_eq!(find(&expired).await, None);
    assert!(find(&live).await.is_some());

    // And they go with their client.
    store.delete_client(&tv).await.unwrap();
    assert_eq!(find(&live).await, None);
}

/// What a disabled account or a replaced password ends: the user's sessions, unredeemed codes,
/// approved device authorizations and every grant, offline ones too; nothing of another user.
async fn ending_a_users_access_takes_sessions_codes_approvals_and_every_grant(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let bob = new_user(&*store, "bob").await;
    let web = new_client(&*store, "web").await;
    let t = now();
    let alices = session(&alice, "sid-a", t);
    let bobs = session(&bob, "sid-b", t);
    store.insert_session(&alices).await.unwrap();
    store.insert_session(&bobs).await.unwrap();
    let alice_code = code(&web, &alice, "sid-a", "alice-code");
    let bob_code = code(&web, &bob, "sid-b", "bob-code");
    store_code(&*store, &alice_code).await;
    store_code(&*store, &bob_code).await;
    let approved = device(&web, "alice-tv");
    store.insert_device_authorization(&approved).await.unwrap();
    store
        .settle_device_authorization(&approved.device_code_hash, &approval(&alice, "sid-a"), t)
        .await
        .unwrap();
    issue(&*store, &web, &alice, "sid-a", "alice-online", false).await;
    issue(&*store, &web, &alice, "sid-a", "alice-offline", true).await;
    issue(&*store, &web, &bob, "sid-b", "bob-online", false).await;

    let revoked = store
        .end_user_access(
            &alice,
            t,
            ostiary_core::grant::RevocationReason::PasswordSet,
        )
        .await
        .unwrap();
    assert_eq!(revoked, 2);
    assert_eq!(store.find_session(&alices.id_hash).await.unwrap(), None);
    assert_eq!(store.find_code(&alice_code.code_hash).await.unwrap(), None);
    assert_eq!(
        store
            .find_device_authorization(&approved.device_code_hash)
            .await
            .unwrap(),
        None
    );
    assert!(!live(&*store, "alice-online").await);
    assert!(!live(&*store, "alice-offline").await);
    assert!(store.find_session(&bobs.id_hash).await.unwrap().is_some());
    assert!(
        store
            .find_code(&bob_code.code_hash)
            .await
            .unwrap()
            .is_some()
    );
    assert!(live(&*store, "bob-online").await);
    let counts = store.revocation_counts().await.unwrap();
    assert!(
        counts.contains(&(ostiary_core::grant::RevocationReason::PasswordSet, 2)),
        "{counts:?}"
    );
}

/// A client narrowed by its operator loses what it holds; another client keeps its own.
async fn revoking_a_clients_grants_takes_its_codes_and_approvals_too(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    sign_in(&*store, &alice, "sid-a").await;
    let web = new_client(&*store, "web").await;
    let other = new_client(&*store, "other").await;
    let web_code = code(&web, &alice, "sid-a", "web-code");
    let other_code = code(&other, &alice, "sid-a", "other-code");
    store_code(&*store, &web_code).await;
    store_code(&*store, &other_code).await;
    let approved = device(&web, "web-tv");
    store.insert_device_authorization(&approved).await.unwrap();
    store
        .settle_device_authorization(
            &approved.device_code_hash,
            &approval(&alice, "sid-a"),
            now(),
        )
        .await
        .unwrap();
    issue(&*store, &web, &alice, "sid-a", "web-grant", true).await;
    issue(&*store, &other, &alice, "sid-a", "other-grant", true).await;

    // A narrowing update of the client ends what it holds, in the same transaction.
    let client = store.find_client(&web).await.unwrap().unwrap();
    assert!(
        store
            .update_client_settings(&client, Some(now()))
            .await
            .unwrap()
    );
    assert_eq!(store.find_code(&web_code.code_hash).await.unwrap(), None);
    assert_eq!(
        store
            .find_device_authorization(&approved.device_code_hash)
            .await
            .unwrap(),
        None
    );
    assert!(!live(&*store, "web-grant").await);
    assert!(
        store
            .find_code(&other_code.code_hash)
            .await
            .unwrap()
            .is_some()
    );
    assert!(live(&*store, "other-grant").await);
}
