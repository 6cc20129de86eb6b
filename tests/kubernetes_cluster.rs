//! The Kubernetes runtime against a real cluster (kind, minikube): CRDs install, a deployed cluster's Deployments
//! and Services are owned by its FlinkDeployment, and deleting cleans up. Runs only when `FLINKOPS_TEST_KUBECONFIG`
//! names a kubeconfig; every test is skipped otherwise. See docs/kubernetes.md, "Against a real cluster".
//!
//! Each test works in a namespace of its own (`flinkops-test-…`) and deletes it at the end. The Flink pods need
//! not become ready (the node may have no Flink image): the tests check the objects, not Flink.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flinkops::crd::{FlinkDeployment, Kind};
use flinkops::kubernetes::KubernetesDefaults;
use flinkops::runtime::kubernetes::KubernetesRuntime;
use flinkops::runtime::{ClusterId, ClusterSpec, ClusterStatus, DeployIntent, Runtime, cluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Config, Resource};
use serde_json::json;

const KUBECONFIG_ENV: &str = "FLINKOPS_TEST_KUBECONFIG";
const MANAGER: &str = "flinkops-test";
/// Bound on every wait for the API server (CRD established, garbage collection, namespace gone).
const WAIT: Duration = Duration::from_secs(90);
const JOB_ID: &str = "0123456789abcdef0123456789abcdef";

/// A client for the test cluster, or `None` (with a note) when the tests are to be skipped.
async fn client(test: &str) -> Option<Client> {
    let Ok(path) = std::env::var(KUBECONFIG_ENV) else {
        eprintln!("{test}: skipped ({KUBECONFIG_ENV} is not set)");
        return None;
    };
    let kubeconfig = Kubeconfig::read_from(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    Some(Client::try_from(config).unwrap())
}

/// Applies the CRDs `flinkops crds` prints and waits until the API server serves them.
async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for kind in Kind::ALL {
        let crd = kind.crd();
        let name = crd.metadata.name.clone().unwrap();
        api.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&crd)).await.unwrap();
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(WAIT, established).await.expect("CRD not established in time").unwrap();
    }
}

/// A fresh namespace for one test.
async fn namespace(client: &Client, test: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!("flinkops-test-{test}-{nanos:x}");
    let api: Api<Namespace> = Api::all(client.clone());
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    api.patch(&name, &PatchParams::apply(MANAGER), &Patch::Apply(&namespace)).await.unwrap();
    name
}

async fn delete_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

/// Creates an application FlinkDeployment and returns it as stored (with its uid) and the cluster spec to deploy.
async fn flinkdeployment(client: &Client, namespace: &str) -> (FlinkDeployment, ClusterSpec) {
    let api: Api<FlinkDeployment> = Api::namespaced(client.clone(), namespace);
    let manifest = json!({
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": "orders", "namespace": namespace},
        "spec": {
            "flinkVersion": "v2_3",
            "image": "flink:2.3",
            "flinkConfiguration": {"taskmanager.numberOfTaskSlots": "2"},
            "jobManager": {"resource": {"memory": "1024m", "cpu": 0.2}},
            "taskManager": {"resource": {"memory": "1024m", "cpu": 0.2}},
            "job": {"jarURI": "local:///opt/flink/examples/streaming/StateMachineExample.jar", "parallelism": 2},
        },
    });
    let stored = api.patch("orders", &PatchParams::apply(MANAGER), &Patch::Apply(&manifest)).await.unwrap();
    let spec = cluster::build(&stored, &DeployIntent { job_id: Some(JOB_ID.into()), restore: None }).unwrap();
    (stored, spec)
}

fn runtime(client: &Client) -> KubernetesRuntime {
    // Readiness is not what these tests check (the node may lack the image): a short wait keeps them quick.
    KubernetesRuntime::new(client.clone(), KubernetesDefaults::default())
        .with_deploy_timeout(Duration::from_secs(5))
        .with_delete_timeout(WAIT)
}

fn assert_owned_by<K: Resource>(object: &K, owner: &FlinkDeployment) {
    let owners = object.meta().owner_references.clone().unwrap_or_default();
    let name = object.meta().name.clone().unwrap_or_default();
    assert_eq!(owners.len(), 1, "{name}: {owners:?}");
    assert_eq!(owners[0].uid, owner.metadata.uid.clone().unwrap(), "{name}");
    assert_eq!((owners[0].kind.as_str(), owners[0].controller), ("FlinkDeployment", Some(true)), "{name}");
}

#[tokio::test]
async fn k8s_test_crds_install_and_are_established() {
    let Some(client) = client("k8s_test_crds_install_and_are_established").await else { return };
    install_crds(&client).await;
    let api: Api<CustomResourceDefinition> = Api::all(client);
    for name in ["flinkdeployments.flink.apache.org", "flinksessionjobs.flink.apache.org"] {
        assert!(api.get_opt(name).await.unwrap().is_some(), "{name}");
    }
}

#[tokio::test]
async fn k8s_test_runtime_deploys_a_cluster_its_flinkdeployment_owns_and_deletes_it() {
    let Some(client) = client("k8s_test_runtime_deploys_a_cluster_its_flinkdeployment_owns_and_deletes_it").await
    else {
        return;
    };
    install_crds(&client).await;
    let ns = namespace(&client, "deploy").await;
    let (owner, spec) = flinkdeployment(&client, &ns).await;
    let runtime = runtime(&client);

    let deployed = runtime.deploy(&spec).await.unwrap();
    assert_ne!(deployed.status, ClusterStatus::Missing);
    assert_eq!(deployed.job_id.as_deref(), Some(JOB_ID));

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let jobmanager = deployments.get("orders").await.unwrap();
    assert_owned_by(&jobmanager, &owner);
    let args = jobmanager.spec.template.spec.as_ref().unwrap().containers[0].args.clone().unwrap_or_default();
    assert!(args.windows(2).any(|w| w == ["--job-id", JOB_ID]), "{args:?}");
    assert_owned_by(&deployments.get("orders-taskmanager").await.unwrap(), &owner);
    assert_owned_by(&services.get("orders-rest").await.unwrap(), &owner);
    assert_owned_by(&services.get("orders").await.unwrap(), &owner);

    let id = ClusterId { namespace: ns.clone(), name: "orders".into() };
    let observed = runtime.observe(&id).await.unwrap();
    assert_eq!((observed.generation, observed.job_id.as_deref()), (Some(spec.generation), Some(JOB_ID)));

    runtime.delete(&id).await.unwrap();
    assert!(deployments.get_opt("orders").await.unwrap().is_none());
    assert!(deployments.get_opt("orders-taskmanager").await.unwrap().is_none());
    assert!(services.get_opt("orders-rest").await.unwrap().is_none());
    assert_eq!(runtime.observe(&id).await.unwrap().status, ClusterStatus::Missing);
    runtime.delete(&id).await.expect("deleting again succeeds");
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn k8s_test_deleting_the_flinkdeployment_garbage_collects_its_cluster() {
    let Some(client) = client("k8s_test_deleting_the_flinkdeployment_garbage_collects_its_cluster").await else {
        return;
    };
    install_crds(&client).await;
    let ns = namespace(&client, "gc").await;
    let (owner, spec) = flinkdeployment(&client, &ns).await;
    runtime(&client).deploy(&spec).await.unwrap();

    let flinkdeployments: Api<FlinkDeployment> = Api::namespaced(client.clone(), &ns);
    flinkdeployments.delete("orders", &DeleteParams::foreground()).await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let jobmanager_uid = deployments.get("orders").await.map(|d| d.metadata.uid.unwrap_or_default());
    if let Ok(uid) = jobmanager_uid {
        let gone = await_condition(deployments.clone(), "orders", conditions::is_deleted(&uid));
        tokio::time::timeout(WAIT, gone).await.expect("JobManager Deployment not collected in time").unwrap();
    }
    let owner_uid = owner.metadata.uid.unwrap_or_default();
    let owner_gone = await_condition(flinkdeployments, "orders", conditions::is_deleted(&owner_uid));
    tokio::time::timeout(WAIT, owner_gone).await.expect("FlinkDeployment not deleted in time").unwrap();
    delete_namespace(&client, &ns).await;
}

/// A manifest in a working copy, in `namespace`, with `image`.
fn write_manifest(dir: &std::path::Path, namespace: &str, image: &str) {
    let manifest = format!(
        "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata:\n  name: clicks\n  namespace: {namespace}\n\
         spec:\n  flinkVersion: v2_3\n  image: {image}\n  flinkConfiguration:\n    taskmanager.numberOfTaskSlots: \"2\"\n\
         \x20 jobManager:\n    resource: {{memory: 1024m, cpu: 0.2}}\n  taskManager:\n    replicas: 1\n\
         \x20   resource: {{memory: 1024m, cpu: 0.2}}\n  job:\n\
         \x20   jarURI: local:///opt/flink/examples/streaming/StateMachineExample.jar\n    parallelism: 2\n\
         \x20   upgradeMode: stateless\n"
    );
    std::fs::write(dir.join("clicks.yaml"), manifest).unwrap();
}

/// Polls `check` every second until it gives a value, for at most [`WAIT`].
async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn k8s_test_run_applies_git_leaves_other_managers_fields_and_cleans_up() {
    let Some(client) = client("k8s_test_run_applies_git_leaves_other_managers_fields_and_cleans_up").await else {
        return;
    };
    install_crds(&client).await;
    let namespace = namespace(&client, "run").await;
    let repo = tempfile::tempdir().unwrap();
    write_manifest(repo.path(), &namespace, "flink:2.3");
    let state = tempfile::tempdir().unwrap();
    let kubeconfig = std::env::var(KUBECONFIG_ENV).unwrap();
    let mut operator = std::process::Command::new(env!("CARGO_BIN_EXE_flinkops"))
        .args(["run", "--repo"])
        .arg(repo.path())
        .args(["--interval", "2s", "--kubeconfig", &kubeconfig, "--state-dir"])
        .arg(state.path())
        .env("FLINKOPS_WATCH_NAMESPACES", &namespace)
        .spawn()
        .expect("start flinkops run");

    // The manifest is applied from Git, its cluster is created and owned by it, and its status is written.
    let api: Api<FlinkDeployment> = Api::namespaced(client.clone(), &namespace);
    let applied = until("status written", || async {
        let live = api.get_opt("clicks").await.ok()??;
        live.status.as_ref()?.lifecycle_state?;
        Some(live)
    })
    .await;
    let uid = applied.meta().uid.clone().unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    for name in ["clicks", "clicks-taskmanager"] {
        let deployment = until(name, || async { deployments.get_opt(name).await.ok()? }).await;
        let owner = deployment.metadata.owner_references.unwrap_or_default();
        assert!(owner.iter().any(|o| o.uid == uid && o.controller == Some(true)), "{name} is owned by clicks");
    }

    // Another manager (an HPA, say) takes spec.taskManager.replicas; a new Git revision changes the image only.
    let scale = json!({"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
        "metadata": {"name": "clicks"}, "spec": {"taskManager": {"replicas": 3}}});
    api.patch("clicks", &PatchParams::apply("hpa-test").force(), &Patch::Apply(&scale)).await.unwrap();
    write_manifest(repo.path(), &namespace, "flink:2.3.1");
    let synced = until("new image applied", || async {
        let live = api.get_opt("clicks").await.ok()??;
        (live.spec.image.as_deref() == Some("flink:2.3.1")).then_some(live)
    })
    .await;
    assert_eq!(synced.spec.task_manager.as_ref().and_then(|t| t.replicas), Some(3), "the other manager's field stays");

    // Deleting the resource: the finalizer runs, the cluster goes, then the resource.
    api.delete("clicks", &DeleteParams::default()).await.unwrap();
    until("resource gone", || async { api.get_opt("clicks").await.ok()?.is_none().then_some(()) }).await;
    until("cluster gone", || async { deployments.get_opt("clicks").await.ok()?.is_none().then_some(()) }).await;

    let _ = operator.kill();
    let _ = operator.wait();
    delete_namespace(&client, &namespace).await;
}
