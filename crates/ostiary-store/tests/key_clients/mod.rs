//! Key-based clients and one-time values: `private_key_jwt` clients keep their keys and no
//! secret, and a `jti` is used once across every connection until it expires.

use ostiary_core::admin;
use ostiary_core::client::{ClientJwks, ClientRegistration, GrantType, TokenEndpointAuthMethod};
use ostiary_core::secret::SecretHash;
use ostiary_core::{AdminError, SystemClock};
use ostiary_store::Database;
use time::{Duration, OffsetDateTime};

use crate::store_tests;

store_tests!(
    a_key_client_round_trips_with_its_keys_and_no_secret,
    a_jwks_uri_client_round_trips,
    a_key_client_has_no_secret_to_rotate,
    a_value_is_used_once_until_it_expires,
    concurrent_uses_of_one_value_let_exactly_one_through,
);

const EC_KEY: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
    "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

fn service(id: &str, jwks: ClientJwks) -> ClientRegistration {
    ClientRegistration {
        name: "Service".into(),
        client_id: Some(id.parse().unwrap()),
        grant_types: vec![GrantType::ClientCredentials],
        jwks: Some(jwks),
        dpop_bound_access_tokens: true,
        ..ClientRegistration::default()
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

async fn a_key_client_round_trips_with_its_keys_and_no_secret(db: Database) {
    let store = db.store();
    let jwks = ClientJwks::from_json(EC_KEY).unwrap();
    let registered = admin::register_client(&*store, &SystemClock, service("svc", jwks.clone()))
        .await
        .unwrap();
    assert!(registered.secret.is_none(), "no secret for private_key_jwt");
    let client = registered.client;
    assert_eq!(client.auth_method, TokenEndpointAuthMethod::PrivateKeyJwt);
    assert!(client.secret_hash.is_none());
    let found = store.find_client(&client.id).await.unwrap().unwrap();
    assert_eq!(found.jwks, Some(jwks));
    assert!(found.dpop_bound_access_tokens);
    assert_eq!(found, client);
}

async fn a_jwks_uri_client_round_trips(db: Database) {
    let store = db.store();
    let jwks = ClientJwks::from_uri("https://svc.example.com/jwks.json").unwrap();
    let registered = admin::register_client(&*store, &SystemClock, service("svc", jwks))
        .await
        .unwrap();
    let found = store
        .find_client(&registered.client.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found.jwks.as_ref().and_then(ClientJwks::uri),
        Some("https://svc.example.com/jwks.json")
    );
    assert_eq!(found, registered.client);
}

async fn a_key_client_has_no_secret_to_rotate(db: Database) {
    let store = db.store();
    let jwks = ClientJwks::from_json(EC_KEY).unwrap();
    let client = admin::register_client(&*store, &SystemClock, service("svc", jwks))
        .await
        .unwrap()
        .client;
    let err = admin::rotate_secret(&*store, &SystemClock, &client.id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AdminError::Invalid(_)), "{err:?}");
    // Nor can the store be made to give it one behind the service's back.
    let hash = SecretHash::of("sneaked in");
    assert!(
        !store
            .update_client_secret(&client.id, &hash, None)
            .await
            .unwrap()
    );
    let found = store.find_client(&client.id).await.unwrap().unwrap();
    assert!(found.secret_hash.is_none());
}

async fn a_value_is_used_once_until_it_expires(db: Database) {
    let store = db.store();
    let key = SecretHash::of("client_assertion\0svc\0jti-1");
    let until = now() + Duration::minutes(5);
    assert!(store.use_once(&key, until, now()).await.unwrap());
    assert!(!store.use_once(&key, until, now()).await.unwrap(), "replay");
    assert!(
        !store
            .use_once(&key, until, now() + Duration::minutes(4))
            .await
            .unwrap(),
        "still remembered before it expires"
    );
    let other = SecretHash::of("client_assertion\0svc\0jti-2");
    assert!(store.use_once(&other, until, now()).await.unwrap());

    // Past its expiry (purged or not) the value may be recorded again.
    let later = now() + Duration::minutes(6);
    assert!(
        store
            .use_once(&key, later + Duration::minutes(5), later)
            .await
            .unwrap()
    );
    assert_eq!(store.purge_expired_replay_keys(later).await.unwrap(), 1);
    assert!(
        !store
            .use_once(&key, later + Duration::minutes(5), later)
            .await
            .unwrap(),
        "the renewed record survived the purge"
    );
}

async fn concurrent_uses_of_one_value_let_exactly_one_through(db: Database) {
    let store = db.store();
    let key = SecretHash::of("dpop_proof\0jkt\0same-jti");
    let until = now() + Duration::minutes(3);
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        let key = key.clone();
        tokio::spawn(async move { store.use_once(&key, until, now()).await.unwrap() })
    });
    let mut first_uses = 0;
    for attempt in attempts {
        if attempt.await.unwrap() {
            first_uses += 1;
        }
    }
    assert_eq!(first_uses, 1);
}
