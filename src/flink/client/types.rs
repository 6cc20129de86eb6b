//! Request and response bodies of the Flink REST API (shapes verified against Flink 2.3; the fields
//! used here exist unchanged since 1.18 unless noted). Fields the operator does not need are left
//! out; unknown fields are ignored, and most fields default so an older or newer Flink that omits
//! one still decodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /overview`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ClusterOverview {
    pub taskmanagers: u32,
    pub slots_total: u32,
    pub slots_available: u32,
    pub jobs_running: u32,
    pub jobs_finished: u32,
    pub jobs_cancelled: u32,
    pub jobs_failed: u32,
    pub flink_version: String,
    pub flink_commit: String,
}

/// `GET /config` (the web dashboard configuration; cheap, used for the version and as a liveness probe).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct DashboardConfig {
    pub refresh_interval: u64,
    pub timezone_name: String,
    pub flink_version: String,
    pub flink_revision: String,
    pub features: BTreeMap<String, Value>,
}

/// One entry of `GET /jobmanager/config` or `GET /jobs/:id/jobmanager/config`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConfigEntry {
    pub key: String,
    pub value: String,
}

/// Job status as Flink reports it. `Unknown` keeps decoding working if a Flink version adds a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    Initializing,
    Created,
    Running,
    Failing,
    Failed,
    Cancelling,
    Canceled,
    Finished,
    Restarting,
    Suspended,
    Reconciling,
    #[serde(other)]
    Unknown,
}

impl JobState {
    /// FINISHED, CANCELED or FAILED: the job will never run again under this id.
    pub fn is_globally_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Canceled | Self::Failed)
    }
}

/// `GET /jobs/:id/status` (not cached by Flink, unlike `/jobs/:id`; use it for polling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct JobStatusResponse {
    pub status: JobState,
}

/// `GET /jobs/overview`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct JobsOverview {
    #[serde(default)]
    pub jobs: Vec<JobOverview>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobOverview {
    pub jid: String,
    #[serde(default)]
    pub name: String,
    pub state: JobState,
    #[serde(default)]
    pub start_time: i64,
    #[serde(default)]
    pub end_time: i64,
    #[serde(default)]
    pub duration: i64,
    #[serde(default)]
    pub last_modification: i64,
    #[serde(default)]
    pub tasks: TaskCounts,
}

impl JobOverview {
    /// Every task is RUNNING (a RUNNING job may still be deploying some).
    pub fn all_tasks_running(&self) -> bool {
        self.tasks.total > 0 && self.tasks.running == self.tasks.total
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TaskCounts {
    pub total: u32,
    pub created: u32,
    pub scheduled: u32,
    pub deploying: u32,
    pub running: u32,
    pub finished: u32,
    pub canceling: u32,
    pub canceled: u32,
    pub failed: u32,
    pub reconciling: u32,
    pub initializing: u32,
}

/// `GET /jobs/:id`. Cached by Flink for `web.refresh-interval`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobDetails {
    pub jid: String,
    #[serde(default)]
    pub name: String,
    pub state: JobState,
    #[serde(default)]
    pub start_time: i64,
    #[serde(default)]
    pub end_time: i64,
    #[serde(default)]
    pub duration: i64,
    #[serde(default)]
    pub now: i64,
    #[serde(default, rename = "maxParallelism")]
    pub max_parallelism: i64,
    /// State name → time it was entered (epoch ms).
    #[serde(default)]
    pub timestamps: BTreeMap<String, i64>,
    #[serde(default)]
    pub vertices: Vec<JobVertex>,
    /// The JSON plan (nodes with inputs and ship strategies), kept raw.
    #[serde(default)]
    pub plan: Value,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobVertex {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub parallelism: u32,
    #[serde(default, rename = "maxParallelism")]
    pub max_parallelism: i64,
    #[serde(default)]
    pub status: String,
    /// Execution state → number of subtasks in it.
    #[serde(default)]
    pub tasks: BTreeMap<String, u32>,
    /// IO metrics (`read-records`, `accumulated-busy-time`, ...), kept raw.
    #[serde(default)]
    pub metrics: Value,
}

/// `POST /jars/upload`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JarUploadResponse {
    /// Server-side path; its file name is the jar id.
    pub filename: String,
    #[serde(default)]
    pub status: String,
}

impl JarUploadResponse {
    /// The id to use in `/jars/:jarid/...`: the file name part of `filename`.
    pub fn jar_id(&self) -> &str {
        self.filename
            .rsplit('/')
            .next()
            .unwrap_or(self.filename.as_str())
    }
}

/// `GET /jars`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct JarList {
    #[serde(default)]
    pub files: Vec<JarInfo>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JarInfo {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uploaded: i64,
    #[serde(default)]
    pub entry: Vec<JarEntryPoint>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JarEntryPoint {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// How a restored job treats the snapshot it starts from.
///
/// Flink ≥ 1.20 reads the request field `claimMode`; 1.15–1.19 read `restoreMode` with the same
/// values. `LEGACY` was removed in 2.0. [`JarRunRequest`] sends whichever field you fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClaimMode {
    /// Flink takes ownership and may delete the snapshot later.
    Claim,
    /// The first checkpoint is a full one; the snapshot stays the user's.
    NoClaim,
    /// Flink < 2.0 only.
    Legacy,
}

/// Body of `POST /jars/:jarid/run` and `POST /jars/:jarid/plan`. Empty fields are omitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JarRunRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub program_args_list: Vec<String>,
    /// Only sent when set; a job's own `setParallelism` wins over it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// 32 hex characters. Makes the submission idempotent: a second run with the same id fails with
    /// `DuplicateApplicationSubmissionException` (Flink 2.3) / `DuplicateJobSubmissionException`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savepoint_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_non_restored_state: Option<bool>,
    /// Flink ≥ 1.20.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_mode: Option<ClaimMode>,
    /// Flink 1.15–1.19 name of `claim_mode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_mode: Option<ClaimMode>,
    /// Job-level Flink options (Flink ≥ 1.17). Cluster-level ones (e.g. `jobmanager.scheduler`) are ignored.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub flink_configuration: BTreeMap<String, String>,
}

/// `POST /jars/:jarid/run`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JarRunResponse {
    pub jobid: String,
}

/// `POST /jars/:jarid/plan`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JarPlanResponse {
    pub plan: JobPlan,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobPlan {
    #[serde(default)]
    pub jid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub nodes: Vec<PlanNode>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlanNode {
    pub id: String,
    #[serde(default)]
    pub parallelism: u32,
    #[serde(default)]
    pub operator: String,
    /// HTML-ish text such as `Source: source<br/>`; starts with the operator names of the chain.
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub inputs: Vec<Value>,
}

/// Snapshot format of a savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SavepointFormat {
    Canonical,
    Native,
}

/// Body of `POST /jobs/:id/savepoints`. Note the kebab-case keys (unlike [`StopWithSavepointRequest`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SavepointTriggerRequest {
    /// Default: the cluster's `execution.checkpointing.savepoint-dir`.
    #[serde(rename = "target-directory", skip_serializing_if = "Option::is_none")]
    pub target_directory: Option<String>,
    #[serde(rename = "cancel-job")]
    pub cancel_job: bool,
    #[serde(rename = "formatType", skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormat>,
    /// 32 hex characters; makes the trigger idempotent (Flink ≥ 1.15).
    #[serde(rename = "triggerId", skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
}

/// Body of `POST /jobs/:id/stop`. camelCase keys, unlike `/savepoints`.
/// (`PATCH /jobs/:id?mode=stop` was removed in Flink 2.0; this endpoint exists since 1.9.)
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StopWithSavepointRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_directory: Option<String>,
    /// Emit MAX_WATERMARK and flush event-time windows before stopping.
    pub drain: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
}

/// Checkpoint type for a manual checkpoint (Flink ≥ 1.17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckpointType {
    Configured,
    Full,
    Incremental,
}

/// Body of `POST /jobs/:id/checkpoints`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointTriggerRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_type: Option<CheckpointType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
}

/// `{"request-id": ...}` answer of every asynchronous trigger.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TriggerResponse {
    #[serde(rename = "request-id")]
    pub request_id: String,
}

/// Raw status of an asynchronous operation (`/jobs/:id/savepoints/:tid`, `/jobs/:id/checkpoints/:tid`,
/// `/savepoint-disposal/:tid`). Interpret it with [`OperationState`]; do not read `status.id` alone,
/// because a failed operation is also `COMPLETED`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AsyncOperationStatus {
    pub status: QueueStatus,
    #[serde(default)]
    pub operation: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueueStatus {
    pub id: String,
}

/// Outcome of an asynchronous operation.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationState<T> {
    InProgress,
    Completed(T),
    /// `COMPLETED` with a `failure-cause`; the string is the root cause's first line.
    Failed(String),
}

/// Result of a finished savepoint or stop-with-savepoint.
pub type SavepointState = OperationState<String>;
/// Result of a finished manual checkpoint: its id.
pub type CheckpointState = OperationState<u64>;

/// `GET /jobs/:id/checkpoints`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CheckpointingStatistics {
    pub counts: CheckpointCounts,
    pub latest: LatestCheckpoints,
    /// Recent checkpoints (completed, failed, in progress), kept raw.
    pub history: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CheckpointCounts {
    pub restored: u64,
    pub total: u64,
    pub in_progress: u64,
    pub completed: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LatestCheckpoints {
    pub completed: Option<CheckpointSummary>,
    pub savepoint: Option<CheckpointSummary>,
    pub failed: Option<Value>,
    pub restored: Option<RestoredCheckpoint>,
}

/// A completed checkpoint or savepoint (also the body of `/jobs/:id/checkpoints/details/:cid`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CheckpointSummary {
    pub id: u64,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub is_savepoint: bool,
    #[serde(default)]
    pub trigger_timestamp: i64,
    #[serde(default)]
    pub latest_ack_timestamp: i64,
    #[serde(default)]
    pub state_size: u64,
    #[serde(default)]
    pub checkpointed_size: u64,
    #[serde(default)]
    pub end_to_end_duration: u64,
    #[serde(default)]
    pub external_path: Option<String>,
    #[serde(default)]
    pub discarded: bool,
    #[serde(default)]
    pub checkpoint_type: Option<String>,
}

/// The snapshot the current execution was restored from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RestoredCheckpoint {
    pub id: u64,
    #[serde(default)]
    pub restore_timestamp: i64,
    #[serde(default)]
    pub is_savepoint: bool,
    #[serde(default)]
    pub external_path: Option<String>,
}

/// `GET /jobs/:id/exceptions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobExceptions {
    pub exception_history: ExceptionHistory,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ExceptionHistory {
    pub entries: Vec<ExceptionEntry>,
    pub truncated: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExceptionEntry {
    pub exception_name: String,
    pub stacktrace: String,
    pub timestamp: i64,
    pub task_name: Option<String>,
    pub endpoint: Option<String>,
    pub task_manager_id: Option<String>,
}

/// `GET /jobs/:id/execution-result`. The only place the cause of a job that failed during
/// initialisation (e.g. a bad savepoint path) is reported; `/exceptions` is empty then.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobExecutionResultResponse {
    pub status: QueueStatus,
    #[serde(default, rename = "job-execution-result")]
    pub job_execution_result: Option<JobExecutionResult>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobExecutionResult {
    pub id: String,
    #[serde(default)]
    pub application_status: String,
    #[serde(default)]
    pub net_runtime: i64,
    #[serde(default)]
    pub failure_cause: Option<FailureCause>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FailureCause {
    #[serde(default)]
    pub class: String,
    #[serde(default)]
    pub stack_trace: String,
}

/// Aggregation functions of `subtasks/metrics` and `taskmanagers/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricAggregation {
    Min,
    Max,
    Avg,
    Sum,
    Skew,
}

impl MetricAggregation {
    pub const ALL: [Self; 5] = [Self::Min, Self::Max, Self::Avg, Self::Sum, Self::Skew];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Min => "min",
            Self::Max => "max",
            Self::Avg => "avg",
            Self::Sum => "sum",
            Self::Skew => "skew",
        }
    }
}

/// One aggregated metric; only the requested aggregations are present.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AggregatedMetric {
    pub id: String,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub avg: Option<f64>,
    #[serde(default)]
    pub sum: Option<f64>,
    #[serde(default)]
    pub skew: Option<f64>,
}

/// One metric of a `?get=` query on a single component. Values are strings in Flink's answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetricValue {
    pub id: String,
    #[serde(default)]
    pub value: Option<String>,
}

impl MetricValue {
    pub fn as_f64(&self) -> Option<f64> {
        self.value.as_deref().and_then(|v| v.trim().parse().ok())
    }
}

/// Metric-name listing entry (`GET .../metrics` without `get`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct MetricName {
    pub id: String,
}

/// `GET/PUT /jobs/:id/resource-requirements`: vertex id → bounds. A PUT must list every vertex.
pub type JobResourceRequirements = BTreeMap<String, VertexResourceRequirements>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VertexResourceRequirements {
    pub parallelism: ParallelismBounds,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParallelismBounds {
    pub lower_bound: u32,
    pub upper_bound: u32,
}

/// `GET /taskmanagers`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TaskManagerList {
    pub taskmanagers: Vec<TaskManagerInfo>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskManagerInfo {
    pub id: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub data_port: i64,
    #[serde(default)]
    pub time_since_last_heartbeat: i64,
    #[serde(default)]
    pub slots_number: u32,
    #[serde(default)]
    pub free_slots: u32,
    #[serde(default)]
    pub total_resource: Value,
    #[serde(default)]
    pub hardware: Value,
}

/// `GET /jobmanager/environment`: JVM and classpath of the JobManager.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct JobManagerEnvironment {
    pub jvm: Value,
    pub classpath: Vec<String>,
}

/// Body of `POST /savepoint-disposal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SavepointDisposalRequest<'a> {
    #[serde(rename = "savepoint-path")]
    pub savepoint_path: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_savepoint_bodies_use_their_different_key_styles() {
        let stop = StopWithSavepointRequest {
            target_directory: Some("file:///sp".into()),
            drain: false,
            format_type: Some(SavepointFormat::Native),
            trigger_id: Some("t".into()),
        };
        assert_eq!(
            serde_json::to_value(&stop).unwrap(),
            serde_json::json!({"targetDirectory":"file:///sp","drain":false,"formatType":"NATIVE","triggerId":"t"})
        );
        let savepoint = SavepointTriggerRequest {
            target_directory: Some("file:///sp".into()),
            cancel_job: false,
            format_type: None,
            trigger_id: None,
        };
        assert_eq!(
            serde_json::to_value(&savepoint).unwrap(),
            serde_json::json!({"target-directory":"file:///sp","cancel-job":false})
        );
    }

    #[test]
    fn run_request_omits_unset_fields() {
        let request = JarRunRequest {
            parallelism: Some(2),
            claim_mode: Some(ClaimMode::NoClaim),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"parallelism":2,"claimMode":"NO_CLAIM"})
        );
    }

    #[test]
    fn unknown_job_state_decodes() {
        let status: JobStatusResponse =
            serde_json::from_str(r#"{"status":"SOMETHING_NEW"}"#).unwrap();
        assert_eq!(status.status, JobState::Unknown);
    }

    #[test]
    fn jar_id_is_the_file_name() {
        let upload = JarUploadResponse {
            filename: "/tmp/flink-web-x/flink-web-upload/abc_job.jar".into(),
            status: "success".into(),
        };
        assert_eq!(upload.jar_id(), "abc_job.jar");
    }
}
