//! `flinkops run --local` as a user runs it (the binary, a real Git remote, real Flink), and the crash-safety test:
//! the operator process is killed at every step of a savepoint upgrade and restarted; each time the job ends
//! RUNNING, restored from the savepoint just taken, with no savepoint lost or taken twice. Also: SIGTERM leaves
//! the jobs running and the next run adopts them; `--stop-jobs-on-exit` leaves no Flink process behind.

mod common;
#[path = "git_support/mod.rs"]
mod git_support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::flink::*;
use common::operator::{ClusterGuard, Operator, status_row, stored_status};
use common::test_job::TestJob;
use flinkops::operator::crashpoint::{CRASH_AT_VARIABLE, CRASH_EXIT_CODE, UPGRADE_POINTS};
use git_support::{WorkRepo, bare_remote};
use serde_json::Value;

const NAMESPACE: &str = "crash";
const NAME: &str = "orders";
const KEYS: u32 = 50;

fn manifest(jar: &Path, work: &Path, rate: u32) -> String {
    TestJob { rate, keys: KEYS, ..TestJob::new(NAMESPACE, NAME, jar, work) }.yaml()
}

fn savepoint_history(state: &Path) -> Vec<String> {
    let status = stored_status(state, NAMESPACE, NAME);
    status["jobStatus"]["savepointInfo"]["savepointHistory"]
        .as_array()
        .map(|history| history.iter().filter_map(|s| s["location"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Savepoint directories Flink wrote.
fn savepoints_on_disk(work: &Path) -> usize {
    std::fs::read_dir(work.join("savepoints")).map(|entries| entries.flatten().count()).unwrap_or(0)
}

/// Waits until the job runs the latest generation, stable, under a job id other than `previous`.
fn wait_running(state: &Path, previous: Option<&str>, operator: &Operator) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(row) = status_row(state, NAME)
            && row["jobState"] == "RUNNING"
            && row["lifecycleState"] == "STABLE"
            && row["generation"] == row["observedGeneration"]
            && row["jobId"].as_str() != previous
        {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "the job did not reach RUNNING: {:?}\n{}",
            status_row(state, NAME),
            operator.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn commit_rate(repo: &WorkRepo, remote: &Path, jar: &Path, work: &Path, rate: u32) {
    repo.write("apps/orders.yaml", &manifest(jar, work, rate));
    repo.commit(&format!("orders: rate {rate}"));
    repo.push(remote);
}

#[test]
fn the_operator_survives_a_crash_at_every_step_of_a_savepoint_upgrade() {
    let (flink_home, jar) = test_bed();
    let work = WorkDir::new("run-local");
    let state = work.0.join("state");
    let _guard = ClusterGuard(state.clone());
    let (_remote_dir, remote) = bare_remote();
    let repo = WorkRepo::new();
    commit_rate(&repo, &remote, &jar, &work.0, 100);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // ---- first deployment through the CLI loop
    let operator = Operator::start(&flink_home, &remote, &state, work.0.join("run-0.log"), &[], &[]);
    let mut row = wait_running(&state, None, &operator);
    let client = cluster_client(&state, NAMESPACE, NAME);
    let first_job = row["jobId"].as_str().unwrap().to_owned();
    runtime.block_on(async {
        eventually("a completed checkpoint", TIMEOUT, || async {
            client.checkpoint_statistics(&first_job).await.ok()?.latest.completed
        })
        .await;
    });
    let mut operator = Some(operator);

    for (round, point) in UPGRADE_POINTS.iter().enumerate() {
        let started = Instant::now();
        let previous_job = row["jobId"].as_str().unwrap().to_owned();
        let history_before = savepoint_history(&state);
        let on_disk_before = savepoints_on_disk(&work.0);

        // SIGTERM: flinkops exits cleanly and the job keeps running.
        operator.take().unwrap().terminate();
        let client = cluster_client(&state, NAMESPACE, NAME);
        let state_now = runtime.block_on(client.job_status(&previous_job)).unwrap();
        assert_eq!(state_now, flinkops::flink::client::JobState::Running, "the job outlives flinkops");

        // A change in Git, picked up by an operator that crashes at `point`.
        commit_rate(&repo, &remote, &jar, &work.0, 101 + u32::try_from(round).unwrap());
        let log = work.0.join(format!("crash-{point}.log"));
        let mut crashing = Operator::start(&flink_home, &remote, &state, log, &[(CRASH_AT_VARIABLE, point)], &[]);
        let code = crashing.wait_exit(Duration::from_secs(180));
        assert_eq!(code, CRASH_EXIT_CODE, "flinkops crashed at {point}:\n{}", crashing.log_text());

        // A new operator finishes the upgrade from the status alone.
        let log = work.0.join(format!("after-{point}.log"));
        let restarted = Operator::start(&flink_home, &remote, &state, log, &[], &[]);
        row = wait_running(&state, Some(&previous_job), &restarted);
        let new_job = row["jobId"].as_str().unwrap().to_owned();
        let history = savepoint_history(&state);
        assert_eq!(history.len(), history_before.len() + 1, "exactly one new savepoint recorded after {point}");
        assert_eq!(history[..history_before.len()], history_before[..], "no savepoint lost after {point}");
        assert_eq!(savepoints_on_disk(&work.0), on_disk_before + 1, "exactly one savepoint taken after {point}");
        let newest = history.last().unwrap().clone();
        assert_eq!(row["lastSavepoint"].as_str(), Some(newest.as_str()));
        let client = cluster_client(&state, NAMESPACE, NAME);
        runtime.block_on(async {
            let (is_savepoint, path) = eventually("restore info", TIMEOUT, || restored_from(&client, &new_job)).await;
            assert!(is_savepoint, "{point}: restored from a savepoint");
            assert_eq!(
                path.trim_end_matches('/'),
                newest.trim_end_matches('/'),
                "{point}: restored from the savepoint just taken"
            );
            wait_restored_keys(&client, &new_job, f64::from(KEYS)).await;
            eventually("a completed checkpoint", TIMEOUT, || async {
                client.checkpoint_statistics(&new_job).await.ok()?.latest.completed
            })
            .await;
        });
        eprintln!("TIMING crash at {point}: upgrade finished after a restart in {:.1?}", started.elapsed());
        operator = Some(restarted);
    }

    // ---- --stop-jobs-on-exit: the adopted cluster is stopped on SIGTERM, nothing is left running
    operator.take().unwrap().terminate();
    let pids = cluster_pids(&state, NAMESPACE, NAME);
    assert!(!pids.is_empty());
    let previous_job = row["jobId"].as_str().unwrap().to_owned();
    let last = Operator::start(&flink_home, &remote, &state, work.0.join("last.log"), &[], &["--stop-jobs-on-exit"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !last.log_text().contains("adopting a running cluster") {
        assert!(Instant::now() < deadline, "the cluster was not adopted:\n{}", last.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let adopted = wait_running(&state, None, &last);
    assert_eq!(adopted["jobId"].as_str(), Some(previous_job.as_str()), "the running job is adopted, not restarted");
    assert!(!last.log_text().contains("starting Flink cluster"), "{}", last.log_text());
    last.terminate();
    assert_all_gone(&pids);
}
