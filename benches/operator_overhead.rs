//! Operator overhead of a savepoint upgrade on real Flink: the time from a spec change to the new job recorded
//! RUNNING, minus what Flink itself spends (stopping the job with a savepoint, and starting the new cluster up to
//! the job RUNNING, restore included). The controller is driven as the manager drives it (sleeping exactly the
//! requeue it asks for). Needs the Flink distribution and test job (scripts/install-flink.sh,
//! scripts/build-test-job.sh). `cargo bench --bench operator_overhead`; figures go to docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "../tests/common/test_job.rs"]
mod test_job;

use flinkops::crd::status::ResourceLifecycleState;
use flinkops::crd::{FlinkDeployment, FlinkJobState};
use flinkops::flink::client::FlinkClient;
use flinkops::operator::controller::Controller;
use flinkops::runtime::local::LocalRuntime;
use flinkops::runtime::{ClusterId, ClusterObservation, ClusterSpec, Runtime, RuntimeError};
use flinkops::store::{LocalStore, Store};
use test_job::TestJob;

const UPGRADES: usize = 5;

fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// What Flink reported about the job an upgrade stopped, and when the new cluster's deploy began.
#[derive(Debug, Default, Clone, Copy)]
struct FlinkTimes {
    savepoint_triggered_ms: i64,
    old_job_ended_ms: i64,
    deploy_started_ms: i64,
}

/// The local runtime, noting Flink's own timestamps of the job it replaces before each deploy.
struct TimedRuntime {
    inner: LocalRuntime,
    times: Arc<Mutex<FlinkTimes>>,
}

impl Runtime for TimedRuntime {
    async fn deploy(&self, spec: &ClusterSpec) -> Result<ClusterObservation, RuntimeError> {
        let old = self.inner.observe(&spec.id).await?;
        if let (Some(url), Some(job)) = (old.rest_url, old.job_id) {
            let client = FlinkClient::new(url).unwrap();
            // Flink caches job details briefly: ask until they show the stopped job's end (bounded).
            let (mut ended_ms, mut triggered_ms) = (0, 0);
            for _ in 0..50 {
                ended_ms = client.job_details(&job).await.map_or(0, |d| d.end_time);
                triggered_ms = client
                    .checkpoint_statistics(&job)
                    .await
                    .ok()
                    .and_then(|s| s.latest.savepoint)
                    .map_or(0, |s| s.trigger_timestamp);
                if ended_ms > 0 && triggered_ms > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(ended_ms > 0 && triggered_ms > 0, "Flink reports no end or savepoint time for {job}");
            let mut times = self.times.lock().unwrap();
            times.old_job_ended_ms = ended_ms;
            times.savepoint_triggered_ms = triggered_ms;
        }
        self.times.lock().unwrap().deploy_started_ms = now_ms();
        self.inner.deploy(spec).await
    }

    async fn observe(&self, id: &ClusterId) -> Result<ClusterObservation, RuntimeError> {
        self.inner.observe(id).await
    }

    async fn delete(&self, id: &ClusterId) -> Result<(), RuntimeError> {
        self.inner.delete(id).await
    }
}

fn manifest(jar: &Path, work: &Path, rate: u32) -> FlinkDeployment {
    let yaml = TestJob { rate, ..TestJob::new("overhead", "bench", jar, work) }.yaml();
    flinkops::manifests::yaml::from_str(&yaml).unwrap()
}

fn running_job(resource: &FlinkDeployment) -> Option<String> {
    let status = resource.status.as_ref()?;
    let job = status.job_status.as_ref()?;
    (status.lifecycle_state == Some(ResourceLifecycleState::Stable)
        && job.state == Some(FlinkJobState::Running)
        && status.observed_generation == resource.metadata.generation)
        .then(|| job.job_id.clone())
        .flatten()
}

fn script_output(script: &str, flink_home: Option<&Path>) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = std::process::Command::new("bash");
    command.arg(root.join("scripts").join(script)).current_dir(root);
    if let Some(home) = flink_home {
        command.env("FLINK_HOME", home);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{script}: {}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8_lossy(&output.stdout).lines().last().unwrap().trim())
}

fn main() {
    let flink_home = script_output("install-flink.sh", None);
    let jar = script_output("build-test-job.sh", Some(&flink_home));
    let work = std::env::temp_dir().join(format!("flinkops-bench-overhead-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let store = LocalStore::open(&work).unwrap();
        let times = Arc::new(Mutex::new(FlinkTimes::default()));
        let local = LocalRuntime::new(&flink_home, &work).unwrap();
        let controller = Controller::new(store.clone(), TimedRuntime { inner: local, times: times.clone() });
        let drive_until = |previous: Option<String>| {
            let controller = &controller;
            async move {
                let deadline = Instant::now() + Duration::from_secs(180);
                loop {
                    let requeue = controller.reconcile::<FlinkDeployment>("overhead", "bench").await.unwrap();
                    let current = controller.store.get::<FlinkDeployment>("overhead", "bench").await.unwrap().unwrap();
                    if let Some(job) = running_job(&current).filter(|job| Some(job) != previous.as_ref()) {
                        return (job, now_ms());
                    }
                    assert!(Instant::now() < deadline, "the upgrade did not finish: {:#?}", current.status);
                    tokio::time::sleep(requeue).await;
                }
            }
        };
        store.apply(&manifest(&jar, &work, 100), "flinkops").await.unwrap();
        let (mut job, _) = drive_until(None).await;
        let mut overheads = Vec::new();
        for round in 0..UPGRADES {
            // Let the job checkpoint so the savepoint carries state, as in production.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let changed_ms = now_ms();
            store.apply(&manifest(&jar, &work, 101 + u32::try_from(round).unwrap()), "flinkops").await.unwrap();
            let (new_job, recorded_ms) = drive_until(Some(job.clone())).await;
            let record: serde_json::Value = serde_json::from_slice(
                &std::fs::read(work.join("clusters/overhead/bench/cluster.json")).unwrap(),
            )
            .unwrap();
            let client = FlinkClient::new(record["rest_url"].as_str().unwrap()).unwrap();
            // Flink's job details are cached briefly: ask until they show when the job switched to RUNNING.
            let mut running_ms = 0;
            for _ in 0..50 {
                running_ms = client.job_details(&new_job).await.unwrap().timestamps.get("RUNNING").copied().unwrap_or(0);
                if running_ms > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(running_ms > 0, "Flink reports no RUNNING time for {new_job}");
            let flink = *times.lock().unwrap();
            let stop_ms = flink.old_job_ended_ms - flink.savepoint_triggered_ms;
            let start_ms = running_ms - flink.deploy_started_ms;
            let total_ms = recorded_ms - changed_ms;
            let overhead_ms = total_ms - stop_ms - start_ms;
            println!(
                "upgrade {}: total {total_ms} ms = Flink stop-with-savepoint {stop_ms} ms + Flink start and restore {start_ms} ms + operator {overhead_ms} ms",
                round + 1
            );
            overheads.push(overhead_ms);
            job = new_job;
        }
        overheads.sort_unstable();
        println!(
            "operator overhead per savepoint upgrade over {UPGRADES} upgrades: median {} ms, min {} ms, max {} ms",
            overheads[UPGRADES / 2],
            overheads[0],
            overheads[UPGRADES - 1]
        );
        controller.runtime.inner.stop_all().await;
    });
    let _ = std::fs::remove_dir_all(&work);
}
