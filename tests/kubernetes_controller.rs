//! The real controller over the real `KubernetesStore` against a stateful fake Kubernetes API server (kube-rs'
//! tower-test mock service), with clusters from a simulated runtime answering Flink REST on loopback: each
//! controller path (create, upgrade, suspend, delete with finalizer, a conflicting status write) asserted request
//! by request. Every test is bounded by a timeout.

#[path = "common/fake_api.rs"]
mod fake_api;
#[path = "common/fake_flink.rs"]
mod fake_flink;

use std::sync::Arc;
use std::time::Duration;

use fake_api::{FakeApi, Seen};
use fake_flink::{FakeFlink, SimulatedRuntime, serve_fake_flink};
use flinkops::crd::FlinkDeployment;
use flinkops::kubernetes::events::EventPublisher;
use flinkops::operator::controller::{Controller, DEPLOYMENT_FINALIZER};
use flinkops::operator::manager::ClusterRuntime;
use flinkops::operator::manager::{Prune, apply_snapshot};
use flinkops::operator::sync_record::SYNC_REVISION_ANNOTATION;
use flinkops::runtime::{ClusterId, ClusterObservation, ClusterStatus, RecordedDeploy, Runtime};
use flinkops::store::eventing::EventingStore;
use flinkops::store::{KubernetesStore, Store, WatchNamespaces};
use kube::runtime::events::Reporter;
use serde_json::{Value, json};

const PLURAL: &str = "flinkdeployments";
const PATH: &str = "/apis/flink.apache.org/v1beta1/namespaces/flink/flinkdeployments/wordcount";
const TIMEOUT: Duration = Duration::from_secs(20);

/// The controller on a fake API server and a simulated runtime.
struct Bed {
    api: FakeApi,
    store: KubernetesStore,
    flink: Arc<FakeFlink>,
    runtime: Arc<SimulatedRuntime>,
    controller: Controller<KubernetesStore, Arc<SimulatedRuntime>>,
    _state: tempfile::TempDir,
}

impl Bed {
    async fn start() -> Bed {
        let (client, api) = FakeApi::start();
        let store = KubernetesStore::new(client, WatchNamespaces::Only(vec!["flink".into()]));
        let flink = Arc::new(FakeFlink::default());
        let address = serve_fake_flink(flink.clone()).await;
        let state = tempfile::tempdir().expect("temp dir");
        let rest_url = format!("http://{address}");
        let runtime = Arc::new(SimulatedRuntime::new(flink.clone(), &rest_url, state.path().to_path_buf()));
        let controller = Controller::new(store.clone(), runtime.clone());
        Bed { api, store, flink, runtime, controller, _state: state }
    }

    /// Reconciles until the controller waits (a requeue of a second or more) or the object is gone.
    async fn settle(&self) {
        for _ in 0..20 {
            let requeue = self.controller.reconcile::<FlinkDeployment>("flink", "wordcount").await.expect("reconcile");
            if requeue >= Duration::from_secs(1) {
                return;
            }
        }
        panic!("the controller did not settle: {:#?}", lines(&self.api.requests()));
    }

    /// Applies `spec` as Git's version (sync) and reconciles it to a steady state.
    async fn sync(&self, spec: Value) {
        let desired = manifest(spec);
        self.store.apply(&desired, "flinkops").await.expect("applied");
        self.settle().await;
    }

    fn live(&self) -> Option<Value> {
        self.api.object(PLURAL, "flink", "wordcount")
    }

    /// The status bodies of every status write, in order.
    fn status_writes(&self) -> Vec<Value> {
        self.api
            .requests()
            .into_iter()
            .filter(|seen| seen.path.ends_with("/status") && seen.method != "GET")
            .map(|seen| seen.body)
            .collect()
    }
}

async fn bounded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, future).await.expect("scenario timed out")
}

fn lines(requests: &[Seen]) -> Vec<String> {
    requests.iter().map(|seen| format!("{} -> {}", seen.line(), seen.code)).collect()
}

fn spec(image: &str, state: &str) -> Value {
    json!({
        "flinkVersion": "v2_1",
        "image": image,
        "serviceAccount": "flink",
        "flinkConfiguration": {
            "taskmanager.numberOfTaskSlots": "2",
            "execution.checkpointing.dir": "s3://state/wordcount/checkpoints",
            "execution.checkpointing.savepoint-dir": "s3://state/wordcount/savepoints"
        },
        "jobManager": {"resource": {"memory": "2048m", "cpu": 1}},
        "taskManager": {"resource": {"memory": "4g", "cpu": 2}},
        "job": {"jarURI": "local:///opt/flink/usrlib/job.jar", "parallelism": 2, "upgradeMode": "savepoint",
            "state": state}
    })
}

/// Git's `wordcount` with `spec`.
fn manifest(spec: Value) -> FlinkDeployment {
    serde_json::from_value(json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
        "metadata": {"name": "wordcount", "namespace": "flink", "labels": {"team": "data"}},
        "spec": spec
    }))
    .expect("a valid FlinkDeployment")
}

fn lifecycle(body: &Value) -> &str {
    body["status"]["lifecycleState"].as_str().unwrap_or_default()
}

fn job_state(body: &Value) -> &str {
    body["status"]["jobStatus"]["state"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn create_applies_by_ssa_adds_the_finalizer_deploys_and_writes_status_with_the_resource_version() {
    let bed = Bed::start().await;
    bounded(bed.sync(spec("flink:2.1", "running"))).await;
    let requests = bed.api.requests();

    // Sync: a read, then a non-forced server-side apply as `flinkops` of Git's fields only.
    let apply = &requests[1];
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str(), requests[0].code), ("GET", PATH, 404));
    assert_eq!((apply.method.as_str(), apply.path.as_str(), apply.code), ("PATCH", PATH, 201));
    assert_eq!(apply.content_type, "application/apply-patch+yaml");
    assert!(apply.query.contains("fieldManager=flinkops"), "{}", apply.query);
    assert!(!apply.query.contains("force"), "never forced: {}", apply.query);
    assert_eq!(apply.body["metadata"], json!({"name": "wordcount", "namespace": "flink", "labels": {"team": "data"}}));
    assert_eq!(apply.body["spec"]["image"], "flink:2.1");
    assert!(apply.body.get("status").is_none(), "no status in an apply");

    // Reconcile: the finalizer by a tested JSON patch on the main resource, before anything is deployed.
    let finalizer = requests.iter().position(|seen| seen.content_type == "application/json-patch+json").expect("patch");
    let patch = &requests[finalizer];
    assert_eq!((patch.method.as_str(), patch.path.as_str(), patch.code), ("PATCH", PATH, 200));
    assert_eq!(
        patch.body,
        json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [DEPLOYMENT_FINALIZER]}])
    );
    let first_status = requests.iter().position(|seen| seen.path == format!("{PATH}/status")).expect("status");
    assert!(finalizer < first_status, "{:#?}", lines(&requests));

    // Status only through the subresource, each PUT carrying the resourceVersion the API server last returned.
    for write in requests.iter().filter(|seen| seen.path.ends_with("/status")) {
        assert_eq!((write.method.as_str(), write.code), ("PUT", 200), "{:#?}", lines(&requests));
        assert!(write.body["metadata"]["resourceVersion"].is_string(), "{}", write.body);
        assert!(write.body["metadata"].get("managedFields").is_none());
    }
    assert_eq!(
        lines(&requests),
        [
            "GET flink/flinkdeployments/wordcount -> 404",
            "PATCH flink/flinkdeployments/wordcount -> 201",
            "GET flink/flinkdeployments/wordcount -> 200",
            "GET flink/flinkdeployments/wordcount -> 200",
            "PATCH flink/flinkdeployments/wordcount -> 200",
            "PUT flink/flinkdeployments/wordcount/status -> 200",
            "PUT flink/flinkdeployments/wordcount/status -> 200",
            "PUT flink/flinkdeployments/wordcount/status -> 200",
            "GET flink/flinkdeployments/wordcount -> 200",
            "PUT flink/flinkdeployments/wordcount/status -> 200",
        ]
    );
    let writes = bed.status_writes();
    // Observed (no cluster yet), the deploy written ahead, deployed, then the job observed RUNNING.
    assert_eq!(
        phases(&writes),
        pairs(&[("CREATED", ""), ("UPGRADING", "RECONCILING"), ("DEPLOYED", "RECONCILING"), ("STABLE", "RUNNING")])
    );
    let deploy = writes.iter().position(|body| lifecycle(body) == "UPGRADING" || lifecycle(body) == "DEPLOYED");
    let deploy = &writes[deploy.expect("a write-ahead of the deploy")];
    assert_eq!(job_state(deploy), "RECONCILING");
    assert_eq!(bed.runtime.deploys.lock().unwrap().len(), 1);
    let job_id = deploy["status"]["jobStatus"]["jobId"].as_str().expect("job id").to_owned();
    assert_eq!(bed.runtime.deploys.lock().unwrap()[0].job.as_ref().map(|job| job.job_id.clone()), Some(job_id));

    // Steady: the stored object has the finalizer, the job RUNNING and lifecycle STABLE.
    let live = bed.live().expect("stored");
    assert_eq!(live["metadata"]["finalizers"], json!([DEPLOYMENT_FINALIZER]));
    assert_eq!(job_state(&live), "RUNNING", "{live:#}");
    assert_eq!(lifecycle(&live), "STABLE", "{live:#}");
    assert_eq!(live["status"]["observedGeneration"], 1);
    assert_eq!(live["status"]["jobManagerDeploymentStatus"], "READY");
}

/// The status writes of a stop with savepoint: the trigger written ahead, the job observed FINISHED, the stop
/// recorded with its restore point.
const STOPPING: [(&str, &str); 3] = [("UPGRADING", "RUNNING"), ("UPGRADING", "FINISHED"), ("UPGRADING", "FINISHED")];

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected.iter().map(|(lifecycle, job)| ((*lifecycle).to_owned(), (*job).to_owned())).collect()
}

/// The body of every status write as `(lifecycleState, jobStatus.state)`.
fn phases(writes: &[Value]) -> Vec<(String, String)> {
    writes.iter().map(|body| (lifecycle(body).to_owned(), job_state(body).to_owned())).collect()
}

#[tokio::test]
async fn upgrade_of_a_changed_spec_stops_with_a_savepoint_and_redeploys_from_it() {
    let bed = Bed::start().await;
    bounded(bed.sync(spec("flink:2.1", "running"))).await;
    let old_job = bed.live().expect("stored")["status"]["jobStatus"]["jobId"].clone();
    bed.api.clear_requests();

    bounded(bed.sync(spec("flink:2.2", "running"))).await;
    let requests = bed.api.requests();
    let apply = requests.iter().find(|seen| seen.content_type == "application/apply-patch+yaml").expect("apply");
    assert_eq!((apply.code, apply.body["spec"]["image"].as_str()), (200, Some("flink:2.2")));
    assert!(!apply.query.contains("force"));

    // The savepoint trigger is recorded in status before Flink is asked to stop the old job.
    let writes = bed.status_writes();
    let trigger = writes
        .iter()
        .find_map(|body| body["status"]["jobStatus"]["savepointInfo"]["triggerId"].as_str())
        .expect("the trigger id written ahead")
        .to_owned();
    let stops = bed.flink.stops.lock().unwrap().clone();
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(Value::String(stops[0].0.clone()), old_job);
    assert_eq!((stops[0].1["triggerId"].as_str(), &stops[0].1["drain"]), (Some(trigger.as_str()), &json!(false)));

    // The stop is recorded (job FINISHED, the savepoint as the restore point), then the redeploy from it.
    let savepoint = FakeFlink::savepoint_location(&trigger);
    let stopped = writes
        .iter()
        .find(|body| body["status"]["jobStatus"]["upgradeSavepointPath"].is_string())
        .unwrap_or_else(|| panic!("no write of the restore point: {:?}", phases(&writes)));
    assert_eq!(stopped["status"]["jobStatus"]["upgradeSavepointPath"], savepoint.as_str());
    assert_eq!((lifecycle(stopped), job_state(stopped)), ("UPGRADING", "FINISHED"), "{:?}", phases(&writes));
    // The stop, then the redeploy written ahead, deployed, and the new job observed RUNNING.
    let redeploy = [("UPGRADING", "RECONCILING"), ("DEPLOYED", "RECONCILING"), ("STABLE", "RUNNING")];
    assert_eq!(phases(&writes), pairs(&[&STOPPING[..], &redeploy].concat()));
    let deploys = bed.runtime.deploys.lock().unwrap().clone();
    assert_eq!(deploys.len(), 2);
    assert_eq!(deploys[1].generation, 2);
    let restore = deploys[1].job.as_ref().and_then(|job| job.restore.clone()).expect("a restore point");
    assert_eq!(restore.path, savepoint);

    let live = bed.live().expect("stored");
    assert_eq!(live["metadata"]["generation"], 2);
    assert_eq!(live["status"]["observedGeneration"], 2);
    assert_eq!((lifecycle(&live), job_state(&live)), ("STABLE", "RUNNING"), "{live:#}");
    assert_ne!(live["status"]["jobStatus"]["jobId"], old_job, "a new job id");
    assert_eq!(
        live["status"]["jobStatus"]["savepointInfo"]["lastSavepoint"]["location"],
        savepoint.as_str(),
        "{live:#}"
    );
    for write in requests.iter().filter(|seen| seen.path.ends_with("/status")) {
        assert_eq!((write.method.as_str(), write.code), ("PUT", 200), "{:#?}", lines(&requests));
    }
}

#[tokio::test]
async fn suspend_takes_a_savepoint_deletes_the_cluster_and_records_suspended() {
    let bed = Bed::start().await;
    bounded(bed.sync(spec("flink:2.1", "running"))).await;
    bed.api.clear_requests();

    bounded(bed.sync(spec("flink:2.1", "suspended"))).await;
    let writes = bed.status_writes();
    // The stop, then the cluster deleted and SUSPENDED recorded.
    assert_eq!(phases(&writes), pairs(&[&STOPPING[..], &[("SUSPENDED", "FINISHED")]].concat()));
    let trigger = writes[0]["status"]["jobStatus"]["savepointInfo"]["triggerId"].as_str().expect("trigger written");
    let stops = bed.flink.stops.lock().unwrap().clone();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].1["triggerId"].as_str(), Some(trigger));
    let deletes = bed.runtime.deletes.lock().unwrap().clone();
    assert_eq!(
        deletes.iter().map(|id| (id.namespace.as_str(), id.name.as_str())).collect::<Vec<_>>(),
        [("flink", "wordcount")]
    );
    assert_eq!(bed.runtime.deploys.lock().unwrap().len(), 1, "no redeploy");
    assert!(bed.runtime.clusters.lock().unwrap().is_empty());

    let live = bed.live().expect("stored");
    let savepoint = FakeFlink::savepoint_location(trigger);
    assert_eq!((lifecycle(&live), job_state(&live)), ("SUSPENDED", "FINISHED"), "{live:#}");
    assert_eq!(live["status"]["jobManagerDeploymentStatus"], "MISSING");
    assert_eq!(live["status"]["observedGeneration"], 2);
    assert_eq!(live["status"]["jobStatus"]["upgradeSavepointPath"], savepoint.as_str());
    assert_eq!(live["status"]["jobStatus"]["savepointInfo"]["lastSavepoint"]["location"], savepoint.as_str());
    assert_eq!(live["metadata"]["finalizers"], json!([DEPLOYMENT_FINALIZER]), "still managed");
}

#[tokio::test]
async fn delete_with_the_finalizer_deletes_the_cluster_then_removes_the_finalizer() {
    let bed = Bed::start().await;
    bounded(bed.sync(spec("flink:2.1", "running"))).await;
    bed.api.clear_requests();

    // The finalizer holds the object: the DELETE only sets deletionTimestamp.
    let pending = bounded(bed.store.delete::<FlinkDeployment>("flink", "wordcount")).await.expect("delete");
    let pending = pending.expect("held by the finalizer");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(bed.live().is_some());
    assert_eq!(bed.runtime.clusters.lock().unwrap().len(), 1, "the cluster outlives the DELETE");

    bounded(bed.settle()).await;
    let requests = bed.api.requests();
    assert_eq!(
        lines(&requests),
        [
            "GET flink/flinkdeployments/wordcount -> 200",
            "DELETE flink/flinkdeployments/wordcount -> 200",
            "GET flink/flinkdeployments/wordcount -> 200",
            "GET flink/flinkdeployments/wordcount -> 200",
            "PATCH flink/flinkdeployments/wordcount -> 200",
        ]
    );
    // The cluster goes first, then the finalizer by a tested JSON patch; the object is then gone.
    let deletes = bed.runtime.deletes.lock().unwrap().clone();
    assert_eq!(deletes.len(), 1);
    assert!(bed.runtime.clusters.lock().unwrap().is_empty());
    let patch = &requests[4];
    assert_eq!(patch.content_type, "application/json-patch+json");
    assert_eq!(
        patch.body,
        json!([{"op": "test", "path": "/metadata/finalizers/0", "value": DEPLOYMENT_FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/0"}])
    );
    assert!(bed.live().is_none(), "gone once the finalizer is removed");
    assert!(bed.flink.stops.lock().unwrap().is_empty(), "no savepoint unless savepoint-on-deletion is set");
    let again = bounded(bed.controller.reconcile::<FlinkDeployment>("flink", "wordcount")).await.expect("reconcile");
    assert_eq!(again, Duration::MAX, "nothing left to reconcile");
}

#[tokio::test]
async fn a_conflicting_status_write_is_retried_on_the_object_read_again() {
    let bed = Bed::start().await;
    bed.api.conflict_on_status_writes(1);
    bounded(bed.sync(spec("flink:2.1", "running"))).await;
    let requests = bed.api.requests();
    let first = requests.iter().position(|seen| seen.path.ends_with("/status")).expect("a status write");
    let (conflicted, reread, retried) = (&requests[first], &requests[first + 1], &requests[first + 2]);
    assert_eq!(
        [conflicted, reread, retried].map(|seen| format!("{} -> {}", seen.line(), seen.code)),
        [
            "PUT flink/flinkdeployments/wordcount/status -> 409",
            "GET flink/flinkdeployments/wordcount -> 200",
            "PUT flink/flinkdeployments/wordcount/status -> 200",
        ]
    );
    // The retry carries the resourceVersion just read and is written onto the other writer's version.
    let (stale, fresh) =
        (&conflicted.body["metadata"]["resourceVersion"], &retried.body["metadata"]["resourceVersion"]);
    assert_ne!(stale, fresh);
    assert_eq!(retried.body["metadata"]["labels"]["touched-by"], "someone-else");
    assert_eq!(retried.body["status"], conflicted.body["status"], "the same status, written again");

    // The reconcile goes on to the end, and the other writer's change survives.
    let live = bed.live().expect("stored");
    assert_eq!((lifecycle(&live), job_state(&live)), ("STABLE", "RUNNING"));
    assert_eq!(live["metadata"]["labels"]["touched-by"], "someone-else");
    assert_eq!(bed.runtime.deploys.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn delete_with_savepoint_on_deletion_stops_with_a_savepoint_before_the_finalizer_goes() {
    let bed = Bed::start().await;
    let mut with_savepoint = spec("flink:2.1", "running");
    with_savepoint["flinkConfiguration"]["kubernetes.operator.job.savepoint-on-deletion"] = json!("true");
    bounded(bed.sync(with_savepoint)).await;
    bed.api.clear_requests();

    bounded(bed.store.delete::<FlinkDeployment>("flink", "wordcount")).await.expect("delete");
    bounded(bed.settle()).await;
    let requests = bed.api.requests();
    let writes = bed.status_writes();
    // Written while deletionTimestamp is set: the trigger, the job observed FINISHED, the savepoint recorded.
    assert_eq!(phases(&writes), pairs(&[("DELETING", "RUNNING"), ("DELETING", "FINISHED"), ("DELETING", "FINISHED")]));
    let trigger = writes[0]["status"]["jobStatus"]["savepointInfo"]["triggerId"].as_str().expect("trigger written");
    let stops = bed.flink.stops.lock().unwrap().clone();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].1["triggerId"].as_str(), Some(trigger));
    let recorded = &writes[2]["status"]["jobStatus"]["savepointInfo"]["lastSavepoint"]["location"];
    assert_eq!(*recorded, FakeFlink::savepoint_location(trigger).as_str());

    // Then the cluster goes, and last the finalizer.
    assert_eq!(bed.runtime.deletes.lock().unwrap().len(), 1);
    let last = requests.last().expect("requests");
    assert_eq!(
        (last.line(), last.content_type.as_str()),
        ("PATCH flink/flinkdeployments/wordcount".to_owned(), "application/json-patch+json")
    );
    assert_eq!(last.body[1], json!({"op": "remove", "path": "/metadata/finalizers/0"}));
    assert!(bed.live().is_none(), "gone once the finalizer is removed");
}

/// Git's `wordcount` at `parallelism`, as a file of a revision.
fn manifest_file(parallelism: u32) -> (String, Vec<u8>) {
    let text = [
        "apiVersion: flink.apache.org/v1beta1",
        "kind: FlinkDeployment",
        "metadata: {name: wordcount, namespace: flink}",
        "spec:",
        "  flinkVersion: v2_1",
        "  image: flink:2.1",
        "  serviceAccount: flink",
        "  jobManager: {resource: {memory: 2048m, cpu: 1}}",
        "  taskManager: {resource: {memory: 4g, cpu: 2}}",
        &format!(
            "  job: {{jarURI: local:///opt/flink/usrlib/job.jar, parallelism: {parallelism}, upgradeMode: stateless}}"
        ),
    ]
    .join("\n");
    ("apps/wordcount.yaml".to_owned(), text.into_bytes())
}

#[tokio::test]
async fn sync_records_the_applied_revision_on_the_resource_and_reports_it_as_an_event() {
    let (client, api) = FakeApi::start();
    let reporter = Reporter { controller: "flinkops".into(), instance: Some("flinkops-0".into()) };
    let store = EventingStore::new(
        KubernetesStore::new(client.clone(), WatchNamespaces::Only(vec!["flink".into()])),
        EventPublisher::new(client, reporter),
    );
    let annotations =
        |api: &FakeApi| api.object(PLURAL, "flink", "wordcount").expect("stored")["metadata"]["annotations"].clone();

    bounded(apply_snapshot(&store, &[manifest_file(2)], "r1", Prune::Off)).await;
    assert_eq!(annotations(&api)[SYNC_REVISION_ANNOTATION], "r1");
    let events = api.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "Synced");
    assert!(events[0].1.contains("revision r1 applied (generation 1)"), "{events:?}");

    // A revision that leaves the manifest as it was: the same record, no new generation, no event.
    api.clear_requests();
    bounded(apply_snapshot(&store, &[manifest_file(2)], "r2", Prune::Off)).await;
    assert_eq!(annotations(&api)[SYNC_REVISION_ANNOTATION], "r1");
    assert_eq!(api.object(PLURAL, "flink", "wordcount").unwrap()["metadata"]["generation"], 1);
    assert!(api.events().is_empty(), "{:?}", api.events());

    // A changed manifest: its revision is recorded and reported.
    bounded(apply_snapshot(&store, &[manifest_file(4)], "r3", Prune::Off)).await;
    assert_eq!(annotations(&api)[SYNC_REVISION_ANNOTATION], "r3");
    let events = api.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].1.contains("revision r3 applied (generation 2)"), "{events:?}");
}

/// An operator pod keeps its session-job submission records on an emptyDir: after a restart they are gone, and the
/// runtime re-learns each submission from the status (the write-ahead log) if the session cluster still runs the
/// recorded job, instead of submitting a second one.
#[tokio::test]
async fn a_session_job_whose_submission_record_was_lost_is_adopted_from_its_status() {
    let flink = Arc::new(FakeFlink::default());
    let rest_url = format!("http://{}", serve_fake_flink(flink.clone()).await);
    let (clusters_state, emptied) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let clusters = Arc::new(SimulatedRuntime::new(flink.clone(), &rest_url, clusters_state.path().to_path_buf()));
    let session = ClusterId { namespace: "flink".into(), name: "session".into() };
    let ready = ClusterObservation {
        status: ClusterStatus::Ready,
        rest_url: Some(rest_url.clone()),
        generation: Some(1),
        job_id: None,
        notes: Vec::new(),
    };
    clusters.clusters.lock().unwrap().insert(session, ready);
    let jobs = clusters.session_jobs(emptied.path());
    let enrich = ClusterId { namespace: "flink".into(), name: "enrich".into() };
    let recorded = |session: Option<&str>, job: &str| RecordedDeploy {
        session_cluster: session.map(str::to_owned),
        job_id: job.to_owned(),
        generation: 3,
    };

    assert_eq!(bounded(jobs.observe(&enrich)).await.expect("observed").status, ClusterStatus::Missing);
    assert!(bounded(jobs.adopt(&enrich, &recorded(Some("session"), "job-1"))).await.expect("adopted"));
    let observed = bounded(jobs.observe(&enrich)).await.expect("observed");
    assert_eq!(observed.status, ClusterStatus::Ready);
    assert_eq!((observed.job_id.as_deref(), observed.generation), (Some("job-1"), Some(3)));
    assert!(!bounded(jobs.adopt(&enrich, &recorded(Some("session"), "job-1"))).await.expect("a record exists"));

    // A job the session cluster does not know is gone: nothing to adopt, the controller submits it again.
    flink.unknown.lock().unwrap().insert("job-2".into());
    let other = ClusterId { namespace: "flink".into(), name: "other".into() };
    assert!(!bounded(jobs.adopt(&other, &recorded(Some("session"), "job-2"))).await.expect("not adopted"));
    assert_eq!(bounded(jobs.observe(&other)).await.expect("observed").status, ClusterStatus::Missing);
    // Nor a job that ended (a suspended session job's, still in Flink's history).
    flink.stopped.lock().unwrap().insert("job-4".into(), FakeFlink::savepoint_location("t-4"));
    assert!(!bounded(jobs.adopt(&other, &recorded(Some("session"), "job-4"))).await.expect("not adopted"));
    // Nor is there anything to adopt without a session cluster, or on a session cluster that is not there.
    assert!(!bounded(jobs.adopt(&other, &recorded(None, "job-3"))).await.expect("not adopted"));
    assert!(!bounded(jobs.adopt(&other, &recorded(Some("gone"), "job-3"))).await.expect("not adopted"));
    assert!(!emptied.path().join("session-jobs/flink/other.json").exists());
}
