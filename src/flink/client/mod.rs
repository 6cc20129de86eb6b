//! Typed async client for the Flink JobManager REST API: owns every HTTP call flinkops makes to
//! Flink (cluster info, jars, job lifecycle, savepoints, checkpoints, metrics, rescaling), with
//! timeouts, bounded retries of transient failures, and errors that keep Flink's own message.
//!
//! # Retry rule
//! A request is retried (up to [`FlinkClientConfig::max_retries`] times, exponential backoff with
//! jitter) only when the failure [is transient](FlinkClientError::is_transient) — connection error,
//! timeout, HTTP 502/503/504 — **and** repeating the request cannot do the work twice:
//! * GET, PUT, DELETE and `PATCH ?mode=cancel` are idempotent and always retried;
//! * a POST is retried only when it carries an id that makes Flink de-duplicate it: a savepoint,
//!   stop or checkpoint trigger with a `triggerId`, or a jar run with a `jobId` (a repeated run with
//!   that id answers "already submitted", which this client then treats as success);
//! * other POSTs (jar upload, plan, run without `jobId`, triggers without `triggerId`, savepoint
//!   disposal) are sent exactly once: a timeout there leaves the outcome unknown, and the caller has to decide.
//!
//! # Flink versions
//! Written against Flink 2.3 and checked for the differences back to 1.18:
//! * `claimMode` (≥ 1.20) vs `restoreMode` (1.15–1.19) in the jar-run body ([`types::JarRunRequest`]);
//! * `POST /jobs/:id/stop` takes camelCase keys (`targetDirectory`, `drain`), while
//!   `POST /jobs/:id/savepoints` takes kebab-case (`target-directory`, `cancel-job`);
//!   `PATCH /jobs/:id?mode=stop` is gone in 2.0, so only `mode=cancel` is used;
//! * manual checkpoints (`POST /jobs/:id/checkpoints`) need ≥ 1.17; `triggerId` de-duplication ≥ 1.15;
//! * `PUT /jobs/:id/resource-requirements` needs the adaptive scheduler (≥ 1.18 for this shape);
//! * the jar-run answer gained `applicationId` in 2.3 (ignored here);
//! * a failed savepoint is reported as status `COMPLETED` with `operation.failure-cause` in every
//!   version; this client turns it into [`OperationState::Failed`].

pub mod error;
pub mod types;

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime};

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::{Instrument, debug, debug_span, info, warn};

pub use error::FlinkClientError;
pub use types::*;

/// Result of a client call.
pub type FlinkResult<T> = Result<T, FlinkClientError>;

/// Connection settings of a [`FlinkClient`].
#[derive(Debug, Clone)]
pub struct FlinkClientConfig {
    /// e.g. `http://127.0.0.1:8081` (a trailing slash is fine).
    pub base_url: String,
    /// Upper bound of one HTTP exchange.
    pub request_timeout: Duration,
    /// Upper bound of a jar upload (the jar can be large).
    pub upload_timeout: Duration,
    /// Extra attempts after the first one, for transient failures of idempotent requests.
    pub max_retries: u32,
    /// Backoff before the first retry; doubled per retry up to `max_backoff`, with jitter.
    pub initial_backoff: Duration,
    /// Upper bound of the backoff between retries.
    pub max_backoff: Duration,
}

impl FlinkClientConfig {
    /// Settings for `base_url` with defaults: 10 s requests, 120 s uploads, 3 retries, 200 ms–5 s backoff.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            request_timeout: Duration::from_secs(10),
            upload_timeout: Duration::from_secs(120),
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Whether a request may be sent again after a transient failure (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Safe,
    Never,
}

/// Typed client for one Flink cluster. Cheap to clone; clones share connections and the metric-name cache.
#[derive(Debug, Clone)]
pub struct FlinkClient {
    http: reqwest::Client,
    base_url: String,
    config: FlinkClientConfig,
    /// (job id, vertex id) → aggregated metric names known to exist for that vertex.
    vertex_metric_names: Arc<Mutex<MetricNameCache>>,
}

/// (job id, vertex id) → aggregated metric names known to exist for that vertex.
type MetricNameCache = HashMap<(String, String), Arc<BTreeSet<String>>>;

static INSTALL_CRYPTO_PROVIDER: Once = Once::new();

/// Installs the process-wide TLS provider reqwest needs (it is built with `rustls-no-provider`). Another
/// component may have installed one already, which is fine.
pub fn ensure_crypto_provider() {
    INSTALL_CRYPTO_PROVIDER.call_once(|| {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The HTTP client of every [`FlinkClient`] with the default connect timeout. Building a reqwest client loads the
/// TLS roots and allocates a connection pool, so one per reconcile cost 1,000 managed clusters hundreds of MB and
/// most of a resync's time; shared, clients are an `Arc` clone and reuse keep-alive connections.
static SHARED_HTTP_CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();

/// Flink REST exchanges in flight at most, process-wide. A resync of 1,000 clusters otherwise opens 1,000
/// connections at once, each with its buffers; bounded, the same resync takes no longer (the calls are short) and
/// its memory stays flat.
const MAX_IN_FLIGHT: usize = 64;
static IN_FLIGHT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_IN_FLIGHT);

/// How long an idle keep-alive connection to a cluster is kept.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle keep-alive connections kept per cluster.
const MAX_IDLE_CONNECTIONS_PER_CLUSTER: usize = 2;

fn build_http_client(connect_timeout: Duration) -> FlinkResult<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        // A steady job is polled every 15 s; idle connections held longer than a few seconds only cost memory (a
        // connection's buffers are ~16 KiB, times every cluster), and a busy one (250 ms polls) stays warm.
        .pool_idle_timeout(IDLE_CONNECTION_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS_PER_CLUSTER)
        .build()
        .map_err(|e| FlinkClientError::InvalidRequest(format!("building HTTP client: {e}")))
}

/// The shared client for the default connect timeout, a new one for any other.
fn shared_http_client(connect_timeout: Duration) -> FlinkResult<reqwest::Client> {
    if connect_timeout != FlinkClientConfig::new("").request_timeout {
        return build_http_client(connect_timeout);
    }
    if let Some(client) = SHARED_HTTP_CLIENT.get() {
        return Ok(client.clone());
    }
    let client = build_http_client(connect_timeout)?;
    Ok(SHARED_HTTP_CLIENT.get_or_init(|| client).clone())
}

impl FlinkClient {
    /// A client with default timeouts and retries.
    pub fn new(base_url: impl Into<String>) -> FlinkResult<Self> {
        Self::with_config(FlinkClientConfig::new(base_url))
    }

    /// A client with explicit settings. Fails if the base URL is not `http://` or `https://`.
    pub fn with_config(config: FlinkClientConfig) -> FlinkResult<Self> {
        // reqwest is built with `rustls-no-provider`; https needs a process-wide provider. Another
        // component may have installed one already, which is fine.
        ensure_crypto_provider();
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(FlinkClientError::InvalidRequest(format!(
                "base URL {base_url:?} must start with http:// or https://"
            )));
        }
        let http = shared_http_client(config.request_timeout)?;
        Ok(Self { http, base_url, config, vertex_metric_names: Arc::default() })
    }

    /// The base URL without trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    // ----- cluster -------------------------------------------------------------------------

    /// `GET /overview`: TaskManagers, slots, job counts, version.
    pub async fn cluster_overview(&self) -> FlinkResult<ClusterOverview> {
        self.get_json("/overview").await
    }

    /// `GET /config`: dashboard config incl. Flink version; the cheapest liveness probe.
    pub async fn dashboard_config(&self) -> FlinkResult<DashboardConfig> {
        self.get_json("/config").await
    }

    /// `GET /jobmanager/config`: the effective cluster configuration.
    pub async fn jobmanager_config(&self) -> FlinkResult<BTreeMap<String, String>> {
        let entries: Vec<ConfigEntry> = self.get_json("/jobmanager/config").await?;
        Ok(entries.into_iter().map(|e| (e.key, e.value)).collect())
    }

    /// `GET /jobmanager/environment`: the JobManager's JVM and classpath.
    pub async fn jobmanager_environment(&self) -> FlinkResult<JobManagerEnvironment> {
        self.get_json("/jobmanager/environment").await
    }

    /// `GET /jobmanager/metrics?get=...` (e.g. `taskSlotsTotal`, `numRegisteredTaskManagers`).
    pub async fn jobmanager_metrics(&self, names: &[&str]) -> FlinkResult<Vec<MetricValue>> {
        self.get_metric_values("/jobmanager/metrics", names).await
    }

    /// `GET /taskmanagers`.
    pub async fn taskmanagers(&self) -> FlinkResult<TaskManagerList> {
        self.get_json("/taskmanagers").await
    }

    /// `GET /taskmanagers/:tmid/metrics?get=...`.
    pub async fn taskmanager_metrics(&self, taskmanager_id: &str, names: &[&str]) -> FlinkResult<Vec<MetricValue>> {
        let path = format!("/taskmanagers/{}/metrics", path_segment(taskmanager_id));
        self.get_metric_values(&path, names).await
    }

    /// `GET /taskmanagers/metrics?get=...&agg=...`: aggregated over all TaskManagers.
    pub async fn taskmanagers_aggregated_metrics(
        &self,
        names: &[&str],
        aggregations: &[MetricAggregation],
    ) -> FlinkResult<Vec<AggregatedMetric>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let path = format!("/taskmanagers/metrics?get={}&agg={}", names.join(","), aggregation_list(aggregations));
        self.get_json(&path).await
    }

    // ----- jars ------------------------------------------------------------------------------

    /// `POST /jars/upload` (multipart field `jarfile`). Never retried: a repeat would upload a second copy.
    pub async fn upload_jar(&self, jar: &Path) -> FlinkResult<JarUploadResponse> {
        let bytes = tokio::fs::read(jar)
            .await
            .map_err(|e| FlinkClientError::InvalidRequest(format!("cannot read jar {}: {e}", jar.display())))?;
        let file_name = jar.file_name().and_then(|n| n.to_str()).unwrap_or("job.jar").to_owned();
        let url = self.url("/jars/upload");
        let span = debug_span!("flink_rest", method = "POST", path = "/jars/upload");
        async {
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(file_name)
                .mime_str("application/x-java-archive")
                .map_err(|e| FlinkClientError::InvalidRequest(format!("multipart: {e}")))?;
            let form = reqwest::multipart::Form::new().part("jarfile", part);
            let request = self.http.post(&url).timeout(self.config.upload_timeout).multipart(form);
            let (status, body) = self.send_once(&Method::POST, &url, request, self.config.upload_timeout).await?;
            decode(&Method::POST, &url, status, &body)
        }
        .instrument(span)
        .await
    }

    /// `GET /jars`.
    pub async fn list_jars(&self) -> FlinkResult<JarList> {
        self.get_json("/jars").await
    }

    /// `DELETE /jars/:jarid`.
    pub async fn delete_jar(&self, jar_id: &str) -> FlinkResult<()> {
        let path = format!("/jars/{}", path_segment(jar_id));
        self.request_json::<(), Value>(Method::DELETE, &path, None, Retry::Safe).await.map(drop)
    }

    /// `POST /jars/:jarid/plan`: the job graph (vertex ids, parallelism) without running it.
    pub async fn jar_plan(&self, jar_id: &str, request: &JarRunRequest) -> FlinkResult<JobPlan> {
        let path = format!("/jars/{}/plan", path_segment(jar_id));
        let response: JarPlanResponse = self.request_json(Method::POST, &path, Some(request), Retry::Never).await?;
        Ok(response.plan)
    }

    /// `POST /jars/:jarid/run`; returns the job id. With `request.job_id` set the call is retried on
    /// transient errors, and an "already submitted" answer to a retry counts as success.
    pub async fn run_jar(&self, jar_id: &str, request: &JarRunRequest) -> FlinkResult<String> {
        let path = format!("/jars/{}/run", path_segment(jar_id));
        let span = debug_span!("flink_run_jar", jar_id, job_id = request.job_id.as_deref().unwrap_or(""));
        async {
            let Some(job_id) = request.job_id.as_deref() else {
                let response: JarRunResponse =
                    self.request_json(Method::POST, &path, Some(request), Retry::Never).await?;
                return Ok(response.jobid);
            };
            // Our own loop instead of request_json: only a *retry* may treat "already submitted" as
            // success (our earlier attempt got through); on the first attempt it means the caller
            // reused a job id, which must stay an error.
            let url = self.url(&path);
            let body = encode_body(request)?;
            let mut attempt = 1;
            loop {
                match self.send_json_once::<JarRunResponse>(&Method::POST, &url, Some(&body)).await {
                    Ok(response) => return Ok(response.jobid),
                    Err(e) if attempt > 1 && is_duplicate_submission(&e) => {
                        info!(job_id, "job was already submitted by an earlier attempt");
                        return Ok(job_id.to_owned());
                    }
                    Err(e) if e.is_transient() && attempt <= self.config.max_retries => {
                        let delay = self.backoff(attempt);
                        warn!(job_id, attempt, ?delay, error = %e, "transient error submitting job; retrying");
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        .instrument(span)
        .await
    }

    // ----- jobs ------------------------------------------------------------------------------

    /// `GET /jobs/overview`: all jobs with state and task counts (not cached by Flink).
    pub async fn jobs_overview(&self) -> FlinkResult<Vec<JobOverview>> {
        let overview: JobsOverview = self.get_json("/jobs/overview").await?;
        Ok(overview.jobs)
    }

    /// `GET /jobs/:id/status`: uncached job state; use this for polling.
    pub async fn job_status(&self, job_id: &str) -> FlinkResult<JobState> {
        let response: JobStatusResponse = self.get_job_json(job_id, "/status").await?;
        Ok(response.status)
    }

    /// `GET /jobs/:id`: vertices, parallelism, plan. Cached by Flink for `web.refresh-interval`.
    pub async fn job_details(&self, job_id: &str) -> FlinkResult<JobDetails> {
        self.get_job_json(job_id, "").await
    }

    /// `GET /jobs/:id/jobmanager/config`: the configuration the job runs with.
    pub async fn job_config(&self, job_id: &str) -> FlinkResult<BTreeMap<String, String>> {
        let entries: Vec<ConfigEntry> = self.get_job_json(job_id, "/jobmanager/config").await?;
        Ok(entries.into_iter().map(|e| (e.key, e.value)).collect())
    }

    /// `PATCH /jobs/:id?mode=cancel`. Idempotent; a job already terminal answers 409 or 404 (check
    /// [`FlinkClientError::status`]).
    pub async fn cancel_job(&self, job_id: &str) -> FlinkResult<()> {
        let path = format!("/jobs/{}?mode=cancel", path_segment(job_id));
        self.request_json::<(), Value>(Method::PATCH, &path, None, Retry::Safe)
            .instrument(debug_span!("flink_cancel", job_id))
            .await
            .map(drop)
    }

    /// `GET /jobs/:id/exceptions`.
    pub async fn job_exceptions(&self, job_id: &str) -> FlinkResult<JobExceptions> {
        self.get_job_json(job_id, "/exceptions").await
    }

    /// `GET /jobs/:id/execution-result`: the failure cause of a terminal job.
    pub async fn job_execution_result(&self, job_id: &str) -> FlinkResult<JobExecutionResultResponse> {
        self.get_job_json(job_id, "/execution-result").await
    }

    /// `GET /jobs/:id/metrics?get=...` (e.g. `numRestarts`, `uptime`).
    pub async fn job_metrics(&self, job_id: &str, names: &[&str]) -> FlinkResult<Vec<MetricValue>> {
        let path = format!("/jobs/{}/metrics", path_segment(job_id));
        self.get_metric_values(&path, names).instrument(debug_span!("flink_job_metrics", job_id)).await
    }

    /// `GET /jobs/:id/resource-requirements`.
    pub async fn resource_requirements(&self, job_id: &str) -> FlinkResult<JobResourceRequirements> {
        self.get_job_json(job_id, "/resource-requirements").await
    }

    /// `PUT /jobs/:id/resource-requirements`: in-place rescale under the adaptive scheduler. Every
    /// vertex must be listed; the default scheduler answers 500 `UnsupportedOperationException`.
    pub async fn set_resource_requirements(
        &self,
        job_id: &str,
        requirements: &JobResourceRequirements,
    ) -> FlinkResult<()> {
        let path = format!("/jobs/{}/resource-requirements", path_segment(job_id));
        self.request_json::<_, Value>(Method::PUT, &path, Some(requirements), Retry::Safe)
            .instrument(debug_span!("flink_rescale", job_id))
            .await
            .map(drop)
    }

    // ----- savepoints ------------------------------------------------------------------------

    /// `POST /jobs/:id/savepoints`; returns the trigger id. Retried only with `trigger_id` set.
    pub async fn trigger_savepoint(&self, job_id: &str, request: &SavepointTriggerRequest) -> FlinkResult<String> {
        let path = format!("/jobs/{}/savepoints", path_segment(job_id));
        let retry = retry_if(request.trigger_id.is_some());
        let response: TriggerResponse = self
            .request_json(Method::POST, &path, Some(request), retry)
            .instrument(debug_span!("flink_savepoint", job_id))
            .await?;
        Ok(response.request_id)
    }

    /// `POST /jobs/:id/stop` (stop-with-savepoint); returns the trigger id for [`Self::savepoint_status`].
    pub async fn stop_with_savepoint(&self, job_id: &str, request: &StopWithSavepointRequest) -> FlinkResult<String> {
        let path = format!("/jobs/{}/stop", path_segment(job_id));
        let retry = retry_if(request.trigger_id.is_some());
        let response: TriggerResponse = self
            .request_json(Method::POST, &path, Some(request), retry)
            .instrument(debug_span!("flink_stop_with_savepoint", job_id))
            .await?;
        Ok(response.request_id)
    }

    /// `GET /jobs/:id/savepoints/:triggerid` for a savepoint or stop-with-savepoint. A savepoint
    /// that Flink marks COMPLETED with a `failure-cause` is [`OperationState::Failed`].
    pub async fn savepoint_status(&self, job_id: &str, trigger_id: &str) -> FlinkResult<SavepointState> {
        let suffix = format!("/savepoints/{}", path_segment(trigger_id));
        let status: AsyncOperationStatus = self.get_job_json(job_id, &suffix).await?;
        interpret_operation(&status, |operation| operation.get("location").and_then(Value::as_str).map(str::to_owned))
    }

    /// Polls [`Self::savepoint_status`] until it finishes; returns the savepoint location.
    pub async fn wait_for_savepoint(&self, job_id: &str, trigger_id: &str, timeout: Duration) -> FlinkResult<String> {
        self.poll_operation("savepoint", trigger_id, timeout, || self.savepoint_status(job_id, trigger_id)).await
    }

    /// `POST /savepoint-disposal`; returns the trigger id. Not retried (no trigger id in this API).
    pub async fn dispose_savepoint(&self, savepoint_path: &str) -> FlinkResult<String> {
        let body = SavepointDisposalRequest { savepoint_path };
        let response: TriggerResponse =
            self.request_json(Method::POST, "/savepoint-disposal", Some(&body), Retry::Never).await?;
        Ok(response.request_id)
    }

    /// `GET /savepoint-disposal/:triggerid`.
    pub async fn savepoint_disposal_status(&self, trigger_id: &str) -> FlinkResult<OperationState<()>> {
        let path = format!("/savepoint-disposal/{}", path_segment(trigger_id));
        let status: AsyncOperationStatus = self.get_json(&path).await?;
        interpret_operation(&status, |_| Some(()))
    }

    /// Polls [`Self::savepoint_disposal_status`] until it finishes.
    pub async fn wait_for_savepoint_disposal(&self, trigger_id: &str, timeout: Duration) -> FlinkResult<()> {
        self.poll_operation("savepoint disposal", trigger_id, timeout, || self.savepoint_disposal_status(trigger_id))
            .await
    }

    // ----- checkpoints -----------------------------------------------------------------------

    /// `POST /jobs/:id/checkpoints` (Flink ≥ 1.17); returns the trigger id.
    pub async fn trigger_checkpoint(&self, job_id: &str, request: &CheckpointTriggerRequest) -> FlinkResult<String> {
        let path = format!("/jobs/{}/checkpoints", path_segment(job_id));
        let retry = retry_if(request.trigger_id.is_some());
        let response: TriggerResponse = self
            .request_json(Method::POST, &path, Some(request), retry)
            .instrument(debug_span!("flink_checkpoint", job_id))
            .await?;
        Ok(response.request_id)
    }

    /// `GET /jobs/:id/checkpoints/:triggerid`: the checkpoint id once it completed.
    pub async fn checkpoint_status(&self, job_id: &str, trigger_id: &str) -> FlinkResult<CheckpointState> {
        let suffix = format!("/checkpoints/{}", path_segment(trigger_id));
        let status: AsyncOperationStatus = self.get_job_json(job_id, &suffix).await?;
        interpret_operation(&status, |operation| operation.get("checkpointId").and_then(Value::as_u64))
    }

    /// Polls [`Self::checkpoint_status`] until it finishes; returns the checkpoint id.
    pub async fn wait_for_checkpoint(&self, job_id: &str, trigger_id: &str, timeout: Duration) -> FlinkResult<u64> {
        self.poll_operation("checkpoint", trigger_id, timeout, || self.checkpoint_status(job_id, trigger_id)).await
    }

    /// `GET /jobs/:id/checkpoints`: counts, latest completed / savepoint / restored, history.
    pub async fn checkpoint_statistics(&self, job_id: &str) -> FlinkResult<CheckpointingStatistics> {
        self.get_job_json(job_id, "/checkpoints").await
    }

    /// `GET /jobs/:id/checkpoints/details/:cid`: e.g. the external path of one checkpoint.
    pub async fn checkpoint_details(&self, job_id: &str, checkpoint_id: u64) -> FlinkResult<CheckpointSummary> {
        self.get_job_json(job_id, &format!("/checkpoints/details/{checkpoint_id}")).await
    }

    // ----- vertex metrics --------------------------------------------------------------------

    /// `GET /jobs/:id/vertices/:vid/subtasks/metrics`: names of the aggregatable metrics.
    pub async fn vertex_metric_names(&self, job_id: &str, vertex_id: &str) -> FlinkResult<BTreeSet<String>> {
        let suffix = format!("/vertices/{}/subtasks/metrics", path_segment(vertex_id));
        let names: Vec<MetricName> = self.get_job_json(job_id, &suffix).await?;
        Ok(names.into_iter().map(|m| m.id).collect())
    }

    /// Aggregated metrics over the vertex's subtasks (`subtasks/metrics?get=...&agg=...`).
    ///
    /// Flink answers `[]` for the whole request if any requested name is missing, and drops
    /// non-numeric metrics silently. So the available names are listed first (cached per vertex,
    /// listed again when a requested name is not in the cache, because the metric store fills
    /// lazily) and only those are requested. Names that do not exist are simply absent from the
    /// result map.
    pub async fn vertex_metrics_aggregated(
        &self,
        job_id: &str,
        vertex_id: &str,
        names: &[&str],
        aggregations: &[MetricAggregation],
    ) -> FlinkResult<BTreeMap<String, AggregatedMetric>> {
        let span = debug_span!("flink_vertex_metrics", job_id, vertex_id);
        async {
            let available = self.available_vertex_metrics(job_id, vertex_id, names).await?;
            let wanted: Vec<&str> = names.iter().copied().filter(|name| available.contains(*name)).collect();
            if wanted.is_empty() {
                return Ok(BTreeMap::new());
            }
            let suffix = format!(
                "/vertices/{}/subtasks/metrics?get={}&agg={}",
                path_segment(vertex_id),
                wanted.join(","),
                aggregation_list(aggregations)
            );
            let metrics: Vec<AggregatedMetric> = self.get_job_json(job_id, &suffix).await?;
            Ok(metrics.into_iter().map(|m| (m.id.clone(), m)).collect())
        }
        .instrument(span)
        .await
    }

    async fn available_vertex_metrics(
        &self,
        job_id: &str,
        vertex_id: &str,
        requested: &[&str],
    ) -> FlinkResult<Arc<BTreeSet<String>>> {
        let key = (job_id.to_owned(), vertex_id.to_owned());
        let cached = self.vertex_metric_names.lock().ok().and_then(|cache| cache.get(&key).cloned());
        if let Some(names) = cached
            && requested.iter().all(|name| names.contains(*name))
        {
            return Ok(names);
        }
        let names = Arc::new(self.vertex_metric_names(job_id, vertex_id).await?);
        // An empty list means the metric store has not been filled yet; do not cache that.
        if !names.is_empty()
            && let Ok(mut cache) = self.vertex_metric_names.lock()
        {
            cache.insert(key, Arc::clone(&names));
        }
        Ok(names)
    }

    /// Forgets cached metric names of a job (e.g. after it was rescaled or resubmitted).
    pub fn forget_metric_names(&self, job_id: &str) {
        if let Ok(mut cache) = self.vertex_metric_names.lock() {
            cache.retain(|(job, _), _| job != job_id);
        }
    }

    // ----- plumbing --------------------------------------------------------------------------

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> FlinkResult<T> {
        self.request_json::<(), T>(Method::GET, path, None, Retry::Safe).await
    }

    async fn get_job_json<T: DeserializeOwned>(&self, job_id: &str, suffix: &str) -> FlinkResult<T> {
        let path = format!("/jobs/{}{suffix}", path_segment(job_id));
        self.get_json(&path).await
    }

    async fn get_metric_values(&self, path: &str, names: &[&str]) -> FlinkResult<Vec<MetricValue>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        self.get_json(&format!("{path}?get={}", names.join(","))).await
    }

    /// Sends a JSON request, retrying per the module's retry rule, and decodes a JSON answer.
    async fn request_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        retry: Retry,
    ) -> FlinkResult<T> {
        let url = self.url(path);
        let body = body.map(encode_body).transpose()?;
        let max_attempts = match retry {
            Retry::Safe => self.config.max_retries + 1,
            Retry::Never => 1,
        };
        let mut attempt = 1;
        loop {
            match self.send_json_once(&method, &url, body.as_deref()).await {
                Err(error) if error.is_transient() && attempt < max_attempts => {
                    let delay = self.backoff(attempt);
                    warn!(%method, %url, attempt, ?delay, %error, "transient Flink REST error; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_json_once<T: DeserializeOwned>(
        &self,
        method: &Method,
        url: &str,
        body: Option<&[u8]>,
    ) -> FlinkResult<T> {
        let mut request = self.http.request(method.clone(), url).timeout(self.config.request_timeout);
        if let Some(body) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_vec());
        }
        let (status, bytes) = self.send_once(method, url, request, self.config.request_timeout).await?;
        decode(method, url, status, &bytes)
    }

    /// One HTTP exchange: returns the success status and body, or a typed error.
    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> FlinkResult<(StatusCode, Vec<u8>)> {
        let started = Instant::now();
        let transport_error = |e: reqwest::Error| {
            if e.is_timeout() {
                FlinkClientError::Timeout { method: method.to_string(), url: url.to_owned(), timeout }
            } else {
                FlinkClientError::Connect { method: method.to_string(), url: url.to_owned(), source: e }
            }
        };
        // Closed only if the process is exiting; a request then goes ahead unbounded.
        let _permit = IN_FLIGHT.acquire().await.ok();
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport_error)?;
        debug!(%method, %url, %status, elapsed_ms = started.elapsed().as_millis() as u64, "Flink REST call");
        if status.is_success() {
            Ok((status, bytes.to_vec()))
        } else {
            Err(FlinkClientError::Http {
                method: method.to_string(),
                url: url.to_owned(),
                status,
                messages: flink_error_messages(&bytes),
            })
        }
    }

    /// Exponential backoff with "equal jitter": half fixed, half random, so retries of many
    /// clients spread out but never collapse to zero.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .config
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.config.max_backoff);
        let half = exponential / 2;
        let half_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_nanos(random_u64() % half_nanos)
    }

    async fn poll_operation<T, F, Fut>(
        &self,
        operation: &'static str,
        trigger_id: &str,
        timeout: Duration,
        mut status: F,
    ) -> FlinkResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = FlinkResult<OperationState<T>>>,
    {
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            match status().await? {
                OperationState::Completed(value) => return Ok(value),
                OperationState::Failed(cause) => {
                    return Err(FlinkClientError::OperationFailed {
                        operation,
                        trigger_id: trigger_id.to_owned(),
                        cause,
                    });
                }
                OperationState::InProgress => {}
            }
            if started.elapsed() >= timeout {
                return Err(FlinkClientError::OperationTimeout {
                    operation,
                    trigger_id: trigger_id.to_owned(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }
}

fn encode_body<B: Serialize + ?Sized>(body: &B) -> FlinkResult<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| FlinkClientError::InvalidRequest(format!("cannot encode request body: {e}")))
}

fn retry_if(has_idempotency_key: bool) -> Retry {
    if has_idempotency_key { Retry::Safe } else { Retry::Never }
}

fn decode<T: DeserializeOwned>(method: &Method, url: &str, status: StatusCode, body: &[u8]) -> FlinkResult<T> {
    // Some endpoints (DELETE /jars, PATCH cancel) may answer with an empty body.
    let body = if body.iter().all(u8::is_ascii_whitespace) && status != StatusCode::OK {
        b"{}".as_slice()
    } else if body.iter().all(u8::is_ascii_whitespace) {
        b"null".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| FlinkClientError::Decode {
        method: method.to_string(),
        url: url.to_owned(),
        reason: e.to_string(),
        body: truncate(&String::from_utf8_lossy(body), 2000),
    })
}

/// Flink's error body is `{"errors": ["...", ...]}`; anything else is kept as raw text.
fn flink_error_messages(body: &[u8]) -> Vec<String> {
    let parsed: Option<Vec<String>> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("errors").cloned())
        .and_then(|errors| serde_json::from_value(errors).ok());
    match parsed {
        Some(messages) => messages,
        None => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() { Vec::new() } else { vec![truncate(&text, 2000)] }
        }
    }
}

fn is_duplicate_submission(error: &FlinkClientError) -> bool {
    error.status() == Some(StatusCode::BAD_REQUEST)
        && (error.mentions("DuplicateApplicationSubmissionException")
            || error.mentions("DuplicateJobSubmissionException")
            || error.mentions("already been submitted"))
}

/// Reads an asynchronous operation's status. Flink reports failures as `COMPLETED` with
/// `operation.failure-cause`, so that is checked before the success value.
fn interpret_operation<T>(
    status: &AsyncOperationStatus,
    success_value: impl FnOnce(&Value) -> Option<T>,
) -> FlinkResult<OperationState<T>> {
    if status.status.id != "COMPLETED" {
        return Ok(OperationState::InProgress);
    }
    let operation = status.operation.clone().unwrap_or(Value::Null);
    if let Some(cause) = operation.get("failure-cause") {
        return Ok(OperationState::Failed(summarize_failure_cause(cause)));
    }
    match success_value(&operation) {
        Some(value) => Ok(OperationState::Completed(value)),
        None => Ok(OperationState::Failed(format!(
            "operation completed without a result: {}",
            truncate(&operation.to_string(), 500)
        ))),
    }
}

/// First line of the stack trace plus the deepest "Caused by:" line: the outer exception says what
/// failed, the innermost says why.
fn summarize_failure_cause(cause: &Value) -> String {
    let class = cause.get("class").and_then(Value::as_str).unwrap_or("");
    let trace = cause.get("stack-trace").and_then(Value::as_str).unwrap_or("");
    let first = trace.lines().next().unwrap_or(class).trim();
    let root = trace.lines().rev().find_map(|line| line.trim().strip_prefix("Caused by: "));
    match root {
        Some(root) if root != first => format!("{first} (root cause: {root})"),
        _ if first.is_empty() => "unknown failure".to_owned(),
        _ => first.to_owned(),
    }
}

fn aggregation_list(aggregations: &[MetricAggregation]) -> String {
    let aggregations = if aggregations.is_empty() { &MetricAggregation::ALL[..] } else { aggregations };
    aggregations.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(",")
}

/// Ids from Flink (job, vertex, jar, trigger, TaskManager ids) are hex, uuids, `host:port-suffix` or
/// file names. Escape anything that would change the URL's structure.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                out.push(char::from(byte));
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Randomness for jitter only; std's `RandomState` is seeded randomly per instance.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher
        .write_u128(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(value: Value) -> AsyncOperationStatus {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn failed_savepoint_is_not_completed() {
        let failed = status(json!({"status":{"id":"COMPLETED"},"operation":{"failure-cause":{
            "class":"java.util.concurrent.CompletionException",
            "stack-trace":"java.util.concurrent.CompletionException: boom\n\tat x\nCaused by: java.io.IOException: Permission denied\n\tat y"}}}));
        let state =
            interpret_operation(&failed, |op| op.get("location").and_then(Value::as_str).map(str::to_owned)).unwrap();
        match state {
            OperationState::Failed(cause) => {
                assert!(cause.contains("Permission denied"), "{cause}")
            }
            other => panic!("expected failure, got {other:?}"),
        }
        let done = status(json!({"status":{"id":"COMPLETED"},"operation":{"location":"file:/sp"}}));
        assert_eq!(
            interpret_operation(&done, |op| op.get("location").and_then(Value::as_str).map(str::to_owned)).unwrap(),
            OperationState::Completed("file:/sp".to_owned())
        );
        let running = status(json!({"status":{"id":"IN_PROGRESS"},"operation":null}));
        assert_eq!(interpret_operation(&running, |_| Some(())).unwrap(), OperationState::InProgress);
    }

    #[test]
    fn error_messages_come_from_flink_errors_array() {
        assert_eq!(
            flink_error_messages(br#"{"errors":["NotFoundException: Job x not found"]}"#),
            vec!["NotFoundException: Job x not found".to_owned()]
        );
        assert_eq!(flink_error_messages(b"<html>bad gateway</html>"), vec!["<html>bad gateway</html>".to_owned()]);
        assert!(flink_error_messages(b"").is_empty());
    }

    #[test]
    fn transient_classification() {
        let http = |status| FlinkClientError::Http { method: "GET".into(), url: "u".into(), status, messages: vec![] };
        assert!(http(StatusCode::SERVICE_UNAVAILABLE).is_transient());
        assert!(http(StatusCode::BAD_GATEWAY).is_transient());
        assert!(!http(StatusCode::NOT_FOUND).is_transient());
        assert!(http(StatusCode::NOT_FOUND).is_not_found());
        assert!(!http(StatusCode::INTERNAL_SERVER_ERROR).is_transient());
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        let client = FlinkClient::new("http://127.0.0.1:1").unwrap();
        for attempt in 1..10 {
            let delay = client.backoff(attempt);
            let cap = client.config.initial_backoff.saturating_mul(1 << (attempt - 1)).min(client.config.max_backoff);
            assert!(delay >= cap / 2 && delay <= cap, "attempt {attempt}: {delay:?} vs {cap:?}");
        }
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("127.0.0.1:3456-abc"), "127.0.0.1:3456-abc");
        assert_eq!(path_segment("a/b?c"), "a%2Fb%3Fc");
    }

    #[tokio::test]
    async fn connection_refused_is_transient_and_retried_for_gets() {
        let config = FlinkClientConfig {
            max_retries: 2,
            initial_backoff: Duration::from_millis(10),
            ..FlinkClientConfig::new("http://127.0.0.1:1")
        };
        let client = FlinkClient::with_config(config).unwrap();
        let started = Instant::now();
        let error = client.cluster_overview().await.unwrap_err();
        assert!(error.is_transient(), "{error}");
        // Two backoffs of at least 5 ms and 10 ms happened.
        assert!(started.elapsed() >= Duration::from_millis(15));
    }
}
