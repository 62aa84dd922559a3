//! Follows what other instances and the CLI change (the store's change feed, where the
//! backend announces changes): a changed client's cached copy is dropped, changed signing
//! keys are reloaded, the CORS origins re-read, and shared failure counters mirrored, within
//! milliseconds on every instance. The periodic re-reads of `background` stay as the
//! fallback; after a lost connection everything is read again. Beside it, the instances are
//! counted every few seconds to share the client quota among them.

use std::sync::Arc;
use std::time::Duration;

use ostiary_core::changes::{Change, ChangeFeed};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::state::AppState;
use crate::telemetry::error_chain;

/// How long to wait before listening again when the database cannot be reached.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The CORS origins are re-read at most this often: each re-read reads every client, and
/// many clients registering at once must not make every instance read them all each time.
const CORS_AT_MOST_EVERY: Duration = Duration::from_millis(200);

/// How often the instances serving from the database are counted, to share the client quota.
const RECOUNT_EVERY: Duration = Duration::from_secs(5);

/// Starts following the store's changes; `None` when the store announces none (SQLite).
/// The tasks end when the handle is aborted.
pub fn spawn(state: AppState) -> Option<JoinHandle<()>> {
    let feed = state.store.change_feed()?;
    Some(tokio::spawn(follow(state, feed)))
}

async fn follow(state: AppState, mut feed: Box<dyn ChangeFeed>) {
    // Until the feed is connected, nothing is announced: clients are kept briefly.
    state.tokens.clients().set_announced(false);
    let cors_due = Arc::new(Notify::new());
    // Dropped with this task (aborted with it), the tasks beside it go too.
    let _cors = AbortOnDrop(tokio::spawn(reread_cors(state.clone(), cors_due.clone())));
    let _quota = AbortOnDrop(tokio::spawn(share_quota(state.clone())));
    loop {
        match feed.next().await {
            Ok(change) => apply(&state, change, &cors_due).await,
            Err(e) => {
                // Changes go unheard until the feed is back (its `Missed` then re-reads
                // everything): meanwhile clients are kept briefly, as with no feed at all.
                state.tokens.clients().set_announced(false);
                tracing::warn!(error = %error_chain(&e), "listening for changes failed; retrying");
                tokio::time::sleep(RECONNECT_AFTER).await;
            }
        }
    }
}

async fn apply(state: &AppState, change: Change, cors_due: &Notify) {
    match change {
        Change::Client(id) => {
            state.tokens.clients().forget(&id);
            cors_due.notify_one();
        }
        Change::Keys => refresh_keys(state).await,
        Change::Failures(count) => state.limiter.mirror(&count),
        Change::Missed => {
            state.tokens.clients().forget_all();
            state.tokens.clients().set_announced(true);
            cors_due.notify_one();
            refresh_keys(state).await;
            state.limiter.resync().await;
        }
    }
}

async fn refresh_keys(state: &AppState) {
    match state.tokens.keys().refresh().await {
        Ok(true) => tracing::info!("signing keys reloaded after a change"),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "signing key refresh failed; keeping the current keys")
        }
    }
}

/// Re-reads the CORS origins when told to, coalescing what is told meanwhile.
async fn reread_cors(state: AppState, due: Arc<Notify>) {
    loop {
        due.notified().await;
        if let Err(e) = state.cors.refresh(&*state.store).await {
            tracing::warn!(error = %error_chain(&e), "reading CORS origins failed");
        }
        tokio::time::sleep(CORS_AT_MOST_EVERY).await;
    }
}

/// Divides the client quota, when there is one, among the instances serving now.
async fn share_quota(state: AppState) {
    let Some(quota) = state.quota.clone() else {
        return;
    };
    let mut every = tokio::time::interval(RECOUNT_EVERY);
    loop {
        every.tick().await;
        match state.store.live_instances().await {
            Ok(instances) => quota.share_among(instances),
            Err(e) => tracing::debug!(error = %error_chain(&e), "counting instances failed"),
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
