//! `ostiary serve`: open the database, migrate, listen, and shut down gracefully.

use std::sync::Arc;

use anyhow::Context;
use ostiary_core::SystemClock;
use ostiary_store::Database;
use tokio::net::TcpListener;

use crate::config::{Config, Secrets};
use crate::state::AppState;
use crate::{background, metrics, router};

pub async fn serve(config: Config, secrets: Secrets, migrate: bool) -> anyhow::Result<()> {
    let database = Database::open(config.database_url(), config.database_max_connections).await?;
    if migrate {
        database.migrate().await?;
    }
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("could not listen on {} (OAUTH2_BIND)", config.bind))?;
    let metrics_listener = match config.metrics_bind {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("could not listen on {addr} (OAUTH2_METRICS_BIND)"))?,
        ),
        None => None,
    };
    let state = AppState::build(config, secrets, database.store(), Arc::new(SystemClock)).await?;
    let background = background::spawn(state.clone());
    tracing::info!(addr = %listener.local_addr()?, issuer = %state.config.issuer, "listening");
    let (stop, stopped) = tokio::sync::watch::channel(());
    let metrics_server = match metrics_listener {
        Some(listener) => {
            tracing::info!(addr = %listener.local_addr()?, "metrics listening");
            let mut stopped = stopped.clone();
            Some(tokio::spawn(
                axum::serve(listener, metrics::router(state.clone()))
                    .with_graceful_shutdown(async move {
                        let _ = stopped.changed().await;
                    })
                    .into_future(),
            ))
        }
        None => None,
    };
    let audit = state.audit.clone();
    axum::serve(
        listener,
        router::build(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stop.send(());
    })
    .await
    .context("server failed")?;
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    // Every event of the requests just drained reaches the database before it closes.
    audit.flush().await;
    background.abort();
    database.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (orchestrators) or SIGINT (a terminal): stop accepting, finish in-flight requests.
async fn shutdown_signal() {
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
