//! `LocalRuntime`: the [`Runtime`] that runs each `FlinkDeployment` as a JobManager and TaskManagers on this
//! machine. Application clusters run the job jar on the JobManager's classpath and start it themselves (restoring
//! from a savepoint when asked); session clusters wait for jobs over REST.
//!
//! Every cluster lives in `<state-dir>/clusters/<namespace>/<name>/` with its configuration, logs, pid files and
//! a `cluster.json` record, so a restarted flinkops adopts clusters its predecessor started instead of restarting
//! their jobs, and cleans up those that died.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tracing::{Instrument, info, info_span, warn};

use super::artifacts::{self, ArtifactError};
use super::launcher::{self, APPLICATION_JOBMANAGER_CLASS, FlinkProcess, LaunchSpec, LocalFlinkCluster};
use crate::runtime::{ClusterId, ClusterObservation, ClusterSpec, ClusterStatus, Runtime, RuntimeError};

/// Keys the local runtime owns: every cluster binds to loopback on ports of its own, whatever the spec says.
const LOCAL_OWNED_KEYS: &[&str] = &[
    "rest.port",
    "rest.bind-port",
    "rest.address",
    "rest.bind-address",
    "jobmanager.rpc.address",
    "jobmanager.rpc.port",
    "jobmanager.bind-host",
    "taskmanager.host",
    "taskmanager.bind-host",
    "blob.server.port",
];

/// What is persisted about a cluster, for adoption after a restart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ClusterRecord {
    id: ClusterId,
    generation: i64,
    rest_url: String,
    job_id: Option<String>,
}

enum Managed {
    /// Started by this process: it owns the child processes.
    Owned(Box<LocalFlinkCluster>, ClusterRecord),
    /// Started by a previous flinkops and still running: known by its record and pid files.
    Adopted(ClusterRecord),
}

/// Runs Flink clusters as local processes.
pub struct LocalRuntime {
    flink_home: PathBuf,
    state_dir: PathBuf,
    distribution_version: Option<(u32, u32)>,
    image_root: Option<PathBuf>,
    ready_timeout: Duration,
    outlive_operator: bool,
    clusters: Mutex<HashMap<ClusterId, Managed>>,
}

impl LocalRuntime {
    /// A runtime using the distribution at `flink_home`, keeping everything under `state_dir`.
    pub fn new(flink_home: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Result<Self, RuntimeError> {
        // Absolute paths: the Flink processes run with their own working directory.
        let flink_home = absolute(flink_home.into());
        let state_dir = absolute(state_dir.into());
        let distribution_version = distribution_version(&flink_home);
        if distribution_version.is_none() {
            return Err(RuntimeError::BadInput {
                cluster: ClusterId { namespace: String::new(), name: String::new() },
                message: format!(
                    "{} is not a Flink distribution (no lib/flink-dist-*.jar); run scripts/install-flink.sh or set FLINK_HOME",
                    flink_home.display()
                ),
            });
        }
        Ok(LocalRuntime {
            flink_home,
            state_dir,
            distribution_version,
            image_root: None,
            ready_timeout: Duration::from_secs(120),
            outlive_operator: false,
            clusters: Mutex::new(HashMap::new()),
        })
    }

    /// Emulates the Flink image's filesystem: `local://` jar paths are looked up under `root` first.
    pub fn with_image_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.image_root = Some(absolute(root.into()));
        self
    }

    /// Clusters keep running when flinkops dies (crash, SIGKILL), as pods outlive a crashed operator; the next
    /// flinkops adopts them. Without it, a watchdog stops a cluster once the process that started it is gone.
    pub fn outliving_the_operator(mut self, outlive: bool) -> Self {
        self.outlive_operator = outlive;
        self
    }

    /// Where clusters, records and downloaded jars are kept.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The emulated Flink image root, if any.
    pub fn image_root(&self) -> Option<&Path> {
        self.image_root.as_deref()
    }

    /// The Flink version of the distribution, as `(major, minor)`.
    pub fn distribution_version(&self) -> Option<(u32, u32)> {
        self.distribution_version
    }

    fn cluster_dir(&self, id: &ClusterId) -> PathBuf {
        self.state_dir.join("clusters").join(&id.namespace).join(&id.name)
    }

    fn record_path(&self, id: &ClusterId) -> PathBuf {
        self.cluster_dir(id).join("cluster.json")
    }

    /// Stops every cluster this runtime started or adopted (for `--stop-jobs-on-exit`).
    pub async fn stop_all(&self) {
        let ids: Vec<ClusterId> = self.clusters.lock().await.keys().cloned().collect();
        for id in ids {
            if let Err(error) = self.delete(&id).await {
                warn!(cluster = %id, %error, "stopping the cluster failed");
            }
        }
    }

    /// Forgets the clusters without stopping them: they keep running and the next flinkops adopts them.
    pub async fn detach_all(&self) {
        let mut clusters = self.clusters.lock().await;
        for (_, managed) in clusters.drain() {
            if let Managed::Owned(cluster, _) = managed {
                cluster.detach();
            }
        }
    }

    fn check_version(&self, spec: &ClusterSpec) -> Result<Vec<String>, RuntimeError> {
        let (Some(wanted), Some(have)) = (spec.flink_version, self.distribution_version) else { return Ok(Vec::new()) };
        let wanted = wanted.major_minor();
        if wanted.0 != have.0 {
            return Err(RuntimeError::BadInput {
                cluster: spec.id.clone(),
                message: format!(
                    "flinkVersion v{}_{} needs Flink {}.x, but the local distribution is Flink {}.{}",
                    wanted.0, wanted.1, wanted.0, have.0, have.1
                ),
            });
        }
        if wanted != have {
            return Ok(vec![format!(
                "flinkVersion is v{}_{} but the local distribution is Flink {}.{}; running on {}.{}",
                wanted.0, wanted.1, have.0, have.1, have.0, have.1
            )]);
        }
        Ok(Vec::new())
    }

    async fn launch_spec(&self, spec: &ClusterSpec) -> Result<LaunchSpec, RuntimeError> {
        let work_dir = self.cluster_dir(&spec.id);
        let mut launch = LaunchSpec::session(&self.flink_home, &work_dir);
        launch.ready_timeout = self.ready_timeout;
        launch.outlive_parent = self.outlive_operator;
        launch.taskmanagers = spec.taskmanagers;
        let mut config: BTreeMap<String, String> = spec.flink_config.clone();
        config.retain(|key, _| !LOCAL_OWNED_KEYS.contains(&key.as_str()));
        launch.flink_config = config;
        if let Some(job) = &spec.job {
            let jar =
                artifacts::resolve_jar(&job.jar_uri, &self.state_dir.join("artifacts"), self.image_root.as_deref())
                    .await
                    .map_err(|error| match error {
                        ArtifactError::BadInput(message) => {
                            RuntimeError::BadInput { cluster: spec.id.clone(), message }
                        }
                        ArtifactError::Transient(message) => {
                            RuntimeError::Transient { cluster: spec.id.clone(), message }
                        }
                    })?;
            launch.jobmanager_class = APPLICATION_JOBMANAGER_CLASS.to_owned();
            launch.extra_classpath.push(jar.clone());
            let mut args = vec!["--job-id".to_owned(), job.job_id.clone()];
            match &job.entry_class {
                Some(class) => args.extend(["--job-classname".to_owned(), class.clone()]),
                None => args.extend([
                    "--job-classname".to_owned(),
                    main_class_of(&jar).ok_or_else(|| RuntimeError::BadInput {
                        cluster: spec.id.clone(),
                        message: format!("{} names no Main-Class; set spec.job.entryClass", job.jar_uri),
                    })?,
                ]),
            }
            if let Some(restore) = &job.restore {
                args.extend(["--fromSavepoint".to_owned(), restore.path.clone()]);
                if restore.allow_non_restored_state {
                    args.push("--allowNonRestoredState".to_owned());
                }
            }
            // Everything after the options goes to the job's main().
            args.extend(job.args.iter().cloned());
            launch.jobmanager_args = args;
        }
        Ok(launch)
    }

    fn write_record(&self, record: &ClusterRecord) {
        let path = self.record_path(&record.id);
        let written = serde_json::to_vec_pretty(record)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&path, bytes));
        if let Err(error) = written {
            warn!(cluster = %record.id, path = %path.display(), %error, "cannot write the cluster record; it will not be adopted after a restart");
        }
    }

    fn read_record(&self, id: &ClusterId) -> Option<ClusterRecord> {
        let bytes = std::fs::read(self.record_path(id)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// `path` made absolute against the current directory (without resolving symlinks or requiring it to exist).
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// `(major, minor)` from `lib/flink-dist-<version>.jar`.
fn distribution_version(flink_home: &Path) -> Option<(u32, u32)> {
    let entries = std::fs::read_dir(flink_home.join("lib")).ok()?;
    entries.flatten().find_map(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        let version = name.strip_prefix("flink-dist-")?.strip_suffix(".jar")?.to_owned();
        let mut parts = version.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    })
}

/// The `Main-Class` of a jar's manifest, read with the JDK's `unzip`-free way: the manifest is stored text.
fn main_class_of(jar: &Path) -> Option<String> {
    let output = std::process::Command::new("unzip").arg("-p").arg(jar).arg("META-INF/MANIFEST.MF").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("Main-Class:").map(|c| c.trim().to_owned()))
        .filter(|c| !c.is_empty())
}

/// How long the liveness probe of a JobManager's REST endpoint waits for an answer.
const REST_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether the REST endpoint answers: one short request, no retries (the next observation is the retry), so a
/// frozen JobManager is noticed within seconds instead of after the client's full retry budget.
async fn rest_answers(rest_url: &str) -> bool {
    use crate::flink::client::{FlinkClient, FlinkClientConfig};
    let config =
        FlinkClientConfig { request_timeout: REST_PROBE_TIMEOUT, max_retries: 0, ..FlinkClientConfig::new(rest_url) };
    let Ok(client) = FlinkClient::with_config(config) else { return false };
    client.cluster_overview().await.is_ok()
}

impl Runtime for LocalRuntime {
    async fn deploy(&self, spec: &ClusterSpec) -> Result<ClusterObservation, RuntimeError> {
        let span = info_span!("deploy", cluster = %spec.id, generation = spec.generation);
        async move {
            let notes = self.check_version(spec)?;
            for note in &notes {
                warn!("{note}");
            }
            // A deploy replaces what runs under this id.
            self.delete(&spec.id).await?;
            let launch = self.launch_spec(spec).await?;
            info!(taskmanagers = spec.taskmanagers, application = spec.job.is_some(), "starting Flink cluster");
            let cluster = LocalFlinkCluster::start(launch).await.map_err(|error| RuntimeError::Transient {
                cluster: spec.id.clone(),
                message: format!("starting the cluster failed: {error}"),
            })?;
            let record = ClusterRecord {
                id: spec.id.clone(),
                generation: spec.generation,
                rest_url: cluster.rest_url(),
                job_id: spec.job.as_ref().map(|j| j.job_id.clone()),
            };
            self.write_record(&record);
            info!(rest_url = %record.rest_url, "Flink cluster ready");
            let observation = ClusterObservation {
                status: ClusterStatus::Ready,
                rest_url: Some(record.rest_url.clone()),
                generation: Some(record.generation),
                job_id: record.job_id.clone(),
                notes,
            };
            self.clusters.lock().await.insert(spec.id.clone(), Managed::Owned(Box::new(cluster), record));
            Ok(observation)
        }
        .instrument(span)
        .await
    }

    async fn observe(&self, id: &ClusterId) -> Result<ClusterObservation, RuntimeError> {
        // NB: the lock is never held across a REST call: a frozen JobManager (REST timing out) must not hold up
        // the observation of every other cluster.
        let known = self.clusters.lock().await.contains_key(id);
        if !known {
            // Not started by this process: adopt what a predecessor left running, clean up what died.
            match self.read_record(id) {
                Some(record) if rest_answers(&record.rest_url).await => {
                    info!(cluster = %id, rest_url = %record.rest_url, "adopting a running cluster started by an earlier flinkops");
                    self.clusters.lock().await.entry(id.clone()).or_insert(Managed::Adopted(record));
                }
                Some(_) => {
                    let work_dir = self.cluster_dir(id);
                    if let Err(error) = launcher::cleanup_stale_processes(&work_dir) {
                        warn!(cluster = %id, %error, "cleaning up a dead cluster failed");
                    }
                    let _ = std::fs::remove_file(self.record_path(id));
                    return Ok(ClusterObservation::missing());
                }
                None => return Ok(ClusterObservation::missing()),
            }
        }
        let (record, jobmanager_exit) = {
            let mut clusters = self.clusters.lock().await;
            let Some(managed) = clusters.get_mut(id) else { return Ok(ClusterObservation::missing()) };
            match managed {
                Managed::Owned(cluster, record) => {
                    let record = record.clone();
                    let (jobmanager, taskmanagers): (Vec<_>, Vec<_>) =
                        cluster.reap_exited().into_iter().partition(|exit| exit.process == FlinkProcess::JobManager);
                    // A dead TaskManager is replaced, as Kubernetes recreates a TaskManager pod; Flink's restart
                    // strategy then brings the job back from its latest checkpoint.
                    for exit in taskmanagers.iter().filter(|_| jobmanager.is_empty()) {
                        warn!(cluster = %id, process = %exit.process, status = %exit.status, "a TaskManager died; starting it again");
                        if let Err(error) = cluster.restart_taskmanager(exit.process).await {
                            warn!(cluster = %id, process = %exit.process, %error, "starting the TaskManager again failed; the job lacks its slots");
                        }
                    }
                    (record, jobmanager.into_iter().next())
                }
                Managed::Adopted(record) => (record.clone(), None),
            }
        };
        if let Some(exit) = jobmanager_exit {
            // Without HA metadata a JobManager that died took its job with it: stop what is left and report the
            // cluster missing, so the controller recovers it (from the newest recorded savepoint).
            warn!(cluster = %id, status = %exit.status, "the JobManager died; stopping the rest of the cluster");
            self.delete(id).await?;
            return Ok(ClusterObservation::missing());
        }
        let status = if rest_answers(&record.rest_url).await {
            ClusterStatus::Ready
        } else {
            let reason = format!("the JobManager REST endpoint {} does not answer", record.rest_url);
            warn!(cluster = %id, "{reason}");
            ClusterStatus::Failed { reason }
        };
        Ok(ClusterObservation {
            status,
            rest_url: Some(record.rest_url),
            generation: Some(record.generation),
            job_id: record.job_id,
            notes: Vec::new(),
        })
    }

    async fn delete(&self, id: &ClusterId) -> Result<(), RuntimeError> {
        let managed = self.clusters.lock().await.remove(id);
        match managed {
            Some(Managed::Owned(cluster, _)) => {
                info!(cluster = %id, "stopping Flink cluster");
                cluster.stop().await.map_err(|error| RuntimeError::Transient {
                    cluster: id.clone(),
                    message: format!("stopping the cluster failed: {error}"),
                })?;
            }
            Some(Managed::Adopted(_)) | None => {
                // Processes of an adopted cluster, or leftovers of a crashed predecessor, are found by pid file.
                let work_dir = self.cluster_dir(id);
                if work_dir.exists() {
                    launcher::cleanup_stale_processes(&work_dir).map_err(|error| RuntimeError::Transient {
                        cluster: id.clone(),
                        message: format!("stopping the cluster failed: {error}"),
                    })?;
                }
            }
        }
        let _ = std::fs::remove_file(self.record_path(id));
        Ok(())
    }
}
