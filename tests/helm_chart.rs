//! The Helm chart in `chart/`: `helm lint --strict` and `helm template` for the value sets the issue names
//! (defaults, namespaced RBAC, webhook off, cert-manager on), every rendered object valid against the Kubernetes
//! schemas (`kubernetes-validate --strict`; cert-manager's Issuer and Certificate have no schema there and are only
//! warned about), and the chart's CRDs identical to the generated ones.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `helm` with its cache, config and data under a temp dir, so nothing outside the test is read or written.
fn helm(home: &Path, args: &[&str]) -> String {
    let output = Command::new(common::kube_tools::bin_dir().join("helm"))
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .current_dir(common::repo_root())
        .output()
        .expect("run helm");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "helm {args:?} failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Lints and renders the chart with `sets`, validates every object, and returns them.
fn render(name: &str, sets: &[&str]) -> Vec<Value> {
    let home = tempfile::tempdir().unwrap();
    let mut set_args = Vec::new();
    for set in sets {
        set_args.extend(["--set", set]);
    }
    let mut lint = vec!["lint", "--strict", "chart"];
    lint.extend(&set_args);
    let linted = helm(home.path(), &lint);
    assert!(linted.contains("0 chart(s) failed"), "{linted}");
    let mut template = vec!["template", "rel", "chart", "--namespace", "flinkops", "--include-crds"];
    template.extend(&set_args);
    let rendered = helm(home.path(), &template);
    let path: PathBuf = home.path().join(format!("{name}.yaml"));
    std::fs::write(&path, &rendered).unwrap();
    common::kube_tools::validate_strict(&[path]);
    let parsed = flinkops::manifests::yaml::parse_documents(&rendered);
    parsed.documents.into_iter().map(|d| d.value).filter(|v| !v.is_null()).collect()
}

fn kinds(objects: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = objects.iter().map(|o| o["kind"].as_str().unwrap_or_default().to_owned()).collect();
    kinds.sort();
    kinds
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {:?}", kinds(objects)))
}

#[test]
fn default_values_render_cluster_wide_rbac_and_a_self_signed_webhook() {
    let objects = render("default", &[]);
    let count = |kind: &str| objects.iter().filter(|o| o["kind"] == kind).count();
    assert_eq!(count("CustomResourceDefinition"), 2);
    assert_eq!(count("ClusterRole"), 1);
    assert_eq!(count("ClusterRoleBinding"), 1);
    let webhook = find(&objects, "ValidatingWebhookConfiguration", "rel-flinkops");
    let secret = find(&objects, "Secret", "rel-flinkops-webhook-cert");
    assert_eq!(webhook["webhooks"][0]["clientConfig"]["caBundle"], secret["data"]["ca.crt"]);
    assert_eq!(webhook["webhooks"][0]["clientConfig"]["service"]["name"], "rel-flinkops-webhook");
    assert!(webhook["webhooks"][0].get("namespaceSelector").is_none());
    let job_account = find(&objects, "ServiceAccount", "flink");
    assert_eq!(
        job_account["metadata"]["namespace"], "flinkops",
        "watching all: the jobs' account is in the release namespace"
    );
    let operator = find(&objects, "Deployment", "rel-flinkops");
    let args = &operator["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(args[0], "run");
    find(&objects, "Service", "rel-flinkops-metrics");
}

#[test]
fn watched_namespaces_get_their_own_roles_and_limit_the_webhook() {
    let objects = render("namespaced", &["watchNamespaces={a,b}", "git.url=https://git.example.com/flink.git"]);
    assert!(!objects.iter().any(|o| o["kind"] == "ClusterRole" || o["kind"] == "ClusterRoleBinding"));
    for namespace in ["a", "b"] {
        let role = objects
            .iter()
            .find(|o| {
                o["kind"] == "Role"
                    && o["metadata"]["name"] == "rel-flinkops"
                    && o["metadata"]["namespace"] == namespace
            })
            .unwrap_or_else(|| panic!("no operator Role in {namespace}"));
        let resources: Vec<&Value> =
            role["rules"].as_array().unwrap().iter().flat_map(|r| r["resources"].as_array().unwrap()).collect();
        assert!(resources.contains(&&Value::from("flinkdeployments/status")));
        assert!(!resources.contains(&&Value::from("secrets")), "least privilege: no secrets");
        assert!(objects.iter().any(|o| o["kind"] == "ServiceAccount"
            && o["metadata"]["name"] == "flink"
            && o["metadata"]["namespace"] == namespace));
    }
    let webhook = find(&objects, "ValidatingWebhookConfiguration", "rel-flinkops");
    assert_eq!(
        webhook["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["values"],
        serde_json::json!(["a", "b"])
    );
    let operator = find(&objects, "Deployment", "rel-flinkops");
    assert!(
        operator["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .contains(&Value::from("--repo=https://git.example.com/flink.git"))
    );
}

#[test]
fn the_webhook_can_be_switched_off() {
    let objects = render("no-webhook", &["webhook.create=false"]);
    let kinds = kinds(&objects);
    assert!(!kinds.contains(&"ValidatingWebhookConfiguration".to_owned()));
    assert!(!kinds.contains(&"Secret".to_owned()));
    assert!(!objects.iter().any(|o| o["metadata"]["name"] == "rel-flinkops-webhook"));
}

#[test]
fn cert_manager_issues_the_webhook_certificate() {
    let objects = render("cert-manager", &["certManager.enabled=true"]);
    assert!(!kinds(&objects).contains(&"Secret".to_owned()), "cert-manager writes the Secret");
    let certificate = find(&objects, "Certificate", "rel-flinkops-webhook-cert");
    assert_eq!(certificate["spec"]["issuerRef"]["name"], "rel-flinkops-selfsigned");
    find(&objects, "Issuer", "rel-flinkops-selfsigned");
    let webhook = find(&objects, "ValidatingWebhookConfiguration", "rel-flinkops");
    assert_eq!(
        webhook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "flinkops/rel-flinkops-webhook-cert"
    );
    assert!(webhook["webhooks"][0]["clientConfig"].get("caBundle").is_none());
}

#[test]
fn the_chart_crds_are_the_generated_ones() {
    for kind in flinkops::crd::Kind::ALL {
        let name = flinkops::crd::crd_file_name(kind);
        let chart = common::repo_root().join("chart/crds").join(&name);
        let chart = std::fs::read_to_string(&chart).unwrap_or_else(|e| panic!("{}: {e}", chart.display()));
        assert_eq!(
            chart,
            flinkops::crd::render_crd_yaml(kind).unwrap(),
            "chart/crds/{name} is stale: run `cargo run -- crds --output-dir chart/crds`"
        );
    }
}
