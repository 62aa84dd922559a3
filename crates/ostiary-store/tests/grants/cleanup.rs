//! What goes away with time or with its owner: purging expired rows, deleting a client, disabling a user.

use super::*;

crate::store_tests!(
    purge_drops_expired_codes_tokens_and_orphaned_grants,
    deleting_a_client_removes_its_codes_grants_and_consents,
    disabling_a_user_ends_sessions_and_revokes_grants,
);

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
    store_code(&*store, &stale).await;

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

async fn deleting_a_client_removes_its_codes_grants_and_consents(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let cli = new_client(&*store, "cli").await;
    issue(&*store, &web, &alice, "s1", "g-web", true).await;
    issue(&*store, &cli, &alice, "s1", "g-cli", true).await;
    let pending = code(&web, &alice, "s1", "pending");
    store_code(&*store, &pending).await;
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
    admin::disable_user(&*store, &SystemClock, &alice_name)
        .await
        .unwrap();
    assert_eq!(store.find_session(&a.id_hash).await.unwrap(), None);
    assert!(!live(&*store, "alice-offline").await, "offline grants too");
    assert!(revoked(&*store, "at-alice-offline-0").await);
    assert!(store.find_session(&b.id_hash).await.unwrap().is_some());
    assert!(live(&*store, "bob-web").await);
}
