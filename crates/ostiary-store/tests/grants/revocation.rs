//! Revocation: of a grant, of a session's, a user's or every grant, and the cut-off and counts of revoking everything.

use super::*;

crate::store_tests!(
    revoke_grant_revokes_its_access_tokens,
    revoke_session_grants_spares_offline_grants_and_other_sessions,
    revoke_user_grants_with_and_without_a_client,
    revoke_everything_counts_and_ends_everything,
    revoke_everything_sets_the_cutoff_and_revocations_are_counted,
);

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
    store_code(&*store, &pending).await;

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
