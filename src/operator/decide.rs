//! The pure heart of the `FlinkDeployment` controller: from what was observed (desired spec, the status as the
//! write-ahead log, the cluster, the job, an in-flight savepoint) to the next [`Step`]. No IO, no clock, no
//! randomness: fresh job and trigger ids and `now` come in as arguments.

use std::time::Duration;

use crate::crd::status::{FlinkDeploymentStatus, ReconciliationState, SnapshotTriggerType};
use crate::crd::{FlinkDeploymentSpec, FlinkJobState, JobState, UpgradeMode};
use crate::runtime::{ClusterStatus, Restore};

use super::autoscale::AutoscalerFacts;
use super::reconciled::{DiffClass, ReconciledSpec, diff_class};
use crate::crd::status::SavepointInfo;
use crate::savepoints::retention::{RetentionPlan, RetentionPolicy, plan_retention};
use crate::savepoints::trigger::{
    SnapshotKind, TriggerConfig, TriggerInput, TriggerType, decide_trigger, last_periodic_trigger_ms,
    next_periodic_check,
};

/// Where a resource is in its lifecycle, derived from its status alone (so it survives a crash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Nothing was ever deployed.
    New,
    /// A deploy was recorded (target spec, job id) and may not have happened yet.
    Deploying,
    /// The recorded spec runs.
    Deployed,
    /// A stop-with-savepoint for an upgrade, suspend or deletion is in flight under this trigger id.
    Stopping {
        /// The trigger id recorded before the stop was issued.
        trigger_id: String,
    },
    /// A cancel (last-state or stateless) was recorded; waiting for the job to end.
    Cancelling,
    /// The job is stopped and its restore point recorded; the next deploy restores from it.
    Stopped,
    /// Suspended as desired.
    Suspended,
}

/// The phase recorded in a status.
pub fn phase(status: &FlinkDeploymentStatus) -> Phase {
    let reconciliation = status.reconciliation_status.as_ref();
    let Some(reconciled) =
        reconciliation.and_then(|r| r.last_reconciled_spec.as_deref()).and_then(ReconciledSpec::decode)
    else {
        return Phase::New;
    };
    let upgrading = reconciliation.and_then(|r| r.state) == Some(ReconciliationState::Upgrading);
    let job_status = status.job_status.as_ref();
    let savepoint_info = job_status.and_then(|j| j.savepoint_info.as_ref());
    let stop_trigger = savepoint_info
        .filter(|s| s.trigger_type == Some(SnapshotTriggerType::Upgrade))
        .and_then(|s| s.trigger_id.clone());
    let job_ended = job_status.and_then(|j| j.state).is_some_and(FlinkJobState::is_globally_terminal);
    match (upgrading, reconciled.job_state(), stop_trigger) {
        (true, _, Some(trigger_id)) => Phase::Stopping { trigger_id },
        (true, JobState::Running, None) => Phase::Deploying,
        (true, JobState::Suspended, None) if job_ended => Phase::Stopped,
        (true, JobState::Suspended, None) => Phase::Cancelling,
        (false, JobState::Running, None) => Phase::Deployed,
        (false, JobState::Suspended, None) => Phase::Suspended,
        // A stop trigger outside an upgrade is a manual savepoint; the phase is what the record says.
        (false, JobState::Running, Some(_)) => Phase::Deployed,
        (false, JobState::Suspended, Some(_)) => Phase::Suspended,
    }
}

/// The job as Flink reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFacts {
    /// Flink could not be asked (no cluster, REST down).
    Unknown,
    /// The cluster does not know the recorded job id.
    NotFound,
    /// The job's state.
    State(FlinkJobState),
}

/// An in-flight stop-with-savepoint as Flink reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopFacts {
    /// Not asked (no trigger recorded) or Flink unreachable.
    Unknown,
    /// Flink does not know the trigger (it was never issued, or the JobManager restarted).
    NotIssued,
    /// Still running.
    InProgress,
    /// Completed at this location.
    Completed(String),
    /// Failed; the job keeps running.
    Failed(String),
}

/// An in-flight manual or periodic checkpoint as Flink reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointFacts {
    /// Not asked (no trigger recorded) or Flink unreachable.
    Unknown,
    /// Flink does not know the trigger (never issued, or the JobManager restarted).
    NotIssued,
    /// Still running.
    InProgress,
    /// Completed.
    Completed,
    /// Failed; the job keeps running.
    Failed(String),
}

/// Everything decide looks at.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// `metadata.generation`.
    pub generation: i64,
    /// Whether the resource is being deleted.
    pub deleting: bool,
    /// The desired spec.
    pub desired: &'a FlinkDeploymentSpec,
    /// The recorded status (the write-ahead log).
    pub status: &'a FlinkDeploymentStatus,
    /// The runtime's view of the cluster.
    pub cluster: ClusterStatus,
    /// Generation the running cluster was deployed for.
    pub cluster_generation: Option<i64>,
    /// Job id the running cluster was started with.
    pub cluster_job_id: Option<String>,
    /// The job.
    pub job: JobFacts,
    /// The in-flight stop, manual or periodic savepoint, when one is recorded.
    pub stop: StopFacts,
    /// The in-flight manual or periodic checkpoint, when one is recorded.
    pub checkpoint: CheckpointFacts,
    /// Latest completed checkpoint or savepoint of the job (external path), when the job has ended.
    pub latest_snapshot: Option<String>,
    /// Whether to take a savepoint when the resource is deleted (`kubernetes.operator.job.savepoint-on-deletion`).
    pub savepoint_on_deletion: bool,
    /// Manual and periodic snapshot settings of the resource.
    pub trigger_config: TriggerConfig,
    /// Savepoint history retention of the resource.
    pub retention: RetentionPolicy,
    /// Now, epoch milliseconds.
    pub now_ms: i64,
    /// When the resource was created, epoch milliseconds (the start of the first periodic interval).
    pub created_ms: i64,
    /// A fresh job id, in case one is needed.
    pub fresh_job_id: &'a str,
    /// A fresh trigger id, in case one is needed.
    pub fresh_trigger_id: &'a str,
    /// The savepoint Git records for this resource (write-back annotations), for a first deployment without
    /// live state; `None` when there is none, the manifest opts out, or `initialSavepointPath` is set.
    pub recovery_savepoint: Option<String>,
    /// Why the health check finds the running job unhealthy (enabled checks only), if it does.
    pub unhealthy: Option<String>,
    /// `kubernetes.operator.deployment.rollback.enabled`: how long an upgrade may take to become ready before
    /// it is rolled back to the last stable spec (`kubernetes.operator.deployment.readiness.timeout`).
    pub rollback_after: Option<Duration>,
    /// A rollback of the current generation is under way or done: `desired` is the last stable spec.
    pub rolling_back: bool,
    /// `kubernetes.operator.job.upgrade.last-state-fallback.enabled` (default true): a savepoint upgrade of a job
    /// that is not running falls back to last-state.
    pub last_state_fallback: bool,
    /// `kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age`: a last-state upgrade takes a
    /// savepoint instead when the newest checkpoint is older than this.
    pub max_checkpoint_age: Option<Duration>,
    /// When the newest completed checkpoint of the running job was taken (epoch ms), if it has one.
    pub latest_checkpoint_ms: Option<i64>,
    /// When the running job started (epoch ms), if known.
    pub job_start_ms: Option<i64>,
    /// Session jobs that still reference this (session) cluster; its deletion waits for them.
    pub blocking_session_jobs: &'a [String],
    /// Whether the autoscaler is on and due (`desired` already carries its overrides while it is on).
    pub autoscaler: AutoscalerFacts,
}

/// What the controller does next. Each step's `act` persists its intent before any destructive IO.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Record `target` (job state running), the job id and the restore point as UPGRADING, then deploy.
    Deploy {
        /// What to record as the reconciled spec.
        target: Box<ReconciledSpec>,
        /// Job id to submit with.
        job_id: String,
        /// Restore point.
        restore: Option<Restore>,
    },
    /// The cluster for the recorded generation and job id is up: record DEPLOYED.
    MarkDeployed,
    /// Record the trigger id (UPGRADE) as UPGRADING, then stop the job with a savepoint under that trigger id.
    StopWithSavepoint {
        /// Trigger id; re-issuing with the same id is idempotent.
        trigger_id: String,
    },
    /// The stop completed: record the savepoint as the restore point; the job is stopped.
    RecordStopped {
        /// The reconciled spec to record (job state suspended, restore mode).
        target: Box<ReconciledSpec>,
        /// Restore point for the next deploy (`None`: start empty).
        restore_path: Option<String>,
        /// Whether `restore_path` is a savepoint this stop just took (goes to history).
        new_savepoint: bool,
    },
    /// The stop failed: clear the trigger, keep the job running, report.
    StopFailed {
        /// Why.
        reason: String,
    },
    /// Record the trigger id (MANUAL or PERIODIC), then trigger a savepoint under it; the job keeps running.
    TriggerSavepoint {
        /// Trigger id; re-issuing with the same id is idempotent.
        trigger_id: String,
        /// Manual (nonce) or periodic (schedule).
        trigger_type: TriggerType,
    },
    /// A manual or periodic savepoint completed: record it (history, nonce handled).
    RecordSavepoint {
        /// Where it is.
        location: String,
    },
    /// A manual or periodic savepoint failed: clear the trigger and report.
    SavepointFailed {
        /// Why.
        reason: String,
    },
    /// Record the trigger id (MANUAL or PERIODIC), then trigger a checkpoint under it; the job keeps running.
    TriggerCheckpoint {
        /// Trigger id; re-issuing with the same id is idempotent.
        trigger_id: String,
        /// Manual (nonce) or periodic (schedule).
        trigger_type: TriggerType,
    },
    /// A manual or periodic checkpoint completed: record it (nonce handled).
    RecordCheckpoint,
    /// A manual or periodic checkpoint failed: clear the trigger and report.
    CheckpointFailed {
        /// Why.
        reason: String,
    },
    /// Savepoints beyond the history's max count or age: dispose of them through Flink, then drop them from the
    /// history (an entry leaves only once its data is gone).
    ApplyRetention {
        /// The pass to run.
        plan: RetentionPlan,
    },
    /// Record `target` (suspended, with the restore mode) as UPGRADING, then cancel the job.
    Cancel {
        /// The reconciled spec to record.
        target: Box<ReconciledSpec>,
    },
    /// Stopped and desired suspended: delete the cluster and record SUSPENDED.
    FinishSuspend {
        /// The reconciled spec to record (suspended).
        target: Box<ReconciledSpec>,
    },
    /// Suspended and the spec changed while suspended: record it, start nothing.
    RecordSuspendedSpec {
        /// The reconciled spec to record.
        target: Box<ReconciledSpec>,
    },
    /// Deleting: record the savepoint taken for the deletion (if any), stop the cluster, release the finalizer.
    Cleanup {
        /// Savepoint taken before deletion.
        savepoint: Option<String>,
    },
    /// The job failed its health check: record why, then cancel it and restart it from its latest checkpoint
    /// (or empty, in stateless mode), as a last-state upgrade to the same spec does.
    RestartUnhealthy {
        /// The reconciled spec to record (suspended, with the restore mode).
        target: Box<ReconciledSpec>,
        /// Why it is unhealthy.
        reason: String,
    },
    /// The upgrade did not become ready in time: mark the generation as rolled back, after which the last
    /// stable spec is what gets deployed until the spec changes again.
    StartRollback {
        /// Why.
        reason: String,
    },
    /// The spec changed only in fields that need nothing done (nonces handled, operator keys): record the
    /// generation as observed.
    RecordGeneration,
    /// Something outside this resource must change first (report it, look again later).
    Blocked {
        /// What is in the way, for status and logs.
        reason: String,
    },
    /// The autoscaler is due on a stable, running job: collect an observation, run the autoscaler, record the
    /// result in `status.autoscaler` and realize a scaling decision (in place, or by recording overrides that the
    /// next decide turns into an upgrade with the job's own upgrade mode).
    Autoscale,
    /// The autoscaler is off (or reset): drop its overrides and state from status; Git's parallelism returns with
    /// the upgrade the changed effective spec then needs.
    ClearAutoscaler,
    /// Nothing to do now; look again after this long.
    Wait {
        /// When to look again.
        requeue_after: Duration,
        /// What is being waited for, for logs and status.
        reason: String,
    },
}

/// How long to wait while something Flink does is in progress.
pub const PROGRESS_CHECK: Duration = Duration::from_millis(250);
/// How long to wait while a job is failing or restarting on its own.
pub const UNSETTLED_CHECK: Duration = Duration::from_secs(2);
/// How long to wait when nothing is happening.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(15);

fn wait(requeue_after: Duration, reason: impl Into<String>) -> Step {
    Step::Wait { requeue_after, reason: reason.into() }
}

fn reconciled(status: &FlinkDeploymentStatus) -> Option<ReconciledSpec> {
    status.reconciliation_status.as_ref()?.last_reconciled_spec.as_deref().and_then(ReconciledSpec::decode)
}

fn upgrade_savepoint_path(status: &FlinkDeploymentStatus) -> Option<String> {
    status.job_status.as_ref()?.upgrade_savepoint_path.clone().filter(|p| !p.is_empty())
}

/// The newest savepoint recorded in status: the last one taken, else the restore point of the running job.
fn last_recorded_snapshot(status: &FlinkDeploymentStatus) -> Option<String> {
    let job_status = status.job_status.as_ref()?;
    let last_savepoint = job_status.savepoint_info.as_ref().and_then(|i| i.last_savepoint.as_ref());
    last_savepoint.and_then(|s| s.location.clone()).filter(|p| !p.is_empty()).or_else(|| upgrade_savepoint_path(status))
}

/// Whether the job ran to its end (a bounded job): nothing to recover then.
fn recorded_finished(status: &FlinkDeploymentStatus) -> bool {
    status.job_status.as_ref().and_then(|j| j.state) == Some(FlinkJobState::Finished)
}

fn recorded_job_id(status: &FlinkDeploymentStatus) -> Option<String> {
    status.job_status.as_ref()?.job_id.clone()
}

fn desired_state(spec: &FlinkDeploymentSpec) -> JobState {
    spec.job.as_ref().map_or(JobState::Running, |j| j.desired_state())
}

fn desired_mode(spec: &FlinkDeploymentSpec) -> UpgradeMode {
    spec.job.as_ref().map_or(UpgradeMode::Stateless, |j| j.effective_upgrade_mode())
}

/// A restore point at `path`, skipping unmapped state only when the desired spec allows it.
fn restore_point(facts: &Facts<'_>, path: String) -> Restore {
    let allow_non_restored_state = facts.desired.job.as_ref().and_then(|j| j.allow_non_restored_state).unwrap_or(false);
    Restore { path, allow_non_restored_state }
}

/// The restore point for a deploy after a stop or suspend: the recorded path, unless the desired mode is
/// stateless (the only way to drop state is to say so in the spec).
fn restore_after_stop(facts: &Facts<'_>, restore_mode: Option<UpgradeMode>) -> Option<Restore> {
    if desired_mode(facts.desired) == UpgradeMode::Stateless || restore_mode == Some(UpgradeMode::Stateless) {
        return None;
    }
    upgrade_savepoint_path(facts.status).map(|path| restore_point(facts, path))
}

/// Decides the next step.
pub fn decide(facts: &Facts<'_>) -> Step {
    let phase = phase(facts.status);
    if facts.deleting {
        return decide_deletion(facts, &phase);
    }
    let is_session = facts.desired.job.is_none();
    match phase {
        Phase::New => match desired_state(facts.desired) {
            JobState::Suspended => Step::RecordSuspendedSpec {
                target: Box::new(ReconciledSpec::new(facts.desired, JobState::Suspended, None, true)),
            },
            JobState::Running => {
                // An explicit initialSavepointPath wins; else the savepoint Git recorded (recovery of a lost
                // platform from Git alone).
                let initial = facts
                    .desired
                    .job
                    .as_ref()
                    .and_then(|j| j.initial_savepoint_path.clone())
                    .filter(|p| !p.is_empty())
                    .or_else(|| facts.recovery_savepoint.clone());
                let mode = if initial.is_some() { UpgradeMode::Savepoint } else { UpgradeMode::Stateless };
                Step::Deploy {
                    target: Box::new(ReconciledSpec::new(facts.desired, JobState::Running, Some(mode), true)),
                    job_id: facts.fresh_job_id.to_owned(),
                    restore: initial.map(|path| restore_point(facts, path)),
                }
            }
        },
        Phase::Deploying | Phase::Deployed if rollback_due(facts).is_some() => {
            Step::StartRollback { reason: rollback_due(facts).unwrap_or_default() }
        }
        Phase::Deploying => decide_deploying(facts, is_session),
        Phase::Deployed => decide_deployed(facts, is_session),
        Phase::Stopping { trigger_id } => decide_stopping(facts, &trigger_id),
        Phase::Cancelling => match facts.job {
            JobFacts::State(state) if state.is_globally_terminal() => {
                let target = reconciled(facts.status)
                    .unwrap_or_else(|| ReconciledSpec::new(facts.desired, JobState::Suspended, None, false));
                let stateless =
                    target.spec.job.as_ref().is_some_and(|j| j.effective_upgrade_mode() == UpgradeMode::Stateless);
                Step::RecordStopped {
                    target: Box::new(target),
                    restore_path: if stateless { None } else { facts.latest_snapshot.clone() },
                    new_savepoint: false,
                }
            }
            JobFacts::NotFound => Step::RecordStopped {
                target: Box::new(
                    reconciled(facts.status)
                        .unwrap_or_else(|| ReconciledSpec::new(facts.desired, JobState::Suspended, None, false)),
                ),
                restore_path: upgrade_savepoint_path(facts.status),
                new_savepoint: false,
            },
            JobFacts::State(_) => wait(PROGRESS_CHECK, "waiting for the job to be cancelled"),
            JobFacts::Unknown if facts.cluster == ClusterStatus::Missing => Step::RecordStopped {
                target: Box::new(
                    reconciled(facts.status)
                        .unwrap_or_else(|| ReconciledSpec::new(facts.desired, JobState::Suspended, None, false)),
                ),
                restore_path: upgrade_savepoint_path(facts.status),
                new_savepoint: false,
            },
            JobFacts::Unknown => {
                wait(PROGRESS_CHECK, "the cluster does not answer; waiting to see the cancel complete")
            }
        },
        Phase::Stopped => {
            let recorded = reconciled(facts.status);
            let restore_mode = recorded.as_ref().and_then(|r| r.spec.job.as_ref()).and_then(|j| j.upgrade_mode);
            match desired_state(facts.desired) {
                JobState::Suspended => Step::FinishSuspend {
                    target: Box::new(ReconciledSpec::new(facts.desired, JobState::Suspended, restore_mode, false)),
                },
                JobState::Running => Step::Deploy {
                    target: Box::new(ReconciledSpec::new(facts.desired, JobState::Running, restore_mode, false)),
                    job_id: facts.fresh_job_id.to_owned(),
                    restore: restore_after_stop(facts, restore_mode),
                },
            }
        }
        Phase::Suspended => {
            let recorded = reconciled(facts.status);
            let restore_mode = recorded.as_ref().and_then(|r| r.spec.job.as_ref()).and_then(|j| j.upgrade_mode);
            match desired_state(facts.desired) {
                JobState::Running => Step::Deploy {
                    target: Box::new(ReconciledSpec::new(facts.desired, JobState::Running, restore_mode, false)),
                    job_id: facts.fresh_job_id.to_owned(),
                    restore: restore_after_stop(facts, restore_mode),
                },
                JobState::Suspended => {
                    let target = ReconciledSpec::new(facts.desired, JobState::Suspended, restore_mode, false);
                    if recorded.is_some_and(|r| r.spec == target.spec) {
                        wait(RECONCILE_INTERVAL, "suspended")
                    } else {
                        Step::RecordSuspendedSpec { target: Box::new(target) }
                    }
                }
            }
        }
    }
}

fn decide_deploying(facts: &Facts<'_>, is_session: bool) -> Step {
    let recorded_generation = facts.status.observed_generation;
    let same_deploy = facts.cluster_generation == recorded_generation
        && (is_session || facts.cluster_job_id == recorded_job_id(facts.status));
    match (&facts.cluster, same_deploy) {
        (ClusterStatus::Ready, true) => Step::MarkDeployed,
        (ClusterStatus::Deploying, true) => wait(PROGRESS_CHECK, "the cluster is starting"),
        // Never started, started for another generation, or died: deploy the recorded target again with the
        // same job id, so a retry never starts a second job.
        _ => {
            let Some(target) = reconciled(facts.status) else {
                return wait(PROGRESS_CHECK, "no reconciled spec recorded");
            };
            let restore_mode = target.spec.job.as_ref().and_then(|j| j.upgrade_mode);
            if diff_class(&target.spec, facts.desired) != DiffClass::Ignore {
                // The recorded deploy never came up and the spec changed since (a fix, or a rollback): deploy
                // the new spec instead, from the same restore point, under a new job id.
                return Step::Deploy {
                    target: Box::new(ReconciledSpec::new(facts.desired, JobState::Running, restore_mode, false)),
                    job_id: facts.fresh_job_id.to_owned(),
                    restore: restore_after_stop(facts, restore_mode),
                };
            }
            Step::Deploy {
                job_id: recorded_job_id(facts.status).unwrap_or_else(|| facts.fresh_job_id.to_owned()),
                restore: if restore_mode == Some(UpgradeMode::Stateless) {
                    None
                } else {
                    upgrade_savepoint_path(facts.status).map(|path| restore_point(facts, path))
                },
                target: Box::new(target),
            }
        }
    }
}

/// A manual or periodic savepoint in flight blocks everything else (as upstream's status-tracked triggers do).
fn decide_savepoint_in_flight(facts: &Facts<'_>, trigger_id: &str, trigger_type: TriggerType) -> Step {
    match &facts.stop {
        StopFacts::Completed(location) => Step::RecordSavepoint { location: location.clone() },
        StopFacts::Failed(reason) => Step::SavepointFailed { reason: reason.clone() },
        StopFacts::InProgress => wait(PROGRESS_CHECK, "a savepoint is in progress"),
        StopFacts::NotIssued if facts.job == JobFacts::State(FlinkJobState::Running) => {
            Step::TriggerSavepoint { trigger_id: trigger_id.to_owned(), trigger_type }
        }
        StopFacts::NotIssued => {
            Step::SavepointFailed { reason: "the job stopped before the savepoint was taken".into() }
        }
        StopFacts::Unknown => wait(PROGRESS_CHECK, "the cluster does not answer; waiting to finish the savepoint"),
    }
}

/// A manual or periodic checkpoint in flight blocks everything else, as a savepoint does.
fn decide_checkpoint_in_flight(facts: &Facts<'_>, trigger_id: &str, trigger_type: TriggerType) -> Step {
    match &facts.checkpoint {
        CheckpointFacts::Completed => Step::RecordCheckpoint,
        CheckpointFacts::Failed(reason) => Step::CheckpointFailed { reason: reason.clone() },
        CheckpointFacts::InProgress => wait(PROGRESS_CHECK, "a checkpoint is in progress"),
        CheckpointFacts::NotIssued if facts.job == JobFacts::State(FlinkJobState::Running) => {
            Step::TriggerCheckpoint { trigger_id: trigger_id.to_owned(), trigger_type }
        }
        CheckpointFacts::NotIssued => {
            Step::CheckpointFailed { reason: "the job stopped before the checkpoint was taken".into() }
        }
        CheckpointFacts::Unknown => {
            wait(PROGRESS_CHECK, "the cluster does not answer; waiting to finish the checkpoint")
        }
    }
}

/// A manual (nonce) or periodic (schedule) savepoint or checkpoint that is due now, and when to look again
/// otherwise.
fn due_snapshot(facts: &Facts<'_>, recorded: &ReconciledSpec) -> Result<(SnapshotKind, TriggerType), Duration> {
    let Some(job) = facts.desired.job.as_ref() else { return Err(RECONCILE_INTERVAL) };
    let job_status = facts.status.job_status.clone().unwrap_or_default();
    let savepoint_info = job_status.savepoint_info.unwrap_or_default();
    let checkpoint_info = job_status.checkpoint_info.unwrap_or_default();
    let handled = recorded.spec.job.as_ref();
    let input = TriggerInput {
        job_spec: job,
        savepoint_info: &savepoint_info,
        checkpoint_info: &checkpoint_info,
        handled_savepoint_nonce: handled.and_then(|j| j.savepoint_trigger_nonce),
        handled_checkpoint_nonce: handled.and_then(|j| j.checkpoint_trigger_nonce),
        last_periodic_savepoint_ms: last_periodic_trigger_ms(
            None,
            savepoint_info.last_periodic_savepoint_timestamp,
            facts.created_ms,
        ),
        last_periodic_checkpoint_ms: last_periodic_trigger_ms(
            None,
            checkpoint_info.last_periodic_checkpoint_timestamp,
            facts.created_ms,
        ),
        job_running: facts.job == JobFacts::State(FlinkJobState::Running),
    };
    match decide_trigger(&input, &facts.trigger_config, facts.now_ms) {
        Some(trigger) => Ok((trigger.kind, trigger.trigger_type)),
        None => {
            let next = next_periodic_check(&input, &facts.trigger_config)
                .map(|at| Duration::from_millis(u64::try_from(at - facts.now_ms).unwrap_or(0)));
            Err(next.map_or(RECONCILE_INTERVAL, |next| next.min(RECONCILE_INTERVAL)))
        }
    }
}

fn decide_deployed(facts: &Facts<'_>, is_session: bool) -> Step {
    let Some(recorded) = reconciled(facts.status) else { return wait(PROGRESS_CHECK, "no reconciled spec recorded") };
    let job_status = facts.status.job_status.as_ref();
    let as_trigger_type = |recorded: Option<SnapshotTriggerType>| {
        if recorded == Some(SnapshotTriggerType::Periodic) { TriggerType::Periodic } else { TriggerType::Manual }
    };
    if let Some(SavepointInfo { trigger_id: Some(trigger_id), trigger_type, .. }) =
        job_status.and_then(|j| j.savepoint_info.as_ref())
    {
        return decide_savepoint_in_flight(facts, trigger_id, as_trigger_type(*trigger_type));
    }
    if let Some(info) = job_status.and_then(|j| j.checkpoint_info.as_ref())
        && let Some(trigger_id) = info.trigger_id.as_deref().filter(|id| !id.is_empty())
    {
        return decide_checkpoint_in_flight(facts, trigger_id, as_trigger_type(info.trigger_type));
    }
    let class = diff_class(&recorded.spec, facts.desired);
    if class == DiffClass::Ignore
        && facts.cluster == ClusterStatus::Ready
        && !is_session
        && let Some(reason) = &facts.unhealthy
        && matches!(facts.job, JobFacts::State(state) if !state.is_globally_terminal())
    {
        let mode = if desired_mode(facts.desired) == UpgradeMode::Stateless {
            UpgradeMode::Stateless
        } else {
            UpgradeMode::LastState
        };
        return Step::RestartUnhealthy {
            target: Box::new(ReconciledSpec::new(facts.desired, JobState::Suspended, Some(mode), false)),
            reason: reason.clone(),
        };
    }
    if class == DiffClass::Ignore && facts.cluster == ClusterStatus::Ready && !is_session {
        let trigger_id = facts.fresh_trigger_id.to_owned();
        return match due_snapshot(facts, &recorded) {
            Ok((SnapshotKind::Savepoint, trigger_type)) => Step::TriggerSavepoint { trigger_id, trigger_type },
            Ok((SnapshotKind::Checkpoint, trigger_type)) => Step::TriggerCheckpoint { trigger_id, trigger_type },
            Err(requeue_after) => match retention_due(facts) {
                Some(plan) => Step::ApplyRetention { plan },
                None if facts.status.observed_generation != Some(facts.generation) => Step::RecordGeneration,
                None => decide_autoscaler(facts, requeue_after.min(settling(facts.job))),
            },
        };
    }
    if class == DiffClass::Ignore {
        return match (&facts.cluster, facts.job) {
            // Only a cluster that is gone is recreated: a failing one (REST down, a process restarting) may
            // come back with its job, and redeploying it would lose what it runs.
            (ClusterStatus::Missing, _) if is_session || desired_mode(facts.desired) == UpgradeMode::Stateless => {
                // JobManager deployment recovery: what is lost is recreated from the recorded spec.
                Step::Deploy { target: Box::new(recorded), job_id: facts.fresh_job_id.to_owned(), restore: None }
            }
            (ClusterStatus::Missing, _) if !recorded_finished(facts.status) => {
                // The cluster (or, for a session job, its submission) is gone with its job. Without HA metadata
                // the newest savepoint recorded in status is where its state is: recover from it.
                let restore = last_recorded_snapshot(facts.status).map(|path| restore_point(facts, path));
                Step::Deploy { target: Box::new(recorded), job_id: facts.fresh_job_id.to_owned(), restore }
            }
            (ClusterStatus::Failed { reason }, _) => wait(UNSETTLED_CHECK, format!("the cluster failed: {reason}")),
            _ if is_session => wait(RECONCILE_INTERVAL, "up to date"),
            _ => wait(settling(facts.job), "up to date"),
        };
    }
    if is_session {
        // A session cluster has no job state to carry: redeploy it with the new spec.
        return Step::Deploy {
            target: Box::new(ReconciledSpec::new(facts.desired, JobState::Running, None, false)),
            job_id: facts.fresh_job_id.to_owned(),
            restore: None,
        };
    }
    suspend_for_change(facts)
}

/// A deployed, up-to-date job: run the autoscaler when it is due and the job runs stably, else wait.
fn decide_autoscaler(facts: &Facts<'_>, requeue_after: Duration) -> Step {
    let running = facts.job == JobFacts::State(FlinkJobState::Running);
    let stable = facts
        .status
        .reconciliation_status
        .as_ref()
        .is_some_and(|r| r.last_stable_spec.is_some() && r.last_stable_spec == r.last_reconciled_spec);
    match facts.autoscaler {
        AutoscalerFacts::Stale => Step::ClearAutoscaler,
        AutoscalerFacts::Due if running && stable => Step::Autoscale,
        AutoscalerFacts::NotDue(next) => wait(requeue_after.min(next), "up to date"),
        AutoscalerFacts::Due | AutoscalerFacts::Off => wait(requeue_after, "up to date"),
    }
}

/// Why the current generation must be rolled back, if it must: rollback is on, the recorded spec never became
/// stable, a stable one exists, and the cluster and job are still not ready after the readiness timeout.
fn rollback_due(facts: &Facts<'_>) -> Option<String> {
    let timeout = facts.rollback_after?;
    if facts.rolling_back || desired_state(facts.desired) == JobState::Suspended {
        return None;
    }
    let reconciliation = facts.status.reconciliation_status.as_ref()?;
    let stable = reconciliation.last_stable_spec.as_deref()?;
    if Some(stable) == reconciliation.last_reconciled_spec.as_deref() {
        return None;
    }
    let ready = facts.cluster == ClusterStatus::Ready
        && (facts.desired.job.is_none() || facts.job == JobFacts::State(FlinkJobState::Running));
    let since = reconciliation.reconciliation_timestamp?;
    let waited = facts.now_ms.saturating_sub(since);
    let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
    (!ready && waited > timeout_ms).then(|| {
        format!(
            "the upgrade was not ready within {timeout:?} (job {:?}); rolling back to the last stable spec",
            facts.job
        )
    })
}

/// How soon to look again at a deployed job: soon while it is starting (so RUNNING is recorded as it happens),
/// a little later while it fails or restarts, at the normal interval once it runs or has ended.
fn settling(job: JobFacts) -> Duration {
    match job {
        JobFacts::State(FlinkJobState::Running) => RECONCILE_INTERVAL,
        JobFacts::State(state) if state.is_globally_terminal() => RECONCILE_INTERVAL,
        JobFacts::State(FlinkJobState::Created | FlinkJobState::Initializing | FlinkJobState::Reconciling)
        | JobFacts::NotFound => PROGRESS_CHECK,
        JobFacts::State(_) | JobFacts::Unknown => UNSETTLED_CHECK,
    }
}

/// A retention pass with something to do, while the job runs (disposal goes through its JobManager).
fn retention_due(facts: &Facts<'_>) -> Option<RetentionPlan> {
    if facts.job != JobFacts::State(FlinkJobState::Running) {
        return None;
    }
    let history = &facts.status.job_status.as_ref()?.savepoint_info.as_ref()?.savepoint_history;
    let plan = plan_retention(history, &facts.retention, 0, facts.now_ms);
    (!plan.is_empty()).then_some(plan)
}

/// The suspend half of an upgrade or suspend (§2.4 decision table, keyed on the new spec's mode).
fn suspend_for_change(facts: &Facts<'_>) -> Step {
    let mode = desired_mode(facts.desired);
    let cancel_to = |restore_mode: UpgradeMode| Step::Cancel {
        target: Box::new(ReconciledSpec::new(facts.desired, JobState::Suspended, Some(restore_mode), false)),
    };
    match facts.job {
        JobFacts::State(state) if state.is_globally_terminal() => Step::RecordStopped {
            target: Box::new(ReconciledSpec::new(facts.desired, JobState::Suspended, Some(mode), false)),
            restore_path: if mode == UpgradeMode::Stateless {
                None
            } else {
                facts.latest_snapshot.clone().or_else(|| upgrade_savepoint_path(facts.status))
            },
            new_savepoint: false,
        },
        JobFacts::State(FlinkJobState::Cancelling) => wait(PROGRESS_CHECK, "the job is being cancelled"),
        // The job never ran on this cluster (a failed deploy) or went with it: its state is still where the
        // last restore point says.
        JobFacts::NotFound => stopped_at_restore_point(facts, mode),
        JobFacts::Unknown if matches!(facts.cluster, ClusterStatus::Missing | ClusterStatus::Failed { .. }) => {
            stopped_at_restore_point(facts, mode)
        }
        _ if mode == UpgradeMode::Stateless => cancel_to(UpgradeMode::Stateless),
        JobFacts::State(FlinkJobState::Running)
            if mode == UpgradeMode::Savepoint || savepoint_instead_of_last_state(facts) =>
        {
            Step::StopWithSavepoint { trigger_id: facts.fresh_trigger_id.to_owned() }
        }
        _ if mode == UpgradeMode::Savepoint && !facts.last_state_fallback && !flink_version_changed(facts) => wait(
            UNSETTLED_CHECK,
            "savepoint upgrade waits for the job to run (kubernetes.operator.job.upgrade.last-state-fallback.enabled is false)",
        ),
        // Savepoint mode with a job that is not running falls back to last-state (upstream default), and
        // last-state cancels the job and restores from its latest checkpoint (no HA in standalone mode).
        JobFacts::State(
            FlinkJobState::Running
            | FlinkJobState::Restarting
            | FlinkJobState::Failing
            | FlinkJobState::Created
            | FlinkJobState::Initializing,
        ) => cancel_to(UpgradeMode::LastState),
        JobFacts::State(_) | JobFacts::Unknown => {
            wait(PROGRESS_CHECK, "waiting for the job to be observable before upgrading it")
        }
    }
}

/// Whether the Flink version changes with this upgrade (state handles of last-state are not portable across it).
fn flink_version_changed(facts: &Facts<'_>) -> bool {
    reconciled(facts.status).is_some_and(|recorded| recorded.spec.flink_version != facts.desired.flink_version)
}

/// A last-state upgrade of a running job takes a savepoint instead (§2.4 rows 6 and 7): across a Flink version
/// change, or when the newest checkpoint is older than the allowed age (and the job has run that long).
fn savepoint_instead_of_last_state(facts: &Facts<'_>) -> bool {
    if desired_mode(facts.desired) != UpgradeMode::LastState {
        return false;
    }
    if flink_version_changed(facts) {
        return true;
    }
    let Some(age) = facts.max_checkpoint_age else { return false };
    let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    let oldest_allowed = facts.now_ms.saturating_sub(age_ms);
    let ran_long_enough = facts.job_start_ms.is_some_and(|start| start < oldest_allowed);
    ran_long_enough && facts.latest_checkpoint_ms.is_none_or(|taken| taken < oldest_allowed)
}

/// The job is gone without a stop: record it stopped at the recorded restore point (none when stateless).
fn stopped_at_restore_point(facts: &Facts<'_>, mode: UpgradeMode) -> Step {
    Step::RecordStopped {
        target: Box::new(ReconciledSpec::new(facts.desired, JobState::Suspended, Some(mode), false)),
        restore_path: if mode == UpgradeMode::Stateless { None } else { last_recorded_snapshot(facts.status) },
        new_savepoint: false,
    }
}

fn decide_stopping(facts: &Facts<'_>, trigger_id: &str) -> Step {
    let target = |desired_state: JobState| {
        Box::new(ReconciledSpec::new(facts.desired, desired_state, Some(UpgradeMode::Savepoint), false))
    };
    match &facts.stop {
        StopFacts::Completed(location) => Step::RecordStopped {
            target: target(JobState::Suspended),
            restore_path: Some(location.clone()),
            new_savepoint: true,
        },
        StopFacts::InProgress => wait(PROGRESS_CHECK, "the stop-with-savepoint is in progress"),
        StopFacts::Failed(reason) => Step::StopFailed { reason: reason.clone() },
        StopFacts::NotIssued => match facts.job {
            // The stop was recorded but never reached Flink (or Flink forgot it): issue it with the same id.
            JobFacts::State(FlinkJobState::Running) => Step::StopWithSavepoint { trigger_id: trigger_id.to_owned() },
            // The job already ended: its last savepoint is the one this stop took.
            JobFacts::State(FlinkJobState::Finished) if facts.latest_snapshot.is_some() => Step::RecordStopped {
                target: target(JobState::Suspended),
                restore_path: facts.latest_snapshot.clone(),
                new_savepoint: true,
            },
            _ => wait(PROGRESS_CHECK, "waiting for the job to be observable to finish the stop"),
        },
        StopFacts::Unknown => wait(PROGRESS_CHECK, "the cluster does not answer; waiting to finish the stop"),
    }
}

fn decide_deletion(facts: &Facts<'_>, phase: &Phase) -> Step {
    if !facts.blocking_session_jobs.is_empty() {
        return Step::Blocked {
            reason: format!(
                "the session cluster still runs session jobs ({}); delete them first",
                facts.blocking_session_jobs.join(", ")
            ),
        };
    }
    let running = facts.job == JobFacts::State(FlinkJobState::Running);
    match phase {
        Phase::Stopping { trigger_id } => match &facts.stop {
            StopFacts::Completed(location) => Step::Cleanup { savepoint: Some(location.clone()) },
            StopFacts::Failed(_) => Step::Cleanup { savepoint: None },
            StopFacts::NotIssued if running => Step::StopWithSavepoint { trigger_id: trigger_id.clone() },
            StopFacts::InProgress => wait(PROGRESS_CHECK, "taking the savepoint before deletion"),
            _ => Step::Cleanup { savepoint: None },
        },
        Phase::Deployed if facts.savepoint_on_deletion && running && facts.desired.job.is_some() => {
            Step::StopWithSavepoint { trigger_id: facts.fresh_trigger_id.to_owned() }
        }
        _ => Step::Cleanup { savepoint: None },
    }
}

#[cfg(test)]
mod tests;
