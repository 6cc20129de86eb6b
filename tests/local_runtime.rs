//! The local runtime against real Flink: a `FlinkDeployment` becomes an application cluster that runs its job,
//! is stopped with a savepoint and redeployed from it at another parallelism with its keyed state; a session
//! cluster is adopted by a second runtime (a restarted flinkops) and deleted; a crashed JobManager is reported;
//! versions are checked; no Java process is left behind.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::flink::*;
use flinkops::crd::FlinkDeployment;
use flinkops::flink::client::{FlinkClient, JobState, StopWithSavepointRequest};
use flinkops::runtime::local::LocalRuntime;
use flinkops::runtime::{ClusterId, ClusterStatus, DeployIntent, Restore, Runtime, RuntimeError, cluster};

fn deployment(yaml: &str) -> FlinkDeployment {
    flinkops::manifests::yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn application(jar: &std::path::Path, parallelism: u32, version: &str) -> FlinkDeployment {
    deployment(&format!(
        r#"apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {{name: orders, namespace: it, generation: {parallelism}}}
spec:
  flinkVersion: {version}
  serviceAccount: flink
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "2"
    rest.port: "8081"
    # Wait for every TaskManager before the job starts: otherwise, on a slow machine, the adaptive scheduler starts
    # with the slots registered so far and rescales from a checkpoint, which hides the savepoint restore.
    jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout: "120s"
  jobManager: {{resource: {{memory: 1024m, cpu: 1}}}}
  taskManager: {{resource: {{memory: 1024m, cpu: 1}}}}
  job:
    jarURI: local://{jar}
    entryClass: io.flinkops.testjob.StatefulCounterJob
    args: ["--rate", "400", "--keys", "100", "--splits", "16"]
    parallelism: {parallelism}
    upgradeMode: savepoint
"#,
        jar = jar.display()
    ))
}

/// Java processes whose command line mentions `dir`.
fn java_processes_under(dir: &std::path::Path) -> BTreeSet<u32> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c).contains(&needle) && String::from_utf8_lossy(&c).contains("java")
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_runtime_runs_deployments_for_real() {
    init_tracing();
    let (flink_home, jar) = test_bed();
    let work = WorkDir::new("local-runtime");
    let runtime = LocalRuntime::new(&flink_home, &work.0).expect("runtime");

    // ---- application cluster: the job starts on the JobManager with the id the operator fixed
    let first_job = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a".to_owned();
    let spec =
        cluster::build(&application(&jar, 2, "v2_3"), &DeployIntent { job_id: Some(first_job.clone()), restore: None })
            .expect("cluster spec");
    assert_eq!(spec.taskmanagers, 1);
    let observed = runtime.deploy(&spec).await.expect("deploy");
    assert_eq!(observed.status, ClusterStatus::Ready);
    let rest_url = observed.rest_url.clone().unwrap();
    assert_ne!(rest_url, "http://127.0.0.1:8081", "the spec's rest.port is replaced by a free port");
    let client = FlinkClient::new(&rest_url).unwrap();
    wait_state(&client, &first_job, JobState::Running).await;
    wait_all_tasks_running(&client, &first_job).await;
    // Every key has state before the savepoint, so all of them must come back.
    wait_every_key_counted(&client, &first_job).await;

    // ---- stop with a savepoint, redeploy from it at parallelism 3: the keyed state comes back
    let trigger = client.stop_with_savepoint(&first_job, &StopWithSavepointRequest::default()).await.expect("stop");
    let savepoint = client.wait_for_savepoint(&first_job, &trigger, TIMEOUT).await.expect("savepoint");
    wait_state(&client, &first_job, JobState::Finished).await;
    let second_job = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b".to_owned();
    let intent = DeployIntent {
        job_id: Some(second_job.clone()),
        restore: Some(Restore { path: savepoint.clone(), allow_non_restored_state: false }),
    };
    let spec = cluster::build(&application(&jar, 3, "v2_3"), &intent).expect("cluster spec");
    assert_eq!(spec.taskmanagers, 2, "ceil(3 / 2)");
    let observed = runtime.deploy(&spec).await.expect("redeploy");
    assert_eq!(observed.generation, Some(3));
    let client = FlinkClient::new(observed.rest_url.as_deref().unwrap()).unwrap();
    wait_state(&client, &second_job, JobState::Running).await;
    eventually("parallelism 3", TIMEOUT, || async {
        client.job_details(&second_job).await.ok()?.vertices.iter().any(|v| v.parallelism == 3).then_some(())
    })
    .await;
    let restored = eventually("restore info", TIMEOUT, || async {
        client.checkpoint_statistics(&second_job).await.ok()?.latest.restored
    })
    .await;
    assert_eq!(
        restored.external_path.as_deref().map(|p| p.trim_end_matches('/')),
        Some(savepoint.trim_end_matches('/'))
    );
    // The job counts a key as restored when it first sees it after the restart: every key comes back.
    wait_restored_keys(&client, &second_job, 100.0).await;

    // ---- a crashed JobManager is reported as failed
    let app_id = ClusterId { namespace: "it".into(), name: "orders".into() };
    let pids = java_processes_under(&work.0.join("clusters/it/orders"));
    assert_eq!(pids.len(), 3, "one JobManager and two TaskManagers");
    let jobmanager_pid = std::fs::read_to_string(work.0.join("clusters/it/orders/pids/jobmanager.pid")).unwrap();
    std::process::Command::new("kill").args(["-9", jobmanager_pid.trim()]).status().unwrap();
    let failed = eventually("JobManager crash noticed", TIMEOUT, || async {
        let observed = runtime.observe(&app_id).await.ok()?;
        matches!(observed.status, ClusterStatus::Failed { .. }).then_some(observed)
    })
    .await;
    eprintln!("observed after the crash: {failed:?}");
    runtime.delete(&app_id).await.expect("delete");
    assert_all_gone(&pids);
    assert_eq!(runtime.observe(&app_id).await.unwrap().status, ClusterStatus::Missing);

    // ---- a session cluster started by one flinkops is adopted by the next, then deleted
    let session = deployment(
        "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: shared, namespace: it}\nspec:\n  flinkVersion: v2_1\n  taskManager: {replicas: 1}\n",
    );
    let spec = cluster::build(&session, &DeployIntent::default()).unwrap();
    let observed = runtime.deploy(&spec).await.expect("session deploy");
    assert!(observed.notes.iter().any(|n| n.contains("v2_1") && n.contains("2.3")), "{:?}", observed.notes);
    let session_id = spec.id.clone();
    let session_pids = java_processes_under(&work.0.join("clusters/it/shared"));
    runtime.detach_all().await;
    drop(runtime);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(session_pids.iter().all(|p| process_alive(*p)), "detached clusters keep running");
    let successor = LocalRuntime::new(&flink_home, &work.0).expect("second runtime");
    let adopted = successor.observe(&session_id).await.expect("observe");
    assert_eq!(adopted.status, ClusterStatus::Ready);
    assert_eq!(adopted.rest_url, observed.rest_url);
    successor.delete(&session_id).await.expect("delete adopted");
    assert_all_gone(&session_pids);

    // ---- a major version the distribution cannot run is bad input, not a retry
    let old =
        cluster::build(&application(&jar, 1, "v1_20"), &DeployIntent { job_id: Some("c".repeat(32)), restore: None })
            .unwrap();
    let error = successor.deploy(&old).await.expect_err("Flink 1.x on a 2.x distribution");
    assert!(matches!(error, RuntimeError::BadInput { .. }) && error.to_string().contains("Flink 1.x"), "{error}");

    assert!(java_processes_under(&work.0).is_empty(), "no Java process of this test is left");
}
