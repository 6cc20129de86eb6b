//! The validating admission webhook: `POST /validate` over TLS answers `AdmissionReview`s for `FlinkDeployment`
//! and `FlinkSessionJob` with the same findings, in the same words, as `flinkops validate`. The decision is in
//! `review`, the certificate in `certs`, HTTPS in `server`; the plain-HTTP probes and metrics in `health`.

pub mod certs;
pub mod health;
pub mod metrics;
pub mod review;
mod server;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::crd::FlinkDeployment;

pub use certs::{CertError, ReloadingCert};
pub use health::{HealthConfig, HealthError};
pub use metrics::Metrics;
pub use review::{Verdict, answer, answer_parsed, session_target};

/// Where the webhook listens and what it serves.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Listen address; the chart's container port is `webhook.port` (9443), behind Service port 443.
    pub addr: SocketAddr,
    /// Directory with `tls.crt` and `tls.key`; the chart mounts the webhook Secret at `/etc/flinkops/webhook`.
    pub cert_dir: PathBuf,
    /// Request counters (shared with the health server).
    pub metrics: Arc<Metrics>,
    /// How long in-flight requests may take after shutdown is signalled before connections are dropped.
    pub shutdown_grace: Duration,
    /// Finds the session cluster a `FlinkSessionJob` names, so the job is checked against it; without it (or when it
    /// does not exist yet) the job is checked on its own.
    pub session_clusters: Option<SessionClusters>,
}

/// Looks up a `FlinkDeployment` by `(namespace, name)`; `None` when it does not exist or cannot be read (a review
/// is never denied for the webhook's own trouble reading the cluster).
pub type SessionClusters =
    Arc<dyn Fn(String, String) -> futures::future::BoxFuture<'static, Option<FlinkDeployment>> + Send + Sync>;

/// [`SessionClusters`] reading the API server with `client`.
///
/// # RBAC
/// `get` on `flinkdeployments` in the watched namespaces (the operator has it).
pub fn session_clusters_from(client: kube::Client) -> SessionClusters {
    Arc::new(move |namespace: String, name: String| {
        let api: kube::Api<FlinkDeployment> = kube::Api::namespaced(client.clone(), &namespace);
        Box::pin(async move {
            match api.get_opt(&name).await {
                Ok(found) => found,
                Err(error) => {
                    tracing::warn!(%namespace, %name, %error, "cannot read the session cluster; the job is checked without it");
                    None
                }
            }
        })
    })
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("addr", &self.addr)
            .field("cert_dir", &self.cert_dir)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("session_clusters", &self.session_clusters.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// The chart's layout: `0.0.0.0:port`, certificates in `cert_dir`, ten seconds of grace (the chart's
    /// `webhook.timeoutSeconds` default: no request the API server still waits for is cut short).
    pub fn new(port: u16, cert_dir: impl Into<PathBuf>, metrics: Arc<Metrics>) -> Self {
        WebhookConfig {
            addr: SocketAddr::from(([0, 0, 0, 0], port)),
            cert_dir: cert_dir.into(),
            metrics,
            shutdown_grace: Duration::from_secs(10),
            session_clusters: None,
        }
    }
}

/// Why the webhook could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The port could not be bound.
    #[error("webhook: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate or key could not be loaded at start.
    #[error("webhook certificate: {0}")]
    Certificate(#[from] CertError),
    /// rustls refused the TLS configuration (a provider without the default protocol versions).
    #[error("webhook TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
}

/// Binds `config.addr` and serves the webhook until `shutdown` resolves; in-flight requests then get
/// `config.shutdown_grace` to finish.
///
/// # Errors
/// The port cannot be bound, or the certificate in `config.cert_dir` cannot be loaded (the error names the file).
/// A certificate that later becomes unreadable is logged and the previous one kept.
pub async fn serve(config: WebhookConfig, shutdown: impl Future<Output = ()> + Send) -> Result<(), WebhookError> {
    let addr = config.addr;
    let listener = TcpListener::bind(addr).await.map_err(|source| WebhookError::Bind { addr, source })?;
    serve_on(listener, config, shutdown).await
}

/// Like [`serve`], on a listener already bound (tests bind port 0). `config.addr` is ignored.
///
/// # Errors
/// The certificate cannot be loaded.
pub async fn serve_on(
    listener: TcpListener,
    config: WebhookConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), WebhookError> {
    server::run(listener, config, shutdown).await
}
