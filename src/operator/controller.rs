//! The `FlinkDeployment` controller: one `reconcile` loop per resource that observes, records the observation,
//! decides and acts, step by step, until decide says wait. Every step persists its intent in status before any
//! destructive IO, so an operator killed between any two lines resumes from the status alone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tracing::{Instrument, info, info_span, warn};

use crate::crd::status::{
    CheckpointInfo, FlinkDeploymentStatus, JobManagerDeploymentStatus, JobStatus, ReconciliationState,
    ReconciliationStatus, Savepoint, SavepointInfo, SnapshotTriggerType, TaskManagerInfo,
};
use crate::crd::{FlinkDeployment, FlinkJobState, FlinkSessionJob, Kind};
use crate::flink::client::{CheckpointTriggerRequest, FlinkClient, SavepointTriggerRequest, StopWithSavepointRequest};
use crate::runtime::{ClusterId, ClusterStatus, DeployIntent, Runtime, RuntimeError};
use crate::savepoints::retention::{DisposalOutcome, RetentionPlan, RetentionPolicy, RetentionThresholds};
use crate::savepoints::trigger::{
    NonceUpdate, SnapshotKind, TriggerConfig, record_checkpoint_completed, record_checkpoint_failed,
    record_checkpoint_triggered, record_completed, record_failed, record_savepoint_triggered,
};
use crate::store::{Store, StoreError};
use crate::writeback::SavepointRecord;
use tokio::sync::mpsc::UnboundedSender;

use super::autoscale;
use super::crashpoint;
use super::decide::{Facts, JobFacts, Step, decide};
use super::health::HealthConfig;
use super::observe::{Observation, observe};
use super::reconciled::ReconciledSpec;
use super::safeguards;
use super::status::{conditions, lifecycle_state};

pub use super::managed::{DEPLOYMENT_FINALIZER, Managed, SESSION_JOB_FINALIZER};
/// Field manager of the operator's own writes.
pub const FIELD_MANAGER: &str = "flinkops";
/// How long one savepoint disposal may take.
const DISPOSAL_TIMEOUT: Duration = Duration::from_secs(60);
/// Steps one reconcile may take before it yields to other resources.
const MAX_STEPS_PER_RECONCILE: usize = 12;

/// The boxed future of one autoscaler step.
type AutoscaleFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<Duration>, ReconcileError>> + Send + 'a>>;

/// Why a reconcile stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shared by every reconcile: where resources live and where clusters run.
pub struct Controller<S, R> {
    /// The store of resources and status.
    pub store: S,
    /// The runtime clusters run on.
    pub runtime: R,
    /// Where each recorded savepoint is reported, for write-back to Git.
    pub savepoint_records: Option<UnboundedSender<SavepointRecord>>,
}

impl<S, R> Controller<S, R> {
    /// A controller over `store` and `runtime` that reports savepoints nowhere.
    pub fn new(store: S, runtime: R) -> Self {
        Controller { store, runtime, savepoint_records: None }
    }

    /// Reports every recorded savepoint on `records` (for write-back).
    pub fn reporting_savepoints(mut self, records: UnboundedSender<SavepointRecord>) -> Self {
        self.savepoint_records = Some(records);
        self
    }

    /// Reports a savepoint just recorded in the status of `view`.
    fn report_savepoint(
        &self,
        kind: Kind,
        view: &FlinkDeployment,
        location: &str,
        trigger: &str,
        job_id: Option<String>,
    ) {
        let Some(records) = &self.savepoint_records else { return };
        let record = SavepointRecord {
            kind,
            namespace: crate::validation::namespace_of(&view.metadata),
            name: view.metadata.name.clone().unwrap_or_default(),
            location: location.to_owned(),
            time_ms: now_ms(),
            trigger: trigger.to_owned(),
            job_id,
        };
        // A closed channel means write-back stopped; the store scan of a later run still finds the savepoint.
        let _ = records.send(record);
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn now_time() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// 32 lowercase hex digits, as Flink job and trigger ids are.
pub fn fresh_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut first = state.build_hasher();
    first.write_i64(now_ms());
    let mut second = state.build_hasher();
    second.write_u64(first.finish());
    format!("{:016x}{:016x}", first.finish(), second.finish())
}

/// The error JSON upstream writes into `status.error`.
fn error_json(kind: &str, message: &str) -> String {
    serde_json::json!({"type": kind, "message": message}).to_string()
}

impl<S: Store, R: Runtime> Controller<S, R> {
    /// Reconciles one `FlinkDeployment` or `FlinkSessionJob`; returns when to look again.
    pub async fn reconcile<K: Managed>(&self, namespace: &str, name: &str) -> Result<Duration, ReconcileError> {
        let span = info_span!("reconcile", resource = %format!("{}/{namespace}/{name}", K::KIND));
        // Boxed: the state machine holds several deployments (pod templates included) and would be too big for a stack.
        Box::pin(self.reconcile_inner::<K>(namespace, name).instrument(span)).await
    }

    async fn reconcile_inner<K: Managed>(&self, namespace: &str, name: &str) -> Result<Duration, ReconcileError> {
        for _ in 0..MAX_STEPS_PER_RECONCILE {
            let Some(mut original) = self.store.get::<K>(namespace, name).await? else {
                return Ok(Duration::MAX);
            };
            let deleting = original.meta().deletion_timestamp.is_some();
            let has_finalizer =
                original.meta().finalizers.as_ref().is_some_and(|f| f.iter().any(|f| f == K::FINALIZER));
            if !deleting && !has_finalizer {
                original = self.store.add_finalizer::<K>(namespace, name, K::FINALIZER).await?;
            }
            if deleting && !has_finalizer {
                return Ok(Duration::MAX);
            }
            let mut resource = original.view();
            let id = ClusterId::of(&resource);
            let status = resource.status.clone().unwrap_or_default();
            let config = resource.spec.flink_config();
            // Health checks and rollback are FlinkDeployment features, as upstream's.
            let is_deployment = K::KIND == Kind::FlinkDeployment && resource.spec.job.is_some();
            let health = HealthConfig::from_config(&config).unwrap_or_default();
            let sample_health = (is_deployment && health.enabled).then(now_ms);
            let observation =
                Box::pin(observe(&self.runtime, &id, &status, original.session_cluster(), sample_health)).await;
            let mut unhealthy = None;
            if let Some(sample) = observation.health_sample {
                let mut status = resource.status.clone().unwrap_or_default();
                unhealthy = safeguards::record_health(&mut status, sample, &health);
                resource.status = Some(status);
            }
            resource = Box::pin(self.record_observation::<K>(resource, &observation, None)).await?;

            // A spec that fails validation is never acted on; the last valid one keeps being enforced.
            let session_cluster = match original.session_cluster() {
                Some(cluster) => self.store.get::<FlinkDeployment>(namespace, cluster).await?,
                None => None,
            };
            let findings = original.findings(&crate::validation::Context::with_deployments(session_cluster.iter()));
            if let Some(error) = findings.iter().find(|f| f.severity == crate::validation::Severity::Error) {
                let message = format!("{}: {}", error.path, error.message);
                warn!(%message, "the spec does not validate; not acting on it");
                let mut status = resource.status.clone().unwrap_or_default();
                status.error = Some(error_json("ValidationError", &message));
                resource.status = Some(status);
                Box::pin(self.write_status::<K>(resource, Some(&message))).await?;
                return Ok(Duration::from_secs(30));
            }
            let blocking_session_jobs = if deleting && K::KIND == Kind::FlinkDeployment && resource.spec.job.is_none() {
                self.session_jobs_of(namespace, name).await?
            } else {
                Vec::new()
            };

            let status = resource.status.clone().unwrap_or_default();
            let job_id = fresh_id();
            let trigger_id = fresh_id();
            let generation = resource.metadata.generation.unwrap_or(0);
            let rolling_back = is_deployment && safeguards::rolled_back(&status, generation);
            let rollback_spec = if rolling_back { safeguards::rollback_spec(&status, &resource.spec) } else { None };
            // While the autoscaler is on, what runs is Git's spec with its overrides (kept in status) merged in.
            let effective =
                if is_deployment { autoscale::effective_spec(&resource.spec, &status) } else { resource.spec.clone() };
            let autoscaler_every = autoscale::interval(&config, super::decide::RECONCILE_INTERVAL);
            let facts = Facts {
                generation,
                deleting,
                desired: rollback_spec.as_ref().unwrap_or(&effective),
                status: &status,
                cluster: observation.cluster.status.clone(),
                cluster_generation: observation.cluster.generation,
                cluster_job_id: observation.cluster.job_id.clone(),
                job: observation.job,
                stop: observation.stop.clone(),
                checkpoint: observation.checkpoint.clone(),
                latest_snapshot: observation.latest_snapshot.clone(),
                savepoint_on_deletion: crate::flink::config_keys::flag(
                    &config,
                    "kubernetes.operator.job.savepoint-on-deletion",
                ) == Some(true)
                    || resource
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(super::manager::PRUNED_ANNOTATION))
                        .is_some_and(|v| v == "true"),
                // A bad schedule is reported by validation; until it is fixed no periodic snapshot is taken.
                trigger_config: TriggerConfig::from_config(&config, true).unwrap_or_default(),
                retention: RetentionPolicy::from_config(&config, RetentionThresholds::default()).unwrap_or_default(),
                now_ms: now_ms(),
                created_ms: resource.metadata.creation_timestamp.as_ref().map_or_else(now_ms, |t| t.0.as_millisecond()),
                fresh_job_id: &job_id,
                fresh_trigger_id: &trigger_id,
                recovery_savepoint: crate::writeback::restore_from_annotations(
                    resource.metadata.annotations.as_ref().unwrap_or(&std::collections::BTreeMap::new()),
                    resource.spec.job.as_ref().and_then(|j| j.initial_savepoint_path.as_deref()),
                ),
                unhealthy,
                rollback_after: if is_deployment { safeguards::rollback_after(&config) } else { None },
                rolling_back,
                last_state_fallback: crate::flink::config_keys::flag(
                    &config,
                    "kubernetes.operator.job.upgrade.last-state-fallback.enabled",
                ) != Some(false),
                max_checkpoint_age: crate::savepoints::config::duration_ms(
                    &config,
                    crate::flink::config_keys::MAX_CHECKPOINT_AGE,
                )
                .ok()
                .flatten()
                .and_then(|ms| u64::try_from(ms).ok())
                .map(Duration::from_millis),
                latest_checkpoint_ms: observation.latest_checkpoint_ms,
                job_start_ms: observation.job_start_time,
                blocking_session_jobs: &blocking_session_jobs,
                autoscaler: if is_deployment {
                    autoscale::facts(&resource.spec, &status, now_ms(), autoscaler_every)
                } else {
                    autoscale::AutoscalerFacts::Off
                },
            };
            let step = decide(&facts);
            match step {
                Step::Wait { requeue_after, reason } => {
                    tracing::debug!(%reason, "waiting");
                    return Ok(requeue_after);
                }
                step => {
                    info!(step = step_name(&step), "acting");
                    if let Some(requeue) = Box::pin(self.act(&original, resource, &observation, step)).await? {
                        return Ok(requeue);
                    }
                }
            }
        }
        Ok(Duration::ZERO)
    }

    /// The session jobs (names) that still run on the session cluster `namespace/name`.
    async fn session_jobs_of(&self, namespace: &str, name: &str) -> Result<Vec<String>, ReconcileError> {
        let jobs = self.store.list::<FlinkSessionJob>().await?;
        Ok(jobs
            .into_iter()
            .filter(|job| {
                crate::validation::namespace_of(&job.metadata) == namespace
                    && job.spec.deployment_name.as_deref() == Some(name)
            })
            .filter_map(|job| job.metadata.name)
            .collect())
    }

    /// Writes what was observed (job state, JobManager status, lifecycle, conditions) when it changed.
    async fn record_observation<K: Managed>(
        &self,
        mut resource: FlinkDeployment,
        observation: &Observation,
        stalled: Option<&str>,
    ) -> Result<FlinkDeployment, ReconcileError> {
        let before = resource.status.clone();
        let mut status = resource.status.clone().unwrap_or_default();
        status.job_manager_deployment_status = Some(match &observation.cluster.status {
            ClusterStatus::Ready => JobManagerDeploymentStatus::Ready,
            ClusterStatus::Deploying => JobManagerDeploymentStatus::Deploying,
            ClusterStatus::Missing => JobManagerDeploymentStatus::Missing,
            ClusterStatus::Failed { .. } => JobManagerDeploymentStatus::Error,
        });
        // While a cancel is in flight the recorded job state is the write-ahead marker of "stop recorded"
        // (RecordStopped writes it together with the restore point): observation must not end the phase early.
        let cancelling = super::decide::phase(&status) == super::decide::Phase::Cancelling;
        let job_status = status.job_status.get_or_insert_with(JobStatus::default);
        match observation.job {
            JobFacts::State(state) if cancelling && state.is_globally_terminal() => {}
            JobFacts::State(state) => {
                if job_status.state != Some(state) {
                    job_status.update_time = Some(now_ms().to_string());
                }
                job_status.state = Some(state);
                job_status.job_name = resource.metadata.name.clone();
                if let Some(start) = observation.job_start_time.filter(|s| *s > 0) {
                    job_status.start_time = Some(start.to_string());
                }
            }
            JobFacts::NotFound | JobFacts::Unknown if job_status.state == Some(FlinkJobState::Running) => {
                job_status.state = Some(FlinkJobState::Reconciling);
            }
            _ => {}
        }
        // Stable once the recorded spec runs (or, for a session cluster, once the JobManager is ready).
        let running = resource.spec.job.is_none() && observation.cluster.status == ClusterStatus::Ready
            || job_status.state == Some(FlinkJobState::Running);
        if let Some(reconciliation) = status.reconciliation_status.as_mut()
            && reconciliation.state == Some(ReconciliationState::Deployed)
            && running
        {
            reconciliation.last_stable_spec = reconciliation.last_reconciled_spec.clone();
        }
        // A running job clears the controller's own errors; a manifest error is the sync's to clear.
        if status.job_manager_deployment_status != Some(JobManagerDeploymentStatus::Error)
            && running
            && !status.error.as_deref().is_some_and(super::manager::is_manifest_error)
        {
            status.error = None;
        }
        if let ClusterStatus::Failed { reason } = &observation.cluster.status {
            status.error = Some(error_json("ClusterError", reason));
        }
        if let (Some(job), true) = (&resource.spec.job, running) {
            let slots = crate::flink::config_render::task_slots(&resource.spec.flink_config());
            let parallelism = job.parallelism.unwrap_or(1).max(1).unsigned_abs();
            let name = resource.metadata.name.clone().unwrap_or_default();
            status.task_manager = Some(TaskManagerInfo {
                label_selector: Some(format!("component=taskmanager,app={name}")),
                replicas: Some(i32::try_from(parallelism.div_ceil(slots)).unwrap_or(i32::MAX)),
            });
        }
        resource.status = Some(status);
        if resource.status == before && stalled.is_none() {
            return Ok(resource);
        }
        self.write_status::<K>(resource, stalled).await
    }

    /// Derives lifecycle and conditions, then writes the status (retrying once on a stale resourceVersion).
    async fn write_status<K: Managed>(
        &self,
        mut resource: FlinkDeployment,
        stalled: Option<&str>,
    ) -> Result<FlinkDeployment, ReconcileError> {
        let deleting = resource.metadata.deletion_timestamp.is_some();
        let generation = resource.metadata.generation.unwrap_or(0);
        let is_session = resource.spec.job.is_none();
        let mut status = resource.status.take().unwrap_or_default();
        status.lifecycle_state = Some(lifecycle_state(&status, deleting));
        status.conditions = conditions(&status, is_session, generation, stalled, &now_time());
        resource.status = Some(status);
        let object = K::from_view(resource);
        match self.store.update_status(&object).await {
            Ok(written) => Ok(written.view()),
            Err(StoreError::Conflict { .. }) => {
                // Only flinkops writes status; a conflict means our copy is stale: write onto the fresh object.
                let namespace = object.meta().namespace.clone().unwrap_or_default();
                let name = object.meta().name.clone().unwrap_or_default();
                let Some(mut fresh) = self.store.get::<K>(&namespace, &name).await? else {
                    return Ok(object.view());
                };
                *fresh.status_mut() = object.status().cloned();
                Ok(self.store.update_status(&fresh).await?.view())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Persists, then performs one step. Returns a requeue delay when the reconcile should stop here.
    async fn act<K: Managed>(
        &self,
        original: &K,
        mut resource: FlinkDeployment,
        observation: &Observation,
        step: Step,
    ) -> Result<Option<Duration>, ReconcileError> {
        let id = ClusterId::of(&resource);
        let generation = resource.metadata.generation.unwrap_or(0);
        let mut status = resource.status.clone().unwrap_or_default();
        match step {
            Step::Deploy { target, job_id, restore } => {
                // Write-ahead: the target spec, the job id and the restore point, before anything starts.
                record_reconciled(&mut status, &target, ReconciliationState::Upgrading);
                status.observed_generation = Some(generation);
                safeguards::reset_on_deploy(&mut status, generation);
                // A session cluster has no job of its own: its job status stays empty.
                if target.spec.job.is_some() {
                    let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                    job_status.job_id = Some(job_id.clone());
                    job_status.state = Some(FlinkJobState::Reconciling);
                    if let Some(restore) = &restore {
                        job_status.upgrade_savepoint_path = Some(restore.path.clone());
                    }
                }
                resource.status = Some(status);
                let resource = self.write_status::<K>(resource, None).await?;
                crashpoint::reached("deploy-recorded");
                info!(job_id = %job_id, restore_from = restore.as_ref().map_or("nothing (empty state)", |r| r.path.as_str()), "deploying");
                let intent = DeployIntent { job_id: Some(job_id), restore };
                let spec = match original.cluster_spec(&target.spec, &intent) {
                    Ok(spec) => spec,
                    Err(error) => return self.fail::<K>(resource, &error.to_string(), true).await,
                };
                match self.runtime.deploy(&spec).await {
                    Ok(observed) => {
                        crashpoint::reached("cluster-replaced");
                        for note in &observed.notes {
                            warn!(%note, "deployed with a note");
                        }
                        let mut status = resource.status.clone().unwrap_or_default();
                        let state = deployed_state(&status, generation);
                        if let Some(reconciliation) = status.reconciliation_status.as_mut() {
                            reconciliation.state = Some(state);
                        }
                        status.job_manager_deployment_status = Some(JobManagerDeploymentStatus::Ready);
                        if !status.error.as_deref().is_some_and(super::manager::is_manifest_error) {
                            status.error = None;
                        }
                        let mut resource = resource;
                        resource.status = Some(status);
                        self.write_status::<K>(resource, None).await?;
                        crashpoint::reached("deployed");
                        info!(cluster = %id, "deployed");
                        Ok(None)
                    }
                    Err(error) => {
                        let terminal = matches!(error, RuntimeError::BadInput { .. });
                        self.fail::<K>(resource, &error.to_string(), terminal).await
                    }
                }
            }
            Step::MarkDeployed => {
                let state = deployed_state(&status, generation);
                if let Some(reconciliation) = status.reconciliation_status.as_mut() {
                    reconciliation.state = Some(state);
                }
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                Ok(None)
            }
            Step::StopWithSavepoint { trigger_id } => {
                status.reconciliation_status.get_or_insert_with(ReconciliationStatus::default).state =
                    Some(ReconciliationState::Upgrading);
                let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                let info = job_status.savepoint_info.get_or_insert_with(SavepointInfo::default);
                info.trigger_id = Some(trigger_id.clone());
                info.trigger_type = Some(SnapshotTriggerType::Upgrade);
                info.trigger_timestamp = Some(now_ms());
                let job_id = job_status.job_id.clone().unwrap_or_default();
                resource.status = Some(status);
                let resource = self.write_status::<K>(resource, None).await?;
                crashpoint::reached("stop-recorded");
                let Some(client) = &observation.client else { return Ok(Some(Duration::from_secs(2))) };
                let request =
                    StopWithSavepointRequest { trigger_id: Some(trigger_id), drain: false, ..Default::default() };
                if let Err(error) = client.stop_with_savepoint(&job_id, &request).await {
                    // Recorded; the next observation sees whether Flink has it and re-issues it with the same id.
                    warn!(%error, "issuing the stop-with-savepoint failed; will retry with the same trigger id");
                    drop(resource);
                    return Ok(Some(Duration::from_secs(2)));
                }
                crashpoint::reached("stop-issued");
                Ok(Some(Duration::from_millis(200)))
            }
            Step::RecordStopped { target, restore_path, new_savepoint } => {
                if new_savepoint {
                    crashpoint::reached("savepoint-completed");
                }
                record_reconciled(&mut status, &target, ReconciliationState::Upgrading);
                let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                let ended = match observation.job {
                    JobFacts::State(state) if state.is_globally_terminal() => state,
                    _ => FlinkJobState::Finished,
                };
                job_status.state = Some(ended);
                job_status.upgrade_savepoint_path = restore_path.clone();
                info!(restore_from = restore_path.as_deref().unwrap_or("nothing (empty state)"), job_state = ?ended, "job stopped");
                let info = job_status.savepoint_info.get_or_insert_with(SavepointInfo::default);
                let trigger_type = info.trigger_type.take();
                info.trigger_id = None;
                info.trigger_timestamp = None;
                let mut taken = None;
                if new_savepoint && let Some(location) = restore_path {
                    record_savepoint(info, &location, trigger_type.unwrap_or(SnapshotTriggerType::Upgrade));
                    info!(savepoint = %location, "savepoint taken");
                    taken = Some(location);
                }
                let stopped_job = job_status.job_id.clone();
                let suspended = target.job_state() == crate::crd::JobState::Suspended
                    && resource.spec.job.as_ref().is_some_and(|j| j.desired_state() == crate::crd::JobState::Suspended);
                resource.status = Some(status);
                let resource = self.write_status::<K>(resource, None).await?;
                if let Some(location) = taken {
                    let trigger = super::write_back::trigger_name(trigger_type, suspended);
                    self.report_savepoint(K::KIND, &resource, &location, trigger, stopped_job);
                }
                if new_savepoint {
                    crashpoint::reached("stop-recorded-savepoint");
                }
                Ok(None)
            }
            Step::StopFailed { reason } => {
                warn!(%reason, "the stop-with-savepoint failed; the job keeps running");
                let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                if let Some(info) = job_status.savepoint_info.as_mut() {
                    info.trigger_id = None;
                    info.trigger_type = None;
                    info.trigger_timestamp = None;
                }
                if let Some(reconciliation) = status.reconciliation_status.as_mut() {
                    reconciliation.state = Some(ReconciliationState::Deployed);
                }
                status.error = Some(error_json("SavepointError", &reason));
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                Ok(Some(Duration::from_secs(30)))
            }
            Step::TriggerSavepoint { trigger_id, trigger_type } => {
                let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                let job_id = job_status.job_id.clone().unwrap_or_default();
                let info = job_status.savepoint_info.get_or_insert_with(SavepointInfo::default);
                let format = crate::crd::status::SavepointFormatType::Canonical;
                record_savepoint_triggered(info, trigger_id.clone(), trigger_type, format, now_ms());
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                info!(?trigger_type, "savepoint triggered");
                if let Some(client) = &observation.client {
                    let request = SavepointTriggerRequest { trigger_id: Some(trigger_id), ..Default::default() };
                    if let Err(error) = client.trigger_savepoint(&job_id, &request).await {
                        warn!(%error, "triggering the savepoint failed; will retry with the same trigger id");
                    }
                }
                Ok(Some(Duration::from_millis(500)))
            }
            Step::RecordSavepoint { location } => {
                let nonce = resource.spec.job.as_ref().and_then(|j| j.savepoint_trigger_nonce);
                let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                let info = job_status.savepoint_info.get_or_insert_with(SavepointInfo::default);
                let trigger_type = info.trigger_type.unwrap_or(SnapshotTriggerType::Manual);
                let format = info.format_type.unwrap_or(crate::crd::status::SavepointFormatType::Canonical);
                let update = record_completed(info, location.clone(), trigger_type, nonce, format, now_ms());
                let job_id = job_status.job_id.clone();
                mark_nonce_handled(&mut status, SnapshotKind::Savepoint, update);
                info!(savepoint = %location, ?trigger_type, "savepoint taken");
                resource.status = Some(status);
                let resource = self.write_status::<K>(resource, None).await?;
                let trigger = super::write_back::trigger_name(Some(trigger_type), false);
                self.report_savepoint(K::KIND, &resource, &location, trigger, job_id);
                Ok(None)
            }
            Step::SavepointFailed { reason } => {
                warn!(%reason, "the savepoint failed");
                let nonce = resource.spec.job.as_ref().and_then(|j| j.savepoint_trigger_nonce);
                let grace = TriggerConfig::from_config(&resource.spec.flink_config(), true)
                    .map_or(crate::savepoints::trigger::DEFAULT_GRACE_PERIOD_MS, |c| c.savepoint_grace_period_ms);
                let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                let info = job_status.savepoint_info.get_or_insert_with(SavepointInfo::default);
                let update = record_failed(info, nonce, grace, now_ms());
                mark_nonce_handled(&mut status, SnapshotKind::Savepoint, update);
                status.error = Some(error_json("SavepointError", &reason));
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                Ok(Some(Duration::from_secs(5)))
            }
            Step::TriggerCheckpoint { trigger_id, trigger_type } => {
                let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                let job_id = job_status.job_id.clone().unwrap_or_default();
                let info = job_status.checkpoint_info.get_or_insert_with(CheckpointInfo::default);
                let full = crate::crd::status::CheckpointType::Full;
                record_checkpoint_triggered(info, trigger_id.clone(), trigger_type, full, now_ms());
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                info!(?trigger_type, "checkpoint triggered");
                if let Some(client) = &observation.client {
                    let request = CheckpointTriggerRequest {
                        trigger_id: Some(trigger_id),
                        checkpoint_type: Some(crate::flink::client::CheckpointType::Full),
                    };
                    if let Err(error) = client.trigger_checkpoint(&job_id, &request).await {
                        warn!(%error, "triggering the checkpoint failed; will retry with the same trigger id");
                    }
                }
                Ok(Some(Duration::from_millis(500)))
            }
            Step::RecordCheckpoint => {
                let nonce = resource.spec.job.as_ref().and_then(|j| j.checkpoint_trigger_nonce);
                let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                let info = job_status.checkpoint_info.get_or_insert_with(CheckpointInfo::default);
                let trigger_type = info.trigger_type.unwrap_or(SnapshotTriggerType::Manual);
                let format = info.format_type.unwrap_or(crate::crd::status::CheckpointType::Full);
                let update = record_checkpoint_completed(info, trigger_type, nonce, format, now_ms());
                mark_nonce_handled(&mut status, SnapshotKind::Checkpoint, update);
                info!(?trigger_type, "checkpoint taken");
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                Ok(None)
            }
            Step::CheckpointFailed { reason } => {
                warn!(%reason, "the checkpoint failed");
                let nonce = resource.spec.job.as_ref().and_then(|j| j.checkpoint_trigger_nonce);
                let grace = TriggerConfig::from_config(&resource.spec.flink_config(), true)
                    .map_or(crate::savepoints::trigger::DEFAULT_GRACE_PERIOD_MS, |c| c.checkpoint_grace_period_ms);
                let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                let info = job_status.checkpoint_info.get_or_insert_with(CheckpointInfo::default);
                let update = record_checkpoint_failed(info, nonce, grace, now_ms());
                mark_nonce_handled(&mut status, SnapshotKind::Checkpoint, update);
                status.error = Some(error_json("CheckpointError", &reason));
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                Ok(Some(Duration::from_secs(5)))
            }
            Step::ApplyRetention { plan } => {
                let Some(client) = &observation.client else { return Ok(Some(Duration::from_secs(5))) };
                let outcomes = dispose_expired(client, &plan).await;
                let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                let info = job_status.savepoint_info.get_or_insert_with(SavepointInfo::default);
                let before = info.savepoint_history.len();
                info.savepoint_history =
                    crate::savepoints::retention::remove_disposed(&info.savepoint_history, &plan, &outcomes);
                let removed = before - info.savepoint_history.len();
                info!(removed, kept = info.savepoint_history.len(), "savepoint history retention applied");
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                if outcomes.contains(&DisposalOutcome::Failed) {
                    // Retried on a later pass; not in a tight loop.
                    return Ok(Some(Duration::from_secs(60)));
                }
                Ok(None)
            }
            Step::RestartUnhealthy { target, reason } => {
                warn!(%reason, "the job is unhealthy; restarting it from its latest checkpoint");
                status.error = Some(error_json("RestartUnhealthyJob", &reason));
                if let Some(info) = status.cluster_info.as_mut() {
                    super::health::HealthState::clear(info);
                }
                self.record_and_cancel::<K>(resource, status, observation, &target).await
            }
            Step::StartRollback { reason } => {
                warn!(%reason, "rolling back");
                safeguards::mark_rolled_back(&mut status, generation);
                status.reconciliation_status.get_or_insert_with(ReconciliationStatus::default).state =
                    Some(ReconciliationState::RollingBack);
                status.error = Some(error_json("RollbackError", &reason));
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                Ok(None)
            }
            Step::Cancel { target } => self.record_and_cancel::<K>(resource, status, observation, &target).await,
            Step::FinishSuspend { target } => {
                if let Err(error) = self.runtime.delete(&id).await {
                    return self.fail::<K>(resource, &error.to_string(), false).await;
                }
                record_reconciled(&mut status, &target, ReconciliationState::Deployed);
                if let Some(reconciliation) = status.reconciliation_status.as_mut() {
                    reconciliation.last_stable_spec = reconciliation.last_reconciled_spec.clone();
                }
                status.job_manager_deployment_status = Some(JobManagerDeploymentStatus::Missing);
                status.observed_generation = Some(generation);
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                info!(cluster = %id, "suspended");
                Ok(None)
            }
            Step::RecordSuspendedSpec { target } => {
                record_reconciled(&mut status, &target, ReconciliationState::Deployed);
                if let Some(reconciliation) = status.reconciliation_status.as_mut() {
                    reconciliation.last_stable_spec = reconciliation.last_reconciled_spec.clone();
                }
                status.observed_generation = Some(generation);
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                Ok(None)
            }
            Step::Cleanup { savepoint } => {
                if let Some(location) = savepoint {
                    let job_status = status.job_status.get_or_insert_with(JobStatus::default);
                    let info = job_status.savepoint_info.get_or_insert_with(SavepointInfo::default);
                    info.trigger_id = None;
                    info.trigger_type = None;
                    record_savepoint(info, &location, SnapshotTriggerType::Upgrade);
                    job_status.upgrade_savepoint_path = Some(location.clone());
                    let job_id = job_status.job_id.clone();
                    resource.status = Some(status);
                    resource = self.write_status::<K>(resource, None).await?;
                    self.report_savepoint(K::KIND, &resource, &location, "deletion", job_id);
                }
                if let Err(error) = self.runtime.delete(&id).await {
                    return self.fail::<K>(resource, &error.to_string(), false).await;
                }
                let namespace = resource.metadata.namespace.clone().unwrap_or_default();
                let name = resource.metadata.name.clone().unwrap_or_default();
                self.store.remove_finalizer::<K>(&namespace, &name, K::FINALIZER).await?;
                info!(cluster = %id, "deleted");
                Ok(Some(Duration::MAX))
            }
            Step::RecordGeneration => {
                status.observed_generation = Some(generation);
                resource.status = Some(status);
                self.write_status::<K>(resource, None).await?;
                Ok(None)
            }
            Step::Blocked { reason } => {
                let error = error_json("Blocked", &reason);
                if status.error.as_deref() != Some(error.as_str()) {
                    warn!(%reason, "blocked");
                    status.error = Some(error);
                    resource.status = Some(status);
                    self.write_status::<K>(resource, None).await?;
                }
                Ok(Some(Duration::from_secs(2)))
            }
            Step::Autoscale => self.autoscaler_step::<K>(resource, status, observation, false).await,
            Step::ClearAutoscaler => self.autoscaler_step::<K>(resource, status, observation, true).await,
            Step::Wait { requeue_after, .. } => Ok(Some(requeue_after)),
        }
    }

    /// The autoscaler's steps ([`Self::autoscale`], or dropping its state), built and boxed in a frame of their own:
    /// `act`'s poll frame (over a megabyte in a debug build) then holds only the box, not the futures.
    fn autoscaler_step<'a, K: Managed>(
        &'a self,
        resource: FlinkDeployment,
        status: FlinkDeploymentStatus,
        observation: &'a Observation,
        clear: bool,
    ) -> AutoscaleFuture<'a> {
        if clear {
            Box::pin(self.clear_autoscaler::<K>(resource, status))
        } else {
            Box::pin(self.autoscale::<K>(resource, status, observation))
        }
    }

    /// The autoscaler is off or reset: its overrides and state leave status.
    async fn clear_autoscaler<K: Managed>(
        &self,
        mut resource: FlinkDeployment,
        mut status: FlinkDeploymentStatus,
    ) -> Result<Option<Duration>, ReconcileError> {
        info!("the autoscaler is off or reset: its overrides and state are dropped");
        status.autoscaler = None;
        resource.status = Some(status);
        self.write_status::<K>(resource, None).await?;
        Ok(None)
    }

    /// One autoscaler run: collect, decide, record in `status.autoscaler`, realize. In place (adaptive scheduler):
    /// the overrides go into the recorded spec and status first, then to Flink's resource requirements; a failed
    /// PUT restores the recorded spec, so the next decide redeploys instead. Otherwise the overrides are recorded
    /// and the next decide sees the effective spec change and upgrades with the job's own upgrade mode.
    async fn autoscale<K: Managed>(
        &self,
        mut resource: FlinkDeployment,
        mut status: FlinkDeploymentStatus,
        observation: &Observation,
    ) -> Result<Option<Duration>, ReconcileError> {
        let every = autoscale::interval(&resource.spec.flink_config(), super::decide::RECONCILE_INTERVAL);
        let Some(client) = observation.client.clone() else { return Ok(Some(every)) };
        let job_id = status.job_status.as_ref().and_then(|j| j.job_id.clone()).unwrap_or_default();
        // On a task of its own: the IO and the core's arithmetic start at the top of a worker's stack.
        let run = tokio::spawn(
            autoscale::run::run_for_operator(
                client.clone(),
                job_id.clone(),
                resource.spec.clone(),
                status.autoscaler.as_deref().cloned(),
            )
            .instrument(tracing::Span::current()),
        );
        let Ok((adaptive, output)) = run.await else { return Ok(Some(every)) };
        let realize = autoscale::apply_run(&mut status, &resource.spec, output, adaptive);
        resource.status = Some(status);
        let resource = self.write_status::<K>(resource, None).await?;
        match realize {
            autoscale::Realize::Nothing => Ok(Some(every)),
            autoscale::Realize::Redeploy => Ok(None),
            autoscale::Realize::InPlace { overrides, recorded_before } => {
                let scaled = tokio::spawn(async move {
                    autoscale::realize::scale_in_place(&client, &job_id, &overrides).await.map_err(|e| e.to_string())
                });
                match scaled.await.unwrap_or_else(|error| Err(error.to_string())) {
                    Ok(_) => Ok(Some(every)),
                    Err(error) => Box::pin(self.in_place_failed::<K>(resource, recorded_before, &error)).await,
                }
            }
        }
    }

    /// A failed in-place rescale: the recorded spec without the overrides comes back, so decide redeploys.
    async fn in_place_failed<K: Managed>(
        &self,
        mut resource: FlinkDeployment,
        recorded_before: Option<String>,
        error: &str,
    ) -> Result<Option<Duration>, ReconcileError> {
        warn!(%error, "in-place rescale failed; redeploying with the job's upgrade mode instead");
        let mut status = resource.status.clone().unwrap_or_default();
        autoscale::fall_back_to_redeploy(&mut status, recorded_before, error);
        resource.status = Some(status);
        self.write_status::<K>(resource, None).await?;
        Ok(None)
    }

    /// Records `target` (suspended, with its restore mode) as UPGRADING, then cancels the job.
    async fn record_and_cancel<K: Managed>(
        &self,
        mut resource: FlinkDeployment,
        mut status: FlinkDeploymentStatus,
        observation: &Observation,
        target: &ReconciledSpec,
    ) -> Result<Option<Duration>, ReconcileError> {
        record_reconciled(&mut status, target, ReconciliationState::Upgrading);
        let job_id = status.job_status.as_ref().and_then(|j| j.job_id.clone()).unwrap_or_default();
        resource.status = Some(status);
        self.write_status::<K>(resource, None).await?;
        if let Some(client) = &observation.client
            && let Err(error) = client.cancel_job(&job_id).await
            && !error.is_not_found()
        {
            warn!(%error, "cancelling the job failed; will retry");
        }
        Ok(Some(Duration::from_millis(500)))
    }

    /// Records an error; a terminal one (bad input) also marks the resource Stalled.
    async fn fail<K: Managed>(
        &self,
        mut resource: FlinkDeployment,
        message: &str,
        terminal: bool,
    ) -> Result<Option<Duration>, ReconcileError> {
        warn!(%message, terminal, "step failed");
        let mut status = resource.status.clone().unwrap_or_default();
        status.error = Some(error_json(if terminal { "DeploymentFailedException" } else { "TransientError" }, message));
        resource.status = Some(status);
        self.write_status::<K>(resource, terminal.then_some(message)).await?;
        Ok(Some(if terminal { Duration::from_secs(60) } else { Duration::from_secs(5) }))
    }
}

/// The reconciliation state once a deploy is up: ROLLED_BACK when it was the rollback of this generation.
fn deployed_state(status: &FlinkDeploymentStatus, generation: i64) -> ReconciliationState {
    if safeguards::rolled_back(status, generation) {
        ReconciliationState::RolledBack
    } else {
        ReconciliationState::Deployed
    }
}

fn record_reconciled(status: &mut FlinkDeploymentStatus, target: &ReconciledSpec, state: ReconciliationState) {
    let reconciliation = status.reconciliation_status.get_or_insert_with(ReconciliationStatus::default);
    reconciliation.last_reconciled_spec = Some(target.encode());
    reconciliation.state = Some(state);
    reconciliation.reconciliation_timestamp = Some(now_ms());
}

/// Disposes of the expired savepoints of a retention pass through Flink, in order, as the plan allows.
async fn dispose_expired(client: &FlinkClient, plan: &RetentionPlan) -> Vec<DisposalOutcome> {
    let mut outcomes = Vec::with_capacity(plan.dispose.len());
    for (index, disposal) in plan.dispose.iter().enumerate() {
        let Some(location) = disposal.savepoint.location.as_deref() else {
            outcomes.push(DisposalOutcome::Skipped);
            continue;
        };
        if !plan.should_attempt(index, &outcomes) {
            outcomes.push(DisposalOutcome::Skipped);
            continue;
        }
        let disposed = match client.dispose_savepoint(location).await {
            Ok(trigger) => client.wait_for_savepoint_disposal(&trigger, DISPOSAL_TIMEOUT).await,
            Err(error) => Err(error),
        };
        let outcome = match disposed {
            Ok(()) => DisposalOutcome::Disposed,
            // Disposed on an earlier pass whose record was lost in a crash: nothing is left to dispose of.
            Err(error) if error.mentions("FileNotFound") || error.mentions("does not exist") => {
                DisposalOutcome::Disposed
            }
            Err(error) => {
                warn!(savepoint = location, %error, "disposing of an expired savepoint failed; kept for a later pass");
                DisposalOutcome::Failed
            }
        };
        if outcome == DisposalOutcome::Disposed {
            info!(
                savepoint = location,
                over_count = disposal.over_count,
                over_age = disposal.over_age,
                "expired savepoint disposed of"
            );
        }
        outcomes.push(outcome);
    }
    outcomes
}

/// A handled manual nonce goes into the reconciled spec, where upstream keeps it.
fn mark_nonce_handled(status: &mut FlinkDeploymentStatus, kind: SnapshotKind, update: NonceUpdate) {
    let NonceUpdate::MarkHandled(nonce) = update else { return };
    let Some(reconciliation) = status.reconciliation_status.as_mut() else { return };
    let Some(mut record) = reconciliation.last_reconciled_spec.as_deref().and_then(ReconciledSpec::decode) else {
        return;
    };
    if let Some(job) = record.spec.job.as_mut() {
        match kind {
            SnapshotKind::Savepoint => job.savepoint_trigger_nonce = nonce,
            SnapshotKind::Checkpoint => job.checkpoint_trigger_nonce = nonce,
        }
    }
    reconciliation.last_reconciled_spec = Some(record.encode());
}

fn record_savepoint(info: &mut SavepointInfo, location: &str, trigger_type: SnapshotTriggerType) {
    let savepoint = Savepoint {
        time_stamp: Some(now_ms()),
        location: Some(location.to_owned()),
        trigger_type: Some(trigger_type),
        format_type: Some(crate::crd::status::SavepointFormatType::Canonical),
        trigger_nonce: None,
    };
    if !info.savepoint_history.iter().any(|s| s.location.as_deref() == Some(location)) {
        info.savepoint_history.push(savepoint.clone());
    }
    info.last_savepoint = Some(savepoint);
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Deploy { .. } => "deploy",
        Step::MarkDeployed => "mark-deployed",
        Step::StopWithSavepoint { .. } => "stop-with-savepoint",
        Step::RecordStopped { .. } => "record-stopped",
        Step::StopFailed { .. } => "stop-failed",
        Step::Cancel { .. } => "cancel",
        Step::TriggerSavepoint { .. } => "trigger-savepoint",
        Step::RecordSavepoint { .. } => "record-savepoint",
        Step::SavepointFailed { .. } => "savepoint-failed",
        Step::FinishSuspend { .. } => "finish-suspend",
        Step::RecordSuspendedSpec { .. } => "record-suspended-spec",
        Step::Cleanup { .. } => "cleanup",
        Step::Blocked { .. } => "blocked",
        Step::RecordGeneration => "record-generation",
        Step::RestartUnhealthy { .. } => "restart-unhealthy",
        Step::StartRollback { .. } => "start-rollback",
        Step::TriggerCheckpoint { .. } => "trigger-checkpoint",
        Step::RecordCheckpoint => "record-checkpoint",
        Step::CheckpointFailed { .. } => "checkpoint-failed",
        Step::ApplyRetention { .. } => "apply-retention",
        Step::Autoscale => "autoscale",
        Step::ClearAutoscaler => "clear-autoscaler",
        Step::Wait { .. } => "wait",
    }
}

/// A REST client for a cluster, for callers outside the controller (status, tests).
pub fn client_for(rest_url: &str) -> Option<FlinkClient> {
    FlinkClient::new(rest_url).ok()
}
