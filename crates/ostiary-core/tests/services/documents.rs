//! Metadata document lookups under hostile timing: a request dropped mid-fetch leaves nothing
//! behind, and a fetch that never answers does not mark the client as failed for others.

use std::sync::Arc;
use std::time::Duration;

use ostiary_core::SystemClock;
use ostiary_core::admin::Admin;
use ostiary_core::client::{ClientId, Scope, UriPolicy};
use ostiary_core::metadata_document::{DocumentPolicy, MetadataDocuments};
use ostiary_core::registration::{RegistrationMode, RegistrationPolicy};
use ostiary_store::Database;

use crate::support::Recorded;

/// Documents allowed from 127.0.0.1 over plain http (development), over a fresh database.
async fn documents() -> (MetadataDocuments, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("docs.db").display());
    let db = Database::open(&url, 4).await.unwrap();
    db.migrate().await.unwrap();
    let store = db.store();
    let clock = Arc::new(SystemClock);
    let registration = RegistrationPolicy {
        mode: RegistrationMode::Token,
        scopes: vec![Scope::parse("openid").unwrap()],
        audiences: Vec::new(),
        uri_policy: UriPolicy {
            allow_insecure_http: true,
        },
        endpoint: "http://127.0.0.1/register".into(),
    };
    let policy = DocumentPolicy {
        hosts: "127.0.0.1".parse().unwrap(),
        loopback_http: true,
    };
    let admin = Admin::new(store.clone(), Arc::new(Recorded::default()), clock.clone());
    let documents = MetadataDocuments::new(policy, registration, admin, store, clock).unwrap();
    (documents, dir)
}

/// A host that accepts connections and never answers.
async fn silent_host() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_lookup_dropped_mid_fetch_leaves_no_lock_behind() {
    let (documents, _dir) = documents().await;
    let host = silent_host().await;
    for i in 0..50 {
        let id = ClientId::parse_any(&format!("{host}/client-{i}.json")).unwrap();
        let lookup = tokio::time::timeout(Duration::from_millis(20), documents.find(&id));
        assert!(lookup.await.is_err(), "the silent host answered");
    }
    assert_eq!(documents.lookups_in_flight(), 0);
}
