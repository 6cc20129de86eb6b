//! `SessionJobRuntime`: the [`Runtime`] of `FlinkSessionJob`s. "Deploying" a session job submits its jar to its
//! session cluster over REST under the job id the operator fixed (so a retry never starts a second job);
//! "deleting" it cancels the job. A record per job under `<state-dir>/session-jobs/<namespace>/<name>.json`
//! (session cluster, generation, job id) tells a restarted flinkops what it submitted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{Instrument, info, info_span, warn};

use super::local::artifacts::{self, ArtifactError};
use super::{ClusterId, ClusterObservation, ClusterSpec, ClusterStatus, RecordedDeploy, Runtime, RuntimeError};
use crate::flink::client::{FlinkClient, FlinkClientError, JarRunRequest};

/// How long a delete waits for a cancelled job to end.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(60);

/// What was submitted for one session job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubmissionRecord {
    session_cluster: String,
    generation: i64,
    job_id: String,
}

/// Submits session jobs to the session clusters of another runtime.
pub struct SessionJobRuntime<R> {
    clusters: Arc<R>,
    state_dir: PathBuf,
    image_root: Option<PathBuf>,
}

impl<R: Runtime> SessionJobRuntime<R> {
    /// Session jobs on the clusters of `clusters`, with records and downloaded jars under `state_dir`.
    pub fn new(clusters: Arc<R>, state_dir: impl Into<PathBuf>) -> Self {
        SessionJobRuntime { clusters, state_dir: state_dir.into(), image_root: None }
    }

    /// `local://` jar paths are looked up under `root` first (the emulated Flink image, as the local runtime does).
    pub fn with_image_root(mut self, root: Option<PathBuf>) -> Self {
        self.image_root = root;
        self
    }

    fn record_path(&self, id: &ClusterId) -> PathBuf {
        self.state_dir.join("session-jobs").join(&id.namespace).join(format!("{}.json", id.name))
    }

    fn read_record(&self, id: &ClusterId) -> Option<SubmissionRecord> {
        let bytes = std::fs::read(self.record_path(id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn write_record(&self, id: &ClusterId, record: &SubmissionRecord) -> Result<(), RuntimeError> {
        let path = self.record_path(id);
        write_atomically(&path, record).map_err(|error| RuntimeError::Transient {
            cluster: id.clone(),
            message: format!("cannot write the submission record {}: {error}", path.display()),
        })
    }

    /// The session cluster's REST client, or why it cannot be used now.
    async fn session_client(&self, id: &ClusterId, session: &ClusterId) -> Result<ClusterObservation, RuntimeError> {
        let observed = self.clusters.observe(session).await?;
        match (&observed.status, &observed.rest_url) {
            (ClusterStatus::Ready, Some(_)) => Ok(observed),
            (status, _) => Err(RuntimeError::Transient {
                cluster: id.clone(),
                message: format!("the session cluster {session} is not ready ({status:?})"),
            }),
        }
    }

    async fn submit(&self, spec: &ClusterSpec, session: &ClusterId) -> Result<ClusterObservation, RuntimeError> {
        let id = &spec.id;
        let bad_input = |message: String| RuntimeError::BadInput { cluster: id.clone(), message };
        let transient = |message: String| RuntimeError::Transient { cluster: id.clone(), message };
        let job = spec.job.as_ref().ok_or_else(|| bad_input("a session job needs spec.job".into()))?;
        let observed = self.session_client(id, session).await?;
        let rest_url = observed.rest_url.clone().unwrap_or_default();
        let client = FlinkClient::new(rest_url.clone()).map_err(|e| transient(e.to_string()))?;
        // Idempotent: a job already submitted under this id (flinkops stopped after submitting it) is not sent again.
        let known = match client.job_status(&job.job_id).await {
            Ok(_) => true,
            Err(error) if error.is_not_found() => false,
            Err(error) => return Err(transient(format!("asking the session cluster about the job failed: {error}"))),
        };
        if !known {
            let jar =
                artifacts::resolve_jar(&job.jar_uri, &self.state_dir.join("artifacts"), self.image_root.as_deref())
                    .await
                    .map_err(|error| match error {
                        ArtifactError::BadInput(message) => bad_input(message),
                        ArtifactError::Transient(message) => transient(message),
                    })?;
            let uploaded = client.upload_jar(&jar).await.map_err(|e| classify(id, "uploading the jar", &e))?;
            let mut flink_configuration = spec.flink_config.clone();
            let parallelism = flink_configuration
                .remove("parallelism.default")
                .and_then(|p| p.parse::<u32>().ok())
                .filter(|p| *p > 0);
            let request = JarRunRequest {
                entry_class: job.entry_class.clone(),
                program_args_list: job.args.clone(),
                parallelism,
                job_id: Some(job.job_id.clone()),
                savepoint_path: job.restore.as_ref().map(|r| r.path.clone()),
                allow_non_restored_state: job.restore.as_ref().map(|r| r.allow_non_restored_state),
                flink_configuration,
                ..JarRunRequest::default()
            };
            let ran = client.run_jar(uploaded.jar_id(), &request).await;
            // The uploaded copy is only needed for the submission.
            if let Err(error) = client.delete_jar(uploaded.jar_id()).await {
                warn!(%error, "removing the uploaded jar failed");
            }
            match ran {
                Ok(_) => {}
                // Submitted concurrently or just before a crash: the job with this id is ours.
                Err(error) if error.mentions("Duplicate") => {}
                Err(error) => return Err(classify(id, "submitting the job", &error)),
            }
            info!(job_id = %job.job_id, restore = job.restore.as_ref().map_or("nothing", |r| r.path.as_str()), "session job submitted");
        }
        let record = SubmissionRecord {
            session_cluster: session.name.clone(),
            generation: spec.generation,
            job_id: job.job_id.clone(),
        };
        self.write_record(id, &record)?;
        Ok(ClusterObservation {
            status: ClusterStatus::Ready,
            rest_url: Some(rest_url),
            generation: Some(record.generation),
            job_id: Some(record.job_id),
            notes: observed.notes,
        })
    }
}

impl<R: Runtime> Runtime for SessionJobRuntime<R> {
    async fn deploy(&self, spec: &ClusterSpec) -> Result<ClusterObservation, RuntimeError> {
        let span = info_span!("submit", session_job = %spec.id, generation = spec.generation);
        let Some(session) = spec.session_cluster.clone() else {
            return Err(RuntimeError::BadInput {
                cluster: spec.id.clone(),
                message: "a session job needs spec.deploymentName".into(),
            });
        };
        let session = ClusterId { namespace: spec.id.namespace.clone(), name: session };
        Box::pin(self.submit(spec, &session).instrument(span)).await
    }

    async fn observe(&self, id: &ClusterId) -> Result<ClusterObservation, RuntimeError> {
        let Some(record) = self.read_record(id) else { return Ok(ClusterObservation::missing()) };
        let session = ClusterId { namespace: id.namespace.clone(), name: record.session_cluster.clone() };
        let cluster = self.clusters.observe(&session).await?;
        let status = match &cluster.status {
            ClusterStatus::Ready => {
                let client = cluster.rest_url.as_deref().and_then(|url| FlinkClient::new(url).ok());
                match client {
                    // A session cluster that was replaced since no longer knows the job: it is gone.
                    Some(client) => match client.job_status(&record.job_id).await {
                        Err(error) if error.is_not_found() => ClusterStatus::Missing,
                        _ => ClusterStatus::Ready,
                    },
                    None => ClusterStatus::Ready,
                }
            }
            ClusterStatus::Deploying => ClusterStatus::Deploying,
            ClusterStatus::Missing => ClusterStatus::Missing,
            ClusterStatus::Failed { reason } => {
                ClusterStatus::Failed { reason: format!("the session cluster {session} failed: {reason}") }
            }
        };
        Ok(ClusterObservation {
            status,
            rest_url: cluster.rest_url,
            generation: Some(record.generation),
            job_id: Some(record.job_id),
            notes: Vec::new(),
        })
    }

    /// Rewrites a lost submission record from the status, if the session cluster still runs the recorded job (not
    /// one that ended): a restarted operator whose state directory was emptied then observes the job it submitted
    /// instead of submitting a second one.
    async fn adopt(&self, id: &ClusterId, recorded: &RecordedDeploy) -> Result<bool, RuntimeError> {
        let Some(session_cluster) = recorded.session_cluster.clone() else { return Ok(false) };
        if self.read_record(id).is_some() {
            return Ok(false);
        }
        let session = ClusterId { namespace: id.namespace.clone(), name: session_cluster.clone() };
        let cluster = self.clusters.observe(&session).await?;
        let (ClusterStatus::Ready, Some(url)) = (&cluster.status, cluster.rest_url.as_deref()) else {
            return Ok(false);
        };
        let client = FlinkClient::new(url).map_err(|e| classify(id, "connecting to the session cluster", &e))?;
        match client.job_status(&recorded.job_id).await {
            // A job that ended (a suspended session job's, kept in Flink's history) is not there to adopt.
            Ok(state) if state.is_globally_terminal() => return Ok(false),
            Ok(_) => {}
            Err(error) if error.is_not_found() => return Ok(false),
            Err(error) => return Err(classify(id, "asking the session cluster about the job", &error)),
        }
        let record =
            SubmissionRecord { session_cluster, generation: recorded.generation, job_id: recorded.job_id.clone() };
        self.write_record(id, &record)?;
        info!(session_job = %id, job_id = %record.job_id, "adopted the job its status records (the submission record was lost)");
        Ok(true)
    }

    async fn delete(&self, id: &ClusterId) -> Result<(), RuntimeError> {
        let Some(record) = self.read_record(id) else { return Ok(()) };
        let session = ClusterId { namespace: id.namespace.clone(), name: record.session_cluster.clone() };
        let cluster = self.clusters.observe(&session).await?;
        if let (ClusterStatus::Ready, Some(url)) = (&cluster.status, cluster.rest_url.as_deref()) {
            let client = FlinkClient::new(url).map_err(|e| classify(id, "connecting to the session cluster", &e))?;
            cancel_and_wait(&client, &record.job_id).await.map_err(|e| classify(id, "cancelling the job", &e))?;
            info!(session_job = %id, job_id = %record.job_id, "session job cancelled");
        }
        // A session cluster that is gone took the job with it.
        match std::fs::remove_file(self.record_path(id)) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(RuntimeError::Transient {
                cluster: id.clone(),
                message: format!("cannot remove the submission record: {error}"),
            }),
        }
    }
}

/// Cancels a job unless it already ended, and waits (bounded) until it has.
async fn cancel_and_wait(client: &FlinkClient, job_id: &str) -> Result<(), FlinkClientError> {
    let deadline = tokio::time::Instant::now() + CANCEL_TIMEOUT;
    let mut cancelled = false;
    loop {
        match client.job_status(job_id).await {
            Ok(state) if state.is_globally_terminal() => return Ok(()),
            Ok(_) if !cancelled => {
                match client.cancel_job(job_id).await {
                    Ok(()) => {}
                    Err(error) if error.is_not_found() => return Ok(()),
                    Err(error) => return Err(error),
                }
                cancelled = true;
            }
            Ok(_) => {}
            Err(error) if error.is_not_found() => return Ok(()),
            Err(error) => return Err(error),
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn classify(id: &ClusterId, doing: &str, error: &FlinkClientError) -> RuntimeError {
    let message = format!("{doing} failed: {error}");
    if error.is_transient() {
        RuntimeError::Transient { cluster: id.clone(), message }
    } else {
        RuntimeError::BadInput { cluster: id.clone(), message }
    }
}

/// Writes JSON to a temporary file and renames it over `path`, so a crash never leaves half a record.
fn write_atomically(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}
