//! `DocumentClientStore`: a client whose id is its metadata document's URL is stored with
//! its fetch times in one transaction, its expiry moves with each fetch, and its document row
//! goes with it; other clients have none.

use ostiary_core::admin;
use ostiary_core::client::ClientRegistration;
use ostiary_core::client::UriPolicy;
use ostiary_core::client::{Client, ClientId, GrantType, RedirectUri, TokenEndpointAuthMethod};
use ostiary_core::{AdminError, StoreError, SystemClock};
use ostiary_store::Database;
use time::{Duration, OffsetDateTime};

use crate::store_tests;

store_tests!(
    a_document_client_is_stored_with_its_expiry,
    a_taken_url_stores_nothing,
    each_fetch_moves_the_expiry_of_an_existing_client_only,
    the_document_row_goes_with_its_client,
    an_operator_cannot_register_a_client_under_a_url,
);

const URL: &str = "https://app.example.com/oauth/client.json";

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
}

fn document_client(url: &str, name: &str) -> Client {
    Client {
        id: ClientId::parse_any(url).unwrap(),
        name: name.into(),
        secret_hash: None,
        previous_secret: None,
        auth_method: TokenEndpointAuthMethod::None,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec![
            RedirectUri::parse(
                "https://app.example.com/cb",
                UriPolicy {
                    allow_insecure_http: false,
                },
            )
            .unwrap(),
        ],
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
        created_at: at(0),
    }
}

async fn a_document_client_is_stored_with_its_expiry(db: Database) {
    let store = db.store();
    let client = document_client(URL, "Agent");
    store
        .insert_document_client(&client, at(0), at(3600))
        .await
        .unwrap();
    assert_eq!(
        store.find_client(&client.id).await.unwrap(),
        Some(client.clone())
    );
    assert_eq!(
        store.document_expires_at(&client.id).await.unwrap(),
        Some(at(3600))
    );
    // A URL differing in one byte is another (unknown) client.
    let other = ClientId::parse_any("https://app.example.com/oauth/client.jsoN").unwrap();
    assert_eq!(store.document_expires_at(&other).await.unwrap(), None);
    assert_eq!(store.find_client(&other).await.unwrap(), None);
}

async fn a_taken_url_stores_nothing(db: Database) {
    let store = db.store();
    store
        .insert_document_client(&document_client(URL, "First"), at(0), at(60))
        .await
        .unwrap();
    let err = store
        .insert_document_client(&document_client(URL, "Second"), at(10), at(7200))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let id = ClientId::parse_any(URL).unwrap();
    assert_eq!(store.find_client(&id).await.unwrap().unwrap().name, "First");
    assert_eq!(store.document_expires_at(&id).await.unwrap(), Some(at(60)));
}

async fn each_fetch_moves_the_expiry_of_an_existing_client_only(db: Database) {
    let store = db.store();
    let client = document_client(URL, "Agent");
    store
        .insert_document_client(&client, at(0), at(60))
        .await
        .unwrap();
    assert!(
        store
            .record_document_fetch(&client.id, at(100), at(100) + Duration::hours(24))
            .await
            .unwrap()
    );
    assert_eq!(
        store.document_expires_at(&client.id).await.unwrap(),
        Some(at(100) + Duration::hours(24))
    );
    let gone = ClientId::parse_any("https://app.example.com/gone").unwrap();
    assert!(
        !store
            .record_document_fetch(&gone, at(100), at(200))
            .await
            .unwrap()
    );
    assert_eq!(store.document_expires_at(&gone).await.unwrap(), None);
    assert_eq!(store.find_client(&gone).await.unwrap(), None);
}

async fn the_document_row_goes_with_its_client(db: Database) {
    let store = db.store();
    let client = document_client(URL, "Agent");
    store
        .insert_document_client(&client, at(0), at(60))
        .await
        .unwrap();
    assert!(store.delete_client(&client.id).await.unwrap());
    assert_eq!(store.document_expires_at(&client.id).await.unwrap(), None);
    // Stored again from scratch, as a first fetch after the deletion would.
    store
        .insert_document_client(&client, at(70), at(130))
        .await
        .unwrap();
    assert_eq!(
        store.document_expires_at(&client.id).await.unwrap(),
        Some(at(130))
    );
}

async fn an_operator_cannot_register_a_client_under_a_url(db: Database) {
    let store = db.store();
    let registration = ClientRegistration {
        name: "Shadow".into(),
        client_id: Some(ClientId::parse_any(URL).unwrap()),
        public: true,
        redirect_uris: document_client(URL, "x").redirect_uris,
        ..ClientRegistration::default()
    };
    let err = admin::register_client(&*store, &SystemClock, registration)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AdminError::Invalid(e) if e.reason.contains("metadata documents")),
        "{err:?}"
    );
    assert!(store.list_clients().await.unwrap().is_empty());
}
