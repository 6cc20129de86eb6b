//! Webhook tests: the decision against the CLI's text for every fixture (pure), then the HTTPS server on loopback
//! with a self-signed certificate: allowed, denied, warnings, undecodable objects, and certificate rotation.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::*;
use crate::crd::FlinkDeployment;
use crate::manifests::load::{Discovered, load_paths};
use crate::manifests::yaml::parse_documents;
use kube::core::DynamicObject;
use kube::core::admission::AdmissionReview;

// Generous: debug-build TLS on a loaded two-core machine is slow; a hang still fails.
const BOUND: Duration = Duration::from_secs(60);

fn review(object: &Value, operation: &str, dry_run: bool) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "flink.apache.org", "version": "v1beta1", "kind": object["kind"]},
            "resource": {"group": "flink.apache.org", "version": "v1beta1", "resource": "flinkdeployments"},
            "name": object["metadata"]["name"].as_str().unwrap_or_default(),
            "namespace": object["metadata"]["namespace"].as_str(),
            "operation": operation,
            "userInfo": {"username": "admin"},
            "object": object,
            "oldObject": null,
            "dryRun": dry_run,
        }
    })
}

fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    parse_documents(&text).documents.remove(0).value
}

/// What `flinkops validate FILE` prints for the file, without the positions, prefixed like the webhook does.
fn cli_lines(path: &Path, subject: &str) -> Vec<String> {
    let set = load_paths(&[Discovered { path: path.to_owned(), display: path.display().to_string() }]);
    let mut lines: Vec<String> = set.problems.iter().map(|p| format!("{subject}: {}", p.finding())).collect();
    lines.sort();
    lines
}

fn response(review: &Value) -> &Value {
    &review["response"]
}

#[test]
fn every_single_resource_fixture_is_denied_with_the_cli_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/malformed");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let parsed = parse_documents(&std::fs::read_to_string(&path).unwrap());
        // Syntax errors never reach a webhook (kubectl cannot send them), and multi-document files carry the
        // session cluster a job is checked against, which the webhook does not know.
        if !parsed.errors.is_empty() || parsed.documents.len() != 1 {
            continue;
        }
        let object = &parsed.documents[0].value;
        let Some(kind) = object["kind"].as_str().filter(|k| k.starts_with("Flink")) else { continue };
        let metadata = &object["metadata"];
        let subject = format!(
            "{kind} {}/{}",
            metadata["namespace"].as_str().unwrap_or("default"),
            metadata["name"].as_str().unwrap_or("(unnamed)")
        );
        let body = serde_json::to_vec(&review(object, "CREATE", false)).unwrap();
        let (answered, verdict) = answer(&body, None);
        let answered = serde_json::to_value(answered).unwrap();
        let response = response(&answered);
        let mut lines: Vec<String> = response["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .lines()
            .chain(response["warnings"].as_array().into_iter().flatten().filter_map(Value::as_str))
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        lines.sort();
        assert_eq!(lines, cli_lines(&path, &subject), "{}", path.display());
        assert_eq!(verdict == Verdict::Denied, response["allowed"] == false, "{}", path.display());
        checked += 1;
    }
    assert!(checked > 40, "only {checked} fixtures checked");
}

#[test]
fn delete_is_allowed_without_looking_at_the_object() {
    let object = fixture("tests/fixtures/malformed/rule-parallelism-zero.yaml");
    let (answered, verdict) = answer(&serde_json::to_vec(&review(&object, "DELETE", false)).unwrap(), None);
    assert_eq!(verdict, Verdict::Allowed);
    assert_eq!(answered.response.unwrap().uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
}

#[test]
fn a_kind_flinkops_does_not_validate_is_allowed_with_a_warning() {
    let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "ns"}});
    let (answered, verdict) = answer(&serde_json::to_vec(&review(&object, "CREATE", false)).unwrap(), None);
    assert_eq!(verdict, Verdict::Allowed);
    let warnings = answered.response.unwrap().warnings.unwrap();
    assert_eq!(warnings, ["ConfigMap ns/x: skipped: ConfigMap is not a Flink resource"]);
}

#[test]
fn a_body_that_is_not_a_review_is_invalid_with_the_json_path() {
    let mut body = review(&fixture("examples-repo/apps/orders.yaml"), "CREATE", false);
    body["request"]["operation"] = json!(42);
    let (answered, verdict) = answer(&serde_json::to_vec(&body).unwrap(), None);
    assert_eq!(verdict, Verdict::Invalid);
    let response = answered.response.unwrap();
    assert!(!response.allowed);
    assert_eq!(response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002", "the uid is kept so the API server can match it");
    assert!(response.result.message.contains("request.operation"), "{}", response.result.message);
}

fn deployment_fixture(path: &str) -> FlinkDeployment {
    serde_json::from_value(fixture(path)).unwrap()
}

fn denial(answered: &AdmissionReview<DynamicObject>) -> String {
    answered.response.as_ref().unwrap().result.message.clone()
}

#[test]
fn a_session_job_is_checked_against_the_session_cluster_it_names() {
    let job = fixture("examples-repo/apps/session-jobs.yaml");
    let body = serde_json::to_vec(&review(&job, "CREATE", false)).unwrap();
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(session_target(&parsed), Some(("streaming".to_owned(), "shared-session".to_owned())));

    let mut application = deployment_fixture("examples-repo/apps/orders.yaml");
    application.metadata.name = Some("shared-session".to_owned());
    let (answered, verdict) = answer(&body, Some(&application));
    assert_eq!(verdict, Verdict::Denied);
    assert_eq!(
        denial(&answered),
        "FlinkSessionJob streaming/payments: error: spec.deploymentName: shared-session is an application cluster \
         (it has a job); session jobs need a session cluster"
    );
    let session = deployment_fixture("examples-repo/platform/session.yaml");
    assert_eq!(answer(&body, Some(&session)).1, Verdict::Allowed);
    // Not there (yet): Git may apply the job before its cluster; the job is checked on its own.
    assert_eq!(answer(&body, None).1, Verdict::Allowed);
    // A deployment review never looks a cluster up.
    assert_eq!(session_target(&review(&fixture("examples-repo/apps/orders.yaml"), "CREATE", false)), None);
}

#[test]
fn an_update_is_checked_by_upstreams_change_rules() {
    let job = fixture("examples-repo/apps/session-jobs.yaml");
    let mut moved = job.clone();
    moved["spec"]["deploymentName"] = json!("another-session");
    let mut body = review(&moved, "UPDATE", false);
    body["request"]["oldObject"] = job.clone();
    let (answered, verdict) = answer(&serde_json::to_vec(&body).unwrap(), None);
    assert_eq!(verdict, Verdict::Denied);
    assert_eq!(
        denial(&answered),
        "FlinkSessionJob streaming/payments: error: spec.deploymentName: deploymentName cannot change; create a new \
         session job"
    );

    let session = fixture("examples-repo/platform/session.yaml");
    let mut application = session.clone();
    application["spec"]["job"] = fixture("examples-repo/apps/orders.yaml")["spec"]["job"].clone();
    let mut body = review(&application, "UPDATE", false);
    body["request"]["oldObject"] = session;
    let (answered, verdict) = answer(&serde_json::to_vec(&body).unwrap(), None);
    assert_eq!(verdict, Verdict::Denied);
    assert!(denial(&answered).contains("spec.job: a session cluster cannot become an application cluster"));

    // An unchanged update passes.
    let mut body = review(&job, "UPDATE", false);
    body["request"]["oldObject"] = job.clone();
    assert_eq!(answer(&serde_json::to_vec(&body).unwrap(), None).1, Verdict::Allowed);
}

// --- over HTTPS on loopback ---

fn write_cert(dir: &Path) -> String {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = generated.cert.pem();
    // Written to a temporary name and renamed, the way a Secret volume swaps its files, so a handshake never
    // sees half a file.
    for (name, text) in [(certs::KEY_FILE, generated.signing_key.serialize_pem()), (certs::CERT_FILE, cert.clone())] {
        let temporary = dir.join(format!(".{name}.tmp"));
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, dir.join(name)).unwrap();
    }
    cert
}

fn client_trusting(cert_pem: &str) -> reqwest::Client {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

struct Running {
    url: String,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), WebhookError>>,
}

impl Running {
    async fn start(cert_dir: &Path) -> Running {
        Running::start_with(cert_dir, None).await
    }

    async fn start_with(cert_dir: &Path, session_clusters: Option<SessionClusters>) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://127.0.0.1:{}/validate", listener.local_addr().unwrap().port());
        let metrics = Arc::new(Metrics::default());
        let mut config = WebhookConfig::new(0, cert_dir, metrics.clone());
        config.shutdown_grace = Duration::from_secs(2);
        config.session_clusters = session_clusters;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_on(listener, config, async {
            let _ = stopped.await;
        }));
        Running { url, metrics, stop: Some(stop), task }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(BOUND, self.task).await.unwrap().unwrap().unwrap();
    }
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Value {
    let answer = client.post(url).json(body).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

#[tokio::test]
async fn https_answers_allowed_denied_warned_and_undecodable() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let cert = write_cert(dir.path());
        let server = Running::start(dir.path()).await;
        let client = client_trusting(&cert);

        let valid = fixture("examples-repo/apps/orders.yaml");
        let answered = post(&client, &server.url, &review(&valid, "CREATE", false)).await;
        assert_eq!(response(&answered)["allowed"], true, "{answered}");
        assert_eq!(response(&answered)["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(answered["kind"], "AdmissionReview");
        assert_eq!(answered["apiVersion"], "admission.k8s.io/v1");

        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/malformed/rule-parallelism-zero.yaml");
        let invalid = fixture("tests/fixtures/malformed/rule-parallelism-zero.yaml");
        for dry_run in [false, true] {
            let answered = post(&client, &server.url, &review(&invalid, "UPDATE", dry_run)).await;
            assert_eq!(response(&answered)["allowed"], false);
            assert_eq!(
                response(&answered)["status"]["message"],
                cli_lines(&path, "FlinkDeployment streaming/orders").join("\n")
            );
            assert_eq!(
                response(&answered)["status"]["message"],
                "FlinkDeployment streaming/orders: error: spec.job.parallelism: parallelism must be at least 1"
            );
        }

        let mut warned = valid.clone();
        warned["spec"]["job"]["upgradeMode"] = json!("stateful");
        let answered = post(&client, &server.url, &review(&warned, "CREATE", false)).await;
        assert_eq!(response(&answered)["allowed"], true);
        let subject = format!(
            "FlinkDeployment {}/{}",
            valid["metadata"]["namespace"].as_str().unwrap_or("default"),
            valid["metadata"]["name"].as_str().unwrap()
        );
        assert_eq!(
            response(&answered)["warnings"],
            json!([format!(
                "{subject}: warning: spec.job.upgradeMode: `stateful` is not an upstream upgrade mode; it is read as \
                 `last-state` (write `last-state`)"
            )])
        );

        let mut undecodable = valid.clone();
        undecodable["spec"]["job"]["parallelism"] = json!({"many": true});
        let answered = post(&client, &server.url, &review(&undecodable, "CREATE", false)).await;
        assert_eq!(response(&answered)["allowed"], false);
        let message = response(&answered)["status"]["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with(&format!("{subject}: error: spec.job.parallelism: ")), "{message}");

        assert_eq!(server.metrics.requests(Verdict::Allowed), 2);
        assert_eq!(server.metrics.requests(Verdict::Denied), 3);
        server.stop().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_a_restart() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let first = write_cert(dir.path());
        let server = Running::start(dir.path()).await;
        let body = review(&fixture("examples-repo/apps/orders.yaml"), "CREATE", false);
        post(&client_trusting(&first), &server.url, &body).await;

        let second = write_cert(dir.path());
        post(&client_trusting(&second), &server.url, &body).await;
        let stale = client_trusting(&first).post(&server.url).json(&body).send().await;
        assert!(stale.is_err(), "the old certificate is no longer served");
        server.stop().await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_missing_key_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_cert(dir.path());
    std::fs::remove_file(dir.path().join(certs::KEY_FILE)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = WebhookConfig::new(0, dir.path(), Arc::new(Metrics::default()));
    let error = tokio::time::timeout(BOUND, serve_on(listener, config, std::future::pending())).await.unwrap();
    let message = error.unwrap_err().to_string();
    assert!(message.contains(&dir.path().join("tls.key").display().to_string()), "{message}");
}

#[tokio::test]
async fn health_server_reports_readiness_leadership_and_counters() {
    tokio::time::timeout(BOUND, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let metrics = Arc::new(Metrics::default());
        let (leader_tx, leader) = tokio::sync::watch::channel(false);
        let config = HealthConfig {
            health_addr: listener.local_addr().unwrap(),
            metrics_addr: listener.local_addr().unwrap(),
            metrics: metrics.clone(),
            leader: Some(leader),
            shutdown_grace: Duration::from_secs(2),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(health::serve_on(vec![listener], config, async {
            let _ = stopped.await;
        }));
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let get = |path: &'static str| {
            let client = client.clone();
            let url = format!("{base}{path}");
            async move {
                let answer = client.get(url).send().await.unwrap();
                (answer.status().as_u16(), answer.text().await.unwrap())
            }
        };
        assert_eq!(get("/healthz").await.0, 200);
        assert_eq!(get("/readyz").await.0, 503);
        metrics.set_ready(true);
        assert_eq!(get("/readyz").await.0, 200);
        metrics.record(Verdict::Denied);
        leader_tx.send(true).unwrap();
        let (status, text) = get("/metrics").await;
        assert_eq!(status, 200);
        assert!(text.contains("flinkops_webhook_requests_total{verdict=\"denied\"} 1\n"), "{text}");
        assert!(text.contains("flinkops_leader 1\n"), "{text}");
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn https_looks_up_the_session_cluster_of_a_session_job() {
    tokio::time::timeout(BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let cert = write_cert(dir.path());
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorder = asked.clone();
        let lookup: SessionClusters = Arc::new(move |namespace: String, name: String| {
            recorder.lock().unwrap().push(format!("{namespace}/{name}"));
            // Every name is an application cluster here, so the job is denied only if the lookup was used.
            let mut found = deployment_fixture("examples-repo/apps/orders.yaml");
            found.metadata.name = Some(name);
            Box::pin(async move { Some(found) })
        });
        let server = Running::start_with(dir.path(), Some(lookup)).await;
        let client = client_trusting(&cert);

        let job = fixture("examples-repo/apps/session-jobs.yaml");
        let answered = post(&client, &server.url, &review(&job, "CREATE", true)).await;
        assert_eq!(response(&answered)["allowed"], false, "{answered}");
        let message = response(&answered)["status"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains("shared-session is an application cluster"), "{message}");
        let deployment = fixture("examples-repo/apps/orders.yaml");
        assert_eq!(response(&post(&client, &server.url, &review(&deployment, "CREATE", false)).await)["allowed"], true);
        assert_eq!(*asked.lock().unwrap(), ["streaming/shared-session"], "only the session job is looked up");
        server.stop().await;
    })
    .await
    .unwrap();
}
