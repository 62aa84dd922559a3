//! `RegistrationStore`: initial access tokens are spent once per registration, never past
//! their uses or expiry (racing registrations included), and a self-registered client is
//! stored with its registration access token in one transaction, or not at all.

use ostiary_core::StoreError;
use ostiary_core::client::{Client, ClientId, GrantType, TokenEndpointAuthMethod};
use ostiary_core::registration::RegistrationToken;
use ostiary_core::secret::SecretHash;
use ostiary_store::Database;
use time::{Duration, OffsetDateTime};

use crate::store_tests;

store_tests!(
    registration_tokens_round_trip_and_are_revoked,
    a_token_is_spent_by_each_registration_up_to_its_uses,
    an_expired_token_registers_nothing,
    racing_registrations_spend_the_last_use_once,
    a_taken_client_id_stores_nothing_and_spends_nothing,
    the_access_token_goes_with_its_client,
    expired_tokens_are_purged,
);

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn token(max_uses: u32) -> RegistrationToken {
    RegistrationToken::issue(now(), now() + Duration::hours(1), max_uses).0
}

fn client(id: &str) -> Client {
    Client {
        id: ClientId::parse(id).unwrap(),
        name: id.into(),
        secret_hash: None,
        previous_secret: None,
        auth_method: TokenEndpointAuthMethod::None,
        grant_types: vec![GrantType::AuthorizationCode],
        redirect_uris: Vec::new(),
        scopes: Vec::new(),
        audiences: Vec::new(),
        introspect_audiences: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        skip_consent: false,
        access_token_lifetime: None,
        id_token_alg: ostiary_jwt::Algorithm::Rs256,
        jwks: None,
        dpop_bound_access_tokens: false,
        require_pushed_authorization_requests: false,
        require_mfa: false,
        impersonation: false,
        created_at: now(),
    }
}

async fn uses_of(db: &Database, token: &RegistrationToken) -> u32 {
    db.store()
        .find_registration_token(&token.token_hash)
        .await
        .unwrap()
        .unwrap()
        .uses
}

async fn registration_tokens_round_trip_and_are_revoked(db: Database) {
    let store = db.store();
    let one = token(3);
    store.insert_registration_token(&one).await.unwrap();
    assert_eq!(
        store.list_registration_tokens().await.unwrap(),
        vec![one.clone()]
    );
    assert_eq!(
        store
            .find_registration_token(&one.token_hash)
            .await
            .unwrap(),
        Some(one.clone())
    );
    assert_eq!(
        store
            .find_registration_token(&SecretHash::of("guess"))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.insert_registration_token(&one).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .delete_registration_token(&one.token_id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_registration_token(&one.token_id)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .find_registration_token(&one.token_hash)
            .await
            .unwrap(),
        None
    );
    // A revoked token registers nothing.
    let stored = store
        .insert_registered_client(
            &client("late"),
            &SecretHash::of("rat"),
            Some(&one.token_id),
            now(),
        )
        .await
        .unwrap();
    assert!(!stored);
    assert_eq!(store.find_client(&client("late").id).await.unwrap(), None);
}

async fn a_token_is_spent_by_each_registration_up_to_its_uses(db: Database) {
    let store = db.store();
    let two = token(2);
    store.insert_registration_token(&two).await.unwrap();
    for (i, id) in ["a", "b"].into_iter().enumerate() {
        let stored = store
            .insert_registered_client(&client(id), &SecretHash::of(id), Some(&two.token_id), now())
            .await
            .unwrap();
        assert!(stored);
        assert_eq!(uses_of(&db, &two).await, u32::try_from(i + 1).unwrap());
    }
    let third = store
        .insert_registered_client(
            &client("c"),
            &SecretHash::of("c"),
            Some(&two.token_id),
            now(),
        )
        .await
        .unwrap();
    assert!(!third);
    assert_eq!(store.find_client(&client("c").id).await.unwrap(), None);
    assert_eq!(
        store
            .find_registration_access_token(&client("c").id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(uses_of(&db, &two).await, 2);
}

async fn an_expired_token_registers_nothing(db: Database) {
    let store = db.store();
    let one = token(5);
    store.insert_registration_token(&one).await.unwrap();
    let at_expiry = one.expires_at;
    let stored = store
        .insert_registered_client(
            &client("x"),
            &SecretHash::of("x"),
            Some(&one.token_id),
            at_expiry,
        )
        .await
        .unwrap();
    assert!(!stored);
    assert_eq!(uses_of(&db, &one).await, 0);
    assert_eq!(store.list_clients().await.unwrap(), Vec::new());
}

async fn racing_registrations_spend_the_last_use_once(db: Database) {
    let store = db.store();
    let one = token(1);
    store.insert_registration_token(&one).await.unwrap();
    let attempts = (0..6).map(|i| {
        let store = db.store();
        let id = one.token_id.clone();
        async move {
            store
                .insert_registered_client(
                    &client(&format!("racer{i}")),
                    &SecretHash::of("rat"),
                    Some(&id),
                    now(),
                )
                .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    let stored = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(stored, 1, "{results:?}");
    assert_eq!(store.list_clients().await.unwrap().len(), 1);
    assert_eq!(uses_of(&db, &one).await, 1);
}

async fn a_taken_client_id_stores_nothing_and_spends_nothing(db: Database) {
    let store = db.store();
    let one = token(2);
    store.insert_registration_token(&one).await.unwrap();
    store.insert_client(&client("taken")).await.unwrap();
    let result = store
        .insert_registered_client(
            &client("taken"),
            &SecretHash::of("t"),
            Some(&one.token_id),
            now(),
        )
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(uses_of(&db, &one).await, 0);
    assert_eq!(
        store
            .find_registration_access_token(&client("taken").id)
            .await
            .unwrap(),
        None,
        "an operator's client gains no registration access token"
    );
}

async fn the_access_token_goes_with_its_client(db: Database) {
    let store = db.store();
    let open = client("open");
    let hash = SecretHash::of("registration access token");
    assert!(
        store
            .insert_registered_client(&open, &hash, None, now())
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_client(&open.id).await.unwrap(),
        Some(open.clone())
    );
    assert_eq!(
        store
            .find_registration_access_token(&open.id)
            .await
            .unwrap(),
        Some(hash)
    );
    assert!(store.delete_client(&open.id).await.unwrap());
    assert_eq!(
        store
            .find_registration_access_token(&open.id)
            .await
            .unwrap(),
        None
    );
    // Registered again under the same id, the client does not inherit the old token.
    store.insert_client(&open).await.unwrap();
    assert_eq!(
        store
            .find_registration_access_token(&open.id)
            .await
            .unwrap(),
        None
    );
}

async fn expired_tokens_are_purged(db: Database) {
    let store = db.store();
    let old = token(1);
    store.insert_registration_token(&old).await.unwrap();
    let fresh = RegistrationToken::issue(now(), now() + Duration::days(2), 1).0;
    store.insert_registration_token(&fresh).await.unwrap();
    let purged = store
        .purge_expired_registration_tokens(now() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(store.list_registration_tokens().await.unwrap(), vec![fresh]);
}
