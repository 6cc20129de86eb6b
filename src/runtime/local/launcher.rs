//! Local Flink cluster process launcher: owns the JobManager and TaskManager `java` processes of a
//! loopback-only Flink cluster (config files, ports, memory parameters, pid files, readiness, crash
//! detection, kill/restart of single processes, clean shutdown and cleanup after a crashed flinkops).
//!
//! It runs the Flink main classes with plain `java -cp '<FLINK_HOME>/lib/*'` (no `bin/*.sh`), which is
//! what the `apache-flink-libraries` wheel installed by `scripts/install-flink.sh` supports. Facts it
//! relies on (measured with Flink 2.3 on Java 17):
//! * Flink 2.x reads only `<conf>/config.yaml`; flat dotted keys are fine.
//! * A TaskManager refuses to start without the memory "dynamic properties" that `BashJavaUtils
//!   GET_TM_RESOURCE_PARAMS` prints; the JobManager only needs its JVM heap flags.
//! * The Java 17 `--add-opens` flags (`env.java.opts.all`) are only applied by the bash scripts, so
//!   they are passed here on the command line.
//!
//! Every process runs in its own process group, so a signal to the group reaches everything it
//! started. Processes are stopped by [`LocalFlinkCluster::stop`], by `Drop` (SIGKILL), and, if this
//! process dies without running `Drop`, by a small watchdog shell that notices the parent is gone.
//! Pid files under `<work_dir>/pids/` let [`cleanup_stale_processes`] find leftovers of a previous run.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tracing::{debug, info, warn};

/// Main class of a session-mode JobManager.
pub const SESSION_JOBMANAGER_CLASS: &str = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint";
/// Main class of an application-mode JobManager (needs `--job-classname` or a jar in `usrlib/`).
pub const APPLICATION_JOBMANAGER_CLASS: &str =
    "org.apache.flink.container.entrypoint.StandaloneApplicationClusterEntryPoint";
/// Main class of a TaskManager.
pub const TASKMANAGER_CLASS: &str = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner";

const BASH_JAVA_UTILS_CLASS: &str = "org.apache.flink.runtime.util.bash.BashJavaUtils";
const BASH_JAVA_UTILS_RESULT_PREFIX: &str = "BASH_JAVA_UTILS_EXEC_RESULT:";

const LOG4J_PROPERTIES: &str = include_str!("../../../assets/flink/log4j.properties");
const LOG4J_BASH_UTILS_PROPERTIES: &str = include_str!("../../../assets/flink/log4j-bash-utils.properties");

/// The flags Flink's scripts pass on Java 17 (`env.java.opts.all` of the default `config.yaml`).
const JAVA_17_MODULE_FLAGS: &[&str] = &[
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.text=ALL-UNNAMED",
    "--add-opens=java.base/java.time=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
];

/// How often readiness and exit polling look again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Start attempts when a freshly allocated port was taken by someone else in the meantime.
const PORT_CLASH_ATTEMPTS: u32 = 3;
/// Lines of a process log quoted in an error.
const LOG_TAIL_LINES: usize = 30;

/// What to launch. Build it with [`LaunchSpec::session`] and adjust the public fields.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The unpacked distribution (must contain `lib/flink-dist-*.jar` and `bin/bash-java-utils.jar`).
    pub flink_home: PathBuf,
    /// Owned by this cluster: `conf/`, `log/`, `pids/` and `state/` are created inside.
    pub work_dir: PathBuf,
    /// Flink options written to `config.yaml`; they override the launcher's defaults (see
    /// [`LaunchSpec::default_flink_config`]). `rest.port` / `jobmanager.rpc.port` given here are used
    /// as-is instead of allocating free ports.
    pub flink_config: BTreeMap<String, String>,
    /// TaskManagers started by [`LocalFlinkCluster::start`] and awaited for readiness.
    pub taskmanagers: u32,
    /// JobManager main class: [`SESSION_JOBMANAGER_CLASS`] or [`APPLICATION_JOBMANAGER_CLASS`].
    pub jobmanager_class: String,
    /// Extra program arguments of the JobManager entrypoint (e.g. `--job-classname X` in application mode).
    pub jobmanager_args: Vec<String>,
    /// Extra classpath entries for all processes (e.g. a user jar for application mode).
    pub extra_classpath: Vec<PathBuf>,
    /// The `java` executable (Java 17).
    pub java: PathBuf,
    /// Upper bound for "REST answers and all TaskManagers registered".
    pub ready_timeout: Duration,
    /// How long a process gets after SIGTERM before SIGKILL.
    pub stop_timeout: Duration,
    /// Keep the cluster running when this process dies without stopping it (no watchdog): what an operator
    /// wants, whose successor adopts the cluster. Off by default, so a killed test leaves nothing behind.
    pub outlive_parent: bool,
}

impl LaunchSpec {
    /// A session cluster with one TaskManager and test-friendly defaults.
    pub fn session(flink_home: impl Into<PathBuf>, work_dir: impl Into<PathBuf>) -> Self {
        Self {
            flink_home: flink_home.into(),
            work_dir: work_dir.into(),
            flink_config: BTreeMap::new(),
            taskmanagers: 1,
            jobmanager_class: SESSION_JOBMANAGER_CLASS.to_owned(),
            jobmanager_args: Vec::new(),
            extra_classpath: Vec::new(),
            java: PathBuf::from("java"),
            ready_timeout: Duration::from_secs(90),
            stop_timeout: Duration::from_secs(10),
            outlive_parent: false,
        }
    }

    /// The options the launcher writes unless `flink_config` overrides them: loopback-only
    /// addresses, 1 GiB processes, checkpoints and savepoints under `<work_dir>/state`, and the
    /// fast heartbeats / metric refresh / adaptive-scheduler timeouts that keep tests short.
    pub fn default_flink_config(work_dir: &Path) -> BTreeMap<String, String> {
        let state = work_dir.join("state");
        let entries: [(&str, String); 29] = [
            ("jobmanager.rpc.address", "127.0.0.1".into()),
            ("jobmanager.bind-host", "127.0.0.1".into()),
            ("jobmanager.memory.process.size", "1g".into()),
            ("jobmanager.scheduler", "adaptive".into()),
            ("taskmanager.bind-host", "127.0.0.1".into()),
            ("taskmanager.host", "127.0.0.1".into()),
            ("taskmanager.numberOfTaskSlots", "2".into()),
            ("taskmanager.memory.process.size", "1g".into()),
            // The default managed fraction (0.4) would leave the task heap at ~26 MB.
            ("taskmanager.memory.managed.size", "64m".into()),
            ("parallelism.default", "1".into()),
            ("rest.address", "127.0.0.1".into()),
            ("rest.bind-address", "127.0.0.1".into()),
            ("blob.server.port", "0".into()),
            ("execution.checkpointing.interval", "2s".into()),
            ("execution.checkpointing.dir", format!("file://{}", state.join("checkpoints").display())),
            ("execution.checkpointing.savepoint-dir", format!("file://{}", state.join("savepoints").display())),
            ("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION".into()),
            ("restart-strategy.type", "fixed-delay".into()),
            ("restart-strategy.fixed-delay.attempts", "1000".into()),
            ("restart-strategy.fixed-delay.delay", "1s".into()),
            // /jobs/:id is cached this long (default 3 s).
            ("web.refresh-interval", "500".into()),
            // REST metric store refresh (default 10 s).
            ("metrics.fetcher.update-interval", "1000".into()),
            ("web.adaptive-scheduler.rescale-history.size", "20".into()),
            ("jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling", "1s".into()),
            ("jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout", "2s".into()),
            ("jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout", "1s".into()),
            // A lost TaskManager is noticed in ~3 s instead of ~50 s.
            ("heartbeat.interval", "2000".into()),
            ("heartbeat.timeout", "10000".into()),
            ("pekko.ask.timeout", "30s".into()),
        ];
        entries.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()
    }
}

/// Which process of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlinkProcess {
    /// The JobManager (there is exactly one).
    JobManager,
    /// TaskManagers are numbered from 1 in start order; a restarted one keeps its number.
    TaskManager(u32),
}

impl FlinkProcess {
    /// Name used for pid and log files.
    pub fn file_stem(self) -> String {
        match self {
            Self::JobManager => "jobmanager".to_owned(),
            Self::TaskManager(index) => format!("taskmanager-{index}"),
        }
    }
}

impl fmt::Display for FlinkProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file_stem())
    }
}

/// How to end a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// SIGTERM, then SIGKILL after [`LaunchSpec::stop_timeout`].
    Graceful,
    /// SIGKILL at once: a crash as far as Flink is concerned.
    Kill,
}

/// A process that ended on its own.
#[derive(Debug, Clone)]
pub struct ProcessExit {
    /// Which process exited.
    pub process: FlinkProcess,
    /// Its pid.
    pub pid: u32,
    /// Its exit status.
    pub status: ExitStatus,
}

/// A process named by a pid file that a previous flinkops run left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleProcess {
    /// The pid file it was found through (already removed).
    pub pid_file: PathBuf,
    /// The pid recorded in the file.
    pub pid: u32,
    /// What was done about it.
    pub disposition: StaleDisposition,
}

/// What [`cleanup_stale_processes`] did with a [`StaleProcess`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleDisposition {
    /// It was still running with this work dir's config and was killed.
    Killed,
    /// It had already exited; only the pid file was removed.
    AlreadyGone,
    /// The pid is alive but is not a Flink process of this work dir (pid reused): left alone.
    NotOurs,
}

/// Error of starting, controlling or cleaning up a local cluster.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// An I/O operation failed (files, processes, port allocation, the readiness HTTP client).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// A `flink_config` key or port value that cannot be used.
    #[error("invalid Flink config: {0}")]
    InvalidConfig(String),
    /// `flink_home` lacks `lib/flink-dist-*.jar` or `bin/bash-java-utils.jar`.
    #[error("FLINK_HOME {path} is not a Flink distribution: {reason}")]
    InvalidFlinkHome {
        /// The directory given as `flink_home`.
        path: PathBuf,
        /// What is missing or unreadable.
        reason: String,
    },
    /// Computing the JVM memory parameters with `BashJavaUtils` failed.
    #[error("BashJavaUtils {command} failed ({status}): {output}")]
    BashJavaUtils {
        /// The BashJavaUtils command, e.g. `GET_TM_RESOURCE_PARAMS`.
        command: &'static str,
        /// Its exit status.
        status: String,
        /// Its stdout and stderr.
        output: String,
    },
    /// A process exited before the cluster became ready.
    #[error("{process} exited during startup ({status}); last lines of {log}:\n{log_tail}")]
    ExitedDuringStartup {
        /// Which process exited.
        process: FlinkProcess,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log, followed by those of its stdout/stderr.
        log_tail: String,
    },
    /// The REST API did not report every TaskManager in time.
    #[error("cluster not ready within {timeout:?}: {last_observation}")]
    NotReady {
        /// The readiness timeout that elapsed.
        timeout: Duration,
        /// What the last poll saw, e.g. `1 of 2 TaskManagers registered`.
        last_observation: String,
    },
    /// The process is not tracked as running (or, for a TaskManager restart, is not a TaskManager).
    #[error("{0} is not running")]
    NotRunning(FlinkProcess),
    /// The process to start is already running.
    #[error("{0} is already running")]
    AlreadyRunning(FlinkProcess),
}

impl LaunchError {
    fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}

/// Files and directories of one cluster, all below `work_dir`.
#[derive(Debug, Clone)]
struct Layout {
    conf_dir: PathBuf,
    log_dir: PathBuf,
    pid_dir: PathBuf,
    state_dir: PathBuf,
    /// The JVMs' `java.io.tmpdir` (and so Flink's `io.tmp.dirs`): a killed JVM leaves its
    /// extracted RPC jar (24 MB) and blob caches here rather than in the machine's `/tmp`.
    tmp_dir: PathBuf,
}

impl Layout {
    fn new(work_dir: &Path) -> Self {
        Self {
            conf_dir: work_dir.join("conf"),
            log_dir: work_dir.join("log"),
            pid_dir: work_dir.join("pids"),
            state_dir: work_dir.join("state"),
            tmp_dir: work_dir.join("tmp"),
        }
    }

    fn pid_file(&self, process: FlinkProcess) -> PathBuf {
        self.pid_dir.join(format!("{}.pid", process.file_stem()))
    }

    fn log_file(&self, process: FlinkProcess) -> PathBuf {
        self.log_dir.join(format!("{}.log", process.file_stem()))
    }

    fn stdout_file(&self, process: FlinkProcess) -> PathBuf {
        self.log_dir.join(format!("{}.out", process.file_stem()))
    }
}

/// JVM flags and `-D key=value` program arguments computed by BashJavaUtils.
#[derive(Debug, Clone, Default)]
struct ResourceParams {
    jvm_flags: Vec<String>,
    dynamic_properties: Vec<String>,
}

struct RunningProcess {
    child: Child,
    pid: u32,
}

/// A running local Flink cluster. Dropping it SIGKILLs every process; call [`Self::stop`] for a
/// graceful shutdown.
pub struct LocalFlinkCluster {
    spec: LaunchSpec,
    layout: Layout,
    rest_port: u16,
    rpc_port: u16,
    jobmanager_params: ResourceParams,
    taskmanager_params: ResourceParams,
    processes: BTreeMap<FlinkProcess, RunningProcess>,
    next_taskmanager_index: u32,
    watchdog: Option<std::process::Child>,
    http: reqwest::Client,
}

impl fmt::Debug for LocalFlinkCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalFlinkCluster")
            .field("work_dir", &self.spec.work_dir)
            .field("rest_port", &self.rest_port)
            .field("rpc_port", &self.rpc_port)
            .field("processes", &self.pids())
            .finish()
    }
}

impl LocalFlinkCluster {
    /// Writes the config, starts the JobManager and `spec.taskmanagers` TaskManagers and waits until
    /// the REST API reports them all. Leftovers of an earlier run in the same work dir are killed first.
    /// If a freshly allocated port was taken in between, the start is retried with new ports.
    pub async fn start(spec: LaunchSpec) -> Result<Self, LaunchError> {
        check_flink_home(&spec.flink_home)?;
        for stale in cleanup_stale_processes(&spec.work_dir)? {
            warn!(pid = stale.pid, pid_file = %stale.pid_file.display(), disposition = ?stale.disposition,
                "found a process left by an earlier run");
        }
        let layout = Layout::new(&spec.work_dir);
        // No process of this cluster runs now (stale ones were just cleaned up): what is in its
        // temporary directory was left by killed JVMs.
        match fs::remove_dir_all(&layout.tmp_dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(LaunchError::io(format!("emptying {}", layout.tmp_dir.display()), e));
            }
            _ => {}
        }
        for dir in [&layout.conf_dir, &layout.log_dir, &layout.pid_dir, &layout.state_dir, &layout.tmp_dir] {
            fs::create_dir_all(dir).map_err(|e| LaunchError::io(format!("creating {}", dir.display()), e))?;
        }
        // reqwest is built with `rustls-no-provider` and panics when building a client without a
        // process-wide crypto provider, even for plain http. "Already installed" is fine.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .map_err(|e| LaunchError::io("building the readiness HTTP client", io::Error::other(e)))?;

        let mut attempt = 1;
        loop {
            let ports = allocate_ports(&spec.flink_config)?;
            let mut cluster = Self {
                spec: spec.clone(),
                layout: layout.clone(),
                rest_port: ports.rest,
                rpc_port: ports.rpc,
                jobmanager_params: ResourceParams::default(),
                taskmanager_params: ResourceParams::default(),
                processes: BTreeMap::new(),
                next_taskmanager_index: 1,
                watchdog: None,
                http: http.clone(),
            };
            match cluster.start_all().await {
                Ok(()) => return Ok(cluster),
                Err(error) if attempt < PORT_CLASH_ATTEMPTS && ports.allocated && is_port_clash(&error) => {
                    warn!(attempt, %error, "a port was taken during startup; retrying with new ports");
                    cluster.kill_all_now();
                    attempt += 1;
                }
                Err(error) => {
                    cluster.kill_all_now();
                    return Err(error);
                }
            }
        }
    }

    async fn start_all(&mut self) -> Result<(), LaunchError> {
        self.write_config_files()?;
        self.jobmanager_params = self.bash_java_utils("GET_JM_RESOURCE_PARAMS").await?;
        self.taskmanager_params = self.bash_java_utils("GET_TM_RESOURCE_PARAMS").await?;
        if !self.spec.outlive_parent {
            self.start_watchdog()?;
        }
        self.start_jobmanager().await?;
        for _ in 0..self.spec.taskmanagers {
            self.start_taskmanager().await?;
        }
        self.wait_ready(self.spec.taskmanagers, self.spec.ready_timeout).await.map(|_| ())
    }

    /// Base URL of the REST API, e.g. `http://127.0.0.1:41234`.
    pub fn rest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rest_port)
    }

    /// Port of the REST API on 127.0.0.1.
    pub fn rest_port(&self) -> u16 {
        self.rest_port
    }

    /// Port of the JobManager's RPC endpoint (`jobmanager.rpc.port`) on 127.0.0.1.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The cluster's work dir (`LaunchSpec::work_dir`).
    pub fn work_dir(&self) -> &Path {
        &self.spec.work_dir
    }

    /// `<work_dir>/state`: default checkpoint and savepoint location.
    pub fn state_dir(&self) -> &Path {
        &self.layout.state_dir
    }

    /// `<work_dir>/log/<process>.log`: the Flink log of one process.
    pub fn log_file(&self, process: FlinkProcess) -> PathBuf {
        self.layout.log_file(process)
    }

    /// Pids of the processes currently tracked (running, or exited but not yet noticed).
    pub fn pids(&self) -> BTreeMap<FlinkProcess, u32> {
        self.processes.iter().map(|(process, running)| (*process, running.pid)).collect()
    }

    /// TaskManagers currently tracked, in index order.
    pub fn taskmanagers(&self) -> Vec<FlinkProcess> {
        self.processes.keys().copied().filter(|p| matches!(p, FlinkProcess::TaskManager(_))).collect()
    }

    /// Whether the process is tracked and has not exited. An exited process is forgotten and
    /// reported by [`Self::reap_exited`] only once, so call that one to learn about crashes.
    pub fn is_running(&mut self, process: FlinkProcess) -> bool {
        match self.processes.get_mut(&process) {
            Some(running) => matches!(running.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Processes that exited on their own since the last call; they are no longer tracked.
    pub fn reap_exited(&mut self) -> Vec<ProcessExit> {
        let mut exited = Vec::new();
        for (process, running) in &mut self.processes {
            if let Ok(Some(status)) = running.child.try_wait() {
                exited.push(ProcessExit { process: *process, pid: running.pid, status });
            }
        }
        for exit in &exited {
            self.processes.remove(&exit.process);
            remove_file_if_exists(&self.layout.pid_file(exit.process));
            warn!(process = %exit.process, pid = exit.pid, status = %exit.status, "Flink process exited");
        }
        exited
    }

    /// Polls `GET /overview` until it reports at least `taskmanagers` TaskManagers. Fails early if a
    /// tracked process exits, and with [`LaunchError::NotReady`] after `timeout`.
    pub async fn wait_ready(&mut self, taskmanagers: u32, timeout: Duration) -> Result<serde_json::Value, LaunchError> {
        let deadline = Instant::now() + timeout;
        let url = format!("{}/overview", self.rest_url());
        loop {
            if let Some(exit) = self.reap_exited().into_iter().next() {
                return Err(self.exited_during_startup(exit));
            }
            let last_observation = match self.http.get(&url).send().await {
                Ok(response) if response.status().is_success() => match response.json::<serde_json::Value>().await {
                    Ok(overview) => {
                        // The slots are asked for only once every TaskManager is there.
                        let offered = if registered_taskmanagers(&overview) >= u64::from(taskmanagers) {
                            self.registered_slots().await
                        } else {
                            Ok(0)
                        };
                        match offered.and_then(|offered| readiness(&overview, taskmanagers, offered)) {
                            Ok(()) => {
                                info!(rest = %self.rest_url(), slots = slots_total(&overview), "Flink cluster ready");
                                return Ok(overview);
                            }
                            Err(observation) => observation,
                        }
                    }
                    Err(e) => format!("unreadable /overview: {e}"),
                },
                Ok(response) => format!("/overview answered {}", response.status()),
                Err(e) => format!("REST not reachable: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(LaunchError::NotReady { timeout, last_observation });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The slots the registered TaskManagers offer (`GET /taskmanagers`). A TaskManager registers
    /// before its slot report reaches the slot manager, so `/overview` can count it without its slots.
    async fn registered_slots(&self) -> Result<u64, String> {
        let url = format!("{}/taskmanagers", self.rest_url());
        let response = self.http.get(&url).send().await.map_err(|e| format!("REST not reachable: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("/taskmanagers answered {}", response.status()));
        }
        let listing: serde_json::Value = response.json().await.map_err(|e| format!("unreadable /taskmanagers: {e}"))?;
        Ok(listing
            .get("taskmanagers")
            .and_then(serde_json::Value::as_array)
            .map(|tms| tms.iter().filter_map(|tm| tm.get("slotsNumber").and_then(serde_json::Value::as_u64)).sum())
            .unwrap_or(0))
    }

    /// Starts the JobManager (again, e.g. after [`Self::stop_process`]) on the same ports.
    pub async fn start_jobmanager(&mut self) -> Result<(), LaunchError> {
        let mut args = self.jobmanager_params.dynamic_properties.clone();
        args.extend(self.spec.jobmanager_args.iter().cloned());
        let class = self.spec.jobmanager_class.clone();
        let jvm_flags = self.jobmanager_params.jvm_flags.clone();
        self.spawn(FlinkProcess::JobManager, &class, &jvm_flags, &args).await
    }

    /// Starts a new TaskManager and returns its id. It is not awaited; use [`Self::wait_ready`].
    pub async fn start_taskmanager(&mut self) -> Result<FlinkProcess, LaunchError> {
        let process = FlinkProcess::TaskManager(self.next_taskmanager_index);
        self.next_taskmanager_index += 1;
        self.spawn_taskmanager(process).await?;
        Ok(process)
    }

    /// Starts a TaskManager under an existing number, e.g. the one just killed.
    pub async fn restart_taskmanager(&mut self, process: FlinkProcess) -> Result<(), LaunchError> {
        if !matches!(process, FlinkProcess::TaskManager(_)) {
            return Err(LaunchError::NotRunning(process));
        }
        if self.is_running(process) {
            self.stop_process(process, StopMode::Graceful).await?;
        }
        self.spawn_taskmanager(process).await
    }

    async fn spawn_taskmanager(&mut self, process: FlinkProcess) -> Result<(), LaunchError> {
        let params = self.taskmanager_params.clone();
        self.spawn(process, TASKMANAGER_CLASS, &params.jvm_flags, &params.dynamic_properties).await
    }

    /// Ends one process and waits until it is gone (bounded by `stop_timeout` for SIGTERM).
    pub async fn stop_process(&mut self, process: FlinkProcess, mode: StopMode) -> Result<ExitStatus, LaunchError> {
        let Some(mut running) = self.processes.remove(&process) else {
            return Err(LaunchError::NotRunning(process));
        };
        let status = terminate(&mut running, mode, self.spec.stop_timeout).await;
        remove_file_if_exists(&self.layout.pid_file(process));
        info!(%process, pid = running.pid, ?mode, ?status, "Flink process stopped");
        status.map_err(|e| LaunchError::io(format!("waiting for {process} to exit"), e))
    }

    /// Stops every process (TaskManagers first, so they do not spin on a vanished JobManager),
    /// then the watchdog. Pid files are removed.
    pub async fn stop(mut self) -> Result<(), LaunchError> {
        let stop_timeout = self.spec.stop_timeout;
        let mut first_error = None;
        let taskmanagers = self.taskmanagers();
        // SIGTERM all TaskManagers at once so their shutdowns overlap.
        let mut stopping: Vec<(FlinkProcess, RunningProcess)> =
            taskmanagers.iter().filter_map(|p| self.processes.remove(p).map(|r| (*p, r))).collect();
        for (_, running) in &stopping {
            signal_group(running.pid, "TERM");
        }
        for (process, running) in &mut stopping {
            if let Err(e) = terminate(running, StopMode::Graceful, stop_timeout).await {
                first_error.get_or_insert(LaunchError::io(format!("stopping {process}"), e));
            }
            remove_file_if_exists(&self.layout.pid_file(*process));
        }
        if self.processes.contains_key(&FlinkProcess::JobManager)
            && let Err(e) = self.stop_process(FlinkProcess::JobManager, StopMode::Graceful).await
        {
            first_error.get_or_insert(e);
        }
        self.kill_all_now();
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Lets the cluster outlive this process: stops the watchdog and forgets the children without signalling
    /// them. The pid files stay, so a later flinkops can adopt the cluster or clean it up with
    /// [`cleanup_stale_processes`].
    pub fn detach(mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            signal_group(watchdog.id(), "KILL");
            let _ = watchdog.wait();
        }
        // Dropping tokio `Child` handles does not kill the processes (kill_on_drop is off).
        self.processes.clear();
    }

    /// SIGKILLs every process group and the watchdog without waiting (used by `Drop`).
    fn kill_all_now(&mut self) {
        for (process, mut running) in std::mem::take(&mut self.processes) {
            signal_group(running.pid, "KILL");
            // Reap so no zombie is left; SIGKILL takes effect within milliseconds.
            let _ = running.child.start_kill();
            remove_file_if_exists(&self.layout.pid_file(process));
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            signal_group(watchdog.id(), "KILL");
            let _ = watchdog.wait();
        }
    }

    fn write_config_files(&self) -> Result<(), LaunchError> {
        let mut config = LaunchSpec::default_flink_config(&self.spec.work_dir);
        config.extend(self.spec.flink_config.iter().map(|(k, v)| (k.clone(), v.clone())));
        config.insert("rest.port".to_owned(), self.rest_port.to_string());
        config.insert("jobmanager.rpc.port".to_owned(), self.rpc_port.to_string());
        let yaml = render_flat_yaml(&config)?;
        let files = [
            ("config.yaml", yaml.as_str()),
            ("log4j.properties", LOG4J_PROPERTIES),
            ("log4j-bash-utils.properties", LOG4J_BASH_UTILS_PROPERTIES),
        ];
        for (name, content) in files {
            let path = self.layout.conf_dir.join(name);
            fs::write(&path, content).map_err(|e| LaunchError::io(format!("writing {}", path.display()), e))?;
        }
        Ok(())
    }

    async fn bash_java_utils(&self, command: &'static str) -> Result<ResourceParams, LaunchError> {
        let dist_jar = find_dist_jar(&self.spec.flink_home)?;
        let classpath = join_classpath(&[self.spec.flink_home.join("bin").join("bash-java-utils.jar"), dist_jar]);
        let output = Command::new(&self.spec.java)
            .arg(format!(
                "-Dlog4j.configurationFile=file:{}",
                self.layout.conf_dir.join("log4j-bash-utils.properties").display()
            ))
            .arg("-cp")
            .arg(classpath)
            .arg(BASH_JAVA_UTILS_CLASS)
            .arg(command)
            .arg("--configDir")
            .arg(&self.layout.conf_dir)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| LaunchError::io(format!("running {} for BashJavaUtils", self.spec.java.display()), e))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let results: Vec<&str> =
            stdout.lines().filter_map(|line| line.strip_prefix(BASH_JAVA_UTILS_RESULT_PREFIX)).collect();
        match (output.status.success(), results.as_slice()) {
            (true, [jvm_flags, dynamic_properties, ..]) => Ok(ResourceParams {
                jvm_flags: jvm_flags.split_whitespace().map(str::to_owned).collect(),
                dynamic_properties: dynamic_properties.split_whitespace().map(str::to_owned).collect(),
            }),
            _ => Err(LaunchError::BashJavaUtils {
                command,
                status: output.status.to_string(),
                output: format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)),
            }),
        }
    }

    async fn spawn(
        &mut self,
        process: FlinkProcess,
        main_class: &str,
        jvm_flags: &[String],
        program_args: &[String],
    ) -> Result<(), LaunchError> {
        if self.is_running(process) {
            return Err(LaunchError::AlreadyRunning(process));
        }
        let log_file = self.layout.log_file(process);
        let stdout_path = self.layout.stdout_file(process);
        let stdout = fs::File::create(&stdout_path)
            .map_err(|e| LaunchError::io(format!("creating {}", stdout_path.display()), e))?;
        let stderr =
            stdout.try_clone().map_err(|e| LaunchError::io(format!("duplicating {}", stdout_path.display()), e))?;
        let log4j = format!("file:{}", self.layout.conf_dir.join("log4j.properties").display());
        let mut classpath = vec![self.spec.flink_home.join("lib").join("*")];
        classpath.extend(self.spec.extra_classpath.iter().cloned());

        let mut command = Command::new(&self.spec.java);
        command
            // First, so a `-Djava.io.tmpdir` of the user's JVM options wins.
            .arg(format!("-Djava.io.tmpdir={}", self.layout.tmp_dir.display()))
            .args(jvm_flags)
            .args(JAVA_17_MODULE_FLAGS)
            .arg(format!("-Dlog.file={}", log_file.display()))
            .arg(format!("-Dlog4j.configuration={log4j}"))
            .arg(format!("-Dlog4j.configurationFile={log4j}"))
            .arg("-cp")
            .arg(join_classpath(&classpath))
            .arg(main_class)
            .arg("--configDir")
            .arg(&self.layout.conf_dir)
            .args(program_args)
            // plugins/ is looked up via FLINK_PLUGINS_DIR or relative to the working directory.
            .current_dir(&self.spec.flink_home)
            .env("FLINK_HOME", &self.spec.flink_home)
            .env("FLINK_CONF_DIR", &self.layout.conf_dir)
            .env("FLINK_LIB_DIR", self.spec.flink_home.join("lib"))
            .env("FLINK_OPT_DIR", self.spec.flink_home.join("opt"))
            .env("FLINK_PLUGINS_DIR", self.spec.flink_home.join("plugins"))
            .env("FLINK_LOG_DIR", &self.layout.log_dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Own process group: a terminal's Ctrl-C does not hit it half-way, and one signal to
            // the group reaches everything the JVM might start.
            .process_group(0);
        let child = command
            .spawn()
            .map_err(|e| LaunchError::io(format!("starting {process} ({})", self.spec.java.display()), e))?;
        let Some(pid) = child.id() else {
            return Err(LaunchError::io(
                format!("starting {process}"),
                io::Error::other("the process exited before its pid was read"),
            ));
        };
        let pid_file = self.layout.pid_file(process);
        fs::write(&pid_file, format!("{pid}\n"))
            .map_err(|e| LaunchError::io(format!("writing {}", pid_file.display()), e))?;
        debug!(%process, pid, main_class, "started Flink process");
        self.processes.insert(process, RunningProcess { child, pid });
        Ok(())
    }

    /// A shell in its own process group that SIGKILLs every process named in the pid dir once this
    /// process is gone. It covers the one case `Drop` cannot: this process being SIGKILLed (a test
    /// harness timeout, an OOM kill). It reads the pid files when it fires, so restarted processes
    /// are covered too. `env kill` runs the procps utility: dash's builtin `kill` cannot signal a
    /// process group (it reads `-PGID` as an option).
    fn start_watchdog(&mut self) -> Result<(), LaunchError> {
        const SCRIPT: &str = r#"parent=$1; pid_dir=$2
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
for f in "$pid_dir"/*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  case "$pid" in ''|*[!0-9]*) continue ;; esac
  env kill -s KILL -- "-$pid" 2>/dev/null
  rm -f "$f"
done"#;
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("flinkops-watchdog")
            .arg(std::process::id().to_string())
            .arg(&self.layout.pid_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| LaunchError::io("starting the watchdog shell", e))?;
        self.watchdog = Some(child);
        Ok(())
    }

    fn exited_during_startup(&self, exit: ProcessExit) -> LaunchError {
        let log = self.layout.log_file(exit.process);
        let mut log_tail = tail_lines(&log, LOG_TAIL_LINES);
        let stdout_tail = tail_lines(&self.layout.stdout_file(exit.process), LOG_TAIL_LINES);
        if !stdout_tail.trim().is_empty() {
            log_tail.push_str("\n--- stdout/stderr ---\n");
            log_tail.push_str(&stdout_tail);
        }
        LaunchError::ExitedDuringStartup { process: exit.process, status: exit.status.to_string(), log, log_tail }
    }
}

impl Drop for LocalFlinkCluster {
    fn drop(&mut self) {
        if !self.processes.is_empty() {
            warn!(work_dir = %self.spec.work_dir.display(), "LocalFlinkCluster dropped while running; killing its processes");
        }
        self.kill_all_now();
    }
}

/// Finds pid files in `<work_dir>/pids/` left by an earlier flinkops process, kills those that still
/// run this work dir's Flink config, and removes the files. A pid that is alive but belongs to
/// something else (the pid was reused) is reported as [`StaleDisposition::NotOurs`] and left alone.
/// Do not call it for a work dir whose cluster is running in this process: it would kill it.
pub fn cleanup_stale_processes(work_dir: &Path) -> Result<Vec<StaleProcess>, LaunchError> {
    let layout = Layout::new(work_dir);
    let entries = match fs::read_dir(&layout.pid_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(LaunchError::io(format!("reading {}", layout.pid_dir.display()), e));
        }
    };
    let marker = layout.conf_dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in entries {
        let pid_file = entry.map_err(|e| LaunchError::io(format!("reading {}", layout.pid_dir.display()), e))?.path();
        if pid_file.extension().is_none_or(|ext| ext != "pid") {
            continue;
        }
        let Some(pid) = fs::read_to_string(&pid_file).ok().and_then(|text| text.trim().parse::<u32>().ok()) else {
            remove_file_if_exists(&pid_file);
            continue;
        };
        let disposition = match process_command_line(pid) {
            None => StaleDisposition::AlreadyGone,
            Some(cmdline) if cmdline.contains(&marker) => {
                signal_group(pid, "KILL");
                wait_until_gone(pid, Duration::from_secs(5));
                StaleDisposition::Killed
            }
            Some(_) => StaleDisposition::NotOurs,
        };
        remove_file_if_exists(&pid_file);
        found.push(StaleProcess { pid_file, pid, disposition });
    }
    Ok(found)
}

/// Renders flat `key: "value"` lines. Values are always double-quoted so YAML never reinterprets
/// them (`on`, `1e3`, `*`); Flink converts the strings to the option types itself.
/// Whether a cluster is ready: `taskmanagers` TaskManagers registered and every slot they offer
/// (`offered`, from `GET /taskmanagers`) counted in `slots-total`, or what is still missing.
fn readiness(overview: &serde_json::Value, taskmanagers: u32, offered: u64) -> Result<(), String> {
    let registered = registered_taskmanagers(overview);
    if registered < u64::from(taskmanagers) {
        return Err(format!("{registered} of {taskmanagers} TaskManagers registered"));
    }
    let reported = slots_total(overview);
    if reported < offered {
        return Err(format!("{reported} of {offered} slots reported"));
    }
    Ok(())
}

/// `taskmanagers` of a `GET /overview` answer.
fn registered_taskmanagers(overview: &serde_json::Value) -> u64 {
    overview.get("taskmanagers").and_then(serde_json::Value::as_u64).unwrap_or(0)
}

/// `slots-total` of a `GET /overview` answer.
fn slots_total(overview: &serde_json::Value) -> u64 {
    overview.get("slots-total").and_then(serde_json::Value::as_u64).unwrap_or(0)
}

fn render_flat_yaml(config: &BTreeMap<String, String>) -> Result<String, LaunchError> {
    let mut out = String::from("# Written by flinkops' local launcher; Flink 2.x reads only config.yaml.\n");
    for (key, value) in config {
        let key_is_plain =
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !key_is_plain {
            return Err(LaunchError::InvalidConfig(format!(
                "key {key:?} must consist of ASCII letters, digits, '.', '-' and '_'"
            )));
        }
        out.push_str(key);
        out.push_str(": ");
        out.push_str(&crate::manifests::emit::double_quoted(value));
        out.push('\n');
    }
    Ok(out)
}

struct Ports {
    rest: u16,
    rpc: u16,
    /// False when both came from the user's config: a clash is then not ours to retry.
    allocated: bool,
}

/// Takes `rest.port` / `jobmanager.rpc.port` from the config when set, otherwise asks the kernel for
/// free loopback ports. Both listeners are held at once so the two ports differ; there is a short
/// window between release and the JVM binding, which `start` covers with a retry.
fn allocate_ports(config: &BTreeMap<String, String>) -> Result<Ports, LaunchError> {
    let configured = |key: &str| -> Result<Option<u16>, LaunchError> {
        config
            .get(key)
            .map(|v| {
                v.trim()
                    .parse::<u16>()
                    .map_err(|_| LaunchError::InvalidConfig(format!("{key} must be a single port number, got {v:?}")))
            })
            .transpose()
    };
    let rest = configured("rest.port")?;
    let rpc = configured("jobmanager.rpc.port")?;
    let bind = || {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| LaunchError::io("allocating a free loopback port", e))
    };
    let rest_listener = if rest.is_none() { Some(bind()?) } else { None };
    let rpc_listener = if rpc.is_none() { Some(bind()?) } else { None };
    let port_of = |listener: &Option<TcpListener>, fixed: Option<u16>| -> Result<u16, LaunchError> {
        match (listener, fixed) {
            (_, Some(port)) => Ok(port),
            (Some(listener), None) => listener
                .local_addr()
                .map(|addr| addr.port())
                .map_err(|e| LaunchError::io("reading an allocated port", e)),
            (None, None) => Err(LaunchError::InvalidConfig("no port".into())),
        }
    };
    Ok(Ports {
        rest: port_of(&rest_listener, rest)?,
        rpc: port_of(&rpc_listener, rpc)?,
        allocated: rest.is_none() || rpc.is_none(),
    })
}

fn is_port_clash(error: &LaunchError) -> bool {
    matches!(error, LaunchError::ExitedDuringStartup { log_tail, .. }
        if log_tail.contains("Address already in use") || log_tail.contains("BindException"))
}

fn check_flink_home(flink_home: &Path) -> Result<(), LaunchError> {
    find_dist_jar(flink_home)?;
    let bash_utils = flink_home.join("bin").join("bash-java-utils.jar");
    if !bash_utils.is_file() {
        return Err(LaunchError::InvalidFlinkHome {
            path: flink_home.to_owned(),
            reason: format!("{} is missing", bash_utils.display()),
        });
    }
    Ok(())
}

fn find_dist_jar(flink_home: &Path) -> Result<PathBuf, LaunchError> {
    let lib = flink_home.join("lib");
    let invalid = |reason: String| LaunchError::InvalidFlinkHome { path: flink_home.to_owned(), reason };
    let entries = fs::read_dir(&lib).map_err(|e| invalid(format!("cannot read {}: {e}", lib.display())))?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("flink-dist") && name.ends_with(".jar"))
        })
        .ok_or_else(|| invalid(format!("no flink-dist-*.jar in {}", lib.display())))
}

fn join_classpath(entries: &[PathBuf]) -> String {
    entries.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>().join(":")
}

/// Sends a signal to the process group led by `pgid` (every launched process leads its own group)
/// using the `kill` utility, so no libc binding is needed. Errors (already gone) are ignored.
fn signal_group(pgid: u32, signal: &str) {
    let result = std::process::Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = result {
        warn!(pgid, signal, error = %e, "could not run the kill command");
    }
}

async fn terminate(running: &mut RunningProcess, mode: StopMode, stop_timeout: Duration) -> io::Result<ExitStatus> {
    if let Some(status) = running.child.try_wait()? {
        // The leader is gone; still clear anything left in its group.
        signal_group(running.pid, "KILL");
        return Ok(status);
    }
    if mode == StopMode::Graceful {
        signal_group(running.pid, "TERM");
        if let Ok(status) = tokio::time::timeout(stop_timeout, running.child.wait()).await {
            signal_group(running.pid, "KILL");
            return status;
        }
        warn!(pid = running.pid, "no exit after SIGTERM; sending SIGKILL");
    }
    signal_group(running.pid, "KILL");
    running.child.wait().await
}

/// `/proc/<pid>/cmdline` with NULs as spaces, or None if the process does not exist.
fn process_command_line(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        // A zombie: it has exited, only its parent has not reaped it.
        return None;
    }
    Some(String::from_utf8_lossy(&raw).replace('\0', " "))
}

fn wait_until_gone(pid: u32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while process_command_line(pid).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn remove_file_if_exists(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        warn!(path = %path.display(), error = %e, "could not remove file");
    }
}

fn tail_lines(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_is_ready_only_when_every_registered_slot_is_reported() {
        let overview =
            |taskmanagers: u64, slots: u64| serde_json::json!({"taskmanagers": taskmanagers, "slots-total": slots});
        assert_eq!(readiness(&overview(1, 2), 2, 0), Err("1 of 2 TaskManagers registered".to_owned()));
        // The second TaskManager registered, its slot report has not arrived yet.
        assert_eq!(readiness(&overview(2, 2), 2, 4), Err("2 of 4 slots reported".to_owned()));
        assert_eq!(readiness(&overview(2, 4), 2, 4), Ok(()));
        assert_eq!(readiness(&overview(3, 6), 2, 6), Ok(()));
        assert_eq!(readiness(&serde_json::json!({}), 1, 0), Err("0 of 1 TaskManagers registered".to_owned()));
    }

    #[test]
    fn yaml_values_are_quoted_and_escaped() {
        let config =
            BTreeMap::from([("a.b".to_owned(), "on".to_owned()), ("c".to_owned(), "say \"hi\"\\\n".to_owned())]);
        let yaml = render_flat_yaml(&config).unwrap();
        assert!(yaml.contains("a.b: \"on\"\n"));
        assert!(yaml.contains("c: \"say \\\"hi\\\"\\\\\\n\"\n"));
    }

    #[test]
    fn yaml_rejects_keys_that_would_change_the_structure() {
        for key in ["a: b", "x\ny", "", "#c"] {
            let config = BTreeMap::from([(key.to_owned(), "v".to_owned())]);
            assert!(render_flat_yaml(&config).is_err(), "{key:?}");
        }
    }

    #[test]
    fn configured_ports_win_and_allocated_ones_differ() {
        let fixed = BTreeMap::from([
            ("rest.port".to_owned(), "8082".to_owned()),
            ("jobmanager.rpc.port".to_owned(), "6125".to_owned()),
        ]);
        let ports = allocate_ports(&fixed).unwrap();
        assert_eq!((ports.rest, ports.rpc, ports.allocated), (8082, 6125, false));
        let ports = allocate_ports(&BTreeMap::new()).unwrap();
        assert_ne!(ports.rest, ports.rpc);
        assert!(ports.allocated);
        let bad = BTreeMap::from([("rest.port".to_owned(), "8081-8090".to_owned())]);
        assert!(allocate_ports(&bad).is_err());
    }

    #[test]
    fn stale_cleanup_ignores_missing_dir_and_foreign_pids() {
        let dir = tempfile::tempdir().unwrap();
        assert!(cleanup_stale_processes(dir.path()).unwrap().is_empty());
        fs::create_dir_all(dir.path().join("pids")).unwrap();
        // Our own pid is alive but its command line does not mention this work dir.
        fs::write(dir.path().join("pids/jobmanager.pid"), format!("{}\n", std::process::id())).unwrap();
        fs::write(dir.path().join("pids/taskmanager-1.pid"), "4000000000\n").unwrap();
        let mut found = cleanup_stale_processes(dir.path()).unwrap();
        found.sort_by_key(|s| s.pid);
        let dispositions: Vec<_> = found.iter().map(|s| s.disposition).collect();
        assert_eq!(dispositions, [StaleDisposition::NotOurs, StaleDisposition::AlreadyGone]);
        assert!(fs::read_dir(dir.path().join("pids")).unwrap().next().is_none());
    }
}
