//! The manager: the whole loop on one machine. It follows the Git source, loads and validates manifests, applies
//! the valid ones to the store (and deletes what left Git), and runs one reconcile task per resource, with the
//! cluster runtime for `FlinkDeployment`s and the session-job runtime for `FlinkSessionJob`s. Store writes and
//! timers wake the tasks. On shutdown the clusters keep running (a restarted flinkops adopts them), unless asked to
//! stop them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::crd::{FlinkDeployment, FlinkSessionJob, Kind};
use crate::git::source::{Source, SyncOutcome};
use crate::manifests::load::load_texts;
use crate::runtime::kubernetes::KubernetesRuntime;
use crate::runtime::local::LocalRuntime;
use crate::runtime::{Runtime, SessionJobRuntime};
use crate::store::{ObjectRef, Store, StoreError, StoredResource};
use crate::validation::{Resource, Severity};
use crate::writeback::WriteBack;

use super::controller::{Controller, FIELD_MANAGER, Managed, ReconcileError};

/// A cluster runtime the manager can run on: it deploys the clusters, gives the session-job runtime over them, and
/// says what happens to the clusters when flinkops stops.
pub trait ClusterRuntime: Runtime + Sized + 'static {
    /// The runtime that submits session jobs to this runtime's session clusters, recording its submissions under
    /// `state_dir`.
    fn session_jobs(self: &Arc<Self>, state_dir: &std::path::Path) -> SessionJobRuntime<Self>;
    /// Called once on shutdown: stop every cluster (`stop_jobs`), or leave them running for the next flinkops.
    fn shut_down(&self, stop_jobs: bool) -> impl std::future::Future<Output = ()> + Send;
}

impl ClusterRuntime for LocalRuntime {
    /// The local runtime keeps its own state directory (the store's), so `_state_dir` is the same place.
    fn session_jobs(self: &Arc<Self>, _state_dir: &std::path::Path) -> SessionJobRuntime<Self> {
        SessionJobRuntime::new(self.clone(), self.state_dir())
            .with_image_root(self.image_root().map(std::path::Path::to_path_buf))
    }

    async fn shut_down(&self, stop_jobs: bool) {
        if stop_jobs {
            info!("stopping every Flink cluster (--stop-jobs-on-exit)");
            self.stop_all().await;
        } else {
            info!("leaving the Flink clusters running; the next flinkops adopts them");
            self.detach_all().await;
        }
    }
}

/// Reconciles running at once, like upstream's `kubernetes.operator.reconcile.parallelism`. A resync of 1,000
/// resources otherwise holds 1,000 reconciles (and their reads and connections) in memory at the same moment.
pub const RECONCILE_PARALLELISM: usize = 50;

impl ClusterRuntime for KubernetesRuntime {
    fn session_jobs(self: &Arc<Self>, state_dir: &std::path::Path) -> SessionJobRuntime<Self> {
        SessionJobRuntime::new(self.clone(), state_dir)
    }

    async fn shut_down(&self, _stop_jobs: bool) {
        // A cluster belongs to its FlinkDeployment (owner references), not to this process: it keeps running.
        info!("the Flink clusters keep running; they belong to their FlinkDeployments");
    }
}

/// The controllers of both kinds, over one store and one cluster runtime.
struct Controllers<S, R> {
    deployments: Controller<S, Arc<R>>,
    session_jobs: Controller<S, SessionJobRuntime<R>>,
    running: tokio::sync::Semaphore,
}

impl<S: Store, R: ClusterRuntime> Controllers<S, R> {
    async fn reconcile(&self, object: &ObjectRef) -> Result<Duration, ReconcileError> {
        // Never closed, so the permit is always granted.
        let _permit = self.running.acquire().await.ok();
        match object.kind {
            Kind::FlinkDeployment => {
                self.deployments.reconcile::<FlinkDeployment>(&object.namespace, &object.name).await
            }
            Kind::FlinkSessionJob => {
                self.session_jobs.reconcile::<FlinkSessionJob>(&object.namespace, &object.name).await
            }
        }
    }
}

/// Every stored object of both kinds.
async fn stored_objects<S: Store>(store: &S) -> Vec<ObjectRef> {
    let mut objects = Vec::new();
    match store.list::<FlinkDeployment>().await {
        Ok(all) => objects.extend(all.iter().map(StoredResource::store_ref)),
        Err(error) => error!(%error, "cannot list the stored FlinkDeployments"),
    }
    match store.list::<FlinkSessionJob>().await {
        Ok(all) => objects.extend(all.iter().map(StoredResource::store_ref)),
        Err(error) => error!(%error, "cannot list the stored FlinkSessionJobs"),
    }
    objects
}

/// Jitter of the source's sync interval and retry delay, as a fraction of it.
const SYNC_JITTER: f64 = 0.1;

/// Settings of the manager loop.
pub struct ManagerConfig {
    /// How often the source is checked for a new revision.
    pub sync_interval: Duration,
    /// Stop every Flink process on exit instead of leaving the jobs running.
    pub stop_jobs_on_exit: bool,
    /// Savepoint write-back to Git, and how often it commits.
    pub write_back: Option<(WriteBack, Duration)>,
    /// Where the session-job runtime records its submissions.
    pub state_dir: std::path::PathBuf,
    /// Delete the resources whose manifests left Git ([`Prune`]).
    pub prune: Prune,
}

/// What happens to a stored resource whose manifest is no longer in Git.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prune {
    /// Left alone, with a warning (the default on Kubernetes, where others may create resources too).
    Off,
    /// Marked with [`PRUNED_ANNOTATION`] (so its job is stopped with a savepoint first) and deleted.
    On,
}

/// Set on a resource sync deletes because its manifest left Git: the controller then takes a savepoint before the
/// job goes, whatever `kubernetes.operator.job.savepoint-on-deletion` says, so the job's state is never lost to a
/// removed file.
pub const PRUNED_ANNOTATION: &str = "flinkops.io/pruned";

/// Runs until `shutdown` resolves.
pub async fn run<S: Store, R: ClusterRuntime, Src: Source>(
    store: S,
    runtime: R,
    mut source: Src,
    config: ManagerConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let runtime = Arc::new(runtime);
    let session_runtime = runtime.session_jobs(&config.state_dir);
    let mut deployments = Controller::new(store.clone(), runtime.clone());
    let mut session_jobs = Controller::new(store.clone(), session_runtime);
    let write_back = config.write_back.map(|(writer, interval)| {
        let (records, reported) = tokio::sync::mpsc::unbounded_channel();
        deployments.savepoint_records = Some(records.clone());
        session_jobs.savepoint_records = Some(records);
        info!(branch = writer.branch(), ?interval, "savepoints are written back to Git");
        tokio::spawn(super::write_back::run(store.clone(), writer, reported, interval))
    });
    let controller = Arc::new(Controllers {
        deployments,
        session_jobs,
        running: tokio::sync::Semaphore::new(RECONCILE_PARALLELISM),
    });
    let mut tasks: HashMap<ObjectRef, (Arc<Notify>, JoinHandle<()>)> = HashMap::new();
    let mut events = store.watch();
    tokio::pin!(shutdown);
    // The next sync: one interval after a success, backing off exponentially (with jitter) after failures.
    let sync_at = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sync_at);
    let mut failed_before = 0;

    // Resources already in the store (a restart) are reconciled at once; their clusters are adopted.
    for object in stored_objects(&store).await {
        ensure_task(&mut tasks, &controller, object);
    }

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = &mut sync_at => {
                let (returned, outcome) = match tokio::task::spawn_blocking(move || { let outcome = source.sync(); (source, outcome) }).await {
                    Ok(result) => result,
                    Err(error) => { error!(%error, "the source task panicked"); return; }
                };
                source = returned;
                let failures = source.status().consecutive_failures;
                let wait = crate::git::poll::next_sync_delay(config.sync_interval, failures, SYNC_JITTER);
                sync_at.as_mut().reset(tokio::time::Instant::now() + wait);
                if failures == 0 && failed_before > 0 {
                    info!(failed_syncs = failed_before, "the source is reachable again");
                }
                failed_before = failures;
                match outcome {
                    SyncOutcome::Unchanged { .. } => {}
                    SyncOutcome::Updated { from, to } => {
                        info!(from = from.as_deref().unwrap_or("-"), to = %to, "new revision");
                        if let Some(snapshot) = source.current() {
                            apply_snapshot(&store, &snapshot.files, &snapshot.revision, config.prune).await;
                        }
                    }
                    SyncOutcome::Failed(error) => {
                        let status = source.status();
                        warn!(%error, serving = status.revision.as_deref().unwrap_or("nothing"), failures, retry_in = ?wait, "the source could not be synced; keeping the last good revision");
                    }
                }
            }
            event = events.recv() => match event {
                // Status and finalizer writes (the controllers' own) do not wake anyone.
                Ok(event) if !event.generation_changed => {}
                Ok(event) => {
                    let (notify, _) = ensure_task(&mut tasks, &controller, event.object());
                    notify.notify_one();
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for object in stored_objects(&store).await {
                        let (notify, _) = ensure_task(&mut tasks, &controller, object);
                        notify.notify_one();
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
    if let Some(write_back) = write_back {
        write_back.abort();
    }
    runtime.shut_down(config.stop_jobs_on_exit).await;
}

fn ensure_task<'t, S: Store, R: ClusterRuntime>(
    tasks: &'t mut HashMap<ObjectRef, (Arc<Notify>, JoinHandle<()>)>,
    controller: &Arc<Controllers<S, R>>,
    object: ObjectRef,
) -> &'t (Arc<Notify>, JoinHandle<()>) {
    tasks.entry(object.clone()).or_insert_with(|| {
        let notify = Arc::new(Notify::new());
        let wake = notify.clone();
        let controller = controller.clone();
        let handle = tokio::spawn(async move {
            let mut backoff = Duration::from_secs(1);
            loop {
                let requeue = match controller.reconcile(&object).await {
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

/// Marks a resource whose manifest left Git with [`PRUNED_ANNOTATION`] (its job is stopped with a savepoint) and
/// deletes it; the controller's finalizer does the rest.
async fn prune_one<S: Store, K: StoredResource>(store: &S, object: &ObjectRef) -> Result<(), StoreError> {
    if let Some(mut live) = store.get::<K>(&object.namespace, &object.name).await? {
        let annotations = live.meta_mut().annotations.get_or_insert_with(Default::default);
        if annotations.get(PRUNED_ANNOTATION).map(String::as_str) != Some("true") {
            annotations.insert(PRUNED_ANNOTATION.to_owned(), "true".to_owned());
            live.meta_mut().resource_version = None;
            store.apply(&live, FIELD_MANAGER).await?;
        }
    }
    store.delete::<K>(&object.namespace, &object.name).await.map(|_| ())
}

/// Applies one manifest of `revision`, recording on the resource the revision its manifest comes from
/// ([`super::sync_record`]), and reports the sync as an event: `Synced` when its spec changed (with the fields left
/// to other managers), `SyncFailed` when the apply failed. Returns the new generation.
async fn sync_one<S: Store, K: StoredResource>(
    store: &S,
    desired: &K,
    revision: &str,
) -> Result<Option<i64>, StoreError> {
    let target = desired.store_ref();
    let before = store.get::<K>(&target.namespace, &target.name).await.ok().flatten();
    let before_generation = before.as_ref().and_then(|o| o.meta().generation);
    let stamped = super::sync_record::stamp(desired, before.as_ref(), revision);
    match store.apply_reporting(&stamped, FIELD_MANAGER).await {
        Ok(applied) => {
            let generation = applied.object.meta().generation;
            if generation != before_generation {
                let mut note = format!("revision {revision} applied (generation {})", generation.unwrap_or_default());
                if !applied.stripped.is_empty() {
                    let left: Vec<String> = applied
                        .stripped
                        .iter()
                        .map(|field| format!("{} ({})", field.path, field.managers.join(", ")))
                        .collect();
                    note.push_str(&format!("; left to their managers: {}", left.join(", ")));
                }
                store.publish_event(&applied.object, false, "Synced", &note).await;
            }
            Ok(generation)
        }
        Err(error) => {
            if let Some(live) = &before {
                store.publish_event(live, true, "SyncFailed", &format!("revision {revision}: {error}")).await;
            }
            Err(error)
        }
    }
}

/// Loads, validates and applies one revision: valid resources are applied, invalid ones are reported with file,
/// line and field and left as they were, and stored resources that are no longer in Git are deleted (their
/// controllers stop their jobs). A revision with errors deletes nothing: a file that does not parse would
/// otherwise look like the deletion of everything in it.
pub async fn apply_snapshot<S: Store>(store: &S, files: &[(String, Vec<u8>)], revision: &str, prune: Prune) {
    let set = load_texts(files.iter().map(|(path, bytes)| (path.clone(), Ok(bytes.clone()))));
    for problem in &set.problems {
        match problem.severity {
            Severity::Error => error!(revision, "{problem}"),
            Severity::Warning => warn!(revision, "{problem}"),
        }
    }
    for manifest in set.manifests.iter().filter(|m| m.has_errors && !m.name.is_empty()) {
        // The stored resource keeps its last valid spec; its status says why the new one was not applied.
        let Some(problem) = set
            .problems
            .iter()
            .find(|p| p.severity == Severity::Error && p.file == manifest.file && p.line >= manifest.line())
        else {
            continue;
        };
        let message = format!("revision {revision}: {problem}");
        let (namespace, name) = (&manifest.namespace, &manifest.name);
        let reported = match manifest.kind {
            Kind::FlinkDeployment => {
                report_manifest_error::<S, FlinkDeployment>(store, namespace, name, Some(&message)).await
            }
            Kind::FlinkSessionJob => {
                report_manifest_error::<S, FlinkSessionJob>(store, namespace, name, Some(&message)).await
            }
        };
        if let Err(error) = reported {
            warn!(kind = %manifest.kind, %namespace, %name, %error, "cannot record the manifest error in status");
        }
    }
    for manifest in &set.manifests {
        let applied = match &manifest.resource {
            Some(Resource::Deployment(deployment)) => sync_one(store, deployment.as_ref(), revision).await,
            Some(Resource::SessionJob(job)) => sync_one(store, job.as_ref(), revision).await,
            None => continue,
        };
        match applied {
            Ok(generation) => {
                tracing::debug!(kind = %manifest.kind, namespace = %manifest.namespace, name = %manifest.name, ?generation, "applied");
                // The manifest loads again: a manifest error recorded for it is over.
                let (namespace, name) = (manifest.namespace.as_str(), manifest.name.as_str());
                let cleared = match manifest.kind {
                    Kind::FlinkDeployment => {
                        report_manifest_error::<S, FlinkDeployment>(store, namespace, name, None).await
                    }
                    Kind::FlinkSessionJob => {
                        report_manifest_error::<S, FlinkSessionJob>(store, namespace, name, None).await
                    }
                };
                if let Err(error) = cleared {
                    warn!(kind = %manifest.kind, %namespace, %name, %error, "cannot clear the manifest error in status");
                }
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
    if set.error_count() > 0 {
        warn!(revision, "the revision has errors; nothing is deleted until they are fixed");
        return;
    }
    let in_git: std::collections::HashSet<ObjectRef> =
        set.manifests.iter().map(|m| ObjectRef::new(m.kind, m.namespace.clone(), m.name.clone())).collect();
    for object in stored_objects(store).await {
        if in_git.contains(&object) {
            continue;
        }
        if prune == Prune::Off {
            warn!(resource = %object, revision, "not in Git; left alone (prune is off)");
            continue;
        }
        let deleted = match object.kind {
            Kind::FlinkDeployment => prune_one::<S, FlinkDeployment>(store, &object).await,
            Kind::FlinkSessionJob => prune_one::<S, FlinkSessionJob>(store, &object).await,
        };
        match deleted {
            Ok(()) => info!(resource = %object, revision, "removed from Git; deleting"),
            Err(error) => error!(resource = %object, %error, "delete failed"),
        }
    }
}

/// The type of the `status.error` a manifest that does not load leaves on its stored resource.
pub const MANIFEST_ERROR: &str = "ManifestError";

/// Records `message` as `status.error` (type [`MANIFEST_ERROR`]) of a stored resource whose manifest in Git does
/// not load, or with `None` clears such an error once it loads again; a resource that is not stored yet has no
/// status to write (the log reports it).
///
/// # Errors
/// A failed store read or write.
async fn report_manifest_error<S: Store, K: Managed>(
    store: &S,
    namespace: &str,
    name: &str,
    message: Option<&str>,
) -> Result<(), crate::store::StoreError> {
    let Some(object) = store.get::<K>(namespace, name).await? else { return Ok(()) };
    let mut view = object.view();
    let mut status = view.status.take().unwrap_or_default();
    let error = message.map(|message| serde_json::json!({"type": MANIFEST_ERROR, "message": message}).to_string());
    let current = status.error.as_deref();
    let unchanged = match &error {
        Some(error) => current == Some(error.as_str()),
        None => !current.is_some_and(is_manifest_error),
    };
    if unchanged {
        return Ok(());
    }
    status.error = error;
    view.status = Some(status);
    store.update_status(&K::from_view(view)).await.map(drop)
}

/// Whether a `status.error` JSON is a manifest error (set by the sync, cleared only by the sync).
pub fn is_manifest_error(error: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(error).is_ok_and(|e| e["type"] == MANIFEST_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalStore;

    fn manifest(name: &str) -> (String, Vec<u8>) {
        let text = format!(
            "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {{name: {name}, namespace: apps}}\n\
             spec:\n  flinkVersion: v2_1\n  serviceAccount: flink\n  jobManager: {{resource: {{memory: 1024m, cpu: 1}}}}\n\
             \x20 taskManager: {{replicas: 1, resource: {{memory: 1024m, cpu: 1}}}}\n"
        );
        (format!("apps/{name}.yaml"), text.into_bytes())
    }

    async fn names(store: &LocalStore) -> Vec<String> {
        let all = store.list::<FlinkDeployment>().await.unwrap();
        all.iter().map(|d| d.metadata.name.clone().unwrap_or_default()).collect()
    }

    #[tokio::test]
    async fn without_prune_a_resource_that_left_git_is_left_alone() {
        let store = LocalStore::in_memory();
        apply_snapshot(&store, &[manifest("orders"), manifest("clicks")], "r1", Prune::Off).await;
        apply_snapshot(&store, &[manifest("orders")], "r2", Prune::Off).await;
        assert_eq!(names(&store).await, ["clicks", "orders"]);
        let clicks = store.get::<FlinkDeployment>("apps", "clicks").await.unwrap().unwrap();
        assert!(clicks.metadata.deletion_timestamp.is_none());
    }

    #[tokio::test]
    async fn with_prune_a_resource_that_left_git_is_marked_for_a_savepoint_and_deleted() {
        let store = LocalStore::in_memory();
        apply_snapshot(&store, &[manifest("orders"), manifest("clicks")], "r1", Prune::On).await;
        // The controller's finalizer holds it, as on Kubernetes, so the mark can be seen.
        store.add_finalizer::<FlinkDeployment>("apps", "clicks", "flinkops.io/finalizer").await.unwrap();
        apply_snapshot(&store, &[manifest("orders")], "r2", Prune::On).await;
        let clicks = store.get::<FlinkDeployment>("apps", "clicks").await.unwrap().unwrap();
        assert!(clicks.metadata.deletion_timestamp.is_some(), "deletion started");
        let annotations = clicks.metadata.annotations.unwrap_or_default();
        assert_eq!(annotations.get(PRUNED_ANNOTATION).map(String::as_str), Some("true"));
        let orders = store.get::<FlinkDeployment>("apps", "orders").await.unwrap().unwrap();
        assert!(orders.metadata.deletion_timestamp.is_none());
    }
}
