//! The HTTPS server of the webhook: accepts TCP, completes TLS with the reloading certificate, and hands each
//! connection (HTTP/1.1 or HTTP/2, as the API server chooses) to the axum router, with a bounded graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use axum::{Json, http::StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use kube::core::DynamicObject;
use kube::core::admission::AdmissionReview;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::certs::ReloadingCert;
use super::metrics::Metrics;
use super::review::{answer, answer_parsed, session_target};
use super::{SessionClusters, WebhookConfig, WebhookError};
use crate::crd::FlinkDeployment;

/// A TLS handshake that takes longer than this is abandoned, so a stalled client cannot hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Room for an object near etcd's 1.5 MiB limit, twice (object and old object), plus the envelope.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// How long a review waits for the session cluster a session job names; past it the job is checked without it
/// (the API server's own timeout for the whole review is the chart's `webhook.timeoutSeconds`, 10 s).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// What a review handler needs.
#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    session_clusters: Option<SessionClusters>,
}

/// The routes: `POST /validate`.
pub(super) fn router(metrics: Arc<Metrics>, session_clusters: Option<SessionClusters>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Shared { metrics, session_clusters })
}

async fn validate(State(shared): State<Shared>, body: Bytes) -> (StatusCode, Json<AdmissionReview<DynamicObject>>) {
    let (review, verdict) = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(raw) => {
            let session_cluster = match (session_target(&raw), &shared.session_clusters) {
                (Some((namespace, name)), Some(lookup)) => session_cluster(lookup, namespace, name).await,
                _ => None,
            };
            answer_parsed(raw, session_cluster.as_ref())
        }
        // Not JSON: `answer` says so.
        Err(_) => answer(&body, None),
    };
    shared.metrics.record(verdict);
    if let Some(response) = &review.response {
        tracing::debug!(uid = %response.uid, verdict = verdict.as_str(), "admission review answered");
    }
    (StatusCode::OK, Json(review))
}

/// The `FlinkDeployment` `namespace/name` through `lookup`, or `None` after [`LOOKUP_TIMEOUT`].
async fn session_cluster(lookup: &SessionClusters, namespace: String, name: String) -> Option<FlinkDeployment> {
    match tokio::time::timeout(LOOKUP_TIMEOUT, lookup(namespace.clone(), name.clone())).await {
        Ok(found) => found,
        Err(_) => {
            tracing::warn!(%namespace, %name, "the session cluster lookup timed out; the job is checked without it");
            None
        }
    }
}

pub(super) async fn run(
    listener: TcpListener,
    config: WebhookConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), WebhookError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = Arc::new(ReloadingCert::load(&config.cert_dir, provider.clone())?);
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(WebhookError::Tls)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let service = TowerToHyperService::new(router(config.metrics.clone(), config.session_clusters.clone()));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning, and keep serving.
                    tracing::warn!(%error, "webhook: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = service.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "webhook: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "webhook: TLS handshake timed out");
                    return;
                }
            };
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, %error, "webhook: connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(config.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("webhook: connections still open after the shutdown grace period; dropping them");
    }
    Ok(())
}
