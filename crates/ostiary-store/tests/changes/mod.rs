//! Several instances on one database: the change feed announces client and key changes and
//! every change of a shared failure counter, and reports a lost connection as `Missed`;
//! failure counters count every failure of racing instances. PostgreSQL only: SQLite, one
//! instance, offers neither.

use std::time::Duration;

use ostiary_core::changes::{Change, ChangeFeed, FailureCount};
use ostiary_core::client::ClientId;
use ostiary_core::keys::KeyManager;
use ostiary_core::{SystemClock, admin};
use ostiary_jwt::Algorithm;
use ostiary_store::Database;

use crate::store_tests;

store_tests!(
    client_and_key_changes_are_announced,
    failure_counters_are_shared_announced_and_forgotten,
    racing_failures_are_all_counted,
    a_lost_listener_reports_missed_and_listens_again,
);

const WINDOW: i64 = 15 * 60 * 1000;
const NOW: i64 = 1_800_000_000_000;

/// The store's feed, connected (its first answer, `Missed`, taken); `None` on SQLite, which
/// must then offer no shared counters either.
async fn feed(db: &Database) -> Option<Box<dyn ChangeFeed>> {
    let store = db.store();
    let Some(mut feed) = store.change_feed() else {
        assert!(store.shared_failures().is_none());
        return None;
    };
    assert_eq!(
        next(&mut feed).await,
        Change::Missed,
        "connecting reports a gap"
    );
    Some(feed)
}

async fn next(feed: &mut Box<dyn ChangeFeed>) -> Change {
    tokio::time::timeout(Duration::from_secs(5), feed.next())
        .await
        .expect("a change within 5 s")
        .expect("the feed answers")
}

async fn client_and_key_changes_are_announced(db: Database) {
    let Some(mut feed) = feed(&db).await else {
        return;
    };
    let store = db.store();
    let registration = ostiary_core::client::ClientRegistration {
        name: "svc".into(),
        client_id: Some(ClientId::parse("svc").unwrap()),
        grant_types: vec![ostiary_core::client::GrantType::ClientCredentials],
        ..Default::default()
    };
    admin::register_client(&*store, &SystemClock, registration)
        .await
        .unwrap();
    let svc = ClientId::parse("svc").unwrap();
    assert_eq!(next(&mut feed).await, Change::Client(svc.clone()));
    admin::delete_client(&*store, &svc).await.unwrap();
    assert_eq!(next(&mut feed).await, Change::Client(svc));

    let keys = KeyManager::new(
        store.clone(),
        b"root secret for the change feed test",
        std::sync::Arc::new(SystemClock),
        time::Duration::hours(1),
    )
    .unwrap();
    keys.rotate(Algorithm::Es256).await.unwrap();
    assert_eq!(next(&mut feed).await, Change::Keys);
}

async fn failure_counters_are_shared_announced_and_forgotten(db: Database) {
    let Some(mut feed) = feed(&db).await else {
        return;
    };
    let store = db.store();
    let shared = store.shared_failures().expect("shared counters");
    let keys = [
        ("a|pair|x|192.0.2.1".to_owned(), WINDOW),
        ("a|source|192.0.2.1".to_owned(), WINDOW),
    ];
    let first = shared.count_failures(&keys, NOW).await.unwrap();
    assert_eq!(first.iter().map(|c| c.failures).collect::<Vec<_>>(), [1, 1]);
    let second = shared.count_failures(&keys, NOW + 10).await.unwrap();
    assert_eq!(
        second[0],
        FailureCount {
            key: keys[0].0.clone(),
            failures: 2,
            last_failure: NOW + 10,
            locked_until: None,
        }
    );
    // Every change is announced, in order, with the counter's new state.
    for expected in first.iter().chain(&second) {
        assert_eq!(next(&mut feed).await, Change::Failures(expected.clone()));
    }

    shared.lock_failures(&keys[0].0, NOW + 5_000).await.unwrap();
    let locked = FailureCount {
        locked_until: Some(NOW + 5_000),
        ..second[0].clone()
    };
    assert_eq!(next(&mut feed).await, Change::Failures(locked.clone()));
    // A shorter lock does not shorten it.
    shared.lock_failures(&keys[0].0, NOW + 1_000).await.unwrap();
    assert_eq!(next(&mut feed).await, Change::Failures(locked));
    let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(
        shared.locked_until(&names, NOW + 100).await.unwrap(),
        Some(NOW + 5_000)
    );
    assert_eq!(
        shared.locked_until(&names, NOW + 5_000).await.unwrap(),
        None
    );
    assert_eq!(shared.recent_failures(NOW, 100).await.unwrap().len(), 2);

    // After the window, counting starts again and the old lock is gone.
    let later = shared
        .count_failures(&keys[..1], NOW + 10 + WINDOW + 1)
        .await
        .unwrap();
    assert_eq!((later[0].failures, later[0].locked_until), (1, None));
    assert!(matches!(next(&mut feed).await, Change::Failures(c) if c.failures == 1));

    shared.forget_failures(&keys[0].0).await.unwrap();
    assert_eq!(
        next(&mut feed).await,
        Change::Failures(FailureCount {
            key: keys[0].0.clone(),
            failures: 0,
            last_failure: 0,
            locked_until: None,
        })
    );
    // At most `limit` come back, the locked first.
    shared
        .count_failures(&[("b|source|192.0.2.2".to_owned(), WINDOW)], NOW + 20)
        .await
        .unwrap();
    shared
        .lock_failures("b|source|192.0.2.2", NOW + 9_000)
        .await
        .unwrap();
    let first = shared.recent_failures(NOW, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].locked_until, Some(NOW + 9_000));
    for _ in 0..2 {
        assert!(matches!(next(&mut feed).await, Change::Failures(_)));
    }
    shared.forget_failures("b|source|192.0.2.2").await.unwrap();
    assert!(matches!(next(&mut feed).await, Change::Failures(c) if c.failures == 0));

    // Forgetting what is not there writes and announces nothing.
    shared.forget_failures(&keys[0].0).await.unwrap();
    shared.forget_failures("never|counted").await.unwrap();
    assert_eq!(shared.purge_failures(NOW + 11).await.unwrap(), 1);
    assert!(shared.recent_failures(0, 100).await.unwrap().is_empty());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), feed.next())
            .await
            .is_err(),
        "nothing more was announced"
    );
}

async fn racing_failures_are_all_counted(db: Database) {
    let Some(_) = feed(&db).await else {
        return;
    };
    let store = db.store();
    let key = [("client|source|192.0.2.9".to_owned(), WINDOW)];
    let racing = (0..16).map(|i| {
        let store = store.clone();
        let key = key.clone();
        async move {
            let shared = store.shared_failures().unwrap();
            shared.count_failures(&key, NOW + i).await.unwrap()[0].failures
        }
    });
    let mut seen = futures::future::join_all(racing).await;
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=16).collect::<Vec<u32>>(),
        "each racer saw its own count"
    );
}

async fn a_lost_listener_reports_missed_and_listens_again(db: Database) {
    let Some(mut feed) = feed(&db).await else {
        return;
    };
    ostiary_store::testing::terminate_listeners(&db).await;
    assert_eq!(next(&mut feed).await, Change::Missed);
    let store = db.store();
    let shared = store.shared_failures().unwrap();
    let counted = shared
        .count_failures(&[("k".to_owned(), WINDOW)], NOW)
        .await
        .unwrap();
    assert_eq!(next(&mut feed).await, Change::Failures(counted[0].clone()));
}

/// A connection that stays open but carries nothing (a half-open TCP connection, a pooler that
/// hands the `LISTEN` session to someone else) is found out by the feed's own heartbeat and
/// replaced. PostgreSQL only; the database is reached through a proxy that can silence it.
#[tokio::test]
async fn a_listener_that_hears_nothing_is_replaced() {
    let Some(database) = ostiary_store::testing::PostgresTestDatabase::create().await else {
        return;
    };
    let (proxy, via) = ostiary_store::testing::TcpProxy::to_postgres(&database.url).await;
    let db = Database::open(&via, 4).await.unwrap();
    db.migrate().await.unwrap();
    let mut feed = feed(&db).await.expect("PostgreSQL has a feed");
    proxy.silence();
    let started = std::time::Instant::now();
    let silent = tokio::time::timeout(Duration::from_secs(30), feed.next()).await;
    assert!(
        matches!(silent, Ok(Err(_))),
        "a silent listener is reported within 30 s"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "not before its time"
    );
    assert_eq!(next(&mut feed).await, Change::Missed, "and replaced");
    // The new listener hears a change made elsewhere (directly, not through the proxy, whose
    // silenced connections the first store's pool may still hold).
    let direct = Database::open(&database.url, 2).await.unwrap();
    let store = direct.store();
    let counted = store
        .shared_failures()
        .unwrap()
        .count_failures(&[("k".to_owned(), WINDOW)], NOW)
        .await
        .unwrap();
    assert_eq!(next(&mut feed).await, Change::Failures(counted[0].clone()));
    drop(feed);
    proxy.cut();
    direct.close().await;
    database.drop_database().await;
}
