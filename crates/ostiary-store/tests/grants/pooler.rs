//! PostgreSQL behind PgBouncer with its default settings, which refuses startup parameters it
//! does not track (among them the batch connections' settings) unless told to ignore them:
//! the store opens all the same, and the user flows' batched writes and reads work through it.

use super::*;
use ostiary_store::testing::{PoolerOptions, PostgresTestDatabase, TcpProxy};

#[tokio::test]
async fn behind_pgbouncer_before_1_20_the_batches_connect_without_their_settings() {
    batches_work_behind(PoolerOptions::Refused).await;
}

#[tokio::test]
async fn behind_pgbouncer_from_1_20_the_batches_connect_without_their_settings() {
    batches_work_behind(PoolerOptions::Parsed).await;
}

async fn batches_work_behind(rules: PoolerOptions) {
    let Some(database) = PostgresTestDatabase::create().await else {
        return;
    };
    let (pooler, via) = TcpProxy::pooler_to_postgres(&database.url, rules).await;
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

    // One start asked for the settings and was refused; every other start went through.
    let startups = pooler.startups();
    let refused: Vec<_> = startups.iter().filter(|s| s.refused.is_some()).collect();
    assert_eq!(refused.len(), 1, "{startups:?}");
    let options = refused[0].options.as_deref().unwrap_or_default();
    assert!(
        options.contains("-c enable_seqscan=off")
            && options.contains("-c plan_cache_mode=force_generic_plan"),
        "{options}"
    );
    let with_options = startups.iter().filter(|s| s.options.is_some()).count();
    assert_eq!(with_options, 1, "{startups:?}");
    db.close().await;
    pooler.cut();
    database.drop_database().await;
}
