//! Lookups by a presented secret's hash made at the same moment (PostgreSQL reads them in one
//! batch): each caller gets the row of its own key.

use super::*;

crate::store_tests!(lookups_made_together_each_get_their_own_row);

async fn lookups_made_together_each_get_their_own_row(db: Database) {
    let store = db.store();
    let alice = new_user(&*store, "alice").await;
    let bob = new_user(&*store, "bob").await;
    let client = new_client(&*store, "web").await;
    issue(&*store, &client, &alice, "sid-a", "grant-a", true).await;
    issue(&*store, &client, &bob, "sid-b", "grant-b", true).await;
    let waiting = code(&client, &bob, "sid-b", "grant-c");
    store_code(&*store, &waiting).await;
    let unknown = SecretHash::of("no such secret");

    // Polled together on the test's one thread, every lookup queues before any is read.
    let sids = ["sid-b", "", "sid-a", "sid-b"];
    let sessions = sids.map(|sid| {
        let hash = if sid.is_empty() {
            unknown.clone()
        } else {
            session(&alice, sid, now()).id_hash
        };
        let store = store.clone();
        async move { store.find_presented_session(&hash).await.unwrap() }
    });
    let codes = [Some("grant-c"), None, Some("grant-a")].map(|grant_id| {
        let hash = grant_id.map_or(unknown.clone(), code_hash);
        let store = store.clone();
        async move { store.find_presented_code(&hash).await.unwrap() }
    });
    let families = [Some("grant-b"), Some("grant-a"), None, Some("grant-b")].map(|grant_id| {
        let hash = grant_id.map_or(unknown.clone(), |g| refresh_hash(g, 0));
        let store = store.clone();
        async move { store.find_refresh_family(&hash).await.unwrap() }
    });
    let (sessions, codes, families) = futures::join!(
        futures::future::join_all(sessions),
        futures::future::join_all(codes),
        futures::future::join_all(families),
    );

    let sessions: Vec<_> = sessions
        .iter()
        .map(|found| found.as_ref().map(|s| s.session.sid.as_str()))
        .collect();
    assert_eq!(
        sessions,
        [Some("sid-b"), None, Some("sid-a"), Some("sid-b")]
    );
    let codes: Vec<_> = codes
        .iter()
        .map(|found| found.as_ref().map(|c| c.code.grant_id.as_str()))
        .collect();
    assert_eq!(codes, [Some("grant-c"), None, Some("grant-a")]);
    let families: Vec<_> = families
        .iter()
        .map(|found| {
            found
                .as_ref()
                .map(|f| (f.grant.grant_id.as_str(), f.token.token.token_hash.clone()))
        })
        .collect();
    assert_eq!(
        families,
        [
            Some(("grant-b", refresh_hash("grant-b", 0))),
            Some(("grant-a", refresh_hash("grant-a", 0))),
            None,
            Some(("grant-b", refresh_hash("grant-b", 0))),
        ]
    );
}
