//! The operator's own footprint with 1,000 FlinkDeployments: the real manager (Git working copy → load → validate →
//! store → one controller task per resource), the local store on disk, and a simulated cluster runtime whose every
//! cluster answers Flink REST from one loopback server. Measures the time until all 1,000 jobs are RUNNING, the
//! time of a full resync after a restart (every resource reconciled once by a fresh manager over the stored state),
//! and the process's peak resident memory. `cargo bench --bench footprint`; figures go to docs/benchmarks.md.

mod common;
#[path = "../tests/common/fake_flink.rs"]
mod fake_flink;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fake_flink::{FakeFlink, SimulatedRuntime, serve_fake_flink};
use flinkops::crd::{FlinkDeployment, FlinkJobState};
use flinkops::git::filter::PathFilter;
use flinkops::git::source::Worktree;
use flinkops::operator::manager::{self, ManagerConfig};
use flinkops::runtime::{ClusterId, ClusterObservation, ClusterStatus};
use flinkops::store::{LocalStore, Store};

const DEPLOYMENTS: usize = 1_000;
const DEADLINE: Duration = Duration::from_secs(300);

/// Peak and current resident memory of this process, in MiB (`VmHWM`, `VmRSS`).
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn running(deployment: &FlinkDeployment) -> bool {
    deployment.status.as_ref().and_then(|s| s.job_status.as_ref()).and_then(|j| j.state) == Some(FlinkJobState::Running)
}

/// Runs the manager until `done` says so (or the deadline passes); returns how long that took.
async fn run_until<F>(store: &LocalStore, runtime: SimulatedRuntime, repo: &std::path::Path, done: F) -> Duration
where
    F: Fn(&[FlinkDeployment]) -> bool,
{
    let started = Instant::now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ManagerConfig {
        sync_interval: Duration::from_secs(3600),
        stop_jobs_on_exit: false,
        write_back: None,
        state_dir: runtime.state_dir.clone(),
    };
    let source = Worktree::new(repo, PathFilter::default());
    let manager = tokio::spawn(manager::run(store.clone(), runtime, source, config, async {
        let _ = stopped.await;
    }));
    let elapsed = loop {
        let deployments = store.list::<FlinkDeployment>().await.expect("list");
        if done(&deployments) {
            break started.elapsed();
        }
        assert!(started.elapsed() < DEADLINE, "not done within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let _ = stop.send(());
    manager.await.expect("manager");
    elapsed
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let work = tempfile::tempdir().expect("temp dir");
    let repo = work.path().join("repo");
    for index in 0..DEPLOYMENTS {
        let file = repo.join(common::path_of(index));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, common::deployment(index, 1, "savepoint")).unwrap();
    }
    let flink = Arc::new(FakeFlink::default());
    let address = serve_fake_flink(flink.clone()).await;
    let rest_url = format!("http://{address}");
    let state_dir = work.path().join("state");
    let (baseline_peak, _) = memory_mib();

    let store = LocalStore::open(&state_dir).expect("store");
    let runtime = |rest_url: &str| SimulatedRuntime::new(flink.clone(), rest_url, state_dir.clone());
    let first = runtime(&rest_url);
    let deploy = run_until(&store, first, &repo, |all| all.len() == DEPLOYMENTS && all.iter().all(running)).await;
    let (deploy_peak, _) = memory_mib();
    println!("deploy: {DEPLOYMENTS} FlinkDeployments from Git to RUNNING in {:.2} s", deploy.as_secs_f64());

    // A restarted flinkops: a fresh store over the same state directory and a runtime that still has every cluster.
    let restarted = runtime(&rest_url);
    {
        let stored = store.list::<FlinkDeployment>().await.expect("list");
        let mut clusters = restarted.clusters.lock().unwrap();
        for deployment in &stored {
            let id = ClusterId {
                namespace: deployment.metadata.namespace.clone().unwrap_or_default(),
                name: deployment.metadata.name.clone().unwrap_or_default(),
            };
            let job = deployment.status.as_ref().and_then(|s| s.job_status.as_ref()).and_then(|j| j.job_id.clone());
            clusters.insert(
                id,
                ClusterObservation {
                    status: ClusterStatus::Ready,
                    rest_url: Some(rest_url.clone()),
                    generation: deployment.metadata.generation,
                    job_id: job,
                    notes: Vec::new(),
                },
            );
        }
    }
    drop(store);
    let polls_before: HashMap<String, u64> = flink.polls.lock().unwrap().clone();
    let requests_before = flink.requests.load(Ordering::Relaxed);
    let store = LocalStore::open(&state_dir).expect("reopen store");
    let polled_again = |flink: &FakeFlink| {
        let polls = flink.polls.lock().unwrap();
        polls.len() >= DEPLOYMENTS && polls.iter().all(|(job, n)| *n > polls_before.get(job).copied().unwrap_or(0))
    };
    let resync = run_until(&store, restarted, &repo, |_| polled_again(&flink)).await;
    let (peak, current) = memory_mib();
    println!(
        "resync: all {DEPLOYMENTS} reconciled by a restarted manager in {:.2} s ({} REST requests)",
        resync.as_secs_f64(),
        flink.requests.load(Ordering::Relaxed) - requests_before
    );
    println!(
        "memory: peak RSS {peak:.1} MiB (before the operator started {baseline_peak:.1} MiB, after the first deploy \
         {deploy_peak:.1} MiB), RSS at the end {current:.1} MiB"
    );
}
