//! `flinkops plan` on real repositories: JSON shape, Markdown, exit codes, owned-only changes, a broken manifest
//! among good ones, path filters and cross-file context.

mod git_support;

use git_support::{WorkRepo, deployment, flinkops, session_cluster, session_job};
use serde_json::Value;

fn plan_json(repo: &WorkRepo, base: &str, extra: &[&str]) -> (i32, Value) {
    let path = repo.path().to_str().expect("utf-8");
    let mut args = vec!["plan", "--repo", path, "--base", base, "--output", "json"];
    args.extend_from_slice(extra);
    let run = flinkops(&args);
    let json = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (run.code, json)
}

fn repo_with_orders() -> WorkRepo {
    let repo = WorkRepo::new();
    repo.write("apps/orders.yaml", &deployment("orders", "flink:2.1", "savepoint", 2, ""));
    repo.write("apps/payments.yaml", &deployment("payments", "flink:2.1", "savepoint", 2, ""));
    repo.write("README.md", "not a manifest\n");
    repo.commit("base");
    repo
}

#[test]
fn image_change_plans_a_savepoint_upgrade_with_the_exact_json_shape() {
    let repo = repo_with_orders();
    let base = repo.repo.head().unwrap().peel_to_commit().unwrap().id().to_string();
    repo.write("apps/orders.yaml", &deployment("orders", "flink:2.2", "savepoint", 2, ""));
    repo.commit("new image");
    let (code, json) = plan_json(&repo, &base, &[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["base"], base);
    assert_eq!(json["head"], "HEAD");
    let resources = json["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{json:#}");
    let orders = &resources[0];
    for key in ["kind", "namespace", "name", "file", "action", "upgrade", "changes", "ignored", "risks"] {
        assert!(orders.get(key).is_some(), "missing {key}");
    }
    assert_eq!(orders["kind"], "FlinkDeployment");
    assert_eq!(orders["namespace"], "team-a");
    assert_eq!(orders["name"], "orders");
    assert_eq!(orders["file"], "apps/orders.yaml");
    assert_eq!(orders["action"], "update");
    assert_eq!(orders["upgrade"], "savepoint");
    assert_eq!(orders["changes"], serde_json::json!([{"path": "spec.image", "from": "flink:2.1", "to": "flink:2.2"}]));
    assert_eq!(orders["ignored"], serde_json::json!([]));
    assert!(json["errors"].as_array().unwrap().is_empty());
}

#[test]
fn markdown_has_a_summary_table_a_diff_and_risks() {
    let repo = repo_with_orders();
    repo.write("apps/orders.yaml", &deployment("orders", "flink:2.2", "stateless", 2, ""));
    repo.commit("stateless");
    let path = repo.path().to_str().unwrap();
    let run = flinkops(&["plan", "--repo", path, "--base", "HEAD~1", "--output", "markdown"]);
    assert_eq!(run.code, 3, "moving a running stateful job to stateless is a high risk\n{}", run.stdout);
    let md = run.stdout;
    assert!(md.contains("| Resource | File | Action | Upgrade | Risks |"), "{md}");
    assert!(md.contains("| FlinkDeployment `team-a/orders` | `apps/orders.yaml:1` | update | **stateless** |"), "{md}");
    assert!(md.contains("```diff\n--- base\n+++ head\n"), "{md}");
    assert!(md.contains("-    upgradeMode: savepoint") && md.contains("+    upgradeMode: stateless"), "{md}");
    assert!(md.contains("high") && md.contains("state is lost"), "{md}");
}

#[test]
fn a_change_to_an_owned_field_only_plans_none_with_the_field_ignored() {
    let repo = WorkRepo::new();
    let autoscaled = |p| deployment("clicks", "flink:2.1", "savepoint", p, "    job.autoscaler.enabled: \"true\"\n");
    repo.write("apps/clicks.yaml", &autoscaled(2));
    repo.commit("base");
    repo.write("apps/clicks.yaml", &autoscaled(8));
    repo.commit("parallelism");
    let (code, json) = plan_json(&repo, "HEAD~1", &[]);
    assert_eq!(code, 0, "{json:#}");
    let clicks = &json["resources"][0];
    assert_eq!(clicks["upgrade"], "none", "{json:#}");
    assert_eq!(clicks["action"], "unchanged");
    assert_eq!(clicks["changes"], serde_json::json!([]));
    assert_eq!(clicks["ignored"][0]["path"], "spec.job.parallelism");
    assert_eq!(clicks["ignored"][0]["owner"], "autoscaler");
    assert!(clicks["ignored"][0]["reason"].as_str().unwrap().contains("autoscaler"));
}

#[test]
fn a_broken_manifest_is_reported_with_file_and_line_while_the_others_still_plan() {
    let repo = repo_with_orders();
    repo.write("apps/orders.yaml", &deployment("orders", "flink:2.2", "savepoint", 2, ""));
    // YAML syntax error on line 4, and a schema error in a third file.
    repo.write(
        "apps/broken.yaml",
        "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata:\n  name: [broken\n",
    );
    repo.write("apps/invalid.yaml", &deployment("invalid", "flink:2.1", "sometimes", 2, ""));
    repo.commit("one good change, two bad files");
    let (code, json) = plan_json(&repo, "HEAD~1", &[]);
    assert_eq!(code, 1, "errors win over risks: {json:#}");
    let errors = json["errors"].as_array().unwrap();
    let broken = errors.iter().find(|e| e["file"] == "apps/broken.yaml").expect("broken file reported");
    assert!(broken["line"].as_u64().unwrap() >= 4, "{broken}");
    assert!(broken["column"].as_u64().is_some() && broken["message"].as_str().is_some());
    let invalid = errors.iter().find(|e| e["file"] == "apps/invalid.yaml").expect("invalid file reported");
    assert_eq!(invalid["path"], "spec.job.upgradeMode");
    assert_eq!(invalid["line"], 25, "{invalid}");
    let orders =
        json["resources"].as_array().unwrap().iter().find(|r| r["name"] == "orders").expect("orders still planned");
    assert_eq!(orders["upgrade"], "savepoint");
    let invalid_resource = json["resources"].as_array().unwrap().iter().find(|r| r["name"] == "invalid").unwrap();
    assert_eq!(invalid_resource["action"], "invalid");
}

#[test]
fn a_file_that_stops_parsing_is_not_planned_as_a_deletion() {
    let repo = repo_with_orders();
    repo.write("apps/payments.yaml", "apiVersion: flink.apache.org/v1beta1\nkind: [\n");
    repo.commit("typo");
    let (code, json) = plan_json(&repo, "HEAD~1", &[]);
    assert_eq!(code, 1);
    let payments = &json["resources"][0];
    assert_eq!(payments["name"], "payments");
    assert_eq!(payments["action"], "invalid", "{json:#}");
    assert_eq!(payments["upgrade"], "none");
}

#[test]
fn deletion_and_creation_with_path_filter() {
    let repo = repo_with_orders();
    repo.write("platform/session.yaml", &session_cluster("session"));
    repo.commit("platform");
    repo.remove("apps/payments.yaml");
    repo.write("apps/new.yaml", &deployment("new", "flink:2.1", "savepoint", 1, ""));
    repo.write("platform/session.yaml", &session_cluster("session").replace("flink:2.1", "flink:2.2"));
    repo.commit("delete and create");
    let (code, json) = plan_json(&repo, "HEAD~1", &["--path", "apps"]);
    let actions: Vec<(String, String)> = json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_owned(), r["upgrade"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(actions, [("new".to_owned(), "create".to_owned()), ("payments".to_owned(), "delete".to_owned())]);
    assert_eq!(code, 3, "deleting a savepoint-mode job without savepoint-on-deletion is high risk");
}

#[test]
fn session_jobs_are_validated_against_unchanged_session_clusters() {
    let repo = WorkRepo::new();
    repo.write("platform/session.yaml", &session_cluster("session"));
    repo.write("apps/job.yaml", &session_job("clicks", "session", "https://repo.example.com/clicks-1.jar"));
    repo.commit("base");
    repo.write("apps/job.yaml", &session_job("clicks", "session", "https://repo.example.com/clicks-2.jar"));
    repo.commit("new jar");
    let (code, json) = plan_json(&repo, "HEAD~1", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert!(json["warnings"].as_array().unwrap().is_empty(), "the session cluster was found: {json:#}");
    assert_eq!(json["resources"][0]["upgrade"], "stateless");

    repo.write("apps/job.yaml", &session_job("clicks", "elsewhere", "https://repo.example.com/clicks-2.jar"));
    repo.commit("move");
    let (code, json) = plan_json(&repo, "HEAD~1", &[]);
    assert_eq!(code, 3, "moving a session job to another deployment is refused upstream: {json:#}");
    let risk = &json["resources"][0]["risks"][0];
    assert_eq!(risk["level"], "high");
    assert!(risk["message"].as_str().unwrap().contains("deploymentName"));
}

#[test]
fn usage_errors_exit_2() {
    let repo = repo_with_orders();
    let path = repo.path().to_str().unwrap();
    let run = flinkops(&["plan", "--repo", path, "--base", "no-such-branch"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no-such-branch"), "{}", run.stderr);
    let run = flinkops(&["plan", "--repo", path]);
    assert_eq!(run.code, 2, "missing --base");
}

#[test]
fn text_output_lists_changes() {
    let repo = repo_with_orders();
    repo.write("apps/orders.yaml", &deployment("orders", "flink:2.1", "savepoint", 4, ""));
    repo.commit("parallelism");
    let path = repo.path().to_str().unwrap();
    let run = flinkops(&["plan", "--repo", path, "--base", "HEAD~1"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("~ spec.job.parallelism: 2 -> 4"), "{}", run.stdout);
    assert!(run.stdout.contains("upgrade savepoint"), "{}", run.stdout);
}
