//! `flinkops autoscaler simulate` as a user runs it: the documented JSON shape, and bad scenario files named by
//! line and field.

mod common;

use std::process::Command;

fn flinkops(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flinkops")).args(args).current_dir(common::repo_root()).output().unwrap()
}

#[test]
fn simulate_prints_the_documented_json() {
    let output = flinkops(&[
        "autoscaler",
        "simulate",
        "--scenario",
        "src/autoscaler/scenarios/step-up.yaml",
        "--output",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let scenario = &report["scenarios"][0];
    assert_eq!(scenario["name"], "step-up");
    for field in
        ["rescales", "timeToTargetSeconds", "underProvisionedSeconds", "overProvisionSlotSeconds", "oscillations"]
    {
        assert!(scenario[field].is_u64(), "{field}: {scenario}");
    }
    assert!(scenario["finalParallelism"]["enrich"].as_u64().unwrap() > 2, "the bottleneck vertex was scaled up");
    let decision = &scenario["decisions"][0];
    for field in ["at", "vertex", "from", "to", "reason"] {
        assert!(!decision[field].is_null(), "{field}: {decision}");
    }
    assert!(scenario["rescales"].as_u64().unwrap() <= 2);
}

#[test]
fn a_bad_scenario_is_reported_with_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "name: bad\ndurationSeconds: soon\ntickSeconds: 10\n").unwrap();
    let output = flinkops(&["autoscaler", "simulate", "--scenario", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.yaml:2:1: durationSeconds:"), "{stderr}");
}

#[test]
fn standalone_mode_stops_at_its_bound_when_the_cluster_is_unreachable() {
    let output = flinkops(&["autoscaler", "--rest-url", "http://127.0.0.1:1", "--max-runs", "1", "--interval", "1 s"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("stopped after 1 runs"));
}

#[test]
fn standalone_mode_rejects_a_config_entry_without_a_value() {
    let output = flinkops(&["autoscaler", "--rest-url", "http://127.0.0.1:1", "--config", "job.autoscaler.enabled"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not key=value"));
}
