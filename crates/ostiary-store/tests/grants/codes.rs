//! Authorization codes: round trips and one redemption, also under concurrency.

use super::*;

crate::store_tests!(
    code_round_trips_and_redeems_once,
    concurrent_redemptions_have_one_winner,
    a_presented_code_comes_with_its_users_standing,
);

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

/// One read gives the code as `find_code` does and whether its user is disabled.
async fn a_presented_code_comes_with_its_users_standing(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let web = new_client(&*store, "web").await;
    let c = code(&web, &alice, "sid-1", "g1");
    store.insert_code(&c).await.unwrap();
    let presented = store.find_presented_code(&c.code_hash).await.unwrap();
    assert_eq!(
        presented,
        Some(PresentedCode {
            code: c.clone(),
            user_disabled: false
        })
    );
    assert!(store.set_user_disabled(&alice, true).await.unwrap());
    let presented = store.find_presented_code(&c.code_hash).await.unwrap();
    assert!(presented.is_some_and(|p| p.user_disabled && p.code == c));
    let unknown = SecretHash::of("no such code");
    assert_eq!(store.find_presented_code(&unknown).await.unwrap(), None);
}
