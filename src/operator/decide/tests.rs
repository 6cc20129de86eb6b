//! One named case per rule of the decision table (§2.4) and per crash point of an upgrade.

use super::*;
use crate::crd::status::{JobStatus, ReconciliationStatus, SavepointInfo};
use crate::crd::{FlinkConfiguration, JobSpec};
use crate::savepoints::trigger::{TriggerConfig, TriggerType};

fn spec(mode: UpgradeMode, state: JobState, args: &[&str]) -> FlinkDeploymentSpec {
    FlinkDeploymentSpec {
        job: Some(JobSpec {
            jar_uri: Some("local:///job.jar".into()),
            parallelism: Some(2),
            upgrade_mode: Some(mode),
            state: Some(state),
            args: Some(args.iter().map(|a| a.to_string()).collect()),
            ..Default::default()
        }),
        flink_configuration: Some(FlinkConfiguration::default()),
        ..Default::default()
    }
}

/// A status recording `recorded` in `state`, with the given job id, job state, restore point and trigger.
fn status(
    recorded: &FlinkDeploymentSpec,
    recorded_state: JobState,
    reconciliation: ReconciliationState,
    job_state: Option<FlinkJobState>,
    upgrade_path: Option<&str>,
    trigger: Option<&str>,
) -> FlinkDeploymentStatus {
    FlinkDeploymentStatus {
        observed_generation: Some(1),
        reconciliation_status: Some(ReconciliationStatus {
            last_reconciled_spec: Some(ReconciledSpec::new(recorded, recorded_state, None, false).encode()),
            state: Some(reconciliation),
            ..Default::default()
        }),
        job_status: Some(JobStatus {
            job_id: Some("job-1".into()),
            state: job_state,
            upgrade_savepoint_path: upgrade_path.map(str::to_owned),
            savepoint_info: trigger.map(|t| SavepointInfo {
                trigger_id: Some(t.to_owned()),
                trigger_type: Some(SnapshotTriggerType::Upgrade),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn facts<'a>(desired: &'a FlinkDeploymentSpec, status: &'a FlinkDeploymentStatus) -> Facts<'a> {
    Facts {
        generation: 2,
        deleting: false,
        desired,
        status,
        cluster: ClusterStatus::Ready,
        cluster_generation: Some(1),
        cluster_job_id: Some("job-1".into()),
        job: JobFacts::State(FlinkJobState::Running),
        stop: StopFacts::Unknown,
        checkpoint: CheckpointFacts::Unknown,
        latest_snapshot: None,
        savepoint_on_deletion: false,
        trigger_config: TriggerConfig::default(),
        retention: RetentionPolicy::default(),
        now_ms: 1_000_000,
        created_ms: 0,
        fresh_job_id: "job-2",
        fresh_trigger_id: "trigger-2",
        recovery_savepoint: None,
        unhealthy: None,
        rollback_after: None,
        rolling_back: false,
        last_state_fallback: true,
        max_checkpoint_age: None,
        latest_checkpoint_ms: None,
        job_start_ms: None,
        blocking_session_jobs: &[],
        autoscaler: AutoscalerFacts::Off,
    }
}

#[test]
fn first_deployment_records_and_deploys_with_a_fresh_job_id() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status = FlinkDeploymentStatus::default();
    let step = decide(&facts(&desired, &status));
    assert!(matches!(step, Step::Deploy { ref job_id, restore: None, .. } if job_id == "job-2"), "{step:?}");
}

#[test]
fn first_deployment_starts_from_the_initial_savepoint() {
    let mut desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    desired.job.as_mut().unwrap().initial_savepoint_path = Some("file:///sp-0".into());
    let status = FlinkDeploymentStatus::default();
    let Step::Deploy { restore: Some(restore), target, .. } = decide(&facts(&desired, &status)) else { panic!() };
    assert_eq!(restore.path, "file:///sp-0");
    assert_eq!(target.spec.job.unwrap().upgrade_mode, Some(UpgradeMode::Savepoint));
}

#[test]
fn first_deployment_of_a_suspended_job_starts_nothing() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Suspended, &[]);
    let status = FlinkDeploymentStatus::default();
    assert!(matches!(decide(&facts(&desired, &status)), Step::RecordSuspendedSpec { .. }));
}

#[test]
fn unchanged_spec_waits() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status =
        status(&desired, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    // The nonce change is a new generation with nothing to do: it is recorded as observed, then nothing happens.
    assert_eq!(decide(&facts(&desired, &status)), Step::RecordGeneration);
    assert!(matches!(decide(&Facts { generation: 1, ..facts(&desired, &status) }), Step::Wait { .. }));
}

#[test]
fn row_4_savepoint_mode_with_a_running_job_stops_with_a_savepoint() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status =
        status(&old, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    assert_eq!(decide(&facts(&desired, &status)), Step::StopWithSavepoint { trigger_id: "trigger-2".into() });
}

#[test]
fn row_1_stateless_mode_cancels_and_drops_state() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Stateless, JobState::Running, &["--new"]);
    let status = status(
        &old,
        JobState::Running,
        ReconciliationState::Deployed,
        Some(FlinkJobState::Running),
        Some("file:///old"),
        None,
    );
    let Step::Cancel { target } = decide(&facts(&desired, &status)) else { panic!() };
    assert_eq!(target.spec.job.unwrap().upgrade_mode, Some(UpgradeMode::Stateless));
}

#[test]
fn row_7_last_state_with_a_running_job_cancels_and_keeps_the_checkpoint() {
    let old = spec(UpgradeMode::LastState, JobState::Running, &[]);
    let desired = spec(UpgradeMode::LastState, JobState::Running, &["--new"]);
    let status =
        status(&old, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    let Step::Cancel { target } = decide(&facts(&desired, &status)) else { panic!() };
    assert_eq!(target.spec.job.as_ref().unwrap().upgrade_mode, Some(UpgradeMode::LastState));
    assert_eq!(target.job_state(), JobState::Suspended);
}

#[test]
fn row_5_savepoint_mode_with_a_restarting_job_falls_back_to_last_state() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status =
        status(&old, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Restarting), None, None);
    let mut facts = facts(&desired, &status);
    facts.job = JobFacts::State(FlinkJobState::Restarting);
    let Step::Cancel { target } = decide(&facts) else { panic!() };
    assert_eq!(target.spec.job.unwrap().upgrade_mode, Some(UpgradeMode::LastState));
}

#[test]
fn row_2_a_terminal_job_needs_no_suspend() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status = status(
        &old,
        JobState::Running,
        ReconciliationState::Deployed,
        Some(FlinkJobState::Failed),
        Some("file:///sp-1"),
        None,
    );
    let mut facts = facts(&desired, &status);
    facts.job = JobFacts::State(FlinkJobState::Failed);
    facts.latest_snapshot = Some("file:///chk-9".into());
    let Step::RecordStopped { restore_path, new_savepoint, .. } = decide(&facts) else { panic!() };
    assert_eq!(restore_path.as_deref(), Some("file:///chk-9"));
    assert!(!new_savepoint);
}

#[test]
fn row_3_a_cancelling_job_is_waited_for() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status =
        status(&old, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Cancelling), None, None);
    let mut facts = facts(&desired, &status);
    facts.job = JobFacts::State(FlinkJobState::Cancelling);
    assert!(matches!(decide(&facts), Step::Wait { .. }));
}

#[test]
fn crash_after_trigger_recorded_but_before_issued_reissues_the_same_trigger() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status = status(
        &old,
        JobState::Running,
        ReconciliationState::Upgrading,
        Some(FlinkJobState::Running),
        None,
        Some("t-1"),
    );
    let mut facts = facts(&desired, &status);
    facts.stop = StopFacts::NotIssued;
    assert_eq!(phase(&status), Phase::Stopping { trigger_id: "t-1".into() });
    assert_eq!(decide(&facts), Step::StopWithSavepoint { trigger_id: "t-1".into() }, "never a second trigger id");
}

#[test]
fn crash_after_the_savepoint_completed_records_it_once() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status = status(
        &old,
        JobState::Running,
        ReconciliationState::Upgrading,
        Some(FlinkJobState::Running),
        None,
        Some("t-1"),
    );
    let mut facts = facts(&desired, &status);
    facts.stop = StopFacts::Completed("file:///sp-1".into());
    facts.job = JobFacts::State(FlinkJobState::Finished);
    let Step::RecordStopped { restore_path, new_savepoint, target } = decide(&facts) else { panic!() };
    assert_eq!(restore_path.as_deref(), Some("file:///sp-1"));
    assert!(new_savepoint);
    assert_eq!(target.job_state(), JobState::Suspended);
}

#[test]
fn crash_after_the_job_stopped_when_flink_forgot_the_trigger_uses_the_job_s_last_savepoint() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status = status(
        &old,
        JobState::Running,
        ReconciliationState::Upgrading,
        Some(FlinkJobState::Running),
        None,
        Some("t-1"),
    );
    let mut facts = facts(&desired, &status);
    facts.stop = StopFacts::NotIssued;
    facts.job = JobFacts::State(FlinkJobState::Finished);
    facts.latest_snapshot = Some("file:///sp-1".into());
    assert!(matches!(decide(&facts), Step::RecordStopped { new_savepoint: true, .. }));
}

#[test]
fn a_failed_stop_keeps_the_job_running() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status = status(
        &old,
        JobState::Running,
        ReconciliationState::Upgrading,
        Some(FlinkJobState::Running),
        None,
        Some("t-1"),
    );
    let mut facts = facts(&desired, &status);
    facts.stop = StopFacts::Failed("disk full".into());
    assert_eq!(decide(&facts), Step::StopFailed { reason: "disk full".into() });
}

#[test]
fn stopped_and_desired_running_restores_from_the_recorded_savepoint_with_a_new_job_id() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status = status(
        &desired,
        JobState::Suspended,
        ReconciliationState::Upgrading,
        Some(FlinkJobState::Finished),
        Some("file:///sp-1"),
        None,
    );
    assert_eq!(phase(&status), Phase::Stopped);
    let Step::Deploy { job_id, restore, .. } = decide(&facts(&desired, &status)) else { panic!() };
    assert_eq!(job_id, "job-2");
    assert_eq!(restore.unwrap().path, "file:///sp-1");
}

#[test]
fn crash_during_deploy_redeploys_with_the_recorded_job_id() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status = status(
        &desired,
        JobState::Running,
        ReconciliationState::Upgrading,
        Some(FlinkJobState::Finished),
        Some("file:///sp-1"),
        None,
    );
    let mut facts = facts(&desired, &status);
    facts.cluster = ClusterStatus::Missing;
    let Step::Deploy { job_id, restore, .. } = decide(&facts) else { panic!() };
    assert_eq!(job_id, "job-1", "the recorded id, so a retry never starts a second job");
    assert_eq!(restore.unwrap().path, "file:///sp-1");
}

#[test]
fn crash_after_the_cluster_came_up_marks_it_deployed() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status = status(&desired, JobState::Running, ReconciliationState::Upgrading, None, Some("file:///sp-1"), None);
    assert_eq!(decide(&facts(&desired, &status)), Step::MarkDeployed);
}

#[test]
fn suspend_takes_a_savepoint_and_then_finishes_without_a_cluster() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Suspended, &[]);
    let running =
        status(&old, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    assert!(matches!(decide(&facts(&desired, &running)), Step::StopWithSavepoint { .. }));
    let stopped = status(
        &desired,
        JobState::Suspended,
        ReconciliationState::Upgrading,
        Some(FlinkJobState::Finished),
        Some("file:///sp-1"),
        None,
    );
    assert!(matches!(decide(&facts(&desired, &stopped)), Step::FinishSuspend { .. }));
}

#[test]
fn resume_uses_the_suspend_time_mode_unless_the_spec_says_stateless() {
    let suspended_spec = spec(UpgradeMode::Savepoint, JobState::Suspended, &[]);
    let status = status(
        &suspended_spec,
        JobState::Suspended,
        ReconciliationState::Deployed,
        Some(FlinkJobState::Finished),
        Some("file:///sp-1"),
        None,
    );
    let resume = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let Step::Deploy { restore, .. } = decide(&facts(&resume, &status)) else { panic!() };
    assert_eq!(restore.unwrap().path, "file:///sp-1");
    let stateless = spec(UpgradeMode::Stateless, JobState::Running, &[]);
    let Step::Deploy { restore, .. } = decide(&facts(&stateless, &status)) else { panic!() };
    assert!(restore.is_none());
}

#[test]
fn deletion_with_savepoint_on_deletion_stops_first_then_cleans_up() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status =
        status(&desired, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    let mut facts = facts(&desired, &status);
    facts.deleting = true;
    assert_eq!(decide(&facts), Step::Cleanup { savepoint: None });
    facts.savepoint_on_deletion = true;
    assert!(matches!(decide(&facts), Step::StopWithSavepoint { .. }));
}

#[test]
fn a_new_savepoint_nonce_triggers_a_manual_savepoint_without_a_restart() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let mut desired = old.clone();
    desired.job.as_mut().unwrap().savepoint_trigger_nonce = Some(1);
    let status =
        status(&old, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    assert_eq!(
        decide(&facts(&desired, &status)),
        Step::TriggerSavepoint { trigger_id: "trigger-2".into(), trigger_type: TriggerType::Manual }
    );
}

#[test]
fn a_manual_savepoint_in_flight_is_recorded_when_it_completes() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let mut status =
        status(&desired, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    status.job_status.as_mut().unwrap().savepoint_info = Some(SavepointInfo {
        trigger_id: Some("t-9".into()),
        trigger_type: Some(SnapshotTriggerType::Manual),
        ..Default::default()
    });
    assert_eq!(phase(&status), Phase::Deployed);
    let mut facts = facts(&desired, &status);
    facts.stop = StopFacts::Completed("file:///sp-9".into());
    assert_eq!(decide(&facts), Step::RecordSavepoint { location: "file:///sp-9".into() });
    facts.stop = StopFacts::NotIssued;
    assert_eq!(decide(&facts), Step::TriggerSavepoint { trigger_id: "t-9".into(), trigger_type: TriggerType::Manual });
}

#[test]
fn a_due_periodic_savepoint_is_triggered_and_otherwise_the_next_one_is_waited_for() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status =
        status(&desired, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    let mut facts = Facts { generation: 1, ..facts(&desired, &status) };
    facts.trigger_config.savepoint_schedule = crate::savepoints::parse_schedule("10s").unwrap();
    facts.created_ms = facts.now_ms - 11_000;
    assert!(matches!(decide(&facts), Step::TriggerSavepoint { trigger_type: TriggerType::Periodic, .. }));
    facts.created_ms = facts.now_ms - 4_000;
    let Step::Wait { requeue_after, .. } = decide(&facts) else { panic!() };
    assert!(requeue_after <= Duration::from_secs(7), "{requeue_after:?}");
}

#[test]
fn a_session_cluster_is_not_deleted_while_session_jobs_run_on_it() {
    let desired = FlinkDeploymentSpec::default();
    let status = status(&desired, JobState::Running, ReconciliationState::Deployed, None, None, None);
    let blocking = ["enrich".to_owned(), "audit".to_owned()];
    let facts = Facts { deleting: true, blocking_session_jobs: &blocking, ..facts(&desired, &status) };
    let Step::Blocked { reason } = decide(&facts) else { panic!("{:?}", decide(&facts)) };
    assert!(reason.contains("enrich, audit"), "{reason}");
    let facts = Facts { blocking_session_jobs: &[], ..facts };
    assert_eq!(decide(&facts), Step::Cleanup { savepoint: None });
}

#[test]
fn a_lost_cluster_of_a_stateful_job_is_recovered_from_the_newest_recorded_savepoint() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let mut status = status(
        &desired,
        JobState::Running,
        ReconciliationState::Deployed,
        Some(FlinkJobState::Running),
        Some("file:///sp-restored"),
        None,
    );
    let facts_missing = Facts { cluster: ClusterStatus::Missing, job: JobFacts::Unknown, ..facts(&desired, &status) };
    let Step::Deploy { restore: Some(restore), job_id, .. } = decide(&facts_missing) else { panic!() };
    assert_eq!((restore.path.as_str(), job_id.as_str()), ("file:///sp-restored", "job-2"));

    status.job_status.as_mut().unwrap().savepoint_info = Some(SavepointInfo {
        last_savepoint: Some(crate::crd::status::Savepoint {
            location: Some("file:///sp-periodic".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    let facts_missing = Facts { cluster: ClusterStatus::Missing, job: JobFacts::Unknown, ..facts(&desired, &status) };
    let Step::Deploy { restore: Some(restore), .. } = decide(&facts_missing) else { panic!() };
    assert_eq!(restore.path, "file:///sp-periodic");
}

#[test]
fn a_finished_bounded_job_is_not_recovered_when_its_cluster_goes_away() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status =
        status(&desired, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Finished), None, None);
    let facts = Facts { cluster: ClusterStatus::Missing, job: JobFacts::Unknown, ..facts(&desired, &status) };
    assert!(matches!(decide(&facts), Step::Wait { .. }), "{:?}", decide(&facts));
}

#[test]
fn a_new_checkpoint_nonce_triggers_a_checkpoint_and_its_completion_is_recorded() {
    let recorded = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let mut desired = recorded.clone();
    desired.job.as_mut().unwrap().checkpoint_trigger_nonce = Some(7);
    let mut status =
        status(&recorded, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    assert_eq!(
        decide(&facts(&desired, &status)),
        Step::TriggerCheckpoint { trigger_id: "trigger-2".into(), trigger_type: TriggerType::Manual }
    );

    status.job_status.as_mut().unwrap().checkpoint_info = Some(crate::crd::status::CheckpointInfo {
        trigger_id: Some("trigger-1".into()),
        trigger_type: Some(SnapshotTriggerType::Manual),
        ..Default::default()
    });
    let in_flight = |checkpoint| Facts { checkpoint, ..facts(&desired, &status) };
    assert_eq!(decide(&in_flight(CheckpointFacts::Completed)), Step::RecordCheckpoint);
    assert!(matches!(decide(&in_flight(CheckpointFacts::InProgress)), Step::Wait { .. }));
    assert_eq!(
        decide(&in_flight(CheckpointFacts::NotIssued)),
        Step::TriggerCheckpoint { trigger_id: "trigger-1".into(), trigger_type: TriggerType::Manual },
        "a recorded trigger that never reached Flink is issued with the same id"
    );
    assert_eq!(
        decide(&in_flight(CheckpointFacts::Failed("declined".into()))),
        Step::CheckpointFailed { reason: "declined".into() }
    );
}

#[test]
fn a_handled_checkpoint_nonce_triggers_nothing() {
    let mut desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    desired.job.as_mut().unwrap().checkpoint_trigger_nonce = Some(7);
    let status =
        status(&desired, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    // The nonce change is a new generation with nothing to do: it is recorded as observed, then nothing happens.
    assert_eq!(decide(&facts(&desired, &status)), Step::RecordGeneration);
    assert!(matches!(decide(&Facts { generation: 1, ..facts(&desired, &status) }), Step::Wait { .. }));
}

#[test]
fn savepoints_beyond_the_history_limits_are_disposed_of_while_the_job_runs() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let mut status =
        status(&desired, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    let savepoint = |n: i64| crate::crd::status::Savepoint {
        time_stamp: Some(900_000 + n),
        location: Some(format!("file:///sp-{n}")),
        ..Default::default()
    };
    status.job_status.as_mut().unwrap().savepoint_info =
        Some(SavepointInfo { savepoint_history: (1..=4).map(savepoint).collect(), ..Default::default() });
    let retention = RetentionPolicy { max_count: 2, ..RetentionPolicy::default() };
    let Step::ApplyRetention { plan } = decide(&Facts { retention, ..facts(&desired, &status) }) else { panic!() };
    let disposed: Vec<_> = plan.dispose.iter().map(|d| d.savepoint.location.clone().unwrap()).collect();
    assert_eq!(disposed, ["file:///sp-1", "file:///sp-2"], "the oldest beyond the count");

    // Not while the job is not running (disposal goes through its JobManager), and not within the limits.
    let restarting = Facts { retention, job: JobFacts::State(FlinkJobState::Restarting), ..facts(&desired, &status) };
    assert!(!matches!(decide(&restarting), Step::ApplyRetention { .. }));
    let within =
        Facts { generation: 1, retention: RetentionPolicy { max_count: 4, ..retention }, ..facts(&desired, &status) };
    assert!(matches!(decide(&within), Step::Wait { .. }));
}

#[test]
fn a_first_deployment_restores_from_the_savepoint_git_records() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status = FlinkDeploymentStatus::default();
    let recovering = Facts { recovery_savepoint: Some("file:///sp-in-git".into()), ..facts(&desired, &status) };
    let Step::Deploy { restore: Some(restore), target, .. } = decide(&recovering) else { panic!() };
    assert_eq!(restore.path, "file:///sp-in-git");
    assert_eq!(target.spec.job.unwrap().upgrade_mode, Some(UpgradeMode::Savepoint));
}

#[test]
fn an_unhealthy_stateful_job_is_restarted_from_its_latest_checkpoint() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status =
        status(&desired, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    let unhealthy = Facts { unhealthy: Some("Restart count hit threshold: 2".into()), ..facts(&desired, &status) };
    let Step::RestartUnhealthy { target, reason } = decide(&unhealthy) else { panic!("{:?}", decide(&unhealthy)) };
    assert!(reason.contains("threshold"));
    assert_eq!(target.job_state(), JobState::Suspended);
    assert_eq!(target.spec.job.unwrap().upgrade_mode, Some(UpgradeMode::LastState));
    // A job that already ended is not restarted by the health check.
    let ended = Facts { job: JobFacts::State(FlinkJobState::Failed), ..unhealthy };
    assert!(!matches!(decide(&ended), Step::RestartUnhealthy { .. }));
}

#[test]
fn an_upgrade_that_is_not_ready_in_time_is_rolled_back_once() {
    let stable = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--broken"]);
    let mut status =
        status(&desired, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Restarting), None, None);
    let reconciliation = status.reconciliation_status.as_mut().unwrap();
    reconciliation.last_stable_spec = Some(ReconciledSpec::new(&stable, JobState::Running, None, false).encode());
    reconciliation.reconciliation_timestamp = Some(1_000_000 - 61_000);
    let failing = Facts {
        rollback_after: Some(Duration::from_secs(60)),
        job: JobFacts::State(FlinkJobState::Restarting),
        ..facts(&desired, &status)
    };
    assert!(matches!(decide(&failing), Step::StartRollback { .. }), "{:?}", decide(&failing));
    // Not before the timeout, not when rollback is off, not while it is rolling back, not once the job runs.
    let early = Facts { now_ms: 1_000_000 - 2_000, ..failing.clone() };
    assert!(!matches!(decide(&early), Step::StartRollback { .. }));
    assert!(!matches!(decide(&Facts { rollback_after: None, ..failing.clone() }), Step::StartRollback { .. }));
    assert!(!matches!(decide(&Facts { rolling_back: true, ..failing.clone() }), Step::StartRollback { .. }));
    let running = Facts { job: JobFacts::State(FlinkJobState::Running), ..failing.clone() };
    assert!(!matches!(decide(&running), Step::StartRollback { .. }));
    // While rolling back, the last stable spec is the desired one: the failed upgrade is undone like any other.
    let rolling_back = Facts { rolling_back: true, desired: &stable, ..failing };
    assert!(
        matches!(decide(&rolling_back), Step::Cancel { .. } | Step::StopWithSavepoint { .. }),
        "{:?}",
        decide(&rolling_back)
    );
}

#[test]
fn a_deploy_that_never_came_up_is_replaced_by_a_changed_spec() {
    let broken = spec(UpgradeMode::Savepoint, JobState::Running, &["--broken"]);
    let fixed = spec(UpgradeMode::Savepoint, JobState::Running, &["--fixed"]);
    let status = status(
        &broken,
        JobState::Running,
        ReconciliationState::Upgrading,
        Some(FlinkJobState::Reconciling),
        Some("file:///sp-before-upgrade"),
        None,
    );
    let failed = Facts {
        cluster: ClusterStatus::Failed { reason: "the JobManager exited".into() },
        job: JobFacts::Unknown,
        ..facts(&fixed, &status)
    };
    let Step::Deploy { target, job_id, restore } = decide(&failed) else { panic!("{:?}", decide(&failed)) };
    assert_eq!(target.spec.job.unwrap().args, Some(vec!["--fixed".to_owned()]));
    assert_eq!(job_id, "job-2");
    assert_eq!(restore.unwrap().path, "file:///sp-before-upgrade");
}

#[test]
fn an_upgrade_of_a_job_that_never_ran_keeps_the_recorded_restore_point() {
    let broken = spec(UpgradeMode::Savepoint, JobState::Running, &["--broken"]);
    let fixed = spec(UpgradeMode::Savepoint, JobState::Running, &["--fixed"]);
    let status = status(
        &broken,
        JobState::Running,
        ReconciliationState::Deployed,
        None,
        Some("file:///sp-before-upgrade"),
        None,
    );
    let not_found = Facts { job: JobFacts::NotFound, ..facts(&fixed, &status) };
    let Step::RecordStopped { restore_path, new_savepoint, .. } = decide(&not_found) else { panic!() };
    assert_eq!((restore_path.as_deref(), new_savepoint), (Some("file:///sp-before-upgrade"), false));
}

#[test]
fn row_6_last_state_across_a_flink_version_change_takes_a_savepoint() {
    let old = spec(UpgradeMode::LastState, JobState::Running, &[]);
    let mut desired = spec(UpgradeMode::LastState, JobState::Running, &[]);
    desired.flink_version = Some(crate::crd::FlinkVersion::v2_3);
    let status =
        status(&old, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    assert_eq!(decide(&facts(&desired, &status)), Step::StopWithSavepoint { trigger_id: "trigger-2".into() });
}

#[test]
fn row_7_last_state_with_a_too_old_checkpoint_takes_a_savepoint() {
    let old = spec(UpgradeMode::LastState, JobState::Running, &[]);
    let desired = spec(UpgradeMode::LastState, JobState::Running, &["--new"]);
    let status =
        status(&old, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    let aged = Facts {
        max_checkpoint_age: Some(Duration::from_secs(60)),
        job_start_ms: Some(1_000_000 - 600_000),
        latest_checkpoint_ms: Some(1_000_000 - 120_000),
        ..facts(&desired, &status)
    };
    assert_eq!(decide(&aged), Step::StopWithSavepoint { trigger_id: "trigger-2".into() });
    let fresh = Facts { latest_checkpoint_ms: Some(1_000_000 - 5_000), ..aged.clone() };
    assert!(matches!(decide(&fresh), Step::Cancel { .. }), "a recent checkpoint: cancel and restore from it");
    let young_job = Facts { job_start_ms: Some(1_000_000 - 30_000), latest_checkpoint_ms: None, ..aged };
    assert!(matches!(decide(&young_job), Step::Cancel { .. }), "a job younger than the age is not held to it");
}

#[test]
fn row_5_savepoint_mode_without_last_state_fallback_waits_for_the_job() {
    let old = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &["--new"]);
    let status =
        status(&old, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Restarting), None, None);
    let restarting = Facts { job: JobFacts::State(FlinkJobState::Restarting), ..facts(&desired, &status) };
    assert!(matches!(decide(&restarting), Step::Cancel { .. }), "falls back to last-state by default");
    let no_fallback = Facts { last_state_fallback: false, ..restarting };
    assert!(matches!(decide(&no_fallback), Step::Wait { .. }));
}

/// A deployed, stable, running job recorded from `recorded`, generation observed.
fn stable_running(recorded: &FlinkDeploymentSpec) -> FlinkDeploymentStatus {
    let mut status =
        status(recorded, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    let reconciliation = status.reconciliation_status.as_mut().unwrap();
    reconciliation.last_stable_spec = reconciliation.last_reconciled_spec.clone();
    status
}

#[test]
fn autoscaler_runs_when_due_on_a_stable_running_job() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status = stable_running(&desired);
    let due = Facts { generation: 1, autoscaler: AutoscalerFacts::Due, ..facts(&desired, &status) };
    assert_eq!(decide(&due), Step::Autoscale);
    let not_due = Facts { autoscaler: AutoscalerFacts::NotDue(Duration::from_secs(3)), ..due.clone() };
    assert_eq!(
        decide(&not_due),
        Step::Wait { requeue_after: Duration::from_secs(3), reason: "up to date".into() },
        "the requeue is short enough for the next collection"
    );
    let restarting = Facts { job: JobFacts::State(FlinkJobState::Restarting), ..due.clone() };
    assert!(matches!(decide(&restarting), Step::Wait { .. }), "only a RUNNING job is measured");
}

#[test]
fn autoscaler_waits_until_the_reconciled_spec_is_stable() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status =
        status(&desired, JobState::Running, ReconciliationState::Deployed, Some(FlinkJobState::Running), None, None);
    let due = Facts { generation: 1, autoscaler: AutoscalerFacts::Due, ..facts(&desired, &status) };
    assert!(matches!(decide(&due), Step::Wait { .. }));
}

#[test]
fn autoscaler_turned_off_clears_its_state() {
    let desired = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status = stable_running(&desired);
    let stale = Facts { generation: 1, autoscaler: AutoscalerFacts::Stale, ..facts(&desired, &status) };
    assert_eq!(decide(&stale), Step::ClearAutoscaler);
}

#[test]
fn autoscaler_overrides_in_the_effective_spec_upgrade_with_the_jobs_mode() {
    // The redeploy realization: the recorded spec lacks the overrides the effective desired spec carries.
    let recorded = spec(UpgradeMode::Savepoint, JobState::Running, &[]);
    let status = stable_running(&recorded);
    let effective = crate::operator::autoscale::with_config_value(
        &recorded,
        crate::operator::autoscale::OVERRIDES_KEY,
        "v1:4".into(),
    );
    let step = decide(&Facts { generation: 1, autoscaler: AutoscalerFacts::Due, ..facts(&effective, &status) });
    assert_eq!(step, Step::StopWithSavepoint { trigger_id: "trigger-2".into() }, "savepoint mode: state is kept");
    let last_state = spec(UpgradeMode::LastState, JobState::Running, &[]);
    let effective = crate::operator::autoscale::with_config_value(
        &last_state,
        crate::operator::autoscale::OVERRIDES_KEY,
        "v1:4".into(),
    );
    let status = stable_running(&last_state);
    let step = decide(&Facts { generation: 1, ..facts(&effective, &status) });
    assert!(matches!(step, Step::Cancel { .. }), "last-state: cancel and restore from the latest checkpoint: {step:?}");
}
