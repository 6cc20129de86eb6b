//! The manager: the whole loop on one machine. It follows the Git source, loads and validates manifests, applies
//! the valid ones to the store, and runs one reconcile task per resource. Store writes and timers wake the
//! tasks. On shutdown the clusters keep running (a restarted flinkops adopts them), unless asked to stop them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::crd::{FlinkDeployment, Kind};
use crate::git::source::{Source, SyncOutcome};
use crate::manifests::load::load_texts;
use crate::runtime::local::LocalRuntime;
use crate::store::{ObjectRef, Store};
use crate::validation::{Resource, Severity};

use super::controller::{Controller, FIELD_MANAGER};

/// Settings of the manager loop.
pub struct ManagerConfig {
    /// How often the source is checked for a new revision.
    pub sync_interval: Duration,
    /// Stop every Flink process on exit instead of leaving the jobs running.
    pub stop_jobs_on_exit: bool,
}

/// Runs until `shutdown` resolves.
pub async fn run_local<S: Store, Src: Source>(
    store: S,
    runtime: LocalRuntime,
    mut source: Src,
    config: ManagerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let controller = Arc::new(Controller { store: store.clone(), runtime });
    let mut tasks: HashMap<ObjectRef, (Arc<Notify>, JoinHandle<()>)> = HashMap::new();
    let mut events = store.watch();
    tokio::pin!(shutdown);
    let mut sync_timer = tokio::time::interval(config.sync_interval);
    sync_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    // Resources already in the store (a restart) are reconciled at once; their clusters are adopted.
    match store.list::<FlinkDeployment>().await {
        Ok(existing) => {
            for deployment in existing {
                ensure_task(&mut tasks, &controller, ObjectRef::of(&deployment));
            }
        }
        Err(error) => error!(%error, "cannot list the stored resources"),
    }

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = sync_timer.tick() => {
                let (returned, outcome) = match tokio::task::spawn_blocking(move || { let outcome = source.sync(); (source, outcome) }).await {
                    Ok(result) => result,
                    Err(error) => { error!(%error, "the source task panicked"); return; }
                };
                source = returned;
                match outcome {
                    SyncOutcome::Unchanged { .. } => {}
                    SyncOutcome::Updated { from, to } => {
                        info!(from = from.as_deref().unwrap_or("-"), to = %to, "new revision");
                        if let Some(snapshot) = source.current() {
                            apply_snapshot(&store, &snapshot.files, &snapshot.revision).await;
                        }
                    }
                    SyncOutcome::Failed(error) => {
                        let status = source.status();
                        warn!(%error, serving = status.revision.as_deref().unwrap_or("nothing"), "the source could not be synced; keeping the last good revision");
                    }
                }
            }
            event = events.recv() => match event {
                // Status and finalizer writes (the controllers' own) do not wake anyone.
                Ok(event) if !event.generation_changed => {}
                Ok(event) if event.kind == Kind::FlinkDeployment => {
                    let (notify, _) = ensure_task(&mut tasks, &controller, event.object());
                    notify.notify_one();
                }
                Ok(event) => {
                    tracing::debug!(object = %event.object(), "no controller for this kind yet");
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    if let Ok(all) = store.list::<FlinkDeployment>().await {
                        for deployment in all {
                            let (notify, _) = ensure_task(&mut tasks, &controller, ObjectRef::of(&deployment));
                            notify.notify_one();
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }

    info!("shutting down");
    for (_, (_, task)) in tasks.drain() {
        task.abort();
    }
    if config.stop_jobs_on_exit {
        info!("stopping every Flink cluster (--stop-jobs-on-exit)");
        controller.runtime.stop_all().await;
    } else {
        info!("leaving the Flink clusters running; the next flinkops adopts them");
        controller.runtime.detach_all().await;
    }
}

fn ensure_task<'t, S: Store>(
    tasks: &'t mut HashMap<ObjectRef, (Arc<Notify>, JoinHandle<()>)>,
    controller: &Arc<Controller<S, LocalRuntime>>,
    object: ObjectRef,
) -> &'t (Arc<Notify>, JoinHandle<()>) {
    tasks.entry(object.clone()).or_insert_with(|| {
        let notify = Arc::new(Notify::new());
        let wake = notify.clone();
        let controller = controller.clone();
        let handle = tokio::spawn(async move {
            let mut backoff = Duration::from_secs(1);
            loop {
                let requeue = match controller.reconcile(&object.namespace, &object.name).await {
                    Ok(requeue) => {
                        backoff = Duration::from_secs(1);
                        requeue
                    }
                    Err(error) => {
                        warn!(resource = %object, %error, retry_in = ?backoff, "reconcile failed");
                        let wait = backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                        wait
                    }
                };
                if requeue == Duration::MAX {
                    // Gone, or nothing will happen until the resource changes.
                    wake.notified().await;
                } else {
                    tokio::select! {
                        () = tokio::time::sleep(requeue) => {}
                        () = wake.notified() => {}
                    }
                }
            }
        });
        (notify, handle)
    })
}

/// Loads, validates and applies one revision: valid resources are applied, invalid ones are reported with file,
/// line and field and left as they were.
pub async fn apply_snapshot<S: Store>(store: &S, files: &[(String, Vec<u8>)], revision: &str) {
    let set = load_texts(files.iter().map(|(path, bytes)| (path.clone(), Ok(bytes.clone()))));
    for problem in &set.problems {
        match problem.severity {
            Severity::Error => error!(revision, "{problem}"),
            Severity::Warning => warn!(revision, "{problem}"),
        }
    }
    for manifest in &set.manifests {
        let applied = match &manifest.resource {
            Some(Resource::Deployment(deployment)) => store
                .apply(deployment.as_ref(), FIELD_MANAGER)
                .await
                .map(|d| (d.metadata.generation, d.metadata.resource_version)),
            Some(Resource::SessionJob(job)) => store
                .apply(job.as_ref(), FIELD_MANAGER)
                .await
                .map(|j| (j.metadata.generation, j.metadata.resource_version)),
            None => continue,
        };
        match applied {
            Ok((generation, _)) => {
                tracing::debug!(kind = %manifest.kind, namespace = %manifest.namespace, name = %manifest.name, ?generation, "applied")
            }
            Err(error) => {
                error!(kind = %manifest.kind, namespace = %manifest.namespace, name = %manifest.name, %error, "apply failed")
            }
        }
    }
    info!(
        revision,
        resources = set.manifests.len(),
        errors = set.error_count(),
        "revision applied (invalid manifests were left as they were)"
    );
}
