//! The autoscaler end to end on real Flink (local store, local runtime, the controller): the test job's counter
//! parks 4 ms per record (≈ 90–110 records/s per subtask on the loaded host). Raising the offered rate from 20 to 200
//! records/s makes it the bottleneck; the autoscaler raises its parallelism in place (same job) and the source's
//! backlog (`pendingRecords`) does not grow afterwards. An operator restart changes nothing: the overrides live in
//! status. Lowering the rate again scales the counter down once `scale-down.interval` has passed.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::flink::*;
use common::operator::status_row;
use common::test_job::TestJob;
use flinkops::crd::status::{AutoscalerStatus, ScalingHistoryEntry};
use flinkops::crd::{FlinkDeployment, FlinkJobState};
use flinkops::flink::client::FlinkClient;
use flinkops::operator::controller::Controller;
use flinkops::runtime::local::LocalRuntime;
use flinkops::store::{LocalStore, Store};

const NAMESPACE: &str = "it";
const NAME: &str = "scaled";
const LOW_RATE: u32 = 20;
const HIGH_RATE: u32 = 200;
const SCALE_DOWN_INTERVAL: Duration = Duration::from_secs(30);

const AUTOSCALER_CONFIG: &str = r#"    job.autoscaler.enabled: "true"
    job.autoscaler.metrics.window: 20s
    job.autoscaler.stabilization.interval: 10s
    job.autoscaler.scale-down.interval: 30s
    job.autoscaler.catch-up.duration: 60s
    job.autoscaler.restart.time: 5s
    job.autoscaler.vertex.max-parallelism: "4"
    flinkops.autoscaler.scale-up.confirmation: 5s
    kubernetes.operator.reconcile.interval: 3s
"#;

fn manifest(jar: &Path, work: &Path, rate_file: &Path) -> FlinkDeployment {
    let args = format!(
        r#""--rate-file", "{}", "--backlog", "--sleep-us", "4000", "--payload-bytes", "2000", "#,
        rate_file.display()
    );
    let yaml = TestJob {
        rate: LOW_RATE,
        splits: 8,
        parallelism: 1,
        slots: 4,
        args_extra: &args,
        config_extra: AUTOSCALER_CONFIG,
        ..TestJob::new(NAMESPACE, NAME, jar, work)
    }
    .yaml();
    flinkops::manifests::yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn autoscaler(resource: &FlinkDeployment) -> AutoscalerStatus {
    *resource.status.clone().unwrap_or_default().autoscaler.unwrap_or_default()
}

fn executed(resource: &FlinkDeployment) -> Vec<ScalingHistoryEntry> {
    autoscaler(resource).scaling_history.into_iter().filter(|e| e.executed).collect()
}

fn job_id(resource: &FlinkDeployment) -> String {
    resource.status.clone().unwrap_or_default().job_status.unwrap_or_default().job_id.unwrap_or_default()
}

/// Reconciles with `controller` until `done` yields for the stored resource (bounded by `within`).
async fn reconcile_until<T>(
    controller: &Controller<LocalStore, LocalRuntime>,
    what: &str,
    within: Duration,
    mut done: impl FnMut(&FlinkDeployment) -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let requeue = controller.reconcile::<FlinkDeployment>(NAMESPACE, NAME).await.expect("reconcile");
        let resource = controller.store.get::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap().expect("resource");
        if let Some(value) = done(&resource) {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}: {:#?}", resource.status);
        tokio::time::sleep(requeue.min(Duration::from_millis(500))).await;
    }
}

async fn vertex_parallelism(client: &FlinkClient, job_id: &str, name: &str) -> Option<i32> {
    let details = client.job_details(job_id).await.ok()?;
    details.vertices.iter().find(|v| v.name.contains(name)).and_then(|v| i32::try_from(v.parallelism).ok())
}

async fn pending_records(client: &FlinkClient, job_id: &str) -> Option<f64> {
    let details = client.job_details(job_id).await.ok()?;
    let source = details.vertices.iter().find(|v| v.name.contains("source"))?.id.clone();
    metric_sum(client, job_id, &source, "Source__source.pendingRecords").await
}

#[test]
fn autoscaler_scales_the_bottleneck_up_in_place_and_down_after_the_delay() {
    // NB: in a debug build this test's own future and the controller's poll frames together come close to the 2 MiB
    // of a test thread; the body runs on a thread with room to spare.
    let body = || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(scale_up_and_down());
    };
    let thread = std::thread::Builder::new().stack_size(16 << 20).spawn(body).unwrap();
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn scale_up_and_down() {
    init_tracing();
    let (flink_home, jar) = test_bed();
    let work = WorkDir::new("autoscaler-e2e");
    let rate_file = work.0.join("rate");
    std::fs::write(&rate_file, LOW_RATE.to_string()).unwrap();
    let store = LocalStore::open(&work.0).unwrap();
    // The cluster outlives a controller, as it outlives a `flinkops run --local` process.
    let runtime = || LocalRuntime::new(&flink_home, &work.0).unwrap().outliving_the_operator(true);
    let controller = Controller::new(store.clone(), runtime());
    let _guard = common::operator::ClusterGuard(work.0.clone());
    let started = Instant::now();

    // ---- deploy at the low rate; the autoscaler starts measuring once the job is stable
    store.apply(&manifest(&jar, &work.0, &rate_file), "flinkops").await.unwrap();
    let deployed =
        reconcile_until(&controller, "the job running with the autoscaler measuring", Duration::from_secs(90), |r| {
            let running = r.status.as_ref()?.job_status.as_ref()?.state == Some(FlinkJobState::Running);
            (running && autoscaler(r).last_run_timestamp.is_some()).then(|| r.clone())
        })
        .await;
    let first_job = job_id(&deployed);
    let flink = cluster_client(&work.0, NAMESPACE, NAME);
    wait_all_tasks_running(&flink, &first_job).await;
    eprintln!("[{:>5.1}s] running, parallelism 1, rate {LOW_RATE}/s", started.elapsed().as_secs_f64());

    // ---- raise the rate: the counter becomes the bottleneck and the backlog grows
    std::fs::write(&rate_file, HIGH_RATE.to_string()).unwrap();
    let raised = Instant::now();
    let (up, evaluated) = reconcile_until(&controller, "a scale-up of the counter", Duration::from_secs(120), |r| {
        let up =
            executed(r).into_iter().find(|e| e.vertices.iter().any(|c| c.name.contains("counter") && c.to > c.from));
        up.map(|up| (up, autoscaler(r).vertices))
    })
    .await;
    // The source's backlog (pendingRecords) as the evaluation behind the decision saw it; reported, not asserted: the
    // network buffers between source and counter absorb the excess for longer than the window (see docs/autoscaler.md).
    let backlog = evaluated.iter().find_map(|v| v.pending_records).unwrap_or_default();
    let counter_up = up.vertices.iter().find(|c| c.name.contains("counter")).unwrap().clone();
    eprintln!(
        "[{:>5.1}s] scale-up {:.1}s after the rate rise: counter {} -> {} ({}), source backlog {backlog:.0}\n{}",
        started.elapsed().as_secs_f64(),
        raised.elapsed().as_secs_f64(),
        counter_up.from,
        counter_up.to,
        up.realization.as_deref().unwrap_or("?"),
        up.report
    );
    assert_eq!(counter_up.from, 1);
    assert!(counter_up.to >= 2, "sized for the offered rate at 0.7 utilization: {counter_up:?}");
    assert_eq!(up.realization.as_deref(), Some("in-place"), "the local runtime runs the adaptive scheduler");

    // In place: the same job, rescaled by Flink, no redeploy.
    eventually("Flink runs the counter at the new parallelism", Duration::from_secs(60), || async {
        (vertex_parallelism(&flink, &first_job, "counter").await? == counter_up.to).then_some(())
    })
    .await;
    let resource = store.get::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap().unwrap();
    assert_eq!(job_id(&resource), first_job, "rescaled in place, not redeployed");
    let overrides = autoscaler(&resource).parallelism_overrides;
    assert_eq!(overrides.values().max().copied(), Some(counter_up.to), "{overrides:?}");
    let rescaled = Instant::now();
    eprintln!("[{:>5.1}s] Flink runs the counter at {}", started.elapsed().as_secs_f64(), counter_up.to);

    // ---- the backlog stops growing: at the new parallelism the source is no longer held back
    let first = pending_records(&flink, &first_job).await.unwrap_or_default();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let second = pending_records(&flink, &first_job).await.unwrap_or_default();
    eprintln!(
        "[{:>5.1}s] backlog {first:.0} then {second:.0} records 10 s later (rescaled {:.1}s ago)",
        started.elapsed().as_secs_f64(),
        rescaled.elapsed().as_secs_f64()
    );
    assert!(second <= first.max(f64::from(HIGH_RATE)), "the backlog keeps growing: {first} -> {second}");

    // ---- an operator restart: the overrides are in status, so nothing is redeployed or reverted
    controller.runtime.detach_all().await;
    drop(controller);
    let controller = Controller::new(store.clone(), runtime());
    let restart_check = Instant::now();
    reconcile_until(&controller, "a few reconciles after the restart", Duration::from_secs(30), |_| {
        (restart_check.elapsed() > Duration::from_secs(5)).then_some(())
    })
    .await;
    let resource = store.get::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap().unwrap();
    assert_eq!(job_id(&resource), first_job, "the new operator keeps the job");
    assert_eq!(autoscaler(&resource).parallelism_overrides, overrides, "the overrides survive the restart");
    assert_eq!(vertex_parallelism(&flink, &first_job, "counter").await, Some(counter_up.to));

    // Once the window is full again, the status summary shows the per-vertex metrics (the CLI's JSON).
    reconcile_until(&controller, "the counter's metrics in status", Duration::from_secs(60), |r| {
        autoscaler(r)
            .vertices
            .iter()
            .any(|v| v.name.contains("counter") && v.true_processing_rate.is_some())
            .then_some(())
    })
    .await;
    let row = status_row(&work.0, NAME).expect("status row");
    let vertices = row["autoscaler"]["vertices"].as_array().cloned().unwrap_or_default();
    let counter = vertices.iter().find(|v| v["name"].as_str().is_some_and(|n| n.contains("counter")));
    let counter = counter.unwrap_or_else(|| panic!("no counter in {row:#}"));
    assert_eq!(counter["parallelism"], counter_up.to);
    for field in ["recommendedParallelism", "busyTimeMsPerSecond", "trueProcessingRate", "targetRate"] {
        assert!(counter[field].is_number(), "status --output json has the counter's {field}: {row:#}");
    }
    let source_backlog = vertices.iter().find_map(|v| v["pendingRecords"].as_f64());
    assert!(source_backlog.is_some(), "the source's pendingRecords is collected: {row:#}");
    eprintln!("[{:>5.1}s] status: {counter}", started.elapsed().as_secs_f64());

    // ---- lower the rate: the counter scales down once the scale-down interval has passed
    std::fs::write(&rate_file, LOW_RATE.to_string()).unwrap();
    let lowered = Instant::now();
    let down = reconcile_until(&controller, "a scale-down of the counter", Duration::from_secs(150), |r| {
        executed(r)
            .into_iter()
            .find(|e| e.vertices.iter().any(|c| c.name.contains("counter") && c.to < c.from && c.from == counter_up.to))
    })
    .await;
    let counter_down = down.vertices.iter().find(|c| c.name.contains("counter")).unwrap().clone();
    eprintln!(
        "[{:>5.1}s] scale-down {:.1}s after the rate drop: counter {} -> {}\n{}",
        started.elapsed().as_secs_f64(),
        lowered.elapsed().as_secs_f64(),
        counter_down.from,
        counter_down.to,
        down.report
    );
    assert!(lowered.elapsed() >= SCALE_DOWN_INTERVAL, "not before the scale-down interval");
    eventually("Flink runs the counter at the lower parallelism", Duration::from_secs(60), || async {
        (vertex_parallelism(&flink, &first_job, "counter").await? == counter_down.to).then_some(())
    })
    .await;

    // ---- deletion leaves nothing running
    let pids = cluster_pids(&work.0, NAMESPACE, NAME);
    store.delete::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.get::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "deletion did not finish");
        controller.reconcile::<FlinkDeployment>(NAMESPACE, NAME).await.unwrap();
    }
    assert_all_gone(&pids);
    eprintln!("[{:>5.1}s] done", started.elapsed().as_secs_f64());
}
