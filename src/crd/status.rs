//! Status types of `FlinkDeployment` and `FlinkSessionJob`, laid out exactly as upstream writes them so dashboards,
//! `kubectl` columns and health checks keep working.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Flink's job state as reported by the cluster (`status.jobStatus.state`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlinkJobState {
    /// Being initialized.
    Initializing,
    /// Created, waiting for resources.
    Created,
    /// Running.
    Running,
    /// Failing.
    Failing,
    /// Failed terminally.
    Failed,
    /// Being cancelled.
    Cancelling,
    /// Cancelled.
    Canceled,
    /// Finished (also after stop-with-savepoint).
    Finished,
    /// Restarting after a failure.
    Restarting,
    /// Suspended.
    Suspended,
    /// The operator does not know the state yet.
    Reconciling,
}

impl FlinkJobState {
    /// FAILED, FINISHED or CANCELED: the job will not run again by itself.
    pub fn is_globally_terminal(self) -> bool {
        matches!(self, FlinkJobState::Failed | FlinkJobState::Finished | FlinkJobState::Canceled)
    }
}

/// Derived lifecycle of a resource (`status.lifecycleState`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResourceLifecycleState {
    /// Not deployed yet.
    Created,
    /// Deployed, not yet stable.
    Deployed,
    /// An upgrade is in flight.
    Upgrading,
    /// Suspended as desired.
    Suspended,
    /// Running and stable.
    Stable,
    /// Rolling back to the last stable spec.
    RollingBack,
    /// Rolled back.
    RolledBack,
    /// Failed.
    Failed,
    /// Being deleted.
    Deleting,
    /// Deleted.
    Deleted,
}

/// State of the operator's last reconciliation (`status.reconciliationStatus.state`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReconciliationState {
    /// The last reconciled spec is deployed.
    Deployed,
    /// An upgrade was started and is not complete.
    Upgrading,
    /// A rollback is in progress.
    RollingBack,
    /// Rolled back to the last stable spec.
    RolledBack,
}

/// JobManager deployment status (`status.jobManagerDeploymentStatus`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobManagerDeploymentStatus {
    /// REST is reachable.
    Ready,
    /// Deployed, REST not yet checked.
    DeployedNotReady,
    /// Being deployed.
    Deploying,
    /// No JobManager exists.
    Missing,
    /// The JobManager failed to deploy.
    Error,
}

/// What triggered a savepoint or checkpoint.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SnapshotTriggerType {
    /// A nonce or a user request.
    Manual,
    /// A periodic schedule.
    Periodic,
    /// An upgrade or suspend.
    Upgrade,
    /// Unknown.
    Unknown,
}

/// Savepoint format.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SavepointFormatType {
    /// Portable across state backends.
    Canonical,
    /// The state backend's own format.
    Native,
    /// Unknown.
    Unknown,
}

/// Checkpoint type.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckpointType {
    /// Full checkpoint.
    Full,
    /// Incremental checkpoint.
    Incremental,
    /// Unknown.
    Unknown,
}

/// A completed savepoint.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Savepoint {
    /// Completion time, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_stamp: Option<i64>,
    /// Savepoint location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// What triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<SnapshotTriggerType>,
    /// Format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormatType>,
    /// The nonce that triggered it, for manual savepoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_nonce: Option<i64>,
}

/// Savepoint bookkeeping (`status.jobStatus.savepointInfo`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SavepointInfo {
    /// The newest completed savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_savepoint: Option<Savepoint>,
    /// Trigger id of the savepoint in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    /// When the savepoint in flight was triggered, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_timestamp: Option<i64>,
    /// Trigger type of the savepoint in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<SnapshotTriggerType>,
    /// Format of the savepoint in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormatType>,
    /// Completed savepoints, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub savepoint_history: Vec<Savepoint>,
    /// When the last periodic savepoint was triggered, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_periodic_savepoint_timestamp: Option<i64>,
}

/// A completed checkpoint.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Completion time, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_stamp: Option<i64>,
    /// What triggered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<SnapshotTriggerType>,
    /// Checkpoint type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<CheckpointType>,
    /// The nonce that triggered it, for manual checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_nonce: Option<i64>,
}

/// Checkpoint bookkeeping (`status.jobStatus.checkpointInfo`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointInfo {
    /// The newest completed checkpoint triggered by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint: Option<Checkpoint>,
    /// Trigger id of the checkpoint in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    /// When the checkpoint in flight was triggered, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_timestamp: Option<i64>,
    /// Trigger type of the checkpoint in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_type: Option<SnapshotTriggerType>,
    /// Type of the checkpoint in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<CheckpointType>,
    /// When the last periodic checkpoint was triggered, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_periodic_checkpoint_timestamp: Option<i64>,
}

/// The observed job (`status.jobStatus`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// Job name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Flink job id (32 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Flink job state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<FlinkJobState>,
    /// Start time, epoch milliseconds as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Last update time, epoch milliseconds as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// Where the next deployment restores from (`KUBERNETES_OPERATOR_LAST_STATE` for HA restores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_savepoint_path: Option<String>,
    /// Savepoint bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_info: Option<SavepointInfo>,
    /// Checkpoint bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_info: Option<CheckpointInfo>,
}

/// The operator's record of intent (`status.reconciliationStatus`): the write-ahead log of every upgrade.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationStatus {
    /// When the last reconciliation happened, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation_timestamp: Option<i64>,
    /// JSON `{"spec": ..., "resource_metadata": ...}` of the last reconciled spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconciled_spec: Option<String>,
    /// JSON of the last spec that ran stably.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stable_spec: Option<String>,
    /// Reconciliation state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ReconciliationState>,
}

/// TaskManager status for the scale subresource (`status.taskManager`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskManagerInfo {
    /// Label selector of the TaskManager pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Number of TaskManagers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// Status of a `FlinkDeployment`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct FlinkDeploymentStatus {
    /// The observed job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
    /// Last error, as JSON `{type, message, ...}`; never contains secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Generation of the last reconciled spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Derived lifecycle state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_state: Option<ResourceLifecycleState>,
    /// The operator's record of intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation_status: Option<ReconciliationStatus>,
    /// Cluster facts (`flink-version`, `total-cpu`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_info: Option<BTreeMap<String, String>>,
    /// JobManager deployment status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_manager_deployment_status: Option<JobManagerDeploymentStatus>,
    /// TaskManager replicas and selector for the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_manager: Option<TaskManagerInfo>,
    /// Conditions: upstream's `Running`, plus `Ready`, `Reconciling` and `Stalled` for kstatus readers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// flinkops extension: the autoscaler's overrides, metrics, history and state (upstream keeps these in the
    /// `autoscaler-<name>` ConfigMap). Absent while the autoscaler is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler: Option<Box<AutoscalerStatus>>,
}

/// The autoscaler's part of the status (`status.autoscaler`, a flinkops extension).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerStatus {
    /// Vertex id → parallelism the autoscaler set. Owned by the autoscaler: merged over
    /// `pipeline.jobvertex-parallelism-overrides` of the spec that is deployed, never written to the spec.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parallelism_overrides: BTreeMap<String, i32>,
    /// How the overrides were last realized: `in-place` (resource requirements) or `redeploy` (upgrade mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realization: Option<String>,
    /// When the autoscaler last ran, epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_timestamp: Option<i64>,
    /// What the last run concluded, e.g. `filling the metrics window until 2024-06-10T06:13:20.000Z`, `balanced`, `scaled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<String>,
    /// Why the last run could not evaluate or realize, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per-vertex metrics of the last evaluation, topological order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vertices: Vec<AutoscalerVertexStatus>,
    /// Scaling decisions, oldest first, bounded by `job.autoscaler.history.max.count` and `history.max.age`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scaling_history: Vec<ScalingHistoryEntry>,
    /// The autoscaler core's memory (per-vertex scaling records, delayed scale-downs, confirmations, restart
    /// tracking), as written by flinkops; not an API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::common::free_form_schema")]
    pub state: Option<serde_json::Value>,
    /// The sliding metrics window (samples since the job became stable), as written by flinkops; not an API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::common::free_form_schema")]
    pub metrics_window: Option<serde_json::Value>,
}

/// One vertex as the autoscaler last evaluated it.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerVertexStatus {
    /// Vertex id.
    pub vertex_id: String,
    /// Vertex name (its chained operators).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Current parallelism.
    pub parallelism: i32,
    /// Recommended parallelism (before the scale-down delay), when the vertex was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_parallelism: Option<i32>,
    /// Max parallelism (key groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<i32>,
    /// Busy time over the window, ms/s (per the configured aggregator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_time_ms_per_second: Option<f64>,
    /// Records/s the vertex processes over the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_rate: Option<f64>,
    /// True processing rate (records/s the vertex could sustain when fully busy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub true_processing_rate: Option<f64>,
    /// Target rate: records/s the vertex must sustain (sources: input rate plus backlog growth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
    /// Sources: latest backlog (`pendingRecords`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_records: Option<f64>,
    /// Below this processing rate the vertex scales up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up_rate_threshold: Option<f64>,
    /// Above this processing rate the vertex scales down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_rate_threshold: Option<f64>,
}

/// One scaling decision in `status.autoscaler.scalingHistory`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ScalingHistoryEntry {
    /// When, epoch milliseconds.
    pub timestamp: i64,
    /// Executed; false when only recommended (`scaling.enabled` false, or an excluded period).
    pub executed: bool,
    /// How it was realized (`in-place`, `redeploy`), when executed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realization: Option<String>,
    /// The changed vertices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vertices: Vec<ScalingHistoryChange>,
    /// The readable report (upstream's ScalingReport text).
    pub report: String,
}

/// One vertex of a [`ScalingHistoryEntry`].
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ScalingHistoryChange {
    /// Vertex id.
    pub vertex_id: String,
    /// Vertex name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Parallelism before.
    pub from: i32,
    /// Parallelism after.
    pub to: i32,
    /// Why.
    pub reason: String,
}

/// Status of a `FlinkSessionJob`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct FlinkSessionJobStatus {
    /// The observed job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
    /// Last error, as JSON `{type, message, ...}`; never contains secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Generation of the last reconciled spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Derived lifecycle state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_state: Option<ResourceLifecycleState>,
    /// The operator's record of intent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation_status: Option<ReconciliationStatus>,
    /// Conditions: `Ready`, `Reconciling` and `Stalled` for kstatus readers (upstream has none here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
