//! `flinkops run` on a cluster (without `--local`): the Kubernetes store and runtime under the same manager, the
//! admission webhook, the health and metrics server, and leader election, configured by flags and the chart's
//! `flinkops.yaml`. Leadership lost means the process exits (non-zero), so Kubernetes restarts it as a follower.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::super::operator_config::{self, DEFAULT_HEALTH_PORT, DEFAULT_METRICS_PORT, OperatorConfig};
use super::Args;
use crate::git::filter::PathFilter;
use crate::kubernetes::KubernetesDefaults;
use crate::kubernetes::events::EventPublisher;
use crate::kubernetes::leader::{LeaderConfig, LeaderElector};
use crate::operator::manager::{self, ManagerConfig, Prune};
use crate::runtime::kubernetes::KubernetesRuntime;
use crate::store::eventing::EventingStore;
use crate::store::{KubernetesStore, WatchNamespaces};
use crate::webhook::{self, HealthConfig, Metrics, WebhookConfig};

/// How long a deploy waits for its cluster before the controller goes on observing it. Short, so one slow cluster
/// does not hold a reconcile slot; a deploying cluster is observed again every few seconds anyway.
const DEPLOY_WAIT: Duration = Duration::from_secs(5);
/// How long the webhook and health servers may take to finish open requests on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A Kubernetes client from `--kubeconfig`, else in-cluster configuration or `KUBECONFIG` (kube's inference).
pub(in crate::cli) async fn client(kubeconfig: Option<&Path>) -> Result<Client, String> {
    crate::flink::client::ensure_crypto_provider();
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path).map_err(|e| format!("{}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => kube::Config::infer().await.map_err(|e| format!("no Kubernetes configuration: {e}"))?,
    };
    Client::try_from(config).map_err(|e| format!("cannot build a Kubernetes client: {e}"))
}

/// The namespaces to watch: `FLINKOPS_WATCH_NAMESPACES` (the chart's env), else the file's list; empty: all.
pub(in crate::cli) fn watched_namespaces(config: &OperatorConfig) -> WatchNamespaces {
    let from_env = std::env::var("FLINKOPS_WATCH_NAMESPACES").unwrap_or_default();
    let list = if from_env.trim().is_empty() { config.watch_namespaces.join(",") } else { from_env };
    WatchNamespaces::parse(&list)
}

/// A future that resolves once `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    // An error means the sender is gone: nothing can stop us any more, so never resolve.
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The operator configuration of `--config`, or every default.
pub(in crate::cli) fn operator_config(path: Option<&Path>) -> Result<OperatorConfig, String> {
    path.map_or_else(|| Ok(OperatorConfig::default()), operator_config::load)
}

/// Runs sync, controllers, webhook and health server against the cluster until SIGINT/SIGTERM or lost leadership.
pub(super) async fn run(args: &Args, mut manager_config: ManagerConfig, filter: PathFilter) -> ExitCode {
    let operator = match operator_config(args.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("flinkops run: {message}");
            return ExitCode::from(2);
        }
    };
    if operator.git.prune {
        manager_config.prune = Prune::On;
    }
    let client = match client(args.kubeconfig.as_deref()).await {
        Ok(client) => client,
        Err(message) => {
            eprintln!("flinkops run: {message}");
            return ExitCode::from(2);
        }
    };
    if args.stop_jobs_on_exit {
        warn!("--stop-jobs-on-exit has no effect on Kubernetes: a cluster belongs to its FlinkDeployment");
    }
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| format!("flinkops-{}", std::process::id()));
    let reporter = kube::runtime::events::Reporter { controller: "flinkops".into(), instance: Some(identity.clone()) };
    let store = EventingStore::new(
        KubernetesStore::new(client.clone(), watched_namespaces(&operator)),
        EventPublisher::new(client.clone(), reporter),
    );
    let defaults = KubernetesDefaults { service_account: operator.job_service_account.clone(), ..Default::default() };
    let mut runtime = KubernetesRuntime::new(client.clone(), defaults).with_deploy_timeout(DEPLOY_WAIT);
    if let Some(template) = &args.rest_url_template {
        runtime = runtime.with_rest_url_template(template.clone());
    }

    let (stop, stop_requested) = watch::channel(false);
    tokio::spawn(async move {
        super::shutdown_signal().await;
        let _ = stop.send(true);
    });

    let metrics = Arc::new(Metrics::default());
    let elector = operator.leader_election.enabled.then(|| {
        let namespace = operator
            .leader_election
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".to_owned());
        let mut config = LeaderConfig::new(namespace, identity.clone());
        if let Some(name) = &operator.leader_election.lease_name {
            config.lease_name = name.clone();
        }
        LeaderElector::new(client.clone(), config)
    });
    let leadership = elector.as_ref().map(LeaderElector::leadership);

    let any = |port: u16| SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let health = HealthConfig {
        health_addr: any(operator.health.port.unwrap_or(DEFAULT_HEALTH_PORT)),
        metrics_addr: any(operator.metrics.port.unwrap_or(DEFAULT_METRICS_PORT)),
        metrics: metrics.clone(),
        leader: leadership.as_ref().map(|leadership| leadership.receiver()),
        shutdown_grace: SHUTDOWN_GRACE,
    };
    let health_stop = stopped(stop_requested.clone());
    tokio::spawn(async move {
        if let Err(error) = webhook::health::serve(health, health_stop).await {
            error!(%error, "the health and metrics server stopped");
        }
    });
    if operator.webhook.enabled {
        let mut config = WebhookConfig::new(operator.webhook.port, operator.webhook.cert_dir.clone(), metrics.clone());
        config.session_clusters = Some(webhook::session_clusters_from(client.clone()));
        let webhook_stop = stopped(stop_requested.clone());
        tokio::spawn(async move {
            if let Err(error) = webhook::serve(config, webhook_stop).await {
                error!(%error, "the admission webhook stopped");
            }
        });
    }
    if let Some(elector) = elector {
        let elector_stop = stopped(stop_requested.clone());
        tokio::spawn(async move {
            if let Err(error) = elector.run(elector_stop).await {
                error!(%error, "leader election stopped");
            }
        });
    }
    metrics.set_ready(true);

    let mut lost_leadership = None;
    if let Some(mut leadership) = leadership {
        info!("waiting to become the leader");
        tokio::select! {
            () = leadership.acquired() => info!("leading: the controllers start"),
            () = stopped(stop_requested.clone()) => return ExitCode::SUCCESS,
        }
        lost_leadership = Some(leadership);
    }
    let source =
        match super::super::source::select(&args.source.repo, args.source.branch.as_deref(), filter, &args.state_dir) {
            Ok(source) => source,
            Err(error) => {
                eprintln!("flinkops run: {error}");
                return ExitCode::from(2);
            }
        };
    let (lost, lost_reported) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        match lost_leadership {
            Some(mut leadership) => tokio::select! {
                () = stopped(stop_requested) => {}
                () = leadership.lost() => {
                    error!("leadership lost: stopping so that only the leader acts");
                    let _ = lost.send(());
                }
            },
            None => stopped(stop_requested).await,
        }
    };
    manager::run(store, runtime, source, manager_config, shutdown).await;
    if lost_reported.await.is_ok() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
