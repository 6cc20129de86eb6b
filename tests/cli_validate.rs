//! `flinkops validate` as a user runs it: exit codes, text and JSON output.

mod common;

use std::process::Command;

fn flinkops(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flinkops")).args(args).current_dir(common::repo_root()).output().unwrap()
}

#[test]
fn clean_repository_exits_zero() {
    let output = flinkops(&["validate", "examples-repo"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 errors"), "{stdout}");
}

#[test]
fn errors_exit_one_and_name_file_line_column_and_path() {
    let output = flinkops(&["validate", "tests/fixtures/malformed/unknown-job-field.yaml"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "tests/fixtures/malformed/unknown-job-field.yaml:25:5: error: spec.job.paralelism: unknown field \"paralelism\""
        ),
        "{stdout}"
    );
}

#[test]
fn json_output_has_the_documented_shape() {
    let output = flinkops(&["validate", "--output", "json", "tests/fixtures/malformed", "examples-repo"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["files"].as_u64().unwrap() >= 60);
    assert!(report["resources"].as_u64().unwrap() >= 60);
    let errors = report["errors"].as_array().unwrap();
    assert!(errors.len() >= 60);
    for error in errors {
        for field in ["file", "line", "column", "path", "severity", "message"] {
            assert!(!error[field].is_null(), "{field} missing in {error}");
        }
    }
    let tab = errors.iter().find(|e| e["file"].as_str().unwrap().ends_with("syntax-tab-indent.yaml")).unwrap();
    assert_eq!((tab["line"].as_u64(), tab["column"].as_u64()), (Some(17), Some(2)));
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(flinkops(&["validate"]).status.code(), Some(2));
    assert_eq!(flinkops(&["validate", "no/such/path"]).status.code(), Some(2));
    assert_eq!(flinkops(&["validate", "--output", "xml", "examples-repo"]).status.code(), Some(2));
}

#[test]
fn commands_are_listed_and_usage_errors_say_what_is_missing() {
    let help = flinkops(&["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["run", "plan", "drift", "validate", "crds", "status", "autoscaler"] {
        assert!(text.contains(command), "{command} missing from help:\n{text}");
    }
    let drift = flinkops(&["drift"]);
    assert_eq!(drift.status.code(), Some(2), "drift without --repo is a usage error");
    assert!(String::from_utf8_lossy(&drift.stderr).contains("--repo"));
    // Without --local, run needs a Kubernetes cluster: none configured is a usage error that says so.
    let kubernetes = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["run", "--repo", "examples-repo"])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run flinkops");
    assert_eq!(kubernetes.status.code(), Some(2), "no cluster is a usage error");
    let stderr = String::from_utf8_lossy(&kubernetes.stderr);
    assert!(stderr.contains("no Kubernetes configuration") && stderr.contains("/nonexistent/kubeconfig"), "{stderr}");
    let missing = flinkops(&["run", "--repo", "examples-repo", "--kubeconfig", "/nonexistent/kc"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/kc"));
}
