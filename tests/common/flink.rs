//! The real-Flink test bed shared by the tests that run Flink: install and build via `scripts/`, scratch work
//! dirs that keep logs when a test fails, polling with a bound, and checks that no process is left behind.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flinkops::flink::client::{FlinkClient, JobState, MetricAggregation};

/// Default bound for waiting on Flink.
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub fn repo_root() -> PathBuf {
    // file!() is relative to the crate root in the main crate and absolute in a scratch crate that
    // includes this file by path.
    let this_file = Path::new(file!());
    let this_file = if this_file.is_absolute() {
        this_file.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(this_file)
    };
    this_file
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("tests/common/flink.rs lives three levels below the repo root")
}

/// Last stdout line of a repo script (the scripts print their result path last).
pub fn run_script(name: &str, envs: &[(&str, &Path)]) -> PathBuf {
    let script = repo_root().join("scripts").join(name);
    let mut command = Command::new("bash");
    command.arg(&script);
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(output.status.success(), "{} failed:\n{}", script.display(), String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default().trim();
    assert!(!last.is_empty(), "{name} printed nothing");
    PathBuf::from(last)
}

/// FLINK_HOME and the test job jar, installing / building them when missing.
pub fn test_bed() -> (PathBuf, PathBuf) {
    let flink_home = match std::env::var_os("FLINK_HOME") {
        Some(home) => PathBuf::from(home),
        None => run_script("install-flink.sh", &[]),
    };
    let jar = run_script("build-test-job.sh", &[("FLINK_HOME", &flink_home)]);
    (flink_home, jar)
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,flinkops=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A work dir under the system temp dir; removed only when the test passed, so logs survive a failure.
pub struct WorkDir(pub PathBuf);

impl WorkDir {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("flinkops-it-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create work dir");
        eprintln!("work dir (logs in log/): {}", dir.display());
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Polls `check` every 200 ms until it yields a value; panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn wait_state(client: &FlinkClient, job_id: &str, wanted: JobState) {
    eventually(&format!("job {job_id} {wanted:?}"), TIMEOUT, || async {
        (client.job_status(job_id).await.ok()? == wanted).then_some(())
    })
    .await;
}

pub async fn wait_all_tasks_running(client: &FlinkClient, job_id: &str) {
    eventually(&format!("all tasks of {job_id} running"), TIMEOUT, || async {
        let jobs = client.jobs_overview().await.ok()?;
        jobs.iter().find(|j| j.jid == job_id && j.all_tasks_running()).map(drop)
    })
    .await;
}

pub async fn metric_sum(client: &FlinkClient, job_id: &str, vertex: &str, name: &str) -> Option<f64> {
    let metrics = client.vertex_metrics_aggregated(job_id, vertex, &[name], &[MetricAggregation::Sum]).await.ok()?;
    metrics.get(name)?.sum
}

pub fn process_alive(pid: u32) -> bool {
    // A zombie has an empty cmdline; treat it as gone.
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

pub fn assert_all_gone(pids: &BTreeSet<u32>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| process_alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let alive: Vec<_> = pids.iter().filter(|p| process_alive(**p)).collect();
    assert!(alive.is_empty(), "java processes still alive: {alive:?}");
}

pub async fn metric_max(client: &FlinkClient, job_id: &str, vertex: &str, name: &str) -> Option<f64> {
    let metrics = client.vertex_metrics_aggregated(job_id, vertex, &[name], &[MetricAggregation::Max]).await.ok()?;
    metrics.get(name)?.max
}

pub async fn restored_from(client: &FlinkClient, job_id: &str) -> Option<(bool, String)> {
    let restored = client.checkpoint_statistics(job_id).await.ok()?.latest.restored?;
    Some((restored.is_savepoint, restored.external_path?))
}

/// Keys whose state was found restored; the job counts a key when it first sees it after a (re)start, so the
/// metric climbs until every key has had a record: wait for `expected`.
pub async fn wait_restored_keys(client: &FlinkClient, job_id: &str, expected: f64) {
    let details = client.job_details(job_id).await.unwrap();
    let counter = details.vertices.iter().find(|v| v.name.contains("counter")).unwrap().id.clone();
    eventually(&format!("restoredKeys = {expected}"), TIMEOUT, || async {
        metric_sum(client, job_id, &counter, "counter.restoredKeys").await.filter(|v| *v == expected)
    })
    .await;
}

/// A REST client for the local cluster `namespace/name` under `state_dir`, from its `cluster.json` record.
pub fn cluster_client(state_dir: &Path, namespace: &str, name: &str) -> FlinkClient {
    let record = state_dir.join(format!("clusters/{namespace}/{name}/cluster.json"));
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap_or_else(|e| panic!("{}: {e}", record.display())))
            .unwrap();
    FlinkClient::new(record["rest_url"].as_str().unwrap()).unwrap()
}

/// Pids of the processes of the local cluster `namespace/name` under `state_dir`.
pub fn cluster_pids(state_dir: &Path, namespace: &str, name: &str) -> BTreeSet<u32> {
    std::fs::read_dir(state_dir.join(format!("clusters/{namespace}/{name}/pids")))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse::<u32>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until every key of the test job has had records: each source subtask reads one contiguous range of keys,
/// so the busiest key reaching 10 means every key was seen (and the next checkpoint holds them all).
pub async fn wait_every_key_counted(client: &FlinkClient, job_id: &str) {
    let details = client.job_details(job_id).await.unwrap();
    let counter = details.vertices.iter().find(|v| v.name.contains("counter")).unwrap().id.clone();
    eventually("every key counted", TIMEOUT, || async {
        metric_max(client, job_id, &counter, "counter.maxCount").await.filter(|max| *max >= 10.0)
    })
    .await;
}
