//! Integration tests of the Flink REST client and the local launcher against a real Flink 2.3
//! cluster (JobManager + 2 TaskManagers as local `java` processes). Installs Flink and builds the
//! test job via `scripts/` when needed (both idempotent). Each test function starts its own cluster
//! because nextest runs every test in its own process. Run with `--no-capture` to see the timings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use flinkops::flink::client::{
    CheckpointTriggerRequest, ClaimMode, FlinkClient, FlinkClientConfig, FlinkClientError, JarRunRequest,
    JobResourceRequirements, JobState, MetricAggregation, ParallelismBounds, SavepointTriggerRequest,
    StopWithSavepointRequest, VertexResourceRequirements,
};
use flinkops::runtime::local::launcher::{FlinkProcess, LaunchSpec, LocalFlinkCluster, StopMode};

mod common;

use common::flink::*;

async fn start_cluster(flink_home: &Path, work_dir: &Path) -> LocalFlinkCluster {
    let mut spec = LaunchSpec::session(flink_home, work_dir);
    spec.taskmanagers = 2;
    spec.flink_config.insert("taskmanager.numberOfTaskSlots".into(), "2".into());
    let started = Instant::now();
    let cluster = LocalFlinkCluster::start(spec).await.expect("cluster starts");
    eprintln!("TIMING cluster start (JM + 2 TMs ready): {:.2?}", started.elapsed());
    cluster
}

async fn num_restarts(client: &FlinkClient, job_id: &str) -> Option<f64> {
    let values = client.job_metrics(job_id, &["numRestarts"]).await.ok()?;
    values.first()?.as_f64()
}

fn job_args(rate: u32) -> Vec<String> {
    ["--rate", &rate.to_string(), "--keys", "200", "--splits", "16"].into_iter().map(str::to_owned).collect()
}

struct Timings(Vec<String>);

impl Timings {
    fn record(&mut self, what: &str, ours: Duration, flink_ms: Option<u64>) {
        let line = match flink_ms {
            Some(ms) => format!("TIMING {what}: {:.0} ms (Flink reports {ms} ms)", ours.as_secs_f64() * 1e3),
            None => format!("TIMING {what}: {:.0} ms", ours.as_secs_f64() * 1e3),
        };
        eprintln!("{line}");
        self.0.push(line);
    }
}

/// Upload → run → checkpoint → savepoint (+ idempotent retrigger, + a failed one) → stop-with-savepoint
/// → resubmit at another parallelism with state restored → in-place rescale → cancel → dispose →
/// delete jar; plus every read-only call. One cluster, 2 TMs x 2 slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_lifecycle_against_real_flink() {
    init_tracing();
    let (flink_home, jar) = test_bed();
    let work = WorkDir::new("lifecycle");
    let mut cluster = start_cluster(&flink_home, &work.0).await;
    let mut all_pids: BTreeSet<u32> = cluster.pids().values().copied().collect();
    let client = FlinkClient::new(cluster.rest_url()).expect("client");
    let mut timings = Timings(Vec::new());

    // ---- cluster-level reads
    let overview = client.cluster_overview().await.expect("overview");
    assert_eq!(overview.taskmanagers, 2);
    assert_eq!(overview.slots_total, 4);
    assert!(overview.flink_version.starts_with("2."), "{}", overview.flink_version);
    let dashboard = client.dashboard_config().await.expect("/config");
    assert_eq!(dashboard.flink_version, overview.flink_version);
    let jm_config = client.jobmanager_config().await.expect("jobmanager config");
    assert_eq!(jm_config.get("rest.port"), Some(&cluster.rest_port().to_string()));
    assert_eq!(jm_config.get("jobmanager.scheduler").map(String::as_str), Some("adaptive"));
    let env = client.jobmanager_environment().await.expect("jobmanager environment");
    assert!(!env.classpath.is_empty());
    // The REST metric store is a lazily refreshed snapshot: wait until it shows both TMs.
    eventually("JM metrics showing 4 slots", TIMEOUT, || async {
        let m = client.jobmanager_metrics(&["taskSlotsTotal", "numRegisteredTaskManagers"]).await.ok()?;
        m.iter().any(|m| m.id == "taskSlotsTotal" && m.as_f64() == Some(4.0)).then_some(())
    })
    .await;
    let taskmanagers = client.taskmanagers().await.expect("taskmanagers").taskmanagers;
    assert_eq!(taskmanagers.len(), 2);
    assert!(taskmanagers.iter().all(|tm| tm.slots_number == 2));
    let tm_heap = eventually("TM heap metric", TIMEOUT, || async {
        let m = client.taskmanager_metrics(&taskmanagers[0].id, &["Status.JVM.Memory.Heap.Used"]).await.ok()?;
        m.first()?.as_f64()
    })
    .await;
    assert!(tm_heap > 0.0);
    let tm_agg = client
        .taskmanagers_aggregated_metrics(&["Status.JVM.Memory.Heap.Max"], &[MetricAggregation::Max])
        .await
        .expect("aggregated TM metrics");
    assert!(tm_agg.iter().all(|m| m.id == "Status.JVM.Memory.Heap.Max"));

    // ---- jar upload, list, plan
    let started = Instant::now();
    let upload = client.upload_jar(&jar).await.expect("upload");
    timings.record("jar upload", started.elapsed(), None);
    let jar_id = upload.jar_id().to_owned();
    let jars = client.list_jars().await.expect("list jars");
    let listed = jars.files.iter().find(|f| f.id == jar_id).expect("uploaded jar listed");
    assert_eq!(listed.entry.first().map(|e| e.name.as_str()), Some("io.flinkops.testjob.StatefulCounterJob"));
    let plan = client
        .jar_plan(&jar_id, &JarRunRequest { program_args_list: job_args(1000), ..Default::default() })
        .await
        .expect("plan");
    let vertex_id = |prefix: &str| {
        plan.nodes
            .iter()
            .find(|n| n.description.starts_with(prefix))
            .map(|n| n.id.clone())
            .unwrap_or_else(|| panic!("no plan node starting with {prefix}: {:?}", plan.nodes))
    };
    let source = vertex_id("Source: source");
    let counter = vertex_id("counter");

    // ---- run with a fixed job id and a job-level config option
    let job_id = "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1".to_owned();
    let run = JarRunRequest {
        program_args_list: job_args(1000),
        parallelism: Some(2),
        job_id: Some(job_id.clone()),
        flink_configuration: BTreeMap::from([("execution.checkpointing.interval".to_owned(), "1s".to_owned())]),
        ..Default::default()
    };
    let started = Instant::now();
    let returned_id = client.run_jar(&jar_id, &run).await.expect("run");
    let run_call = started.elapsed();
    assert_eq!(returned_id, job_id);
    wait_state(&client, &job_id, JobState::Running).await;
    let to_running = started.elapsed();
    wait_all_tasks_running(&client, &job_id).await;
    timings.record("run_jar call", run_call, None);
    let details = client.job_details(&job_id).await.expect("details");
    let flink_running_ms = match (details.timestamps.get("INITIALIZING"), details.timestamps.get("RUNNING")) {
        (Some(init), Some(running)) => u64::try_from(running - init).ok(),
        _ => None,
    };
    timings.record("submit -> RUNNING (job status)", to_running, flink_running_ms);
    timings.record("submit -> all tasks RUNNING", started.elapsed(), None);
    assert_eq!(details.vertices.len(), 2);
    assert!(details.vertices.iter().all(|v| v.parallelism == 2));
    // A second run with the same job id is refused by Flink (the first attempt of this call, so
    // the client must not mistake it for its own retry).
    let duplicate = client.run_jar(&jar_id, &run).await.expect_err("duplicate job id");
    assert_eq!(duplicate.status(), Some(reqwest::StatusCode::BAD_REQUEST), "{duplicate}");
    assert!(!duplicate.is_transient());
    let job_config = client.job_config(&job_id).await.expect("job config");
    assert!(!job_config.is_empty());
    let requirements = client.resource_requirements(&job_id).await.expect("requirements");
    assert_eq!(requirements.len(), 2);

    // ---- checkpoints
    let stats = eventually("first completed checkpoint", TIMEOUT, || async {
        let stats = client.checkpoint_statistics(&job_id).await.ok()?;
        (stats.counts.completed >= 1).then_some(stats)
    })
    .await;
    let latest = stats.latest.completed.expect("latest completed");
    let details = client.checkpoint_details(&job_id, latest.id).await.expect("checkpoint details");
    assert_eq!(details.id, latest.id);
    assert!(details.external_path.is_some());
    let started = Instant::now();
    let trigger = client
        .trigger_checkpoint(
            &job_id,
            &CheckpointTriggerRequest {
                checkpoint_type: Some(flinkops::flink::client::CheckpointType::Full),
                trigger_id: Some("c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0".into()),
            },
        )
        .await
        .expect("trigger checkpoint");
    let checkpoint_id = client.wait_for_checkpoint(&job_id, &trigger, TIMEOUT).await.expect("checkpoint completes");
    timings.record("manual checkpoint (trigger -> completed)", started.elapsed(), None);
    assert!(checkpoint_id > latest.id);

    // ---- metrics: a missing name must not hide the others
    let metrics = eventually("counter metrics", TIMEOUT, || async {
        let m = client
            .vertex_metrics_aggregated(
                &job_id,
                &counter,
                &["busyTimeMsPerSecond", "pendingRecords", "counter.maxCount", "counter.restoredKeys"],
                &[MetricAggregation::Sum, MetricAggregation::Max],
            )
            .await
            .ok()?;
        (m.len() == 3).then_some(m)
    })
    .await;
    assert!(!metrics.contains_key("pendingRecords"));
    assert_eq!(metrics["counter.restoredKeys"].sum, Some(0.0), "fresh start restores nothing");
    assert!(metrics["counter.maxCount"].max.is_some());
    let restarts = eventually("numRestarts metric", TIMEOUT, || num_restarts(&client, &job_id)).await;
    assert_eq!(restarts, 0.0);

    // ---- savepoint, idempotent retrigger, failed savepoint
    let savepoint_request =
        SavepointTriggerRequest { trigger_id: Some("5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a".into()), ..Default::default() };
    let started = Instant::now();
    let trigger = client.trigger_savepoint(&job_id, &savepoint_request).await.expect("savepoint trigger");
    let savepoint = client.wait_for_savepoint(&job_id, &trigger, TIMEOUT).await.expect("savepoint");
    let savepoint_wall = started.elapsed();
    let stats = client.checkpoint_statistics(&job_id).await.expect("stats");
    timings.record(
        "savepoint (trigger -> location)",
        savepoint_wall,
        stats.latest.savepoint.as_ref().map(|s| s.end_to_end_duration),
    );
    assert!(savepoint.contains("savepoint-"), "{savepoint}");
    let again = client.trigger_savepoint(&job_id, &savepoint_request).await.expect("retrigger");
    assert_eq!(again, trigger, "same triggerId -> same operation");
    let failed_trigger = client
        .trigger_savepoint(
            &job_id,
            &SavepointTriggerRequest {
                // /proc refuses mkdir even for root, so the savepoint cannot be written.
                target_directory: Some("file:///proc/flinkops-unwritable".into()),
                ..Default::default()
            },
        )
        .await
        .expect("trigger of the doomed savepoint is accepted");
    let failure = client
        .wait_for_savepoint(&job_id, &failed_trigger, TIMEOUT)
        .await
        .expect_err("savepoint to an unwritable dir fails");
    assert!(matches!(failure, FlinkClientError::OperationFailed { .. }), "{failure}");
    eprintln!("failed savepoint reported as: {failure}");
    let unknown =
        client.savepoint_status(&job_id, "00000000000000000000000000000000").await.expect_err("unknown trigger");
    assert!(unknown.is_not_found(), "{unknown}");

    // ---- stop with savepoint
    let started = Instant::now();
    let trigger = client
        .stop_with_savepoint(&job_id, &StopWithSavepointRequest { drain: false, ..Default::default() })
        .await
        .expect("stop");
    let stop_savepoint = client.wait_for_savepoint(&job_id, &trigger, TIMEOUT).await.expect("stop savepoint");
    let stop_savepoint_wall = started.elapsed();
    wait_state(&client, &job_id, JobState::Finished).await;
    let stop_wall = started.elapsed();
    let stats = client.checkpoint_statistics(&job_id).await.expect("stats after stop");
    timings.record(
        "stop-with-savepoint (trigger -> location)",
        stop_savepoint_wall,
        stats.latest.savepoint.as_ref().map(|s| s.end_to_end_duration),
    );
    timings.record("stop-with-savepoint (trigger -> FINISHED)", stop_wall, None);
    let result = client.job_execution_result(&job_id).await.expect("execution result");
    let result = result.job_execution_result.expect("terminal job has a result");
    assert_eq!(result.application_status, "SUCCEEDED");
    assert!(result.failure_cause.is_none());

    // ---- resubmit from the savepoint at parallelism 3: keyed state must come back
    let restored_job = "f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2".to_owned();
    let started = Instant::now();
    client
        .run_jar(
            &jar_id,
            &JarRunRequest {
                program_args_list: job_args(1000),
                parallelism: Some(3),
                job_id: Some(restored_job.clone()),
                savepoint_path: Some(stop_savepoint.clone()),
                allow_non_restored_state: Some(false),
                claim_mode: Some(ClaimMode::NoClaim),
                ..Default::default()
            },
        )
        .await
        .expect("run from savepoint");
    wait_all_tasks_running(&client, &restored_job).await;
    timings.record("restore from savepoint at p=3 -> all tasks RUNNING", started.elapsed(), None);
    let stats = client.checkpoint_statistics(&restored_job).await.expect("stats");
    let restored = stats.latest.restored.expect("restored from the savepoint");
    assert!(restored.is_savepoint);
    assert_eq!(restored.external_path.as_deref(), Some(stop_savepoint.as_str()));
    let restored_keys = eventually("restoredKeys > 0", TIMEOUT, || async {
        metric_sum(&client, &restored_job, &counter, "counter.restoredKeys").await.filter(|v| *v > 0.0)
    })
    .await;
    eprintln!("restoredKeys after restore at p=3: {restored_keys}");

    // ---- in-place rescale (adaptive scheduler)
    let target = JobResourceRequirements::from([
        (
            source.clone(),
            VertexResourceRequirements { parallelism: ParallelismBounds { lower_bound: 1, upper_bound: 2 } },
        ),
        (
            counter.clone(),
            VertexResourceRequirements { parallelism: ParallelismBounds { lower_bound: 1, upper_bound: 4 } },
        ),
    ]);
    let started = Instant::now();
    client.set_resource_requirements(&restored_job, &target).await.expect("PUT requirements");
    assert_eq!(client.resource_requirements(&restored_job).await.expect("GET requirements"), target);
    eventually("rescale to source=2, counter=4", TIMEOUT, || async {
        let details = client.job_details(&restored_job).await.ok()?;
        let by_id: BTreeMap<_, _> = details.vertices.iter().map(|v| (v.id.clone(), v)).collect();
        let ok = by_id.get(&source)?.parallelism == 2
            && by_id.get(&counter)?.parallelism == 4
            && details.vertices.iter().all(|v| v.tasks.get("RUNNING") == Some(&v.parallelism));
        ok.then_some(())
    })
    .await;
    timings.record("in-place rescale (PUT -> new parallelism running)", started.elapsed(), None);
    client.forget_metric_names(&restored_job);

    // ---- exceptions (none expected for a healthy job), cancel, errors on a terminal / unknown job
    let exceptions = client.job_exceptions(&restored_job).await.expect("exceptions");
    assert!(exceptions.exception_history.entries.is_empty(), "{exceptions:?}");
    let started = Instant::now();
    client.cancel_job(&restored_job).await.expect("cancel");
    wait_state(&client, &restored_job, JobState::Canceled).await;
    timings.record("cancel -> CANCELED", started.elapsed(), None);
    let unknown_job = "0123456789abcdef0123456789abcdef";
    let unknown = client.job_details(unknown_job).await.expect_err("unknown job");
    assert!(unknown.is_not_found() && !unknown.is_transient(), "{unknown}");
    assert!(unknown.flink_messages().iter().any(|m| m.contains("not found")), "{unknown:?}");
    // /status answers 500 + FlinkJobNotFoundException in Flink 2.3; still "not found" to callers.
    let unknown = client.job_status(unknown_job).await.expect_err("unknown job status");
    assert!(unknown.is_not_found() && !unknown.is_transient(), "{unknown:?}");

    // ---- savepoint disposal and jar deletion
    let disposal = client.dispose_savepoint(&savepoint).await.expect("dispose");
    client.wait_for_savepoint_disposal(&disposal, TIMEOUT).await.expect("disposal completes");
    let savepoint_dir = savepoint.trim_start_matches("file:");
    assert!(!Path::new(savepoint_dir).exists(), "{savepoint_dir} was disposed");
    client.delete_jar(&jar_id).await.expect("delete jar");
    assert!(client.list_jars().await.expect("jars").files.iter().all(|f| f.id != jar_id));

    // ---- per-call overhead: a cheap GET, many times
    let started = Instant::now();
    for _ in 0..20 {
        client.job_status(&job_id).await.expect("status");
    }
    timings.record("GET /jobs/:id/status (mean of 20)", started.elapsed() / 20, None);

    all_pids.extend(cluster.pids().values().copied());
    let _ = cluster.reap_exited();
    cluster.stop().await.expect("clean stop");
    assert_all_gone(&all_pids);
    eprintln!("{}", timings.0.join("\n"));
}

/// Kill a TaskManager mid-run (restarts grow, job recovers), kill the JobManager (the launcher sees
/// it down, the client gets transient errors, and it can be started again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_failures_against_real_flink() {
    init_tracing();
    let (flink_home, jar) = test_bed();
    let work = WorkDir::new("failures");
    let mut cluster = start_cluster(&flink_home, &work.0).await;
    let mut all_pids: BTreeSet<u32> = cluster.pids().values().copied().collect();
    let client = FlinkClient::with_config(FlinkClientConfig {
        max_retries: 1,
        initial_backoff: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        ..FlinkClientConfig::new(cluster.rest_url())
    })
    .expect("client");

    let jar_id = client.upload_jar(&jar).await.expect("upload").jar_id().to_owned();
    // p=4 fills both TaskManagers, so losing one hits the job.
    let job_id = client
        .run_jar(
            &jar_id,
            &JarRunRequest { program_args_list: job_args(500), parallelism: Some(4), ..Default::default() },
        )
        .await
        .expect("run");
    wait_all_tasks_running(&client, &job_id).await;
    eventually("a completed checkpoint", TIMEOUT, || async {
        (client.checkpoint_statistics(&job_id).await.ok()?.counts.completed >= 1).then_some(())
    })
    .await;
    let restarts_before = eventually("numRestarts", TIMEOUT, || num_restarts(&client, &job_id)).await;

    // ---- kill -9 a TaskManager
    let victim = FlinkProcess::TaskManager(1);
    let started = Instant::now();
    cluster.stop_process(victim, StopMode::Kill).await.expect("kill TM");
    assert!(!cluster.is_running(victim));
    eventually("numRestarts to grow", TIMEOUT, || async {
        num_restarts(&client, &job_id).await.filter(|n| *n > restarts_before)
    })
    .await;
    wait_all_tasks_running(&client, &job_id).await;
    let tasks_after_loss = client.job_details(&job_id).await.expect("details").vertices[0].parallelism;
    eprintln!(
        "TIMING TM killed -> job RUNNING again at parallelism {tasks_after_loss}: {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let exceptions = client.job_exceptions(&job_id).await.expect("exceptions");
    assert!(!exceptions.exception_history.entries.is_empty(), "the TM loss is in the exception history");

    // ---- bring it back; the adaptive scheduler scales up again
    cluster.restart_taskmanager(victim).await.expect("restart TM");
    all_pids.extend(cluster.pids().values().copied());
    cluster.wait_ready(2, TIMEOUT).await.expect("2 TMs again");
    eventually("job back at parallelism 4", TIMEOUT, || async {
        let details = client.job_details(&job_id).await.ok()?;
        details.vertices.iter().all(|v| v.parallelism == 4 && v.tasks.get("RUNNING") == Some(&4)).then_some(())
    })
    .await;

    // ---- kill -9 the JobManager
    cluster.stop_process(FlinkProcess::JobManager, StopMode::Kill).await.expect("kill JM");
    assert!(!cluster.is_running(FlinkProcess::JobManager));
    let down = client.cluster_overview().await.expect_err("JM is down");
    assert!(down.is_transient(), "{down}");
    let started = Instant::now();
    cluster.start_jobmanager().await.expect("start JM again");
    all_pids.extend(cluster.pids().values().copied());
    // The TaskManagers reconnect to the new JobManager on the same RPC port.
    cluster.wait_ready(2, TIMEOUT).await.expect("JM back with both TMs");
    eprintln!("TIMING JM restart -> REST + 2 TMs: {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
    assert!(cluster.reap_exited().is_empty(), "no process crashed");
    assert_eq!(client.cluster_overview().await.expect("overview").taskmanagers, 2);

    cluster.stop().await.expect("clean stop");
    assert_all_gone(&all_pids);
}
