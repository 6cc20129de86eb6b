//! `flinkops run --local` as a child process for end-to-end tests: start it against a Git remote, read its log,
//! stop it with SIGTERM; read `flinkops status` and the stored status; and a guard that stops the Flink processes
//! of a state dir however the test ends (local clusters outlive flinkops).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flinkops::operator::crashpoint::CRASH_AT_VARIABLE;
use serde_json::Value;

/// One `flinkops run --local` process, its output in a log file of the work dir.
pub struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    /// Starts `flinkops run --local` following branch `main` of `remote`, checking it every second.
    pub fn start(
        flink_home: &Path,
        remote: &Path,
        state: &Path,
        log: PathBuf,
        env: &[(&str, &str)],
        extra: &[&str],
    ) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_flinkops"));
        command
            .args(["run", "--local", "--repo"])
            .arg(remote)
            .args(["--branch", "main", "--interval", "1s", "--state-dir"])
            .arg(state)
            .args(extra)
            .env("FLINK_HOME", flink_home)
            .env("RUST_LOG", "info")
            .env_remove(CRASH_AT_VARIABLE)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (key, value) in env {
            command.env(key, value);
        }
        Operator { child: command.spawn().expect("start flinkops"), log }
    }

    /// Everything it logged so far, without terminal colours.
    pub fn log_text(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Waits (bounded) until the log has a line containing every one of `needles`; returns that line.
    pub fn wait_log_line(&self, needles: &[&str], within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.log_text();
            if let Some(line) = text.lines().find(|line| needles.iter().all(|n| line.contains(n))) {
                return line.to_owned();
            }
            assert!(Instant::now() < deadline, "no log line with {needles:?} within {within:?}:\n{text}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait_exit(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("flinkops did not exit within {within:?}:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success());
        let code = self.wait_exit(Duration::from_secs(60));
        assert_eq!(code, 0, "flinkops exits cleanly on SIGTERM:\n{}", self.log_text());
    }
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

impl Drop for Operator {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Stops every Flink process of the state dir when the test ends, however it ends (clusters outlive flinkops).
pub struct ClusterGuard(pub PathBuf);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        let clusters = self.0.join("clusters");
        let namespaces = std::fs::read_dir(&clusters).into_iter().flatten().flatten();
        for namespace in namespaces {
            for cluster in std::fs::read_dir(namespace.path()).into_iter().flatten().flatten() {
                let _ = flinkops::runtime::local::launcher::cleanup_stale_processes(&cluster.path());
            }
        }
    }
}

/// `flinkops status --output json`, the row of the resource called `name`.
pub fn status_row(state: &Path, name: &str) -> Option<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["status", "--output", "json", "--state-dir"])
        .arg(state)
        .output()
        .ok()?;
    let report: Value = serde_json::from_slice(&output.stdout).ok()?;
    report["resources"].as_array()?.iter().find(|r| r["name"] == name).cloned()
}

/// The stored status of the `FlinkDeployment` `namespace/name` (more than the status summary shows).
pub fn stored_status(state: &Path, namespace: &str, name: &str) -> Value {
    let path = state.join(format!("resources/flinkdeployments/{namespace}/{name}.json"));
    let stored: Value = serde_json::from_slice(&std::fs::read(&path).expect("stored resource")).expect("json");
    stored["status"].clone()
}
