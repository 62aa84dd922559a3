//! Periodic work of a running server: follow key changes made by other instances or the CLI,
//! rotate keys when automatic rotation is on, and purge expired revocations.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::state::AppState;
use crate::telemetry::error_chain;

const PURGE_EVERY: Duration = Duration::from_secs(60);

pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut refresh = tokio::time::interval(state.config.key_refresh);
        let mut purge = tokio::time::interval(PURGE_EVERY);
        loop {
            tokio::select! {
                _ = refresh.tick() => refresh_keys(&state).await,
                _ = purge.tick() => purge_revocations(&state).await,
            }
        }
    })
}

async fn refresh_keys(state: &AppState) {
    let keys = state.tokens.keys();
    if let Some(max_age) = state.config.key_rotation {
        let alg = state.config.access_token_alg;
        match time::Duration::try_from(max_age) {
            Ok(max_age) if !alg.is_symmetric() => {
                match keys.manager().rotate_if_older_than(alg, max_age).await {
                    Ok(true) => tracing::info!(%alg, "signing key rotated automatically"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %error_chain(&e), "automatic key rotation failed")
                    }
                }
            }
            _ => {}
        }
    }
    match keys.refresh().await {
        Ok(true) => tracing::info!("signing keys reloaded"),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "signing key refresh failed; keeping the current keys")
        }
    }
}

async fn purge_revocations(state: &AppState) {
    match state
        .store
        .purge_expired_revocations(state.clock.now())
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::debug!(purged = n, "expired revocations removed"),
        Err(e) => tracing::warn!(error = %error_chain(&e), "purging revocations failed"),
    }
}
