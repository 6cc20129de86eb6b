//! The operator's own footprint with 1,000 FlinkDeployments: the real manager (Git working copy → load → validate →
//! store → one controller task per resource), the local store on disk, and a simulated cluster runtime whose every
//! cluster answers Flink REST from one loopback server. The operator runs in a process of its own (this binary with
//! `--operator`), so its memory is measured alone, from outside (`/proc/<pid>/status`): first a deploy of all 1,000
//! from Git until every job is RUNNING, then a restart, until a fresh operator has reconciled every resource once
//! (a full resync). `cargo bench --bench footprint`; figures go to docs/benchmarks.md.

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

/// Peak and current resident memory of process `pid`, in MiB (`VmHWM`, `VmRSS`).
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
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

/// The operator process: `--operator REPO STATE_DIR REST_URL [--adopt]`. With `--adopt` (a restart) the simulated
/// runtime starts with every stored job's cluster running, as the clusters of a restarted operator are.
async fn operator(args: &[String]) {
    let [repo, state_dir, rest_url, rest @ ..] = args else { panic!("--operator REPO STATE_DIR REST_URL [--adopt]") };
    let state_dir = std::path::PathBuf::from(state_dir);
    let store = LocalStore::open(&state_dir).expect("store");
    let runtime = SimulatedRuntime::new(Arc::new(FakeFlink::default()), rest_url, state_dir.clone());
    if rest.iter().any(|a| a == "--adopt") {
        let stored = store.list::<FlinkDeployment>().await.expect("list");
        let mut clusters = runtime.clusters.lock().unwrap();
        for deployment in stored {
            let id = ClusterId {
                namespace: deployment.metadata.namespace.clone().unwrap_or_default(),
                name: deployment.metadata.name.clone().unwrap_or_default(),
            };
            let job_id = deployment.status.as_ref().and_then(|s| s.job_status.as_ref()).and_then(|j| j.job_id.clone());
            let observation = ClusterObservation {
                status: ClusterStatus::Ready,
                rest_url: Some(rest_url.clone()),
                generation: deployment.metadata.generation,
                job_id,
                notes: Vec::new(),
            };
            clusters.insert(id, observation);
        }
    }
    let config = ManagerConfig {
        sync_interval: Duration::from_secs(3600),
        stop_jobs_on_exit: false,
        write_back: None,
        prune: flinkops::operator::manager::Prune::On,
        state_dir,
    };
    let source = Worktree::new(std::path::Path::new(repo), PathFilter::default());
    manager::run(store, runtime, source, config, std::future::pending::<()>()).await;
}

/// Runs the operator process until `done` (or the deadline); returns how long it took and its peak and current RSS
/// at that moment, then kills it.
async fn measure(args: &[&str], done: impl Fn() -> bool) -> (Duration, f64, f64) {
    let started = Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg("--operator")
        .args(args)
        .spawn()
        .expect("start the operator process");
    let elapsed = loop {
        if done() {
            break started.elapsed();
        }
        assert!(started.elapsed() < DEADLINE, "not done within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (peak, current) = memory_mib(child.id());
    child.kill().expect("stop the operator");
    child.wait().expect("reap the operator");
    (elapsed, peak, current)
}

fn main() {
    // As `flinkops` does at start, so the operator process is measured as it runs.
    flinkops::allocator::limit_malloc_arenas();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    if let Some(position) = args.iter().position(|a| a == "--operator") {
        runtime.block_on(operator(&args[position + 1..]));
    } else {
        runtime.block_on(bench());
    }
}

async fn bench() {
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
    let state = state_dir.to_str().expect("UTF-8 path");
    let repo_arg = repo.to_str().expect("UTF-8 path");

    // The operator's store, read as files: every resource RUNNING.
    let all_running = || {
        let mut running_count = 0;
        for namespace in std::fs::read_dir(state_dir.join("resources/flinkdeployments")).into_iter().flatten().flatten()
        {
            for file in std::fs::read_dir(namespace.path()).into_iter().flatten().flatten() {
                let Ok(text) = std::fs::read(file.path()) else { continue };
                if serde_json::from_slice::<FlinkDeployment>(&text).is_ok_and(|d| running(&d)) {
                    running_count += 1;
                }
            }
        }
        running_count == DEPLOYMENTS
    };
    let (deploy, deploy_peak, deploy_rss) = measure(&[repo_arg, state, &rest_url], all_running).await;
    println!(
        "deploy: {DEPLOYMENTS} FlinkDeployments from Git to RUNNING in {:.2} s; operator peak RSS {deploy_peak:.1} MiB \
         (RSS then {deploy_rss:.1} MiB)",
        deploy.as_secs_f64()
    );

    let polls_before: HashMap<String, u64> = flink.polls.lock().unwrap().clone();
    let requests_before = flink.requests.load(Ordering::Relaxed);
    let polled_again = || {
        let polls = flink.polls.lock().unwrap();
        polls.len() >= DEPLOYMENTS && polls.iter().all(|(job, n)| *n > polls_before.get(job).copied().unwrap_or(0))
    };
    let (resync, resync_peak, resync_rss) = measure(&[repo_arg, state, &rest_url, "--adopt"], polled_again).await;
    println!(
        "resync: a restarted operator reconciled all {DEPLOYMENTS} in {:.2} s ({} REST requests); operator peak RSS \
         {resync_peak:.1} MiB (RSS then {resync_rss:.1} MiB)",
        resync.as_secs_f64(),
        flink.requests.load(Ordering::Relaxed) - requests_before
    );
}
