//! Consents: upsert, find, list and delete.

use super::*;

crate::store_tests!(consents_upsert_find_list_delete);

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
