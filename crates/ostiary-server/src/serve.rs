//! `ostiary serve`: open the database, migrate, listen, and shut down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ostiary_core::SystemClock;
use ostiary_store::Database;

use crate::config::{Config, Secrets};
use crate::connections::{self, Limits};
use crate::state::AppState;
use crate::tls::Tls;
use crate::{admin_api, audit, background, changes, metrics, router};

/// Descriptors kept out of the public listener's budget besides the database pool: the
/// listeners, the metrics listener's connections, log and SQLite files, the runtime's own,
/// PostgreSQL's listening and probing connections.
const RESERVED_DESCRIPTORS: u64 = 64;
/// The default cap where descriptors are plentiful: an idle connection still costs buffers.
const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The metrics listener serves a scraper or two; its own small cap keeps it off the budget.
const METRICS_MAX_CONNECTIONS: usize = 16;
/// The admin API serves operators' automation: a few connections at a time.
const ADMIN_MAX_CONNECTIONS: usize = 64;

pub async fn serve(config: Config, secrets: Secrets, migrate: bool) -> anyhow::Result<()> {
    // First, before the database and the listeners take descriptors of their own.
    let descriptors = raise_descriptor_limit();
    let limits = Limits {
        max_connections: connection_cap(
            config.http_max_connections,
            descriptors,
            config.database_max_connections,
        ),
        header_timeout: config.http_header_timeout,
        idle_timeout: config.http_idle_timeout,
    };
    tracing::info!(
        max_connections = limits.max_connections,
        descriptor_limit = descriptors,
        "connection limits"
    );
    // Before the database: files that cannot be served stop the start at once.
    let tls = match &config.tls {
        Some(files) => Some(Tls::load(files.clone()).context("could not load the TLS files")?),
        None => None,
    };
    let database = Database::open(config.database_url(), config.database_max_connections).await?;
    if migrate {
        database.migrate().await?;
    }
    let listener = connections::bind(config.bind)
        .with_context(|| format!("could not listen on {} (OAUTH2_BIND)", config.bind))?;
    let metrics_listener = match config.metrics_bind {
        Some(addr) => Some(
            connections::bind(addr)
                .with_context(|| format!("could not listen on {addr} (OAUTH2_METRICS_BIND)"))?,
        ),
        None => None,
    };
    // The watcher ends with the last clone of `tls`, when the public listener has drained.
    let _reload = tls.as_ref().map(|tls| tls.watch(config.tls_reload));
    let admin_listener = match config.admin_bind {
        Some(addr) => Some(
            connections::bind(addr)
                .with_context(|| format!("could not listen on {addr} (OAUTH2_ADMIN_BIND)"))?,
        ),
        None => None,
    };
    let state = AppState::build(config, secrets, database.store(), Arc::new(SystemClock)).await?;
    let admin_router = match admin_listener {
        Some(listener) => Some((listener, admin_api::router(state.clone())?)),
        None => None,
    };
    let background = background::spawn(state.clone());
    let changes = changes::spawn(state.clone());
    tracing::info!(
        addr = %listener.local_addr()?,
        issuer = %state.config.issuer,
        tls = tls.is_some(),
        "listening"
    );
    let (stop, stopped) = tokio::sync::watch::channel(());
    let metrics_server = match metrics_listener {
        Some(listener) => {
            tracing::info!(addr = %listener.local_addr()?, "metrics listening");
            let mut stopped = stopped.clone();
            Some(tokio::spawn(connections::serve(
                listener,
                metrics::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
                Limits {
                    max_connections: METRICS_MAX_CONNECTIONS,
                    ..limits
                },
                // Plain HTTP: the metrics listener serves a local scraper.
                None,
                async move {
                    let _ = stopped.changed().await;
                },
            )))
        }
        None => None,
    };
    let admin_server = match admin_router {
        Some((listener, router)) => {
            tracing::info!(addr = %listener.local_addr()?, "admin API listening");
            let mut stopped = stopped.clone();
            Some(tokio::spawn(connections::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
                Limits {
                    max_connections: ADMIN_MAX_CONNECTIONS,
                    ..limits
                },
                // Admin tokens are bearer credentials: with native TLS configured, they
                // travel over it here too (the same certificate).
                tls.clone(),
                async move {
                    let _ = stopped.changed().await;
                },
            )))
        }
        None => None,
    };
    let audit = state.audit.clone();
    connections::serve(
        listener,
        router::build(state).into_make_service_with_connect_info::<SocketAddr>(),
        limits,
        tls,
        async move {
            shutdown_signal().await;
            let _ = stop.send(());
        },
    )
    .await;
    for server in [metrics_server, admin_server].into_iter().flatten() {
        let _ = server.await;
    }
    // Every event of the requests just drained reaches the database before it closes; what
    // a database that does not answer in time leaves in the journal is replayed at next start.
    if tokio::time::timeout(audit::CLOSE_WITHIN, audit.close())
        .await
        .is_err()
    {
        tracing::warn!(
            "the audit journal was not copied whole before shutdown; the rest is replayed at the next start"
        );
    }
    background.abort();
    if let Some(changes) = changes {
        changes.abort();
    }
    database.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Raises the soft descriptor limit to the hard one (the soft default, often 1024 or less, is
/// far below what a server needs) and returns the limit now in force.
fn raise_descriptor_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
            tracing::warn!(error = %e, limit, "could not raise the descriptor limit");
            limit
        }
    }
}

/// The public listener's connection cap: what is configured, but never more than the
/// descriptors left once the database pool and the rest are provided for, since a server out
/// of descriptors cannot even answer `/healthz`.
fn connection_cap(configured: Option<usize>, descriptors: u64, pool: u32) -> usize {
    let reserved = RESERVED_DESCRIPTORS + u64::from(pool);
    // A tiny limit leaves little either way; half of it still serves someone.
    let budget = descriptors
        .saturating_sub(reserved)
        .max(descriptors / 2)
        .max(1);
    let budget = usize::try_from(budget).unwrap_or(usize::MAX);
    match configured {
        None => budget.min(DEFAULT_MAX_CONNECTIONS),
        Some(n) if n > budget => {
            tracing::warn!(
                configured = n,
                using = budget,
                descriptor_limit = descriptors,
                "OAUTH2_HTTP_MAX_CONNECTIONS is above what the descriptor limit allows"
            );
            budget
        }
        Some(n) => n,
    }
}

/// SIGTERM (orchestrators) or SIGINT (a terminal): stop accepting, finish in-flight requests.
pub(crate) async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received; draining connections");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_stays_below_the_descriptor_limit() {
        assert_eq!(connection_cap(None, 1_048_576, 10), DEFAULT_MAX_CONNECTIONS);
        assert_eq!(connection_cap(None, 1024, 10), 1024 - 74);
        assert_eq!(connection_cap(Some(100), 1024, 10), 100);
        assert_eq!(connection_cap(Some(5000), 1024, 10), 1024 - 74);
        assert_eq!(connection_cap(None, 128, 10), 64);
        assert_eq!(connection_cap(None, 0, 10), 1);
    }
}
