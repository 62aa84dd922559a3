//! Periodic work of a running server: follow key changes made by other instances or the CLI,
//! rotate keys when automatic rotation is on, purge expired records and old audit events,
//! re-read CORS origins.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::state::{AppState, ID_TOKEN_ALGS, reseal_keys};
use crate::telemetry::error_chain;

const PURGE_EVERY: Duration = Duration::from_secs(60);
/// Audit events deleted per statement by the retention purge, and the pause between two.
const AUDIT_PURGE_CHUNK: u32 = 5_000;
const AUDIT_PURGE_PAUSE: Duration = Duration::from_millis(100);
const CODE_REPLAY_MEMORY: time::Duration = time::Duration::days(1);

pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let periodic = async {
            let mut refresh = tokio::time::interval(state.config.key_refresh);
            let mut purge = tokio::time::interval(PURGE_EVERY);
            loop {
                tokio::select! {
                    _ = refresh.tick() => refresh_keys(&state).await,
                    _ = purge.tick() => housekeeping(&state).await,
                }
            }
        };
        // Side by side, so a long purge never holds up a key refresh.
        match state.config.audit_retention_days {
            Some(days) => tokio::join!(periodic, audit_retention(&state, days)).0,
            None => periodic.await,
        }
    })
}

async fn refresh_keys(state: &AppState) {
    let keys = state.tokens.keys();
    if let Some(max_age) = state.config.key_rotation
        && let Ok(max_age) = time::Duration::try_from(max_age)
    {
        let access = state.config.access_token_alg;
        let algs = std::iter::once(access)
            .chain(ID_TOKEN_ALGS.into_iter().filter(|a| *a != access))
            .filter(|a| !a.is_symmetric());
        for alg in algs {
            match keys.manager().rotate_if_older_than(alg, max_age).await {
                Ok(true) => tracing::info!(%alg, "signing key rotated automatically"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %error_chain(&e), "automatic key rotation failed")
                }
            }
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

/// Once a minute: drops what can no longer be used (codes stay a day past expiry, so a late
/// replay of a redeemed code still finds its grant and revokes it), re-seals signing keys
/// and users' TOTP keys under the current root secret, and re-reads the public clients' CORS
/// origins.
async fn housekeeping(state: &AppState) {
    let now = state.clock.now();
    state.limiter.prune_expired().await;
    reseal_keys(state.tokens.keys()).await;
    if state.tokens.keys().manager().has_previous_secrets() {
        match state.factors.reseal().await {
            Ok(0) => {}
            Ok(moved) => {
                tracing::info!(
                    moved,
                    "TOTP keys re-sealed under the current OAUTH2_JWT_SECRET"
                )
            }
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "re-sealing TOTP keys failed")
            }
        }
    }
    // Reads every client: once a minute, not with each key refresh.
    if let Err(e) = state.cors.refresh(&*state.store).await {
        tracing::warn!(error = %error_chain(&e), "reading CORS origins failed");
    }
    let purged = [
        (
            "revocations",
            state.store.purge_expired_revocations(now).await,
        ),
        ("sessions", state.store.purge_expired_sessions(now).await),
        (
            "interactions",
            state.store.purge_expired_interactions(now).await,
        ),
        (
            "pushed requests",
            state.store.purge_expired_pushed_requests(now).await,
        ),
        (
            "one-time values",
            state.store.purge_expired_replay_keys(now).await,
        ),
        (
            "registration tokens",
            state.store.purge_expired_registration_tokens(now).await,
        ),
        (
            "grants",
            state
                .store
                .purge_expired_grants(now - CODE_REPLAY_MEMORY)
                .await,
        ),
    ];
    for (what, result) in purged {
        match result {
            Ok(0) => {}
            Ok(n) => tracing::debug!(what, purged = n, "expired records removed"),
            Err(e) => tracing::warn!(what, error = %error_chain(&e), "purging failed"),
        }
    }
}

/// `OAUTH2_AUDIT_RETENTION_DAYS`, beside the periodic work: once a minute, events older than `days` go, a chunk per statement with a pause
/// between, so the appends that responses wait for get the write lock in between.
async fn audit_retention(state: &AppState, days: u32) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        every.tick().await;
        let Some(before) = state
            .clock
            .now()
            .checked_sub(time::Duration::days(i64::from(days)))
        else {
            continue;
        };
        let mut purged = 0;
        loop {
            match state
                .store
                .purge_audit_events(before, AUDIT_PURGE_CHUNK)
                .await
            {
                Ok(n) => {
                    purged += n;
                    if n < u64::from(AUDIT_PURGE_CHUNK) {
                        break;
                    }
                    tokio::time::sleep(AUDIT_PURGE_PAUSE).await;
                }
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), "purging the audit trail failed");
                    break;
                }
            }
        }
        if purged > 0 {
            tracing::info!(purged, "audit events past the retention period removed");
        }
    }
}
