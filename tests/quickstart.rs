//! The README's quickstart as a reader runs it: `scripts/quickstart.sh` (install, build, validate, run
//! `examples-repo/` on real local Flink) until every job of the bundled repository is RUNNING, then Ctrl-C with
//! `--stop-jobs-on-exit`, which must leave no Flink process behind.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::flink::{WorkDir, test_bed};
use common::operator::ClusterGuard;
use serde_json::Value;

/// The README promises RUNNING "within a couple of minutes"; a loaded 2-core CI machine gets some slack.
const WITHIN: Duration = Duration::from_secs(300);

/// `(kind, name, lifecycleState, jobState)` of every resource `flinkops status` shows.
fn resources(state: &Path) -> Vec<(String, String, String, String)> {
    let Ok(output) = Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["status", "--output", "json", "--state-dir"])
        .arg(state)
        .output()
    else {
        return Vec::new();
    };
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let text = |row: &Value, key: &str| row[key].as_str().unwrap_or("-").to_owned();
    let rows = report["resources"].as_array().cloned().unwrap_or_default();
    rows.iter()
        .map(|row| (text(row, "kind"), text(row, "name"), text(row, "lifecycleState"), text(row, "jobState")))
        .collect()
}

/// Every job RUNNING and every cluster STABLE.
fn all_running(resources: &[(String, String, String, String)]) -> bool {
    let expected = ["clicks", "inventory", "orders", "payments", "shared-session"];
    let mut names: Vec<&str> = resources.iter().map(|(_, name, _, _)| name.as_str()).collect();
    names.sort_unstable();
    names == expected
        && resources.iter().all(|(_, name, lifecycle, job)| {
            lifecycle == "STABLE" && (job == "RUNNING" || (name == "shared-session" && job == "-"))
        })
}

#[test]
fn the_quickstart_runs_every_example_job_and_stops_them_on_ctrl_c() {
    test_bed();
    let work = WorkDir::new("quickstart");
    let state = work.0.join("state");
    let _guard = ClusterGuard(state.clone());
    let log = work.0.join("quickstart.log");
    let file = std::fs::File::create(&log).expect("log file");
    let started = Instant::now();
    let mut quickstart = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/quickstart.sh"))
        .args(["--stop-jobs-on-exit", "--interval", "2s"])
        .env("QUICKSTART_STATE_DIR", &state)
        // As a reader's shell: the script finds the Flink it installed under .flinkops/.
        .env_remove("FLINK_HOME")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file)
        .spawn()
        .expect("start the quickstart");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    let mut seen = Vec::new();
    while started.elapsed() < WITHIN && !all_running(&seen) {
        assert!(quickstart.try_wait().expect("wait").is_none(), "the quickstart exited:\n{}", log_text());
        std::thread::sleep(Duration::from_secs(2));
        seen = resources(&state);
    }
    if !all_running(&seen) {
        let _ = quickstart.kill();
    }
    assert!(all_running(&seen), "not every example job is RUNNING after {WITHIN:?}: {seen:?}\n{}", log_text());
    eprintln!("TIMING every example job RUNNING after {:.0?}", started.elapsed());

    // Ctrl-C: the script exec'd flinkops, so the child is flinkops itself.
    let interrupted = Command::new("kill").args(["-INT", &quickstart.id().to_string()]).status().expect("kill");
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = quickstart.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "flinkops did not stop on Ctrl-C:\n{}", log_text());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "flinkops exits cleanly on Ctrl-C ({status}):\n{}", log_text());
    let pattern = format!("java.*{}", state.display());
    let left = Command::new("pgrep").args(["-f", &pattern]).output().expect("pgrep");
    assert!(left.stdout.is_empty(), "Flink processes left running: {}", String::from_utf8_lossy(&left.stdout));
}
