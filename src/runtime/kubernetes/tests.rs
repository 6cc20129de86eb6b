//! Request-level tests of the Kubernetes runtime against [`FakeApi`], a small API server behind kube's tower-test
//! mock service: it stores what is applied, bumps a Deployment's generation when its spec changes, plays the
//! kubelet (ready, stuck, crash-looping) and records every request, so tests check both what was sent and what
//! the runtime concludes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use super::*;
use crate::runtime::{DeployIntent, Restore, cluster};

/// Bound on every runtime call: a request the fake does not answer fails the test instead of hanging it.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

const ORDERS: &str = r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: streaming, uid: uid-orders, generation: 4}
spec:
  flinkVersion: v2_3
  image: flink:2.3
  flinkConfiguration: {taskmanager.numberOfTaskSlots: "2"}
  job: {jarURI: "local:///opt/flink/usrlib/job.jar", entryClass: io.flinkops.Job, parallelism: 4}
"#;

const FLINKDEPLOYMENT: &str = "/apis/flink.apache.org/v1beta1/namespaces/streaming/flinkdeployments/orders";
const CONFIG_MAP: &str = "/api/v1/namespaces/streaming/configmaps/flink-config-orders";
const REST_SERVICE: &str = "/api/v1/namespaces/streaming/services/orders-rest";
const INTERNAL_SERVICE: &str = "/api/v1/namespaces/streaming/services/orders";
const JOBMANAGER: &str = "/apis/apps/v1/namespaces/streaming/deployments/orders";
const TASKMANAGER: &str = "/apis/apps/v1/namespaces/streaming/deployments/orders-taskmanager";
const INGRESS: &str = "/apis/networking.k8s.io/v1/namespaces/streaming/ingresses/orders";
const PODS: &str = "/api/v1/namespaces/streaming/pods";

/// What the fake kubelet does with the pods of an applied Deployment.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kubelet {
    /// Every replica is available at once.
    Ready,
    /// Pods exist but never become available.
    Stuck,
    /// Like `Stuck`, and the TaskManager's container crash-loops.
    CrashLoop,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    body: Value,
}

impl Recorded {
    fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A fake API server: objects by path, the kubelet's behaviour, and the requests received.
struct FakeApi {
    objects: BTreeMap<String, Value>,
    kubelet: Kubelet,
    /// How many reads a deleted Deployment survives (its pods shutting down under foreground deletion).
    linger: u32,
    lingering: BTreeMap<String, u32>,
    /// Paths whose PATCH fails with this status code.
    failing: BTreeMap<String, u16>,
    requests: Vec<Recorded>,
}

impl FakeApi {
    fn new(kubelet: Kubelet) -> Self {
        FakeApi {
            objects: BTreeMap::new(),
            kubelet,
            linger: 0,
            lingering: BTreeMap::new(),
            failing: BTreeMap::new(),
            requests: Vec::new(),
        }
    }

    /// Stores the FlinkDeployment of `yaml` as the API server would return it.
    fn with_flinkdeployment(mut self, yaml: &str) -> Self {
        self.store_flinkdeployment(yaml);
        self
    }

    fn store_flinkdeployment(&mut self, yaml: &str) {
        let deployment: FlinkDeployment = crate::manifests::yaml::from_str(yaml).unwrap();
        self.objects.insert(FLINKDEPLOYMENT.into(), serde_json::to_value(deployment).unwrap());
    }

    fn answer(&mut self, method: Method, path: &str, query: &str, body: &[u8]) -> (StatusCode, Value) {
        let query: BTreeMap<String, String> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.replace("%2C", ",").replace("%3D", "=")))
            .collect();
        let body: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(body).unwrap() };
        self.requests.push(Recorded { method: method.clone(), path: path.to_owned(), query, body: body.clone() });
        match method {
            Method::GET if path == PODS => {
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|(k, _)| k.starts_with(&format!("{PODS}/")))
                    .map(|(_, v)| v.clone())
                    .collect();
                (StatusCode::OK, json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}))
            }
            Method::GET => {
                let found = self.objects.get(path).cloned();
                if let Some(left) = self.lingering.get_mut(path) {
                    *left -= 1;
                    if *left == 0 {
                        self.lingering.remove(path);
                        self.objects.remove(path);
                    }
                }
                found.map_or_else(|| not_found(path), |object| (StatusCode::OK, object))
            }
            Method::PATCH => {
                if let Some(code) = self.failing.get(path) {
                    let code = StatusCode::from_u16(*code).unwrap();
                    return (code, status(code.as_u16(), "InternalError", "etcdserver: request timed out"));
                }
                (StatusCode::OK, self.apply(path, body))
            }
            Method::DELETE => match self.objects.get_mut(path) {
                None => not_found(path),
                Some(object) => {
                    object["metadata"]["deletionTimestamp"] = json!("2026-12-01T12:00:00Z");
                    let object = object.clone();
                    if path.contains("/deployments/") && self.linger > 0 {
                        self.lingering.insert(path.to_owned(), self.linger);
                    } else {
                        self.objects.remove(path);
                    }
                    (StatusCode::OK, object)
                }
            },
            other => panic!("unexpected {other} {path}"),
        }
    }

    /// A server-side apply: the applied object replaces the stored one, keeping what the server owns (uid,
    /// generation, status); a Deployment's generation moves when its spec changes, and the kubelet reacts.
    fn apply(&mut self, path: &str, mut object: Value) -> Value {
        let previous = self.objects.get(path).cloned();
        let generation = match &previous {
            Some(previous) if previous["spec"] == object["spec"] => {
                previous["metadata"]["generation"].as_i64().unwrap_or(1)
            }
            Some(previous) => previous["metadata"]["generation"].as_i64().unwrap_or(1) + 1,
            None => 1,
        };
        object["metadata"]["generation"] = json!(generation);
        object["metadata"]["uid"] = json!(format!("uid-{path}"));
        if let Some(previous) = &previous {
            object["status"] = previous["status"].clone();
        }
        if path.contains("/deployments/") {
            self.kubelet_runs(path, &mut object, generation);
        }
        self.objects.insert(path.to_owned(), object.clone());
        object
    }

    fn kubelet_runs(&mut self, path: &str, deployment: &mut Value, generation: i64) {
        let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
        let available = if self.kubelet == Kubelet::Ready { replicas } else { 0 };
        deployment["status"] = json!({"observedGeneration": generation, "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": available, "availableReplicas": available});
        if self.kubelet == Kubelet::CrashLoop && path == TASKMANAGER {
            let pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "orders-taskmanager-5f7c9-k2x8d", "namespace": "streaming",
                    "labels": {"app": "orders", "component": "taskmanager", "type": "flink-standalone-kubernetes"}},
                "status": {"containerStatuses": [{"name": "flink-main-container", "ready": false, "restartCount": 4,
                    "image": "flink:2.3", "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff",
                        "message": "back-off 1m20s restarting failed container=flink-main-container"}},
                    "lastState": {"terminated": {"exitCode": 239}}}]}});
            self.objects.insert(format!("{PODS}/orders-taskmanager-5f7c9-k2x8d"), pod);
        }
    }

    fn object(&self, path: &str) -> &Value {
        self.objects.get(path).unwrap_or_else(|| panic!("{path} was never applied"))
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
        "reason": reason, "code": code})
}

fn not_found(path: &str) -> (StatusCode, Value) {
    (StatusCode::NOT_FOUND, status(404, "NotFound", &format!("{} not found", path.rsplit('/').next().unwrap_or(path))))
}

/// A runtime on a fake API server, with waits short enough for tests.
struct Harness {
    runtime: KubernetesRuntime,
    api: Arc<Mutex<FakeApi>>,
}

impl Harness {
    fn new(api: FakeApi) -> Self {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api = Arc::new(Mutex::new(api));
        let server = Arc::clone(&api);
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.unwrap();
                let (code, value) = server.lock().unwrap().answer(
                    parts.method,
                    parts.uri.path(),
                    parts.uri.query().unwrap_or_default(),
                    &bytes,
                );
                let response =
                    Response::builder().status(code).body(Body::from(serde_json::to_vec(&value).unwrap())).unwrap();
                send.send_response(response);
            }
        });
        let runtime = KubernetesRuntime::new(Client::new(service, "default"), KubernetesDefaults::default())
            .with_deploy_timeout(Duration::from_millis(300))
            .with_delete_timeout(Duration::from_millis(300))
            .with_poll_interval(Duration::from_millis(20));
        Harness { runtime, api }
    }

    /// Another runtime on the same API server: an operator that restarted.
    fn restarted(&self) -> KubernetesRuntime {
        KubernetesRuntime::new(self.runtime.client.clone(), KubernetesDefaults::default())
    }

    async fn deploy(&self, spec: &ClusterSpec) -> Result<ClusterObservation, RuntimeError> {
        tokio::time::timeout(CALL_TIMEOUT, self.runtime.deploy(spec)).await.expect("deploy did not finish")
    }

    async fn observe(&self) -> ClusterObservation {
        tokio::time::timeout(CALL_TIMEOUT, self.runtime.observe(&id())).await.expect("observe did not finish").unwrap()
    }

    async fn delete(&self) -> Result<(), RuntimeError> {
        tokio::time::timeout(CALL_TIMEOUT, self.runtime.delete(&id())).await.expect("delete did not finish")
    }

    /// The requests received so far as `METHOD path`, and forgets them.
    fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.api.lock().unwrap().requests)
    }

    fn object(&self, path: &str) -> Value {
        self.api.lock().unwrap().object(path).clone()
    }
}

fn id() -> ClusterId {
    ClusterId { namespace: "streaming".into(), name: "orders".into() }
}

fn spec_of(yaml: &str, job_id: &str, restore: Option<&str>) -> ClusterSpec {
    let deployment: FlinkDeployment = crate::manifests::yaml::from_str(yaml).unwrap();
    let restore = restore.map(|path| Restore { path: path.into(), allow_non_restored_state: false });
    cluster::build(&deployment, &DeployIntent { job_id: Some(job_id.into()), restore }).unwrap()
}

fn lines(requests: &[Recorded]) -> Vec<String> {
    requests.iter().map(Recorded::line).collect()
}

fn jobmanager_args(jobmanager: &Value) -> Vec<String> {
    serde_json::from_value(jobmanager["spec"]["template"]["spec"]["containers"][0]["args"].clone()).unwrap()
}

/// A ready cluster of generation 4 running [`JOB_A`].
fn ready_with_job_a(rest_url: &str) -> ClusterObservation {
    ClusterObservation {
        status: ClusterStatus::Ready,
        rest_url: Some(rest_url.into()),
        generation: Some(4),
        job_id: Some(JOB_A.into()),
        notes: Vec::new(),
    }
}

const JOB_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const JOB_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[tokio::test]
async fn deploying_an_application_cluster_applies_every_object_owned_by_its_flinkdeployment() {
    let harness = Harness::new(FakeApi::new(Kubelet::Ready).with_flinkdeployment(ORDERS));
    let observed = harness.deploy(&spec_of(ORDERS, JOB_A, Some("s3://sp/savepoint-1"))).await.unwrap();

    assert_eq!(observed, ready_with_job_a("http://orders-rest.streaming.svc:8081"));
    let requests = harness.take_requests();
    assert_eq!(
        lines(&requests),
        [
            format!("GET {FLINKDEPLOYMENT}"),
            format!("GET {JOBMANAGER}"),
            format!("GET {TASKMANAGER}"),
            format!("PATCH {CONFIG_MAP}"),
            format!("PATCH {REST_SERVICE}"),
            format!("PATCH {INTERNAL_SERVICE}"),
            format!("PATCH {JOBMANAGER}"),
            format!("PATCH {TASKMANAGER}"),
            // The spec has no Ingress: one left by an earlier spec would be removed.
            format!("GET {INGRESS}"),
            format!("GET {JOBMANAGER}"),
            format!("GET {TASKMANAGER}"),
        ]
    );
    for patch in requests.iter().filter(|r| r.method == Method::PATCH) {
        let query: Vec<_> = patch.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(query, ["fieldManager=flinkops", "force=true"], "{}", patch.path);
        // Server-side apply needs the type in the body.
        assert!(patch.body["apiVersion"].is_string() && patch.body["kind"].is_string(), "{}", patch.path);
        let owners = &patch.body["metadata"]["ownerReferences"];
        assert_eq!(
            owners,
            &json!([{"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment", "name": "orders",
                "uid": "uid-orders", "controller": true, "blockOwnerDeletion": true}]),
            "{}",
            patch.path
        );
    }
    let jobmanager = harness.object(JOBMANAGER);
    let args = jobmanager_args(&jobmanager);
    assert_eq!(
        args,
        [
            "standalone-job",
            "--job-classname",
            "io.flinkops.Job",
            "--job-id",
            JOB_A,
            "--fromSavepoint",
            "s3://sp/savepoint-1"
        ]
    );
    assert_eq!(jobmanager["spec"]["strategy"]["type"], "Recreate");
    let annotations = &jobmanager["metadata"]["annotations"];
    assert_eq!(annotations["flinkdeployment.flink.apache.org/generation"], "4");
    assert_eq!(annotations[JOB_ID_ANNOTATION], JOB_A);
    assert_eq!(harness.object(TASKMANAGER)["spec"]["replicas"], 2, "parallelism 4 over 2 slots");
}

#[tokio::test]
async fn redeploying_with_a_new_job_id_replaces_the_jobmanager_and_keeps_the_taskmanagers() {
    let harness = Harness::new(FakeApi::new(Kubelet::Ready).with_flinkdeployment(ORDERS));
    harness.deploy(&spec_of(ORDERS, JOB_A, None)).await.unwrap();
    let (jm_before, tm_before) = (harness.object(JOBMANAGER), harness.object(TASKMANAGER));

    let observed = harness.deploy(&spec_of(ORDERS, JOB_B, Some("s3://sp/savepoint-2"))).await.unwrap();

    assert_eq!((observed.status, observed.job_id.as_deref()), (ClusterStatus::Ready, Some(JOB_B)));
    let jm_after = harness.object(JOBMANAGER);
    assert_eq!(jm_after["metadata"]["generation"], jm_before["metadata"]["generation"].as_i64().unwrap() + 1);
    assert!(jobmanager_args(&jm_after).windows(2).any(|w| w == ["--job-id", JOB_B]));
    assert!(jobmanager_args(&jm_after).windows(2).any(|w| w == ["--fromSavepoint", "s3://sp/savepoint-2"]));
    assert_eq!(harness.object(TASKMANAGER)["metadata"]["generation"], tm_before["metadata"]["generation"]);
    assert_eq!(harness.observe().await.job_id.as_deref(), Some(JOB_B));

    // The same deploy again (a retry) changes no template: nothing restarts.
    harness.deploy(&spec_of(ORDERS, JOB_B, Some("s3://sp/savepoint-2"))).await.unwrap();
    assert_eq!(harness.object(JOBMANAGER)["metadata"]["generation"], jm_after["metadata"]["generation"]);
}

#[tokio::test]
async fn a_configuration_change_restarts_both_components() {
    let harness = Harness::new(FakeApi::new(Kubelet::Ready).with_flinkdeployment(ORDERS));
    harness.deploy(&spec_of(ORDERS, JOB_A, None)).await.unwrap();
    let changed =
        ORDERS.replace("numberOfTaskSlots: \"2\"", "numberOfTaskSlots: \"2\", pipeline.max-parallelism: \"64\"");
    harness.api.lock().unwrap().store_flinkdeployment(&changed);

    harness.deploy(&spec_of(&changed, JOB_A, None)).await.unwrap();

    assert_eq!(harness.object(JOBMANAGER)["metadata"]["generation"], 2);
    assert_eq!(harness.object(TASKMANAGER)["metadata"]["generation"], 2);
}

#[tokio::test]
async fn deploy_returns_deploying_when_the_cluster_is_not_ready_within_the_timeout() {
    let harness = Harness::new(FakeApi::new(Kubelet::Stuck).with_flinkdeployment(ORDERS));
    let observed = harness.deploy(&spec_of(ORDERS, JOB_A, None)).await.unwrap();
    assert_eq!(observed.status, ClusterStatus::Deploying);
    let requests = harness.take_requests();
    let pod_lists: Vec<_> = requests.iter().filter(|r| r.path == PODS).collect();
    assert!(pod_lists.len() >= 2, "observed again while waiting: {:?}", lines(&requests));
    assert_eq!(pod_lists[0].query["labelSelector"], "app=orders,type=flink-standalone-kubernetes");
}

#[tokio::test]
async fn a_crash_looping_taskmanager_fails_the_deploy_and_the_observation_with_its_reason() {
    let harness = Harness::new(FakeApi::new(Kubelet::CrashLoop).with_flinkdeployment(ORDERS));
    let reason = "pod orders-taskmanager-5f7c9-k2x8d: container flink-main-container is in CrashLoopBackOff: \
                  back-off 1m20s restarting failed container=flink-main-container (last exit code 239)";
    let deployed = harness.deploy(&spec_of(ORDERS, JOB_A, None)).await.unwrap();
    assert_eq!(deployed.status, ClusterStatus::Failed { reason: reason.into() });
    assert_eq!(harness.observe().await.status, ClusterStatus::Failed { reason: reason.into() });
}

#[tokio::test]
async fn observing_nothing_is_missing_without_listing_pods() {
    let harness = Harness::new(FakeApi::new(Kubelet::Ready));
    assert_eq!(harness.observe().await, ClusterObservation::missing());
    assert_eq!(lines(&harness.take_requests()), [format!("GET {JOBMANAGER}")]);
}

#[tokio::test]
async fn a_restarted_operator_reads_generation_and_job_id_back_from_the_cluster() {
    let harness = Harness::new(FakeApi::new(Kubelet::Ready).with_flinkdeployment(ORDERS));
    harness.deploy(&spec_of(ORDERS, JOB_A, None)).await.unwrap();
    harness.take_requests();

    let restarted = harness.restarted().with_rest_url_template("http://localhost:8081/{{namespace}}/{{name}}");
    let observed = tokio::time::timeout(CALL_TIMEOUT, restarted.observe(&id())).await.unwrap().unwrap();

    assert_eq!(observed, ready_with_job_a("http://localhost:8081/streaming/orders"));
    // A ready cluster needs no pod listing.
    assert_eq!(lines(&harness.take_requests()), [format!("GET {JOBMANAGER}"), format!("GET {TASKMANAGER}")]);
}

#[tokio::test]
async fn an_ingress_dropped_from_the_spec_is_removed_but_not_one_someone_else_owns() {
    let with_ingress = ORDERS.replace("spec:\n", "spec:\n  ingress: {template: \"{{name}}.flink.example.com\"}\n");
    let harness = Harness::new(FakeApi::new(Kubelet::Ready).with_flinkdeployment(&with_ingress));
    harness.deploy(&spec_of(&with_ingress, JOB_A, None)).await.unwrap();
    assert_eq!(harness.object(INGRESS)["spec"]["rules"][0]["host"], "orders.flink.example.com");
    harness.api.lock().unwrap().store_flinkdeployment(ORDERS);
    harness.take_requests();

    harness.deploy(&spec_of(ORDERS, JOB_A, None)).await.unwrap();

    let requests = lines(&harness.take_requests());
    assert!(requests.contains(&format!("DELETE {INGRESS}")), "{requests:?}");
    assert!(!harness.api.lock().unwrap().objects.contains_key(INGRESS));

    // An Ingress of the same name made by someone else stays.
    harness.api.lock().unwrap().objects.insert(
        INGRESS.into(),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "orders", "namespace": "streaming"}}),
    );
    harness.deploy(&spec_of(ORDERS, JOB_A, None)).await.unwrap();
    assert!(!lines(&harness.take_requests()).contains(&format!("DELETE {INGRESS}")));
}

#[tokio::test]
async fn delete_removes_every_object_in_the_foreground_and_waits_for_the_deployments() {
    let mut api = FakeApi::new(Kubelet::Ready).with_flinkdeployment(ORDERS);
    api.linger = 2;
    let harness = Harness::new(api);
    harness.deploy(&spec_of(ORDERS, JOB_A, None)).await.unwrap();
    harness.take_requests();

    harness.delete().await.unwrap();

    let requests = harness.take_requests();
    let deletes: Vec<_> = requests.iter().filter(|r| r.method == Method::DELETE).collect();
    assert_eq!(
        lines(&deletes.iter().map(|r| (*r).clone()).collect::<Vec<_>>()),
        [
            format!("DELETE {INGRESS}"),
            format!("DELETE {TASKMANAGER}"),
            format!("DELETE {JOBMANAGER}"),
            format!("DELETE {REST_SERVICE}"),
            format!("DELETE {INTERNAL_SERVICE}"),
            format!("DELETE {CONFIG_MAP}"),
        ]
    );
    for delete in &deletes {
        assert_eq!(delete.body["propagationPolicy"], "Foreground", "{}", delete.path);
    }
    let reads_after = requests.iter().filter(|r| r.method == Method::GET && r.path == JOBMANAGER).count();
    assert!(reads_after >= 2, "waited for the lingering JobManager Deployment: {:?}", lines(&requests));
    assert_eq!(harness.observe().await.status, ClusterStatus::Missing);
}

#[tokio::test]
async fn deleting_a_missing_cluster_succeeds() {
    let harness = Harness::new(FakeApi::new(Kubelet::Ready));
    harness.delete().await.unwrap();
    let requests = harness.take_requests();
    assert_eq!(requests.iter().filter(|r| r.method == Method::DELETE).count(), 6);
}

#[tokio::test]
async fn delete_fails_transiently_when_the_deployments_outlive_the_timeout() {
    let mut api = FakeApi::new(Kubelet::Ready).with_flinkdeployment(ORDERS);
    api.linger = u32::MAX;
    let harness = Harness::new(api);
    harness.deploy(&spec_of(ORDERS, JOB_A, None)).await.unwrap();
    let error = harness.delete().await.unwrap_err();
    assert!(error.is_transient());
    assert!(error.to_string().contains("still exists"), "{error}");

    // A deploy over the terminating cluster is refused until it is gone.
    let error = harness.deploy(&spec_of(ORDERS, JOB_B, None)).await.unwrap_err();
    assert!(error.is_transient() && error.to_string().contains("still being deleted"), "{error}");
}

#[tokio::test]
async fn a_spec_the_builders_refuse_is_bad_input_and_nothing_is_applied() {
    let cases = [
        ("no image", ORDERS.replace("  flinkVersion: v2_3\n  image: flink:2.3\n", ""), "spec.image is required"),
        ("no uid", ORDERS.replace("uid: uid-orders, ", ""), "metadata.uid is missing"),
        ("a jar scheme Flink cannot read", ORDERS.replace("local:///opt", "s4://bucket"), "is not supported"),
    ];
    for (case, yaml, expected) in cases {
        let harness = Harness::new(FakeApi::new(Kubelet::Ready).with_flinkdeployment(&yaml));
        let error = harness.deploy(&spec_of(&yaml, JOB_A, None)).await.unwrap_err();
        assert!(matches!(error, RuntimeError::BadInput { .. }), "{case}: {error:?}");
        assert!(error.to_string().starts_with("streaming/orders: "), "{case}: {error}");
        assert!(error.to_string().contains(expected), "{case}: {error}");
        assert_eq!(lines(&harness.take_requests()), [format!("GET {FLINKDEPLOYMENT}")], "{case}");
    }
}

#[tokio::test]
async fn an_api_failure_is_transient_and_names_the_object() {
    let mut api = FakeApi::new(Kubelet::Ready).with_flinkdeployment(ORDERS);
    api.failing.insert(JOBMANAGER.into(), 500);
    let harness = Harness::new(api);
    let error = harness.deploy(&spec_of(ORDERS, JOB_A, None)).await.unwrap_err();
    assert!(error.is_transient());
    assert_eq!(
        error.to_string(),
        "streaming/orders: applying Deployment orders: etcdserver: request timed out (500 InternalError)"
    );
}

#[tokio::test]
async fn an_image_of_another_flink_version_is_noted() {
    let old_image = ORDERS.replace("image: flink:2.3", "image: flink:1.20");
    let harness = Harness::new(FakeApi::new(Kubelet::Ready).with_flinkdeployment(&old_image));
    let observed = harness.deploy(&spec_of(&old_image, JOB_A, None)).await.unwrap();
    assert_eq!(
        observed.notes,
        ["flinkVersion is v2_3 but the image flink:1.20 is tagged 1.20; Flink runs the image's version"]
    );
}

#[tokio::test]
async fn a_session_cluster_runs_no_job_and_records_none() {
    let session = "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: orders, namespace: streaming, uid: uid-orders, generation: 1}\nspec: {flinkVersion: v2_3, taskManager: {replicas: 3}}\n";
    let harness = Harness::new(FakeApi::new(Kubelet::Ready).with_flinkdeployment(session));
    let deployment: FlinkDeployment = crate::manifests::yaml::from_str(session).unwrap();
    let spec = cluster::build(&deployment, &DeployIntent::default()).unwrap();

    let observed = harness.deploy(&spec).await.unwrap();

    assert_eq!((observed.status, observed.generation, observed.job_id), (ClusterStatus::Ready, Some(1), None));
    let jobmanager = harness.object(JOBMANAGER);
    assert_eq!(jobmanager_args(&jobmanager), ["jobmanager"]);
    assert!(jobmanager["metadata"]["annotations"].get(JOB_ID_ANNOTATION).is_none());
    assert_eq!(harness.object(TASKMANAGER)["spec"]["replicas"], 3);
    assert_eq!(harness.observe().await.job_id, None);
}
