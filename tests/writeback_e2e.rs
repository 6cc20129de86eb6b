//! Savepoint write-back end to end (`flinkops run --local --write-back`, a real bare remote, real Flink): a
//! savepoint upgrade produces exactly one new commit whose diff touches only the annotation lines of that
//! manifest; then the platform is lost (the state directory deleted, every Flink process stopped) and a new
//! flinkops rebuilds it from Git alone: the job resumes from the savepoint recorded in Git, with its state.

mod common;
#[path = "git_support/mod.rs"]
mod git_support;

use std::path::Path;
use std::time::{Duration, Instant};

use common::flink::*;
use common::operator::{ClusterGuard, Operator, status_row};
use common::test_job::TestJob;
use flinkops::writeback::annotations::SAVEPOINT_PATH;
use git_support::{WorkRepo, bare_remote, changed_lines, file_at, head};
use git2::{Oid, Repository};
use serde_json::Value;

const NAMESPACE: &str = "wb";
const NAME: &str = "orders";
const KEYS: u32 = 40;

/// The test job with a comment and a commented, quoted label: write-back must leave both byte for byte.
fn manifest(jar: &Path, work: &Path, rate: u32) -> String {
    let yaml = TestJob { rate, keys: KEYS, ..TestJob::new(NAMESPACE, NAME, jar, work) }.yaml();
    let yaml = yaml.replacen(
        "metadata:\n",
        "metadata:\n  labels:\n    team: \"payments\"   # owned by the payments team\n",
        1,
    );
    format!("# Orders: comments, quoting and key order survive write-back.\n{yaml}")
}

/// Commits on `main` after `since` (newest first), with their messages.
fn commits_since(remote: &Path, since: Oid) -> Vec<(Oid, String)> {
    let repo = Repository::open_bare(remote).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push(head(remote)).unwrap();
    walk.hide(since).unwrap();
    walk.flatten().map(|id| (id, repo.find_commit(id).unwrap().message().unwrap_or_default().to_owned())).collect()
}

fn wait_row(state: &Path, what: &str, operator: &Operator, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(row) = status_row(state, NAME).filter(|row| done(row)) {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}\n{}",
            status_row(state, NAME),
            operator.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn running(row: &Value) -> bool {
    row["jobState"] == "RUNNING" && row["lifecycleState"] == "STABLE" && row["generation"] == row["observedGeneration"]
}

#[test]
fn savepoints_are_written_back_and_a_lost_platform_is_rebuilt_from_git() {
    let (flink_home, jar) = test_bed();
    let work = WorkDir::new("writeback-e2e");
    let state = work.0.join("state");
    let _guard = ClusterGuard(state.clone());
    let (_remote_dir, remote) = bare_remote();
    let repo = WorkRepo::new();
    repo.write("apps/orders.yaml", &manifest(&jar, &work.0, 100));
    repo.commit("orders");
    repo.push(&remote);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let flags = ["--write-back", "--write-back-interval", "1s", "--write-back-author", "Flink Bot <bot@example.com>"];
    let mut stop_flags = flags.to_vec();
    stop_flags.push("--stop-jobs-on-exit");

    let operator = Operator::start(&flink_home, &remote, &state, work.0.join("run-1.log"), &[], &stop_flags);
    let first = wait_row(&state, "first deployment", &operator, running);
    let first_job = first["jobId"].as_str().unwrap().to_owned();
    let client = cluster_client(&state, NAMESPACE, NAME);
    runtime.block_on(async {
        eventually("a completed checkpoint", TIMEOUT, || async {
            client.checkpoint_statistics(&first_job).await.ok()?.latest.completed
        })
        .await;
    });

    // ---- a savepoint upgrade: exactly one write-back commit, touching only annotation lines
    repo.write("apps/orders.yaml", &manifest(&jar, &work.0, 150));
    repo.commit("orders: rate 150");
    repo.push(&remote);
    let human_head = head(&remote);
    let upgraded = wait_row(&state, "upgrade", &operator, |row| running(row) && row["jobId"] != first_job.as_str());
    let savepoint = upgraded["lastSavepoint"].as_str().expect("the upgrade savepoint").to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while commits_since(&remote, human_head).is_empty() {
        assert!(Instant::now() < deadline, "no write-back commit:\n{}", operator.log_text());
        std::thread::sleep(Duration::from_millis(300));
    }
    // A few more write-back intervals: still one commit (the sync reads it back; nothing is written twice).
    std::thread::sleep(Duration::from_secs(5));
    let new_commits = commits_since(&remote, human_head);
    assert_eq!(new_commits.len(), 1, "exactly one write-back commit: {new_commits:?}");
    let (commit, message) = &new_commits[0];
    assert!(flinkops::writeback::is_write_back_commit(message), "{message}");
    let repository = Repository::open_bare(&remote).unwrap();
    let author = repository.find_commit(*commit).unwrap().author().name().unwrap_or_default().to_owned();
    assert_eq!(author, "Flink Bot");
    let changed = changed_lines(&remote, *commit);
    assert!(!changed.is_empty());
    for (file, origin, line) in &changed {
        assert_eq!(file, "apps/orders.yaml");
        assert!(
            line.contains("flinkops.io/") || line.trim() == "annotations:",
            "only annotation lines change, not {origin}{line:?}"
        );
    }
    let text = file_at(&remote, *commit, "apps/orders.yaml");
    assert!(
        text.contains(&format!("{SAVEPOINT_PATH}: {savepoint}"))
            || text.contains(&format!("{SAVEPOINT_PATH}: \"{savepoint}\"")),
        "{text}"
    );
    assert!(text.contains("flinkops.io/savepoint-trigger: upgrade"), "{text}");
    assert!(text.contains("team: \"payments\"   # owned by the payments team"), "comments survive:\n{text}");
    // The write-back is not an upgrade: the job keeps running under the same id.
    let after = status_row(&state, NAME).unwrap();
    assert_eq!(after["jobId"], upgraded["jobId"]);

    // ---- the platform is lost: every Flink process stopped, the state directory gone
    operator.terminate();
    std::fs::remove_dir_all(&state).unwrap();

    // ---- rebuilt from Git alone: the job starts from the savepoint Git records, with its keyed state
    let rebuilt_operator = Operator::start(&flink_home, &remote, &state, work.0.join("run-2.log"), &[], &stop_flags);
    let rebuilt = wait_row(&state, "rebuilt from Git", &rebuilt_operator, running);
    let rebuilt_job = rebuilt["jobId"].as_str().unwrap().to_owned();
    let client = cluster_client(&state, NAMESPACE, NAME);
    runtime.block_on(async {
        let (is_savepoint, path) = eventually("restore info", TIMEOUT, || restored_from(&client, &rebuilt_job)).await;
        assert!(is_savepoint);
        assert_eq!(path.trim_end_matches('/'), savepoint.trim_end_matches('/'));
        wait_restored_keys(&client, &rebuilt_job, f64::from(KEYS)).await;
    });
    assert!(rebuilt_operator.log_text().contains(&savepoint), "the restore is logged");
    let pids = cluster_pids(&state, NAMESPACE, NAME);
    rebuilt_operator.terminate();
    assert_all_gone(&pids);
}
