use super::*;
use crate::autoscaler::VertexChange;
use crate::crd::JobSpec;
use crate::crd::status::{ScalingHistoryChange, ScalingHistoryEntry};

fn spec(config: &[(&str, &str)]) -> FlinkDeploymentSpec {
    FlinkDeploymentSpec {
        job: Some(JobSpec { jar_uri: Some("local:///job.jar".into()), parallelism: Some(2), ..Default::default() }),
        flink_configuration: Some(FlinkConfiguration(
            config.iter().map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned()))).collect(),
        )),
        ..Default::default()
    }
}

fn status_with(overrides: &[(&str, i32)], last_run: Option<i64>) -> FlinkDeploymentStatus {
    FlinkDeploymentStatus {
        autoscaler: Some(Box::new(AutoscalerStatus {
            parallelism_overrides: overrides.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            last_run_timestamp: last_run,
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[test]
fn overrides_merge_over_the_users_except_for_excluded_vertices() {
    let overrides = [("a".to_owned(), 4), ("b".to_owned(), 1)].into();
    assert_eq!(merge_overrides(None, &overrides, &[]), "a:4,b:1");
    assert_eq!(merge_overrides(Some("b:3, c:2"), &overrides, &[]), "a:4,b:1,c:2");
    assert_eq!(merge_overrides(Some("b:3"), &overrides, &["b".to_owned()]), "a:4,b:3", "excluded keeps the user's");
}

#[test]
fn effective_spec_carries_the_overrides_only_while_the_autoscaler_is_on() {
    let on = spec(&[("job.autoscaler.enabled", "true")]);
    let status = status_with(&[("a", 4)], None);
    let effective = effective_spec(&on, &status);
    assert_eq!(effective.flink_config()[OVERRIDES_KEY], "a:4");
    assert_eq!(effective.job, on.job, "job parallelism stays Git's");
    let off = spec(&[("job.autoscaler.enabled", "false")]);
    assert_eq!(effective_spec(&off, &status), off, "turned off: Git's parallelism returns");
    assert_eq!(effective_spec(&on, &FlinkDeploymentStatus::default()), on, "nothing recorded: Git's spec");
}

#[test]
fn facts_follow_the_flag_the_interval_and_the_reset_nonce() {
    let on = spec(&[("job.autoscaler.enabled", "true")]);
    let every = Duration::from_secs(10);
    assert_eq!(facts(&on, &FlinkDeploymentStatus::default(), 0, every), AutoscalerFacts::Due);
    assert_eq!(
        facts(&on, &status_with(&[], Some(1_000)), 5_000, every),
        AutoscalerFacts::NotDue(Duration::from_secs(6))
    );
    assert_eq!(facts(&on, &status_with(&[], Some(1_000)), 11_000, every), AutoscalerFacts::Due);
    let off = spec(&[]);
    assert_eq!(facts(&off, &FlinkDeploymentStatus::default(), 0, every), AutoscalerFacts::Off);
    assert_eq!(facts(&off, &status_with(&[("a", 4)], None), 0, every), AutoscalerFacts::Stale);
    let mut reset = on.clone();
    reset.job.as_mut().unwrap().autoscaler_reset_nonce = Some(7);
    assert_eq!(facts(&reset, &status_with(&[("a", 4)], None), 0, every), AutoscalerFacts::Stale);
}

#[test]
fn interval_reads_the_reconcile_interval() {
    let config: BTreeMap<String, String> = [(RECONCILE_INTERVAL_KEY.to_owned(), "5 s".to_owned())].into();
    assert_eq!(interval(&config, Duration::from_secs(15)), Duration::from_secs(5));
    assert_eq!(interval(&BTreeMap::new(), Duration::from_secs(15)), Duration::from_secs(15));
}

#[test]
fn state_round_trips_through_status_with_history_kept_readable() {
    let mut state = AutoscalerState { last_rescale_ms: Some(42), ..Default::default() };
    state.decisions.push(ScalingDecision {
        at_ms: 42,
        vertices: vec![VertexChange { vertex: "v1".into(), from: 1, to: 4, reason: "busy".into() }],
        executed: true,
        report: "report".into(),
    });
    let mut recorded = AutoscalerStatus::default();
    let names = [("v1".to_owned(), "counter".to_owned())].into();
    store(&mut recorded, &state, &MetricsWindow::default(), &names, Some(3));
    assert_eq!(recorded.scaling_history.len(), 1);
    assert_eq!(recorded.scaling_history[0].vertices[0].name, "counter");
    assert_eq!(summary(&recorded.scaling_history[0]), "counter 1 -> 4 (busy)");
    assert!(recorded.state.as_ref().unwrap().get("decisions").unwrap().as_array().unwrap().is_empty());
    assert_eq!(recorded.state.as_ref().unwrap()["resetNonce"], 3);
    let (loaded, _) = load(Some(&recorded));
    assert_eq!(loaded, state);
}

fn scaling_output() -> run::RunOutput {
    let entry = ScalingHistoryEntry {
        timestamp: 5,
        executed: true,
        vertices: vec![ScalingHistoryChange {
            vertex_id: "a".into(),
            name: "counter".into(),
            from: 1,
            to: 4,
            reason: "busy".into(),
        }],
        report: "report".into(),
        ..Default::default()
    };
    let status = AutoscalerStatus { scaling_history: vec![entry.clone()], ..Default::default() };
    run::RunOutput { status, scaling: Some(run::Scaling { overrides: [("a".to_owned(), 4)].into(), entry }) }
}

fn recorded_status(spec: &FlinkDeploymentSpec) -> FlinkDeploymentStatus {
    let recorded = super::super::reconciled::ReconciledSpec::new(spec, crate::crd::JobState::Running, None, false);
    FlinkDeploymentStatus {
        reconciliation_status: Some(crate::crd::status::ReconciliationStatus {
            last_reconciled_spec: Some(recorded.encode()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn in_place_records_the_overrides_in_status_and_in_the_recorded_spec_before_the_put() {
    let on = spec(&[("job.autoscaler.enabled", "true")]);
    let mut status = recorded_status(&on);
    let before = status.reconciliation_status.as_ref().unwrap().last_reconciled_spec.clone();
    let Realize::InPlace { overrides, recorded_before } = apply_run(&mut status, &on, scaling_output(), true) else {
        panic!("adaptive scheduler: in place")
    };
    assert_eq!(overrides["a"], 4);
    assert_eq!(recorded_before, before);
    let record = status.autoscaler.as_ref().unwrap();
    assert_eq!(record.parallelism_overrides["a"], 4);
    assert_eq!(record.scaling_history[0].realization.as_deref(), Some(IN_PLACE));
    let recorded = status.reconciliation_status.as_ref().unwrap().last_reconciled_spec.as_deref().unwrap();
    let recorded = super::super::reconciled::ReconciledSpec::decode(recorded).unwrap();
    assert_eq!(recorded.spec.flink_config()[OVERRIDES_KEY], "a:4", "no upgrade follows an in-place rescale");
    assert_eq!(
        super::super::reconciled::diff_class(&recorded.spec, &effective_spec(&on, &status)),
        super::super::reconciled::DiffClass::Ignore
    );
    fall_back_to_redeploy(&mut status, before.clone(), "HTTP 500");
    assert_eq!(status.reconciliation_status.as_ref().unwrap().last_reconciled_spec, before);
    assert_eq!(status.autoscaler.as_ref().unwrap().realization.as_deref(), Some(REDEPLOY));
}

#[test]
fn without_the_adaptive_scheduler_only_status_changes_and_decide_upgrades() {
    let on = spec(&[("job.autoscaler.enabled", "true")]);
    let mut status = recorded_status(&on);
    let before = status.reconciliation_status.clone();
    assert_eq!(apply_run(&mut status, &on, scaling_output(), false), Realize::Redeploy);
    assert_eq!(status.reconciliation_status, before);
    assert_eq!(status.autoscaler.as_ref().unwrap().realization.as_deref(), Some(REDEPLOY));
    let no_scaling = run::RunOutput { status: AutoscalerStatus::default(), scaling: None };
    assert_eq!(apply_run(&mut status, &on, no_scaling, true), Realize::Nothing);
}
