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
    /// `taskmanagers`: registered TaskManagers.
    pub taskmanagers: u32,
    /// `slots-total`: task slots over all TaskManagers.
    pub slots_total: u32,
    /// `slots-available`: free task slots.
    pub slots_available: u32,
    /// `jobs-running`: jobs currently running.
    pub jobs_running: u32,
    /// `jobs-finished`: jobs that finished.
    pub jobs_finished: u32,
    /// `jobs-cancelled`: jobs that were cancelled.
    pub jobs_cancelled: u32,
    /// `jobs-failed`: jobs that failed.
    pub jobs_failed: u32,
    /// `flink-version`: the Flink version, e.g. `2.3.0`.
    pub flink_version: String,
    /// `flink-commit`: the git commit the Flink build was made from.
    pub flink_commit: String,
}

/// `GET /config` (the web dashboard configuration; cheap, used for the version and as a liveness probe).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct DashboardConfig {
    /// `refresh-interval`: web UI refresh interval in ms (`web.refresh-interval`).
    pub refresh_interval: u64,
    /// `timezone-name`: the JobManager's time zone.
    pub timezone_name: String,
    /// `flink-version`: the Flink version, e.g. `2.3.0`.
    pub flink_version: String,
    /// `flink-revision`: commit id and date of the Flink build.
    pub flink_revision: String,
    /// `features`: web UI feature flags (e.g. `web-submit`, `web-cancel`), kept raw.
    pub features: BTreeMap<String, Value>,
}

/// One entry of `GET /jobmanager/config` or `GET /jobs/:id/jobmanager/config`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConfigEntry {
    /// `key`: the option name, e.g. `rest.port`.
    pub key: String,
    /// `value`: the option value, as a string.
    pub value: String,
}

/// Job status as Flink reports it. `Unknown` keeps decoding working if a Flink version adds a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobState {
    /// Received by the Dispatcher; the JobMaster is still being created (e.g. while restoring).
    Initializing,
    /// Created; no task has started yet.
    Created,
    /// Scheduled or running; some tasks may still be pending or deploying.
    Running,
    /// Failed; the remaining tasks are being cancelled before it restarts or fails for good.
    Failing,
    /// Failed for good (restarts exhausted or not allowed). Globally terminal.
    Failed,
    /// Cancellation requested; the tasks are being cancelled.
    Cancelling,
    /// Cancelled. Globally terminal.
    Canceled,
    /// All tasks finished successfully. Globally terminal.
    Finished,
    /// Reset after a failure; about to run again.
    Restarting,
    /// Stopped but kept in the HA job store (e.g. the JobManager lost leadership); not globally terminal.
    Suspended,
    /// Recovering after a JobManager failover, waiting for the TaskManagers to report their tasks.
    Reconciling,
    /// A state this client does not know (from a newer Flink).
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
    /// `status`: the job's current state.
    pub status: JobState,
}

/// `GET /jobs/overview`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct JobsOverview {
    /// `jobs`: every job the JobManager knows, running or terminal.
    #[serde(default)]
    pub jobs: Vec<JobOverview>,
}

/// One job of [`JobsOverview`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobOverview {
    /// `jid`: the job id (32 hex characters).
    pub jid: String,
    /// `name`: the job name.
    #[serde(default)]
    pub name: String,
    /// `state`: the job's current state.
    pub state: JobState,
    /// `start-time`: when the job started (epoch ms).
    #[serde(default)]
    pub start_time: i64,
    /// `end-time`: when the job ended (epoch ms), `-1` while it has not.
    #[serde(default)]
    pub end_time: i64,
    /// `duration`: run time so far in ms.
    #[serde(default)]
    pub duration: i64,
    /// `last-modification`: when the job's state last changed (epoch ms).
    #[serde(default)]
    pub last_modification: i64,
    /// `tasks`: number of subtasks per execution state.
    #[serde(default)]
    pub tasks: TaskCounts,
}

impl JobOverview {
    /// Every task is RUNNING (a RUNNING job may still be deploying some).
    pub fn all_tasks_running(&self) -> bool {
        self.tasks.total > 0 && self.tasks.running == self.tasks.total
    }
}

/// `tasks` of a job overview: number of subtasks (over all vertices) in each execution state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TaskCounts {
    /// `total`: all subtasks of the job.
    pub total: u32,
    /// `created`: subtasks in CREATED.
    pub created: u32,
    /// `scheduled`: subtasks in SCHEDULED.
    pub scheduled: u32,
    /// `deploying`: subtasks in DEPLOYING.
    pub deploying: u32,
    /// `running`: subtasks in RUNNING.
    pub running: u32,
    /// `finished`: subtasks in FINISHED.
    pub finished: u32,
    /// `canceling`: subtasks in CANCELING.
    pub canceling: u32,
    /// `canceled`: subtasks in CANCELED.
    pub canceled: u32,
    /// `failed`: subtasks in FAILED.
    pub failed: u32,
    /// `reconciling`: subtasks in RECONCILING.
    pub reconciling: u32,
    /// `initializing`: subtasks in INITIALIZING.
    pub initializing: u32,
}

/// `GET /jobs/:id`. Cached by Flink for `web.refresh-interval`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobDetails {
    /// `jid`: the job id (32 hex characters).
    pub jid: String,
    /// `name`: the job name.
    #[serde(default)]
    pub name: String,
    /// `state`: the job's current state.
    pub state: JobState,
    /// `start-time`: when the job started (epoch ms).
    #[serde(default)]
    pub start_time: i64,
    /// `end-time`: when the job ended (epoch ms), `-1` while it has not.
    #[serde(default)]
    pub end_time: i64,
    /// `duration`: run time so far in ms.
    #[serde(default)]
    pub duration: i64,
    /// `now`: the JobManager's clock (epoch ms) when the answer was built.
    #[serde(default)]
    pub now: i64,
    /// `maxParallelism`: the job-wide max parallelism (`-1` when not set).
    #[serde(default, rename = "maxParallelism")]
    pub max_parallelism: i64,
    /// State name → time it was entered (epoch ms).
    #[serde(default)]
    pub timestamps: BTreeMap<String, i64>,
    /// `vertices`: the job graph's vertices (operator chains).
    #[serde(default)]
    pub vertices: Vec<JobVertex>,
    /// The JSON plan (nodes with inputs and ship strategies), kept raw.
    #[serde(default)]
    pub plan: Value,
}

/// One vertex (operator chain) of [`JobDetails`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobVertex {
    /// `id`: the vertex id (32 hex characters).
    pub id: String,
    /// `name`: the vertex name (the names of its chained operators).
    #[serde(default)]
    pub name: String,
    /// `parallelism`: the current parallelism.
    pub parallelism: u32,
    /// `maxParallelism`: the vertex's max parallelism, the upper limit for rescaling.
    #[serde(default, rename = "maxParallelism")]
    pub max_parallelism: i64,
    /// `status`: the vertex's aggregated execution state, e.g. `RUNNING`.
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
    /// `status`: `success` when the upload worked.
    #[serde(default)]
    pub status: String,
}

impl JarUploadResponse {
    /// The id to use in `/jars/:jarid/...`: the file name part of `filename`.
    pub fn jar_id(&self) -> &str {
        self.filename.rsplit('/').next().unwrap_or(self.filename.as_str())
    }
}

/// `GET /jars`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct JarList {
    /// `files`: the jars uploaded to this JobManager.
    #[serde(default)]
    pub files: Vec<JarInfo>,
}

/// One uploaded jar of [`JarList`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JarInfo {
    /// `id`: the jar id used in `/jars/:jarid/...`.
    pub id: String,
    /// `name`: the original file name.
    #[serde(default)]
    pub name: String,
    /// `uploaded`: upload time (epoch ms).
    #[serde(default)]
    pub uploaded: i64,
    /// `entry`: the entry classes Flink found in the jar.
    #[serde(default)]
    pub entry: Vec<JarEntryPoint>,
}

/// An entry class of an uploaded jar.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JarEntryPoint {
    /// `name`: the fully qualified class name.
    pub name: String,
    /// `description`: the program's description, if it provides one.
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
    /// `entryClass`: the main class; default: the entry class of the jar's manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    /// `programArgsList`: arguments passed to the main method.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub program_args_list: Vec<String>,
    /// Only sent when set; a job's own `setParallelism` wins over it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// 32 hex characters. Makes the submission idempotent: a second run with the same id fails with
    /// `DuplicateApplicationSubmissionException` (Flink 2.3) / `DuplicateJobSubmissionException`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `savepointPath`: the savepoint or retained checkpoint to restore from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savepoint_path: Option<String>,
    /// `allowNonRestoredState`: skip snapshot state that belongs to no operator of the job instead of failing.
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
    /// `jobid`: the id of the submitted job.
    pub jobid: String,
}

/// `POST /jars/:jarid/plan`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JarPlanResponse {
    /// `plan`: the job's dataflow plan.
    pub plan: JobPlan,
}

/// A job's dataflow plan (as answered by `POST /jars/:jarid/plan`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobPlan {
    /// `jid`: the job id.
    #[serde(default)]
    pub jid: String,
    /// `name`: the job name.
    #[serde(default)]
    pub name: String,
    /// `nodes`: one node per vertex (operator chain).
    #[serde(default)]
    pub nodes: Vec<PlanNode>,
}

/// One vertex of a [`JobPlan`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlanNode {
    /// `id`: the vertex id.
    pub id: String,
    /// `parallelism`: the vertex's parallelism.
    #[serde(default)]
    pub parallelism: u32,
    /// `operator`: the vertex's operator name as the plan reports it.
    #[serde(default)]
    pub operator: String,
    /// HTML-ish text such as `Source: source<br/>`; starts with the operator names of the chain.
    #[serde(default)]
    pub description: String,
    /// `inputs`: the incoming edges (`id` of the upstream node, `ship_strategy`, ...), kept raw.
    #[serde(default)]
    pub inputs: Vec<Value>,
}

/// Snapshot format of a savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SavepointFormat {
    /// `CANONICAL`: the state-backend-independent format (Flink's default).
    Canonical,
    /// `NATIVE`: the state backend's own format; faster, but tied to that backend.
    Native,
}

/// Body of `POST /jobs/:id/savepoints`. Note the kebab-case keys (unlike [`StopWithSavepointRequest`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SavepointTriggerRequest {
    /// Default: the cluster's `execution.checkpointing.savepoint-dir`.
    #[serde(rename = "target-directory", skip_serializing_if = "Option::is_none")]
    pub target_directory: Option<String>,
    /// `cancel-job`: cancel the job once the savepoint is taken.
    #[serde(rename = "cancel-job")]
    pub cancel_job: bool,
    /// `formatType`: the snapshot format; Flink's default is canonical.
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
    /// `targetDirectory`: where to write the savepoint; default: the cluster's `execution.checkpointing.savepoint-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_directory: Option<String>,
    /// Emit MAX_WATERMARK and flush event-time windows before stopping.
    pub drain: bool,
    /// `formatType`: the snapshot format; Flink's default is canonical.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormat>,
    /// `triggerId`: 32 hex characters; makes the stop idempotent (Flink ≥ 1.15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
}

/// Checkpoint type for a manual checkpoint (Flink ≥ 1.17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckpointType {
    /// `CONFIGURED`: whatever the job's checkpointing configuration uses.
    Configured,
    /// `FULL`: a full checkpoint.
    Full,
    /// `INCREMENTAL`: an incremental checkpoint (if the state backend supports it).
    Incremental,
}

/// Body of `POST /jobs/:id/checkpoints`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointTriggerRequest {
    /// `checkpointType`: the kind of checkpoint; Flink's default is `CONFIGURED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_type: Option<CheckpointType>,
    /// `triggerId`: 32 hex characters; makes the trigger idempotent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
}

/// `{"request-id": ...}` answer of every asynchronous trigger.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TriggerResponse {
    /// `request-id`: the trigger id to poll the operation's status with.
    #[serde(rename = "request-id")]
    pub request_id: String,
}

/// Raw status of an asynchronous operation (`/jobs/:id/savepoints/:tid`, `/jobs/:id/checkpoints/:tid`,
/// `/savepoint-disposal/:tid`). Interpret it with [`OperationState`]; do not read `status.id` alone,
/// because a failed operation is also `COMPLETED`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AsyncOperationStatus {
    /// `status`: whether the operation is still running.
    pub status: QueueStatus,
    /// `operation`: set once completed: the result (`location`, `checkpointId`) or a `failure-cause`; kept raw.
    #[serde(default)]
    pub operation: Option<Value>,
}

/// `status` of an asynchronous operation or execution result.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueueStatus {
    /// `id`: `IN_PROGRESS` or `COMPLETED`.
    pub id: String,
}

/// Outcome of an asynchronous operation.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationState<T> {
    /// Still running.
    InProgress,
    /// Finished successfully with this result.
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
    /// `counts`: how many checkpoints were triggered, completed, failed, ...
    pub counts: CheckpointCounts,
    /// `latest`: the most recent checkpoint of each kind.
    pub latest: LatestCheckpoints,
    /// Recent checkpoints (completed, failed, in progress), kept raw.
    pub history: Vec<Value>,
}

/// `counts` of [`CheckpointingStatistics`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CheckpointCounts {
    /// `restored`: how often the job was restored from a snapshot.
    pub restored: u64,
    /// `total`: checkpoints triggered.
    pub total: u64,
    /// `in_progress`: checkpoints currently in progress.
    pub in_progress: u64,
    /// `completed`: checkpoints that completed.
    pub completed: u64,
    /// `failed`: checkpoints that failed.
    pub failed: u64,
}

/// `latest` of [`CheckpointingStatistics`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LatestCheckpoints {
    /// `completed`: the latest completed checkpoint.
    pub completed: Option<CheckpointSummary>,
    /// `savepoint`: the latest completed savepoint.
    pub savepoint: Option<CheckpointSummary>,
    /// `failed`: the latest failed checkpoint, kept raw.
    pub failed: Option<Value>,
    /// `restored`: the snapshot the job was last restored from.
    pub restored: Option<RestoredCheckpoint>,
}

/// A completed checkpoint or savepoint (also the body of `/jobs/:id/checkpoints/details/:cid`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CheckpointSummary {
    /// `id`: the checkpoint id.
    pub id: u64,
    /// `status`: e.g. `COMPLETED`.
    #[serde(default)]
    pub status: String,
    /// `is_savepoint`: a savepoint rather than a checkpoint.
    #[serde(default)]
    pub is_savepoint: bool,
    /// `trigger_timestamp`: when it was triggered (epoch ms).
    #[serde(default)]
    pub trigger_timestamp: i64,
    /// `latest_ack_timestamp`: when the last subtask acknowledged it (epoch ms).
    #[serde(default)]
    pub latest_ack_timestamp: i64,
    /// `state_size`: total state size in bytes.
    #[serde(default)]
    pub state_size: u64,
    /// `checkpointed_size`: bytes actually written (less than `state_size` for incremental checkpoints).
    #[serde(default)]
    pub checkpointed_size: u64,
    /// `end_to_end_duration`: ms from trigger to the last acknowledgement.
    #[serde(default)]
    pub end_to_end_duration: u64,
    /// `external_path`: where the snapshot was persisted.
    #[serde(default)]
    pub external_path: Option<String>,
    /// `discarded`: its files have been deleted.
    #[serde(default)]
    pub discarded: bool,
    /// `checkpoint_type`: e.g. `CHECKPOINT`, `UNALIGNED_CHECKPOINT`, `SAVEPOINT`.
    #[serde(default)]
    pub checkpoint_type: Option<String>,
}

/// The snapshot the current execution was restored from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RestoredCheckpoint {
    /// `id`: the restored checkpoint's id.
    pub id: u64,
    /// `restore_timestamp`: when the job was restored (epoch ms).
    #[serde(default)]
    pub restore_timestamp: i64,
    /// `is_savepoint`: the snapshot was a savepoint.
    #[serde(default)]
    pub is_savepoint: bool,
    /// `external_path`: where the snapshot lives.
    #[serde(default)]
    pub external_path: Option<String>,
}

/// `GET /jobs/:id/exceptions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobExceptions {
    /// `exceptionHistory`: the failures recorded for the job.
    pub exception_history: ExceptionHistory,
}

/// `exceptionHistory` of [`JobExceptions`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ExceptionHistory {
    /// `entries`: the recorded failures (at most `web.exception-history-size`).
    pub entries: Vec<ExceptionEntry>,
    /// `truncated`: more failures were recorded than returned.
    pub truncated: bool,
}

/// One failure in the [`ExceptionHistory`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExceptionEntry {
    /// `exceptionName`: the exception's class name.
    pub exception_name: String,
    /// `stacktrace`: the full stack trace.
    pub stacktrace: String,
    /// `timestamp`: when the failure happened (epoch ms).
    pub timestamp: i64,
    /// `taskName`: the failing task, for task failures.
    pub task_name: Option<String>,
    /// `endpoint`: host and port of the TaskManager that ran the failing task.
    pub endpoint: Option<String>,
    /// `taskManagerId`: the id of the TaskManager that ran the failing task.
    pub task_manager_id: Option<String>,
}

/// `GET /jobs/:id/execution-result`. The only place the cause of a job that failed during
/// initialisation (e.g. a bad savepoint path) is reported; `/exceptions` is empty then.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JobExecutionResultResponse {
    /// `status`: `IN_PROGRESS` until the job is globally terminal, then `COMPLETED`.
    pub status: QueueStatus,
    /// `job-execution-result`: present once `status` is `COMPLETED`.
    #[serde(default, rename = "job-execution-result")]
    pub job_execution_result: Option<JobExecutionResult>,
}

/// How a terminal job ended (`job-execution-result`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JobExecutionResult {
    /// `id`: the job id.
    pub id: String,
    /// `application-status`: `SUCCEEDED`, `FAILED`, `CANCELED` or `UNKNOWN`.
    #[serde(default)]
    pub application_status: String,
    /// `net-runtime`: the job's run time in ms.
    #[serde(default)]
    pub net_runtime: i64,
    /// `failure-cause`: the exception the job failed with, if it failed.
    #[serde(default)]
    pub failure_cause: Option<FailureCause>,
}

/// A serialized exception (`failure-cause`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FailureCause {
    /// `class`: the exception's class name.
    #[serde(default)]
    pub class: String,
    /// `stack-trace`: the full stack trace, including `Caused by:` lines.
    #[serde(default)]
    pub stack_trace: String,
}

/// Aggregation functions of `subtasks/metrics` and `taskmanagers/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricAggregation {
    /// `min`: the smallest value.
    Min,
    /// `max`: the largest value.
    Max,
    /// `avg`: the average.
    Avg,
    /// `sum`: the sum.
    Sum,
    /// `skew`: how unevenly the value is spread over the components.
    Skew,
}

impl MetricAggregation {
    /// Every aggregation; used when a call asks for none.
    pub const ALL: [Self; 5] = [Self::Min, Self::Max, Self::Avg, Self::Sum, Self::Skew];

    /// The name used in the `agg=` query parameter.
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
    /// `id`: the metric name.
    pub id: String,
    /// `min`: the smallest value, if requested.
    #[serde(default)]
    pub min: Option<f64>,
    /// `max`: the largest value, if requested.
    #[serde(default)]
    pub max: Option<f64>,
    /// `avg`: the average, if requested.
    #[serde(default)]
    pub avg: Option<f64>,
    /// `sum`: the sum, if requested.
    #[serde(default)]
    pub sum: Option<f64>,
    /// `skew`: the skew, if requested.
    #[serde(default)]
    pub skew: Option<f64>,
}

/// One metric of a `?get=` query on a single component. Values are strings in Flink's answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MetricValue {
    /// `id`: the metric name.
    pub id: String,
    /// `value`: the metric's value as a string; absent if Flink has none yet.
    #[serde(default)]
    pub value: Option<String>,
}

impl MetricValue {
    /// The value as a number; `None` when absent or not numeric.
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

/// Resource requirements of one vertex in [`JobResourceRequirements`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VertexResourceRequirements {
    /// `parallelism`: the range the adaptive scheduler keeps the vertex's parallelism in.
    pub parallelism: ParallelismBounds,
}

/// Lower and upper bound of a vertex's parallelism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParallelismBounds {
    /// `lowerBound`: the least parallelism the vertex needs to run.
    pub lower_bound: u32,
    /// `upperBound`: the most parallelism the scheduler may give it.
    pub upper_bound: u32,
}

/// `GET /taskmanagers`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TaskManagerList {
    /// `taskmanagers`: the registered TaskManagers.
    pub taskmanagers: Vec<TaskManagerInfo>,
}

/// One TaskManager of [`TaskManagerList`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskManagerInfo {
    /// `id`: the TaskManager's resource id.
    pub id: String,
    /// `path`: its RPC address.
    #[serde(default)]
    pub path: String,
    /// `dataPort`: the port of its data exchange (shuffle) server.
    #[serde(default)]
    pub data_port: i64,
    /// `timeSinceLastHeartbeat`: despite the name, when its last heartbeat arrived (epoch ms).
    #[serde(default)]
    pub time_since_last_heartbeat: i64,
    /// `slotsNumber`: its task slots.
    #[serde(default)]
    pub slots_number: u32,
    /// `freeSlots`: its free task slots.
    #[serde(default)]
    pub free_slots: u32,
    /// `totalResource`: its total resources (CPU cores, memory sizes), kept raw.
    #[serde(default)]
    pub total_resource: Value,
    /// `hardware`: CPU cores and physical, free and managed memory, kept raw.
    #[serde(default)]
    pub hardware: Value,
}

/// `GET /jobmanager/environment`: JVM and classpath of the JobManager.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct JobManagerEnvironment {
    /// `jvm`: JVM version, arguments and options, kept raw.
    pub jvm: Value,
    /// `classpath`: the JobManager's classpath entries.
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
        let request =
            JarRunRequest { parallelism: Some(2), claim_mode: Some(ClaimMode::NoClaim), ..Default::default() };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"parallelism":2,"claimMode":"NO_CLAIM"})
        );
    }

    #[test]
    fn unknown_job_state_decodes() {
        let status: JobStatusResponse = serde_json::from_str(r#"{"status":"SOMETHING_NEW"}"#).unwrap();
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
