//! `PushedRequestStore`: a pushed request is taken once, only by the client that pushed it,
//! goes with its client, and is purged after expiry.

use ostiary_core::SystemClock;
use ostiary_core::admin;
use ostiary_core::authorize::PushedRequest;
use ostiary_core::client::{ClientId, ClientRegistration};
use ostiary_core::secret::SecretHash;
use ostiary_store::Database;
use time::{Duration, OffsetDateTime};

use crate::store_tests;

store_tests!(
    a_pushed_request_is_taken_once_by_its_client_only,
    racing_takes_get_it_once,
    pushed_requests_go_with_their_client_and_expire,
);

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

async fn client(db: &Database, id: &str) -> ClientId {
    let registration = ClientRegistration {
        name: id.into(),
        client_id: Some(id.parse().unwrap()),
        ..ClientRegistration::default()
    };
    admin::register_client(&*db.store(), &SystemClock, registration)
        .await
        .unwrap()
        .client
        .id
}

fn pushed(id: &str, client: &ClientId, expires_at: OffsetDateTime) -> PushedRequest {
    PushedRequest {
        id_hash: SecretHash::of(id),
        client_id: client.clone(),
        params: r#"[["response_type","code"]]"#.into(),
        expires_at,
    }
}

async fn a_pushed_request_is_taken_once_by_its_client_only(db: Database) {
    let store = db.store();
    let web = client(&db, "web").await;
    let other = client(&db, "other").await;
    let request = pushed("one", &web, now() + Duration::seconds(60));
    store.insert_pushed_request(&request).await.unwrap();
    let id = SecretHash::of("one");
    assert_eq!(store.take_pushed_request(&id, &other).await.unwrap(), None);
    assert_eq!(
        store.take_pushed_request(&id, &web).await.unwrap(),
        Some(request)
    );
    assert_eq!(store.take_pushed_request(&id, &web).await.unwrap(), None);
}

async fn racing_takes_get_it_once(db: Database) {
    let store = db.store();
    let web = client(&db, "web").await;
    store
        .insert_pushed_request(&pushed("race", &web, now() + Duration::seconds(60)))
        .await
        .unwrap();
    let takes = (0..6).map(|_| {
        let (store, web) = (store.clone(), web.clone());
        tokio::spawn(async move {
            store
                .take_pushed_request(&SecretHash::of("race"), &web)
                .await
                .unwrap()
                .is_some()
        })
    });
    let mut taken = 0;
    for take in takes {
        taken += usize::from(take.await.unwrap());
    }
    assert_eq!(taken, 1);
}

async fn pushed_requests_go_with_their_client_and_expire(db: Database) {
    let store = db.store();
    let web = client(&db, "web").await;
    let gone = client(&db, "gone").await;
    for (id, who, at) in [
        ("fresh", &web, now() + Duration::seconds(60)),
        ("stale", &web, now() - Duration::seconds(1)),
        ("orphan", &gone, now() + Duration::seconds(60)),
    ] {
        store
            .insert_pushed_request(&pushed(id, who, at))
            .await
            .unwrap();
    }
    admin::delete_client(&*store, &gone).await.unwrap();
    assert_eq!(store.purge_expired_pushed_requests(now()).await.unwrap(), 1);
    let take = |id: &'static str, who: ClientId| {
        let store = store.clone();
        async move {
            store
                .take_pushed_request(&SecretHash::of(id), &who)
                .await
                .unwrap()
        }
    };
    assert!(take("orphan", gone.clone()).await.is_none());
    assert!(take("stale", web.clone()).await.is_none());
    assert!(take("fresh", web.clone()).await.is_some());
}
