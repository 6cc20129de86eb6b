//! `flinkops drift` on a local state directory built with `LocalStore::apply` (Git's manager `flinkops`, and other
//! writers), against a directory of manifests: states, writers, owned fields, invalid manifests, the namespace
//! summary, JSON, Markdown and exit codes. No Flink, no network.

mod git_support;

use std::path::Path;
use std::process::Command;

use flinkops::crd::{FlinkDeployment, FlinkDeploymentStatus};
use flinkops::manifests::load::load_texts;
use flinkops::store::{LocalStore, Store};
use flinkops::validation::Resource;
use serde_json::{Value, json};
use tempfile::TempDir;

fn manifest(namespace: &str, name: &str, image: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: {name}
  namespace: {namespace}
spec:
  image: {image}
  flinkVersion: v2_1
  serviceAccount: flink
  flinkConfiguration:
    execution.checkpointing.dir: s3://state/{name}/cp
    execution.checkpointing.savepoint-dir: s3://state/{name}/sp
  jobManager:
    resource: {{memory: 2048m, cpu: 1}}
  taskManager:
    replicas: {replicas}
    resource: {{memory: 4g, cpu: 2}}
  job:
    jarURI: local:///opt/flink/usrlib/{name}.jar
    parallelism: 2
    upgradeMode: savepoint
"#
    )
}

/// The typed object of a manifest, as sync builds it.
fn typed(text: &str) -> FlinkDeployment {
    let set = load_texts([("x.yaml".to_owned(), Ok(text.as_bytes().to_vec()))]);
    match set.manifests.first().and_then(|m| m.resource.clone()) {
        Some(Resource::Deployment(deployment)) => *deployment,
        _ => panic!("not a valid deployment: {:?}", set.problems),
    }
}

/// A Git working copy and a state directory.
struct Fixture {
    git: TempDir,
    state: TempDir,
    runtime: tokio::runtime::Runtime,
    store: LocalStore,
}

impl Fixture {
    fn new() -> Self {
        let git = TempDir::new().expect("temp dir");
        let state = TempDir::new().expect("temp dir");
        let store = LocalStore::open(state.path()).expect("store");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Fixture { git, state, runtime, store }
    }

    fn write(&self, path: &str, text: &str) -> &Self {
        let file = self.git.path().join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
        self
    }

    fn apply(&self, text: &str, manager: &str) -> FlinkDeployment {
        self.runtime.block_on(self.store.apply(&typed(text), manager)).expect("apply")
    }

    fn drift(&self, output: &str) -> (i32, String, String) {
        run(&["drift", "--repo", path(self.git.path()), "--state-dir", path(self.state.path()), "--output", output])
    }

    fn drift_json(&self) -> (i32, Value) {
        let (code, stdout, stderr) = self.drift("json");
        let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
        (code, json)
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_flinkops")).args(args).output().expect("run flinkops");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn resource<'j>(json: &'j Value, namespace: &str, name: &str) -> &'j Value {
    json["resources"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["namespace"] == namespace && r["name"] == name))
        .unwrap_or_else(|| panic!("{namespace}/{name} missing from {json:#}"))
}

#[test]
fn in_sync_despite_status_and_flinkops_annotations_exits_0() {
    let fixture = Fixture::new();
    let orders = manifest("team-a", "orders", "flink:2.1", 2);
    fixture.write("apps/orders.yaml", &orders);
    fixture.apply(&orders, "flinkops");
    // The operator's bookkeeping: a flinkops.io annotation and a status. Neither is Git's, so neither drifts.
    let annotated = orders.replace(
        "  namespace: team-a\n",
        "  namespace: team-a\n  annotations:\n    flinkops.io/last-savepoint: s3://state/orders/sp/1\n",
    );
    let mut stored = fixture.apply(&annotated, "flinkops");
    stored.status = Some(FlinkDeploymentStatus { error: Some("old".into()), ..FlinkDeploymentStatus::default() });
    fixture.runtime.block_on(fixture.store.update_status(&stored)).expect("status");

    let (code, json) = fixture.drift_json();
    assert_eq!(code, 0, "{json:#}");
    let orders = resource(&json, "team-a", "orders");
    assert_eq!(orders["state"], "in-sync");
    assert_eq!(orders["changes"], json!([]));
    assert_eq!(orders["ignored"], json!([]));
    assert_eq!(json["summary"]["namespaces"]["team-a"]["inSync"], 1);
    assert!(json["errors"].as_array().expect("errors").is_empty());

    let (code, text, _) = fixture.drift("text");
    assert_eq!(code, 0);
    assert!(text.contains("1 in sync, 0 drifted"), "{text}");
}

#[test]
fn a_field_changed_by_another_manager_is_drift_naming_it_and_exits_4() {
    let fixture = Fixture::new();
    let payments = manifest("team-a", "payments", "flink:2.1", 2);
    fixture.write("apps/payments.yaml", &payments);
    fixture.apply(&payments, "flinkops");
    fixture.apply(&payments.replace("flink:2.1", "flink:2.2-hotfix"), "kubectl-edit");

    let (code, json) = fixture.drift_json();
    assert_eq!(code, 4, "{json:#}");
    let payments = resource(&json, "team-a", "payments");
    assert_eq!(payments["state"], "drifted");
    assert_eq!(payments["file"], "apps/payments.yaml");
    assert_eq!(
        payments["changes"],
        json!([{"path": "spec.image", "git": "flink:2.1", "live": "flink:2.2-hotfix", "manager": "kubectl-edit"}])
    );

    let (code, markdown, _) = fixture.drift("markdown");
    assert_eq!(code, 4);
    assert!(markdown.starts_with("## flinkops drift `worktree:"), "{markdown}");
    assert!(markdown.contains("| Namespace | In sync | Drifted | Missing live | Not in Git | Invalid |"), "{markdown}");
    assert!(markdown.contains("| `team-a` | 0 | 1 | 0 | 0 | 0 |"), "{markdown}");
    assert!(markdown.contains("### FlinkDeployment `team-a/payments`: drifted"), "{markdown}");
    assert!(markdown.contains("| `spec.image` | `flink:2.1` | `flink:2.2-hotfix` | `kubectl-edit` |"), "{markdown}");

    let (_, text, _) = fixture.drift("text");
    assert!(text.contains("~ spec.image: git flink:2.1, live flink:2.2-hotfix (live value written by kubectl-edit)"));
}

#[test]
fn replicas_written_by_an_hpa_are_owned_not_drift() {
    let fixture = Fixture::new();
    let clicks = manifest("team-b", "clicks", "flink:2.1", 2);
    fixture.write("clicks.yaml", &clicks);
    fixture.apply(&clicks, "flinkops");
    fixture.apply(&clicks.replace("replicas: 2", "replicas: 5"), "hpa");

    let (code, json) = fixture.drift_json();
    assert_eq!(code, 0, "{json:#}");
    let clicks = resource(&json, "team-b", "clicks");
    assert_eq!(clicks["state"], "in-sync");
    assert_eq!(clicks["changes"], json!([]));
    let ignored = &clicks["ignored"][0];
    assert_eq!(ignored["path"], "spec.taskManager.replicas");
    assert_eq!(ignored["owner"], "other-manager");
    assert_eq!(ignored["manager"], "hpa");
    assert_eq!((ignored["git"].clone(), ignored["live"].clone()), (json!(2), json!(5)));
    assert!(ignored["reason"].as_str().expect("reason").contains("scale subresource"));
}

#[test]
fn many_namespaces_missing_live_not_in_git_and_an_invalid_manifest() {
    let fixture = Fixture::new();
    let orders = manifest("team-a", "orders", "flink:2.1", 2);
    let payments = manifest("team-a", "payments", "flink:2.1", 2);
    let clicks = manifest("team-b", "clicks", "flink:2.1", 2);
    let fresh = manifest("team-b", "fresh", "flink:2.1", 2);
    let broken =
        manifest("team-c", "broken", "flink:2.1", 2).replace("upgradeMode: savepoint", "upgradeMode: sometimes");
    let legacy = manifest("team-c", "legacy", "flink:1.20", 2);
    fixture
        .write("team-a/orders.yaml", &orders)
        .write("team-a/payments.yaml", &payments)
        .write("team-b/clicks.yaml", &clicks)
        .write("team-b/fresh.yaml", &fresh)
        .write("team-c/broken.yaml", &broken)
        .write("README.md", "not a manifest\n");
    for text in [&orders, &payments, &clicks, &legacy] {
        fixture.apply(text, "flinkops");
    }
    // The broken one is live with its last good version.
    fixture.apply(&manifest("team-c", "broken", "flink:2.1", 2), "flinkops");
    fixture.apply(&payments.replace("parallelism: 2", "parallelism: 3"), "kubectl-edit");
    fixture.apply(&clicks.replace("replicas: 2", "replicas: 4"), "hpa");

    let (code, json) = fixture.drift_json();
    assert_eq!(code, 1, "errors win over drift: {json:#}");
    assert!(json["revision"].as_str().expect("revision").starts_with("worktree:"));
    assert_eq!(
        json["summary"]["namespaces"],
        json!({
            "team-a": {"inSync": 1, "drifted": 1, "missingLive": 0, "notInGit": 0, "invalid": 0},
            "team-b": {"inSync": 1, "drifted": 0, "missingLive": 1, "notInGit": 0, "invalid": 0},
            "team-c": {"inSync": 0, "drifted": 0, "missingLive": 0, "notInGit": 1, "invalid": 1},
        })
    );
    assert_eq!(
        json["summary"]["total"],
        json!({"inSync": 2, "drifted": 1, "missingLive": 1, "notInGit": 1, "invalid": 1})
    );
    let states: Vec<(String, String)> = json["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            (
                format!("{}/{}", r["namespace"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or("")),
                r["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("team-a/orders", "in-sync"),
        ("team-a/payments", "drifted"),
        ("team-b/clicks", "in-sync"),
        ("team-b/fresh", "missing-live"),
        ("team-c/broken", "invalid"),
        ("team-c/legacy", "not-in-git"),
    ];
    assert_eq!(states, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    for resource in json["resources"].as_array().expect("resources") {
        for key in ["kind", "namespace", "name", "file", "line", "state", "changes", "ignored"] {
            assert!(resource.get(key).is_some(), "{key} missing from {resource}");
        }
    }
    assert_eq!(resource(&json, "team-a", "payments")["changes"][0]["manager"], "kubectl-edit");
    assert_eq!(resource(&json, "team-a", "payments")["changes"][0]["path"], "spec.job.parallelism");
    assert_eq!(resource(&json, "team-c", "legacy")["file"], Value::Null);
    let broken = resource(&json, "team-c", "broken");
    assert_eq!((broken["file"].clone(), broken["line"].clone()), (json!("team-c/broken.yaml"), json!(1)));
    let errors = json["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["source"], "git");
    assert_eq!(errors[0]["file"], "team-c/broken.yaml");
    assert_eq!(errors[0]["line"], 21);
    assert_eq!(errors[0]["path"], "spec.job.upgradeMode");

    let (_, text, _) = fixture.drift("text");
    assert!(text.contains("team-c/broken.yaml:21:"), "{text}");
    assert!(text.contains("FlinkDeployment team-c/legacy: live, not in Git"), "{text}");
    assert!(text.contains("FlinkDeployment team-b/fresh (team-b/fresh.yaml:1): in Git, missing live"), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, stderr) = run(&["drift"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--repo"), "{stderr}");
    let git = TempDir::new().expect("temp dir");
    let missing = git.path().join("no-such-state");
    let (code, _, stderr) = run(&["drift", "--repo", path(git.path()), "--state-dir", path(&missing)]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no store at"), "{stderr}");
    assert!(!missing.exists(), "a mistyped --state-dir is never created");
}

#[test]
fn a_repository_is_read_through_its_branch_as_run_reads_it() {
    let fixture = Fixture::new();
    let repo = git_support::WorkRepo::new();
    let orders = manifest("team-a", "orders", "flink:2.1", 2);
    repo.write("apps/orders.yaml", &orders).write("other/ignored.yaml", &manifest("team-z", "elsewhere", "x:1", 1));
    let commit = repo.commit("orders");
    fixture.apply(&orders, "flinkops");
    // An uncommitted edit: a repository is followed through its branch, so it is not what Git says.
    repo.write("apps/orders.yaml", &orders.replace("flink:2.1", "flink:9.9"));
    let (code, stdout, stderr) = run(&[
        "drift",
        "--repo",
        path(repo.path()),
        "--path",
        "apps",
        "--state-dir",
        path(fixture.state.path()),
        "--output",
        "json",
    ]);
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["revision"], commit.to_string());
    assert_eq!(json["summary"]["total"]["inSync"], 1);
    assert_eq!(json["resources"].as_array().map(Vec::len), Some(1), "--path leaves other/ out: {json:#}");
}
