//! Session jobs end to end on real Flink (local store, local runtime): a session cluster with two session jobs;
//! upgrading one with a savepoint carries its state and leaves the other untouched; the session cluster cannot be
//! deleted while its jobs exist; deleting the jobs cancels them, then the cluster goes.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::flink::*;
use flinkops::crd::status::ResourceLifecycleState;
use flinkops::crd::{FlinkDeployment, FlinkJobState, FlinkSessionJob};
use flinkops::flink::client::JobState;
use flinkops::operator::controller::{Controller, Managed};
use flinkops::runtime::SessionJobRuntime;
use flinkops::runtime::local::LocalRuntime;
use flinkops::store::{LocalStore, Store};

const NAMESPACE: &str = "it";
const SESSION: &str = "shared";

fn session_cluster(work: &Path) -> FlinkDeployment {
    let yaml = format!(
        r#"apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: {SESSION}, namespace: {NAMESPACE}}}
spec:
  flinkVersion: v2_3
  serviceAccount: flink
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "4"
    kubernetes.operator.user.artifacts.allowed-schemes: https,file,local
    execution.checkpointing.interval: 1s
    execution.checkpointing.dir: file://{work}/checkpoints
    execution.checkpointing.savepoint-dir: file://{work}/savepoints
  jobManager: {{resource: {{memory: 1024m, cpu: 1}}}}
  taskManager: {{resource: {{memory: 1280m, cpu: 1}}, replicas: 1}}
"#,
        work = work.display()
    );
    flinkops::manifests::yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn session_job(name: &str, jar: &Path, rate: u32) -> FlinkSessionJob {
    let yaml = format!(
        r#"apiVersion: flink.apache.org/v1beta1
kind: FlinkSessionJob
metadata: {{name: {name}, namespace: {NAMESPACE}}}
spec:
  deploymentName: {SESSION}
  job:
    jarURI: file://{jar}
    entryClass: io.flinkops.testjob.StatefulCounterJob
    args: ["--rate", "{rate}", "--keys", "20", "--splits", "4", "--name", "{name}"]
    parallelism: 1
    upgradeMode: savepoint
"#,
        jar = jar.display()
    );
    flinkops::manifests::yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}"))
}

struct Harness {
    deployments: Controller<LocalStore, Arc<LocalRuntime>>,
    session_jobs: Controller<LocalStore, SessionJobRuntime<LocalRuntime>>,
}

impl Harness {
    async fn reconcile<K: Managed>(&self, name: &str) -> Duration {
        if name == SESSION {
            self.deployments.reconcile::<K>(NAMESPACE, name).await.expect("reconcile")
        } else {
            self.session_jobs.reconcile::<K>(NAMESPACE, name).await.expect("reconcile")
        }
    }

    /// Reconciles `name` until `done` holds for its deployment-shaped view (bounded).
    async fn reconcile_until<K: Managed>(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&FlinkDeployment) -> bool,
    ) -> FlinkDeployment {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let requeue = self.reconcile::<K>(name).await;
            let current = self.deployments.store.get::<K>(NAMESPACE, name).await.unwrap().map(|k| k.view());
            if let Some(view) = current.as_ref().filter(|v| done(v)) {
                return view.clone();
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {:#?}", current.map(|r| r.status));
            tokio::time::sleep(requeue.min(Duration::from_millis(500))).await;
        }
    }
}

fn stable(view: &FlinkDeployment) -> bool {
    let status = view.status.clone().unwrap_or_default();
    status.lifecycle_state == Some(ResourceLifecycleState::Stable)
        && status.observed_generation == view.metadata.generation
        && (view.spec.job.is_none() || status.job_status.and_then(|j| j.state) == Some(FlinkJobState::Running))
}

fn job_id(view: &FlinkDeployment) -> String {
    view.status.clone().unwrap_or_default().job_status.unwrap_or_default().job_id.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_jobs_upgrade_independently_on_real_flink() {
    init_tracing();
    let (flink_home, jar) = test_bed();
    let work = WorkDir::new("session-jobs");
    let store = LocalStore::open(&work.0).unwrap();
    let runtime = Arc::new(LocalRuntime::new(&flink_home, &work.0).unwrap());
    let harness = Harness {
        deployments: Controller::new(store.clone(), runtime.clone()),
        session_jobs: Controller::new(store.clone(), SessionJobRuntime::new(runtime.clone(), &work.0)),
    };

    // ---- a session cluster and two jobs on it
    store.apply(&session_cluster(&work.0), "flinkops").await.unwrap();
    store.apply(&session_job("alpha", &jar, 100), "flinkops").await.unwrap();
    store.apply(&session_job("beta", &jar, 100), "flinkops").await.unwrap();
    // A job submitted before its cluster is ready waits for it, reported, without failing for good.
    harness.reconcile::<FlinkSessionJob>("alpha").await;
    harness.reconcile_until::<FlinkDeployment>(SESSION, "session cluster ready", stable).await;
    let alpha = harness.reconcile_until::<FlinkSessionJob>("alpha", "alpha running", stable).await;
    let beta = harness.reconcile_until::<FlinkSessionJob>("beta", "beta running", stable).await;
    let flink = cluster_client(&work.0, NAMESPACE, SESSION);
    let (alpha_job, beta_job) = (job_id(&alpha), job_id(&beta));
    wait_all_tasks_running(&flink, &alpha_job).await;
    wait_all_tasks_running(&flink, &beta_job).await;
    let beta_started = flink.job_details(&beta_job).await.unwrap().start_time;
    let counter = flink
        .job_details(&alpha_job)
        .await
        .unwrap()
        .vertices
        .iter()
        .find(|v| v.name.contains("counter"))
        .unwrap()
        .id
        .clone();
    eventually("every alpha key counted and checkpointed", TIMEOUT, || async {
        metric_max(&flink, &alpha_job, &counter, "counter.maxCount").await.filter(|max| *max >= 10.0)?;
        flink.checkpoint_statistics(&alpha_job).await.ok()?.latest.completed
    })
    .await;

    // ---- upgrade alpha (new arguments, savepoint mode): a new job restored from alpha's savepoint
    store.apply(&session_job("alpha", &jar, 150), "flinkops").await.unwrap();
    let upgraded = harness
        .reconcile_until::<FlinkSessionJob>("alpha", "alpha upgraded", |v| stable(v) && job_id(v) != alpha_job)
        .await;
    let new_alpha = job_id(&upgraded);
    let savepoint =
        upgraded.status.clone().unwrap().job_status.unwrap().savepoint_info.unwrap().last_savepoint.unwrap();
    let (is_savepoint, path) = eventually("restore info", TIMEOUT, || restored_from(&flink, &new_alpha)).await;
    assert!(is_savepoint);
    assert_eq!(path.trim_end_matches('/'), savepoint.location.unwrap().trim_end_matches('/'));
    wait_restored_keys(&flink, &new_alpha, 20.0).await;
    assert_eq!(flink.job_status(&alpha_job).await.unwrap(), JobState::Finished, "the old alpha job was stopped");

    // ---- beta was not touched: same job, same start, still running, and its controller has nothing to do
    assert_eq!(flink.job_status(&beta_job).await.unwrap(), JobState::Running);
    assert_eq!(flink.job_details(&beta_job).await.unwrap().start_time, beta_started);
    harness.reconcile::<FlinkSessionJob>("beta").await;
    let beta_now = store.get::<FlinkSessionJob>(NAMESPACE, "beta").await.unwrap().unwrap().view();
    assert_eq!(job_id(&beta_now), beta_job);
    assert!(
        beta_now.status.unwrap().job_status.unwrap().savepoint_info.unwrap_or_default().savepoint_history.is_empty()
    );

    // ---- the session cluster is not deleted while its jobs exist
    let pids = cluster_pids(&work.0, NAMESPACE, SESSION);
    store.delete::<FlinkDeployment>(NAMESPACE, SESSION).await.unwrap();
    let blocked = harness
        .reconcile_until::<FlinkDeployment>(SESSION, "deletion blocked", |v| {
            v.status.as_ref().and_then(|s| s.error.as_deref()).is_some_and(|e| e.contains("alpha, beta"))
        })
        .await;
    assert!(blocked.metadata.deletion_timestamp.is_some());
    assert_eq!(flink.job_status(&beta_job).await.unwrap(), JobState::Running, "nothing was stopped");

    // ---- deleting the jobs cancels them; then the cluster goes
    for name in ["alpha", "beta"] {
        store.delete::<FlinkSessionJob>(NAMESPACE, name).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while store.get::<FlinkSessionJob>(NAMESPACE, name).await.unwrap().is_some() {
            assert!(Instant::now() < deadline, "deleting {name} did not finish");
            harness.reconcile::<FlinkSessionJob>(name).await;
        }
    }
    assert_eq!(flink.job_status(&new_alpha).await.unwrap(), JobState::Canceled);
    assert_eq!(flink.job_status(&beta_job).await.unwrap(), JobState::Canceled);
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.get::<FlinkDeployment>(NAMESPACE, SESSION).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "deleting the session cluster did not finish");
        harness.reconcile::<FlinkDeployment>(SESSION).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_all_gone(&pids);
}
