//! The plain-HTTP health and metrics server: `/healthz` (the process answers), `/readyz` (the operator said it is
//! ready), `/metrics` (Prometheus text). The same routes are served on the health and the metrics port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::metrics::Metrics;

/// Where and what the health server serves.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// `/healthz`, `/readyz` (the chart's `operatorHealth.port`, 8085).
    pub health_addr: SocketAddr,
    /// `/metrics` (the chart's `metrics.port`, 9090). May equal `health_addr`: then one listener serves both.
    pub metrics_addr: SocketAddr,
    /// The counters and the readiness flag.
    pub metrics: Arc<Metrics>,
    /// The leader elector's "is leader" flag; `None` when leader election is off.
    pub leader: Option<watch::Receiver<bool>>,
    /// How long open connections may take to finish after shutdown is signalled.
    pub shutdown_grace: Duration,
}

/// Why the health server stopped.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("health server: {0}")]
    Serve(#[source] std::io::Error),
}

#[derive(Clone)]
struct Probe {
    metrics: Arc<Metrics>,
    leader: Option<watch::Receiver<bool>>,
}

/// The routes, for callers that serve them themselves.
pub fn router(metrics: Arc<Metrics>, leader: Option<watch::Receiver<bool>>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Probe { metrics, leader })
}

async fn readyz(State(probe): State<Probe>) -> impl IntoResponse {
    if probe.metrics.is_ready() { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "starting\n") }
}

async fn metrics_text(State(probe): State<Probe>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], probe.metrics.render(probe.leader.as_ref()))
}

/// Binds the health (and, if different, the metrics) port and serves until `shutdown` resolves; then open
/// connections get `shutdown_grace` to finish before they are dropped.
///
/// # Errors
/// A port cannot be bound, or accepting fails.
pub async fn serve(config: HealthConfig, shutdown: impl Future<Output = ()> + Send) -> Result<(), HealthError> {
    let mut addrs = vec![config.health_addr];
    if config.metrics_addr != config.health_addr {
        addrs.push(config.metrics_addr);
    }
    let mut listeners = Vec::new();
    for addr in addrs {
        listeners.push(TcpListener::bind(addr).await.map_err(|source| HealthError::Bind { addr, source })?);
    }
    serve_on(listeners, config, shutdown).await
}

/// Like [`serve`], on listeners already bound (tests bind port 0). The addresses in `config` are ignored.
///
/// # Errors
/// Accepting fails.
pub async fn serve_on(
    listeners: Vec<TcpListener>,
    config: HealthConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), HealthError> {
    let (stop, stopped) = watch::channel(false);
    let app = router(config.metrics, config.leader);
    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        let mut stopped = stopped.clone();
        let server = axum::serve(listener, app.clone()).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        });
        servers.spawn(server.into_future());
    }
    tokio::select! {
        () = shutdown => {}
        Some(result) = servers.join_next() => {
            // A server ended before shutdown: accepting failed.
            servers.abort_all();
            return match result {
                Ok(result) => result.map_err(HealthError::Serve),
                Err(join) => Err(HealthError::Serve(std::io::Error::other(join))),
            };
        }
    }
    let _ = stop.send(true);
    let drained =
        tokio::time::timeout(config.shutdown_grace, async { while servers.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("health server: connections still open after the shutdown grace period; dropping them");
        servers.abort_all();
    }
    Ok(())
}
