//! PostgreSQL behind a pooler that refuses the batch connections' settings, as PgBouncer does
//! unless told to track or ignore them: the store opens all the same, and the user flows'
//! batched writes and reads work through it.

use super::*;
use ostiary_store::testing::{PostgresTestDatabase, TcpProxy};

#[tokio::test]
async fn a_pooler_refusing_the_batch_settings_still_serves_the_batches() {
    let Some(database) = PostgresTestDatabase::create().await else {
        return;
    };
    let (pooler, via) = TcpProxy::pooler_to_postgres(&database.url).await;
    let db = Database::open(&via, 4)
        .await
        .expect("the store opens behind the pooler");
    db.migrate().await.unwrap();
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let client = new_client(&*store, "web").await;
    store_code(&*store, &code(&client, &alice, "sid-a", "grant-a")).await;
    let found = store
        .find_presented_code(&code_hash("grant-a"))
        .await
        .unwrap();
    assert_eq!(found.map(|c| c.code.grant_id), Some("grant-a".to_owned()));

    let startups = pooler.startups();
    let tuned: Vec<&String> = startups.iter().flatten().collect();
    assert_eq!(tuned.len(), 1, "asked once for the settings: {startups:?}");
    assert!(
        tuned[0].contains("-c enable_seqscan=off")
            && tuned[0].contains("-c plan_cache_mode=force_generic_plan"),
        "{tuned:?}"
    );
    assert!(
        startups.iter().filter(|options| options.is_none()).count() >= 2,
        "the batches and the pool connected without: {startups:?}"
    );
    db.close().await;
    pooler.cut();
    database.drop_database().await;
}
