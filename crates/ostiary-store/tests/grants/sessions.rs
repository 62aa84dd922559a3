//! Sessions: insert, find, touch and delete; ending them (by user, by expiry) and what ends with them.

use super::*;

crate::store_tests!(
    sessions_insert_find_touch_delete,
    user_sessions_end_together_and_expired_ones_are_purged,
    a_users_live_sessions_are_listed_newest_login_first,
    a_session_takes_its_unredeemed_codes_and_online_grants_when_it_ends_or_expires,
    a_presented_session_comes_with_its_users_standing,
);

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
    store
        .end_user_access(
            &alice,
            t,
            ostiary_core::grant::RevocationReason::UserDisabled,
        )
        .await
        .unwrap();
    for sid in ["a1", "a2"] {
        let gone = session(&alice, sid, t).id_hash;
        assert_eq!(store.find_session(&gone).await.unwrap(), None);
    }
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

async fn a_users_live_sessions_are_listed_newest_login_first(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let bob = new_user(&*store, "bob").await;
    let t = now();
    let older = session(&alice, "a-older", t - Duration::hours(2));
    let newer = session(&alice, "a-newer", t - Duration::minutes(5));
    let expired = Session {
        expires_at: t - Duration::seconds(1),
        ..session(&alice, "a-expired", t - Duration::hours(9))
    };
    for s in [&older, &newer, &expired, &session(&bob, "b1", t)] {
        store.insert_session(s).await.unwrap();
    }
    let listed = store.list_user_sessions(&alice, t, 10).await.unwrap();
    assert_eq!(listed, vec![newer.clone(), older]);
    let first = store.list_user_sessions(&alice, t, 1).await.unwrap();
    assert_eq!(first, vec![newer]);
    let nobody = new_user(&*store, "carol").await;
    assert!(
        store
            .list_user_sessions(&nobody, t, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_session_takes_its_unredeemed_codes_and_online_grants_when_it_ends_or_expires(
    db: Database,
) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let pending = code(&web, &alice, "sid-1", "pending");
    store_code(&*store, &pending).await;
    let elsewhere = code(&web, &alice, "sid-2", "elsewhere-code");
    store_code(&*store, &elsewhere).await;
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
    store_code(&*store, &old_code).await;
    assert_eq!(store.purge_expired_sessions(t).await.unwrap(), 1);
    assert!(!live(&*store, "old-online").await);
    assert!(revoked(&*store, "at-old-online").await);
    assert!(live(&*store, "old-offline").await);
    assert_eq!(store.find_code(&old_code.code_hash).await.unwrap(), None);
}

/// One read gives the session as `find_session` does and whether its user is disabled.
async fn a_presented_session_comes_with_its_users_standing(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let s = session(&alice, "sid-1", now());
    store.insert_session(&s).await.unwrap();
    assert_eq!(
        store.find_presented_session(&s.id_hash).await.unwrap(),
        Some(PresentedSession {
            session: s.clone(),
            user_disabled: false
        })
    );
    assert!(store.set_user_disabled(&alice, true).await.unwrap());
    let presented = store.find_presented_session(&s.id_hash).await.unwrap();
    assert!(presented.is_some_and(|p| p.user_disabled && p.session == s));
    let unknown = SecretHash::of("no such cookie");
    assert_eq!(store.find_presented_session(&unknown).await.unwrap(), None);
}
