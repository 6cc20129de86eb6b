//! The `FlinkDeployment` controller end to end on real Flink (local store, local runtime): deploy → a savepoint
//! upgrade that carries the keyed state → suspend → resume from the suspend savepoint → a last-state upgrade → a
//! stateless redeploy → deletion, with nothing left running.

mod common;

use std::time::{Duration, Instant};

use common::flink::*;
use common::test_job::TestJob;
use flinkops::crd::status::{ResourceLifecycleState, SnapshotTriggerType};
use flinkops::crd::{FlinkDeployment, FlinkJobState};
use flinkops::flink::client::FlinkClient;
use flinkops::operator::controller::Controller;
use flinkops::runtime::local::LocalRuntime;
use flinkops::store::{LocalStore, Store};

const NAMESPACE: &str = "it";
const NAME: &str = "orders";

fn manifest(jar: &std::path::Path, mode: &str, state: &str, rate: u32, work: &std::path::Path) -> FlinkDeployment {
    let job_extra = format!("    state: {state}\n");
    let yaml = TestJob {
        rate,
        splits: 16,
        upgrade_mode: mode,
        job_extra: &job_extra,
        ..TestJob::new(NAMESPACE, NAME, jar, work)
    }
    .yaml();
    flinkops::manifests::yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}"))
}

struct Harness {
    controller: Controller<LocalStore, LocalRuntime>,
}

impl Harness {
    /// Deletes the resource and reconciles until the finalizer lets it go; no process of its cluster is left.
    async fn delete_and_wait(&self, work: &std::path::Path) {
        let pids = cluster_pids(work, NAMESPACE, NAME);
        self.controller.store.delete::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.get().await.is_some() {
            assert!(Instant::now() < deadline, "deletion did not finish");
            self.controller.reconcile::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap();
        }
        assert_all_gone(&pids);
    }

    async fn get(&self) -> Option<FlinkDeployment> {
        self.controller.store.get::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap()
    }

    /// Reconciles until `done` holds for the stored resource (bounded).
    async fn reconcile_until(&self, what: &str, done: impl Fn(&FlinkDeployment) -> bool) -> FlinkDeployment {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let requeue = self.controller.reconcile::<FlinkDeployment>(NAMESPACE, NAME).await.expect("reconcile");
            if let Some(resource) = self.get().await
                && done(&resource)
            {
                return resource;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:#?}",
                self.get().await.map(|r| r.status)
            );
            tokio::time::sleep(requeue.min(Duration::from_millis(500))).await;
        }
    }
}

fn job_running(resource: &FlinkDeployment) -> bool {
    let status = resource.status.clone().unwrap_or_default();
    status.lifecycle_state == Some(ResourceLifecycleState::Stable)
        && status.job_status.and_then(|j| j.state) == Some(FlinkJobState::Running)
        && status.observed_generation == resource.metadata.generation
}

fn job_id(resource: &FlinkDeployment) -> String {
    resource.status.clone().unwrap_or_default().job_status.unwrap_or_default().job_id.unwrap_or_default()
}

fn last_savepoint(resource: &FlinkDeployment) -> Option<String> {
    resource.status.clone()?.job_status?.savepoint_info?.last_savepoint?.location
}

fn client(work: &std::path::Path) -> FlinkClient {
    cluster_client(work, NAMESPACE, NAME)
}

/// The job has processed records for a while and restored nothing.
async fn assert_nothing_restored(client: &FlinkClient, job_id: &str) {
    let details = client.job_details(job_id).await.unwrap();
    let counter = details.vertices.iter().find(|v| v.name.contains("counter")).unwrap().id.clone();
    eventually("records counted", TIMEOUT, || async {
        metric_sum(client, job_id, &counter, "counter.maxCount").await.filter(|v| *v >= 3.0)
    })
    .await;
    let restored = metric_sum(client, job_id, &counter, "counter.restoredKeys").await;
    assert_eq!(restored, Some(0.0), "a stateless redeploy restores nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_lifecycle_on_real_flink() {
    init_tracing();
    let (flink_home, jar) = test_bed();
    let work = WorkDir::new("operator-lifecycle");
    let store = LocalStore::open(&work.0).unwrap();
    let runtime = LocalRuntime::new(&flink_home, &work.0).unwrap();
    let harness = Harness { controller: Controller::new(store.clone(), runtime) };

    // ---- deploy
    store.apply(&manifest(&jar, "savepoint", "running", 200, &work.0), "flinkops").await.unwrap();
    let deployed = harness.reconcile_until("first deployment running", job_running).await;
    let first_job = job_id(&deployed);
    let flink = client(&work.0);
    wait_all_tasks_running(&flink, &first_job).await;
    // Every key seen, and checkpointed, before the upgrade.
    wait_every_key_counted(&flink, &first_job).await;
    eventually("a completed checkpoint", TIMEOUT, || async {
        flink.checkpoint_statistics(&first_job).await.ok()?.latest.completed
    })
    .await;

    // ---- a new savepointTriggerNonce takes a manual savepoint; the job keeps running
    let mut with_nonce = manifest(&jar, "savepoint", "running", 200, &work.0);
    with_nonce.spec.job.as_mut().unwrap().savepoint_trigger_nonce = Some(1);
    store.apply(&with_nonce, "flinkops").await.unwrap();
    let manual = harness
        .reconcile_until("manual savepoint", |r| {
            r.status.as_ref().and_then(|s| s.job_status.as_ref()).and_then(|j| j.savepoint_info.as_ref()).is_some_and(
                |info| {
                    info.trigger_id.is_none()
                        && info.last_savepoint.as_ref().and_then(|s| s.trigger_type)
                            == Some(SnapshotTriggerType::Manual)
                },
            )
        })
        .await;
    assert_eq!(job_id(&manual), first_job, "a manual savepoint does not restart the job");
    let manual_savepoint = last_savepoint(&manual).expect("recorded");
    assert!(std::path::Path::new(manual_savepoint.trim_start_matches("file:")).exists(), "{manual_savepoint}");
    // Reconciling again does not take a second one for the same nonce.
    harness.controller.reconcile::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap();
    let again = harness.get().await.unwrap();
    assert_eq!(again.status.unwrap().job_status.unwrap().savepoint_info.unwrap().savepoint_history.len(), 1);

    // ---- a changed argument in savepoint mode: stop with a savepoint, restart from it, state carried over
    let started = Instant::now();
    store.apply(&manifest(&jar, "savepoint", "running", 300, &work.0), "flinkops").await.unwrap();
    let upgraded = harness.reconcile_until("savepoint upgrade", |r| job_running(r) && job_id(r) != first_job).await;
    eprintln!("TIMING savepoint upgrade (spec change -> new job RUNNING and stable): {:.2?}", started.elapsed());
    let savepoint = last_savepoint(&upgraded).expect("the upgrade savepoint is recorded");
    let second_job = job_id(&upgraded);
    let flink = client(&work.0);
    let (is_savepoint, path) = eventually("restore info", TIMEOUT, || restored_from(&flink, &second_job)).await;
    assert!(is_savepoint);
    assert_eq!(path.trim_end_matches('/'), savepoint.trim_end_matches('/'));
    wait_restored_keys(&flink, &second_job, 100.0).await;
    let history = upgraded.status.clone().unwrap().job_status.unwrap().savepoint_info.unwrap().savepoint_history;
    assert_eq!(history.len(), 2, "the manual savepoint and exactly one upgrade savepoint");

    // ---- suspend: a savepoint, then no cluster
    store.apply(&manifest(&jar, "savepoint", "suspended", 300, &work.0), "flinkops").await.unwrap();
    let suspended = harness
        .reconcile_until("suspended", |r| {
            r.status.as_ref().and_then(|s| s.lifecycle_state) == Some(ResourceLifecycleState::Suspended)
        })
        .await;
    let suspend_savepoint = last_savepoint(&suspended).unwrap();
    assert_ne!(suspend_savepoint, savepoint);
    assert!(!work.0.join(format!("clusters/{NAMESPACE}/{NAME}/cluster.json")).exists(), "the cluster is gone");

    // ---- resume from the suspend savepoint
    store.apply(&manifest(&jar, "savepoint", "running", 300, &work.0), "flinkops").await.unwrap();
    let resumed = harness.reconcile_until("resumed", |r| job_running(r) && job_id(r) != second_job).await;
    let flink = client(&work.0);
    let third_job = job_id(&resumed);
    let (_, path) = eventually("restore info", TIMEOUT, || restored_from(&flink, &third_job)).await;
    assert_eq!(path.trim_end_matches('/'), suspend_savepoint.trim_end_matches('/'));
    eventually("a checkpoint after resuming", TIMEOUT, || async {
        flink.checkpoint_statistics(&third_job).await.ok()?.latest.completed
    })
    .await;

    // ---- last-state: cancel, restart from the latest checkpoint (no savepoint taken)
    let savepoints_before = last_savepoint(&resumed);
    store.apply(&manifest(&jar, "last-state", "running", 250, &work.0), "flinkops").await.unwrap();
    let last_state = harness.reconcile_until("last-state upgrade", |r| job_running(r) && job_id(r) != third_job).await;
    assert_eq!(last_savepoint(&last_state), savepoints_before, "last-state takes no savepoint");
    let flink = client(&work.0);
    let fourth_job = job_id(&last_state);
    // Restored through the savepoint path from the retained checkpoint (Flink reports such a restore as a savepoint).
    let (_, path) = eventually("restore info", TIMEOUT, || restored_from(&flink, &fourth_job)).await;
    assert!(path.contains("/chk-"), "restored from the latest checkpoint, not a savepoint: {path}");
    wait_restored_keys(&flink, &fourth_job, 100.0).await;

    // ---- stateless: state is dropped
    store.apply(&manifest(&jar, "stateless", "running", 200, &work.0), "flinkops").await.unwrap();
    let stateless = harness.reconcile_until("stateless redeploy", |r| job_running(r) && job_id(r) != fourth_job).await;
    let flink = client(&work.0);
    let fifth_job = job_id(&stateless);
    wait_all_tasks_running(&flink, &fifth_job).await;
    assert_eq!(restored_from(&flink, &fifth_job).await, None, "a stateless redeploy restores nothing");
    assert_nothing_restored(&flink, &fifth_job).await;

    // ---- periodic savepoints with a history of at most 2: older ones are disposed of on disk and in status
    let mut periodic = manifest(&jar, "stateless", "running", 200, &work.0);
    let config = &mut periodic.spec.flink_configuration.as_mut().unwrap().0;
    config.insert("kubernetes.operator.periodic.savepoint.interval".into(), "1s".into());
    config.insert("kubernetes.operator.savepoint.history.max.count".into(), "2".into());
    store.apply(&periodic, "flinkops").await.unwrap();
    let mut taken = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let retained = loop {
        let requeue = harness.controller.reconcile::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap();
        let current = harness.get().await.unwrap();
        assert_eq!(job_id(&current), fifth_job, "periodic savepoints never restart the job");
        let info = current.status.unwrap().job_status.unwrap().savepoint_info.unwrap_or_default();
        taken.extend(
            info.savepoint_history
                .iter()
                .filter(|s| s.trigger_type == Some(SnapshotTriggerType::Periodic))
                .filter_map(|s| s.location.clone()),
        );
        let history: Vec<String> = info.savepoint_history.iter().filter_map(|s| s.location.clone()).collect();
        if taken.len() >= 4 && history.len() <= 2 && info.trigger_id.is_none() {
            break history;
        }
        assert!(Instant::now() < deadline, "periodic savepoints with retention: taken {taken:?}, history {history:?}");
        tokio::time::sleep(requeue.min(Duration::from_millis(300))).await;
    };
    let on_disk = |location: &str| std::path::Path::new(location.trim_start_matches("file:")).exists();
    for location in &retained {
        assert!(on_disk(location), "a retained savepoint is on disk: {location}");
    }
    let disposed: Vec<_> = taken.iter().filter(|l| !retained.contains(l)).collect();
    assert!(disposed.len() >= 2, "taken {taken:?}, retained {retained:?}");
    for location in disposed {
        assert!(!on_disk(location), "an expired savepoint was disposed of on disk: {location}");
    }

    // ---- delete: the finalizer holds the object until the cluster is gone
    harness.delete_and_wait(&work.0).await;
}

/// Rollback: an upgrade whose job cannot start is rolled back to the last stable spec after the readiness timeout,
/// restoring the state of the savepoint taken before the upgrade; a fixed spec afterwards deploys normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_upgrade_is_rolled_back_on_real_flink() {
    init_tracing();
    let (flink_home, jar) = test_bed();
    let work = WorkDir::new("operator-rollback");
    let store = LocalStore::open(&work.0).unwrap();
    let runtime = LocalRuntime::new(&flink_home, &work.0).unwrap();
    let harness = Harness { controller: Controller::new(store.clone(), runtime) };
    let with_rollback = |rate: u32, keys: &str| {
        let mut deployment = manifest(&jar, "savepoint", "running", rate, &work.0);
        let config = &mut deployment.spec.flink_configuration.as_mut().unwrap().0;
        config.insert("kubernetes.operator.deployment.rollback.enabled".into(), "true".into());
        config.insert("kubernetes.operator.deployment.readiness.timeout".into(), "40s".into());
        let args = deployment.spec.job.as_mut().unwrap().args.as_mut().unwrap();
        args[3] = keys.to_owned();
        deployment
    };

    store.apply(&with_rollback(200, "100"), "flinkops").await.unwrap();
    let stable = harness.reconcile_until("first deployment running", job_running).await;
    let first_job = job_id(&stable);
    let flink = client(&work.0);
    wait_every_key_counted(&flink, &first_job).await;
    eventually("a completed checkpoint", TIMEOUT, || async {
        flink.checkpoint_statistics(&first_job).await.ok()?.latest.completed
    })
    .await;

    // `--keys 0` makes the job's main() throw: the upgrade never becomes ready.
    store.apply(&with_rollback(300, "0"), "flinkops").await.unwrap();
    let rolled_back = harness
        .reconcile_until("rolled back", |r| {
            job_running(&r.clone())
                || r.status.as_ref().and_then(|s| s.lifecycle_state) == Some(ResourceLifecycleState::RolledBack)
                    && r.status.as_ref().and_then(|s| s.job_status.as_ref()).and_then(|j| j.state)
                        == Some(FlinkJobState::Running)
        })
        .await;
    let status = rolled_back.status.clone().unwrap();
    assert_eq!(status.lifecycle_state, Some(ResourceLifecycleState::RolledBack), "{status:#?}");
    let running_args = flinkops::operator::reconciled::ReconciledSpec::decode(
        status.reconciliation_status.as_ref().unwrap().last_reconciled_spec.as_deref().unwrap(),
    )
    .unwrap()
    .spec
    .job
    .unwrap()
    .args
    .unwrap();
    assert_eq!(running_args[3], "100", "the stable spec runs again");
    let upgrade_savepoint = last_savepoint(&rolled_back).expect("the savepoint taken before the upgrade");
    let rolled_back_job = job_id(&rolled_back);
    let flink = client(&work.0);
    let (_, path) = eventually("restore info", TIMEOUT, || restored_from(&flink, &rolled_back_job)).await;
    assert_eq!(path.trim_end_matches('/'), upgrade_savepoint.trim_end_matches('/'));
    wait_restored_keys(&flink, &rolled_back_job, 100.0).await;

    // Reconciling again changes nothing while the broken generation is still the desired one.
    harness.controller.reconcile::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap();
    assert_eq!(job_id(&harness.get().await.unwrap()), rolled_back_job);

    // A fixed spec (a new generation) deploys normally.
    store.apply(&with_rollback(250, "100"), "flinkops").await.unwrap();
    let fixed = harness.reconcile_until("fixed spec running", |r| job_running(r) && job_id(r) != rolled_back_job).await;
    assert_eq!(fixed.status.unwrap().lifecycle_state, Some(ResourceLifecycleState::Stable));

    harness.delete_and_wait(&work.0).await;
}
