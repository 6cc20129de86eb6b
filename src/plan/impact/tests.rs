//! Table tests of the upgrade decision and of every risk rule: one named row per rule of
//! `reference/flink-operator-semantics.md` §2.3–§2.5 that the impact module implements.

use serde_json::{Value, json};

use super::*;
use crate::ownership::OwnershipContext;
use crate::plan::diff::diff;

const SAVEPOINT_CONFIG: &str = "s3://b/savepoints";

/// A running application deployment with savepoint upgrades and both state directories.
fn app() -> Value {
    json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
        "metadata": {"name": "orders", "namespace": "team-a"},
        "spec": {
            "image": "flink:2.1", "flinkVersion": "v2_1", "serviceAccount": "flink",
            "flinkConfiguration": {
                "execution.checkpointing.dir": "s3://b/checkpoints",
                "execution.checkpointing.savepoint-dir": SAVEPOINT_CONFIG,
                "pipeline.max-parallelism": "720"
            },
            "jobManager": {"resource": {"memory": "2g", "cpu": 1}},
            "taskManager": {"resource": {"memory": "4g", "cpu": 2}},
            "job": {"jarURI": "local:///opt/job.jar", "parallelism": 4, "upgradeMode": "savepoint", "state": "running"}
        }
    })
}

fn session_cluster() -> Value {
    let mut value = app();
    value["spec"].as_object_mut().map(|s| s.remove("job"));
    value
}

fn session_job() -> Value {
    json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkSessionJob",
        "metadata": {"name": "clicks", "namespace": "team-a"},
        "spec": {"deploymentName": "session", "job": {"jarURI": "https://x/j.jar", "upgradeMode": "savepoint"}}
    })
}

fn set(mut value: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        if new.is_null() {
            map.remove(key);
        } else {
            map.insert(key.to_owned(), new);
        }
    }
    value
}

fn assess_change(before: Option<&Value>, after: Option<&Value>, job_running: Option<bool>) -> Impact {
    let desired = after.cloned().unwrap_or(Value::Null);
    let current = before.cloned().unwrap_or(Value::Null);
    let context = OwnershipContext::for_desired(after.or(before).unwrap_or(&Value::Null));
    let result = diff(&desired, &current, &context);
    let kind = if after.or(before).and_then(|v| v.get("kind")).and_then(Value::as_str) == Some("FlinkSessionJob") {
        Kind::FlinkSessionJob
    } else {
        Kind::FlinkDeployment
    };
    assess(ImpactInput {
        kind,
        before: before.map(|_| &result.current),
        after: after.map(|_| &result.desired),
        changes: &result.changes,
        ignored: &result.ignored,
        job_running,
    })
}

#[test]
fn upgrade_decision_table() {
    let base = app();
    let stateless = set(app(), "/spec/job/upgradeMode", json!("stateless"));
    let last_state = set(app(), "/spec/job/upgradeMode", json!("last-state"));
    let adaptive = set(
        set(app(), "/spec/flinkConfiguration/jobmanager.scheduler", json!("adaptive")),
        "/spec/flinkVersion",
        json!("v1_20"),
    );
    let suspended = set(app(), "/spec/job/state", json!("suspended"));
    let cases: Vec<(&str, Option<Value>, Option<Value>, Upgrade)> = vec![
        ("no_change_is_none", Some(base.clone()), Some(base.clone()), Upgrade::None),
        (
            "label_is_metadata_only",
            Some(base.clone()),
            Some(set(app(), "/metadata/labels", json!({"team": "a"}))),
            Upgrade::MetadataOnly,
        ),
        (
            "image_with_savepoint_mode_is_savepoint",
            Some(base.clone()),
            Some(set(app(), "/spec/image", json!("flink:2.2"))),
            Upgrade::Savepoint,
        ),
        (
            "image_with_last_state_mode_is_last_state",
            Some(last_state.clone()),
            Some(set(last_state.clone(), "/spec/image", json!("flink:2.2"))),
            Upgrade::LastState,
        ),
        (
            "image_with_stateless_mode_is_stateless",
            Some(stateless.clone()),
            Some(set(stateless.clone(), "/spec/image", json!("flink:2.2"))),
            Upgrade::Stateless,
        ),
        (
            "new_mode_decides_the_upgrade",
            Some(base.clone()),
            Some(set(last_state.clone(), "/spec/image", json!("flink:2.2"))),
            Upgrade::LastState,
        ),
        ("upgrade_mode_alone_is_ignored", Some(base.clone()), Some(last_state.clone()), Upgrade::None),
        (
            "operator_config_is_ignored",
            Some(base.clone()),
            Some(set(app(), "/spec/flinkConfiguration/kubernetes.operator.x", json!("1"))),
            Upgrade::None,
        ),
        (
            "other_config_upgrades",
            Some(base.clone()),
            Some(set(app(), "/spec/flinkConfiguration/taskmanager.numberOfTaskSlots", json!("4"))),
            Upgrade::Savepoint,
        ),
        (
            "parallelism_with_adaptive_scheduler_rescales_in_place",
            Some(adaptive.clone()),
            Some(set(adaptive.clone(), "/spec/job/parallelism", json!(8))),
            Upgrade::InPlaceRescale,
        ),
        (
            "parallelism_without_adaptive_scheduler_upgrades",
            Some(base.clone()),
            Some(set(app(), "/spec/job/parallelism", json!(8))),
            Upgrade::Savepoint,
        ),
        (
            "parallelism_on_flink_1_17_upgrades",
            Some(set(adaptive.clone(), "/spec/flinkVersion", json!("v1_17"))),
            Some(set(set(adaptive.clone(), "/spec/flinkVersion", json!("v1_17")), "/spec/job/parallelism", json!(8))),
            Upgrade::Savepoint,
        ),
        ("running_to_suspended_is_suspend", Some(base.clone()), Some(suspended.clone()), Upgrade::Suspend),
        ("suspended_to_running_is_resume", Some(suspended.clone()), Some(base.clone()), Upgrade::Resume),
        (
            "suspended_stays_suspended_is_none",
            Some(suspended.clone()),
            Some(set(suspended.clone(), "/spec/image", json!("flink:2.2"))),
            Upgrade::None,
        ),
        (
            "restart_nonce_is_restart",
            Some(base.clone()),
            Some(set(app(), "/spec/restartNonce", json!(1))),
            Upgrade::Restart,
        ),
        (
            "restart_nonce_removed_is_none",
            Some(set(app(), "/spec/restartNonce", json!(1))),
            Some(base.clone()),
            Upgrade::None,
        ),
        (
            "savepoint_trigger_nonce_is_savepoint_trigger",
            Some(base.clone()),
            Some(set(app(), "/spec/job/savepointTriggerNonce", json!(7))),
            Upgrade::SavepointTrigger,
        ),
        (
            "savepoint_redeploy_nonce_wins",
            Some(base.clone()),
            Some(set(
                set(app(), "/spec/job/savepointRedeployNonce", json!(1)),
                "/spec/job/initialSavepointPath",
                json!("s3://b/sp-1"),
            )),
            Upgrade::SavepointRedeploy,
        ),
        ("new_resource_is_create", None, Some(base.clone()), Upgrade::Create),
        ("removed_resource_is_delete", Some(base.clone()), None, Upgrade::Delete),
        (
            "session_cluster_change_is_restart",
            Some(session_cluster()),
            Some(set(session_cluster(), "/spec/image", json!("flink:2.2"))),
            Upgrade::Restart,
        ),
        (
            "autoscaler_owned_parallelism_is_none",
            Some(set(app(), "/spec/flinkConfiguration/job.autoscaler.enabled", json!("true"))),
            Some(set(
                set(app(), "/spec/flinkConfiguration/job.autoscaler.enabled", json!(true)),
                "/spec/job/parallelism",
                json!(12),
            )),
            Upgrade::None,
        ),
    ];
    for (name, before, after, expected) in cases {
        let impact = assess_change(before.as_ref(), after.as_ref(), None);
        assert_eq!(impact.upgrade, expected, "{name}: {impact:?}");
        assert!(!impact.interruption.is_empty(), "{name}");
    }
}

fn levels_of(impact: &Impact, rule: &str) -> Vec<RiskLevel> {
    impact.risks.iter().filter(|r| r.rule == rule).map(|r| r.level).collect()
}

#[test]
fn risk_rules_table() {
    let base = app();
    let stateless = set(app(), "/spec/job/upgradeMode", json!("stateless"));
    let last_state = set(app(), "/spec/job/upgradeMode", json!("last-state"));
    let autoscaled = set(app(), "/spec/flinkConfiguration/job.autoscaler.enabled", json!("true"));
    let no_sp_dir = set(app(), "/spec/flinkConfiguration/execution.checkpointing.savepoint-dir", Value::Null);
    type Case = (&'static str, Option<Value>, Option<Value>, Option<bool>, Option<RiskLevel>);
    let cases: Vec<Case> = vec![
        (
            "stateful_to_stateless",
            Some(base.clone()),
            Some(set(stateless.clone(), "/spec/image", json!("flink:2.2"))),
            None,
            Some(RiskLevel::High),
        ),
        ("stateful_to_stateless", Some(base.clone()), Some(stateless.clone()), None, Some(RiskLevel::Medium)),
        (
            "allow_non_restored_state_enabled",
            Some(base.clone()),
            Some(set(set(app(), "/spec/job/allowNonRestoredState", json!(true)), "/spec/image", json!("flink:2.2"))),
            None,
            Some(RiskLevel::High),
        ),
        (
            "allow_non_restored_state_enabled",
            Some(base.clone()),
            Some(set(app(), "/spec/job/allowNonRestoredState", json!(true))),
            None,
            Some(RiskLevel::Medium),
        ),
        (
            "flink_version_changed",
            Some(base.clone()),
            Some(set(app(), "/spec/flinkVersion", json!("v2_2"))),
            None,
            Some(RiskLevel::Medium),
        ),
        (
            "flink_version_changed",
            Some(base.clone()),
            Some(set(app(), "/spec/flinkVersion", json!("v1_20"))),
            None,
            Some(RiskLevel::High),
        ),
        (
            "max_parallelism_changed",
            Some(base.clone()),
            Some(set(app(), "/spec/flinkConfiguration/pipeline.max-parallelism", json!(1024))),
            None,
            Some(RiskLevel::High),
        ),
        (
            "max_parallelism_changed",
            Some(base.clone()),
            Some(set(app(), "/spec/flinkConfiguration/pipeline.max-parallelism", json!(720))),
            None,
            None,
        ),
        (
            "savepoint_mode_without_savepoint_dir",
            Some(no_sp_dir.clone()),
            Some(set(no_sp_dir.clone(), "/spec/image", json!("flink:2.2"))),
            None,
            Some(RiskLevel::High),
        ),
        (
            "savepoint_mode_without_savepoint_dir",
            Some(base.clone()),
            Some(set(app(), "/spec/image", json!("x"))),
            None,
            None,
        ),
        (
            "last_state_without_checkpoint_dir",
            Some(base.clone()),
            Some(set(last_state.clone(), "/spec/flinkConfiguration/execution.checkpointing.dir", Value::Null)),
            None,
            Some(RiskLevel::High),
        ),
        ("deletion_without_savepoint", Some(base.clone()), None, None, Some(RiskLevel::High)),
        (
            "deletion_without_savepoint",
            Some(set(app(), "/spec/flinkConfiguration/kubernetes.operator.job.savepoint-on-deletion", json!("true"))),
            None,
            None,
            Some(RiskLevel::Medium),
        ),
        ("deletion_without_savepoint", Some(stateless.clone()), None, None, Some(RiskLevel::Medium)),
        ("upgrade_mode_changed", Some(base.clone()), Some(last_state.clone()), None, Some(RiskLevel::Low)),
        (
            "upgrade_mode_changed",
            Some(base.clone()),
            Some(set(last_state.clone(), "/spec/image", json!("x"))),
            None,
            Some(RiskLevel::Low),
        ),
        (
            "autoscaler_owned_field_ignored",
            Some(autoscaled.clone()),
            Some(set(autoscaled.clone(), "/spec/job/parallelism", json!(16))),
            None,
            Some(RiskLevel::Low),
        ),
        (
            "immutable_field_changed",
            Some(session_job()),
            Some(set(session_job(), "/spec/deploymentName", json!("other-session"))),
            None,
            Some(RiskLevel::High),
        ),
        (
            "immutable_field_changed",
            Some(base.clone()),
            Some(set(app(), "/spec/mode", json!("standalone"))),
            None,
            Some(RiskLevel::High),
        ),
        (
            "savepoint_falls_back_to_last_state",
            Some(base.clone()),
            Some(set(app(), "/spec/image", json!("x"))),
            Some(false),
            Some(RiskLevel::Medium),
        ),
        (
            "savepoint_falls_back_to_last_state",
            Some(base.clone()),
            Some(set(app(), "/spec/image", json!("x"))),
            Some(true),
            None,
        ),
        ("autoscaler_toggled", Some(base.clone()), Some(autoscaled.clone()), None, Some(RiskLevel::Medium)),
        ("autoscaler_toggled", Some(autoscaled.clone()), Some(base.clone()), None, Some(RiskLevel::Medium)),
        (
            "savepoint_redeploy",
            Some(base.clone()),
            Some(set(
                set(app(), "/spec/job/savepointRedeployNonce", json!(2)),
                "/spec/job/initialSavepointPath",
                json!("s3://b/sp"),
            )),
            None,
            Some(RiskLevel::Medium),
        ),
        (
            "stateless_upgrade_with_checkpointing",
            Some(stateless.clone()),
            Some(set(stateless.clone(), "/spec/image", json!("x"))),
            None,
            Some(RiskLevel::Medium),
        ),
        (
            "in_place_rescale_unavailable",
            Some(base.clone()),
            Some(set(app(), "/spec/job/parallelism", json!(8))),
            None,
            Some(RiskLevel::Low),
        ),
        (
            "session_cluster_redeploy",
            Some(session_cluster()),
            Some(set(session_cluster(), "/spec/image", json!("x"))),
            None,
            Some(RiskLevel::Medium),
        ),
        (
            "initial_savepoint_path_not_used",
            Some(base.clone()),
            Some(set(app(), "/spec/job/initialSavepointPath", json!("s3://b/sp"))),
            None,
            Some(RiskLevel::Low),
        ),
        (
            "autoscaler_reset",
            Some(base.clone()),
            Some(set(app(), "/spec/job/autoscalerResetNonce", json!(3))),
            None,
            Some(RiskLevel::Low),
        ),
    ];
    for (rule, before, after, running, expected) in cases {
        assert!(RISK_RULES.iter().any(|(name, _)| *name == rule), "{rule} is not a rule");
        let impact = assess_change(before.as_ref(), after.as_ref(), running);
        let levels = levels_of(&impact, rule);
        match expected {
            Some(level) => assert_eq!(levels, vec![level], "{rule}: {impact:#?}"),
            None => assert!(levels.is_empty(), "{rule}: {impact:#?}"),
        }
    }
}

#[test]
fn every_risk_rule_has_a_table_row() {
    let source = include_str!("tests.rs");
    for (name, _) in RISK_RULES {
        assert!(source.contains(&format!("\"{name}\",")), "rule {name} has no test row");
    }
}

#[test]
fn risks_are_sorted_highest_first() {
    let after = set(set(app(), "/spec/job/upgradeMode", json!("stateless")), "/spec/flinkVersion", json!("v2_2"));
    let impact = assess_change(Some(&app()), Some(&after), None);
    let levels: Vec<RiskLevel> = impact.risks.iter().map(|r| r.level).collect();
    let mut sorted = levels.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(levels, sorted);
    assert_eq!(levels.first(), Some(&RiskLevel::High));
}

#[test]
fn diff_classes_follow_upstream() {
    let cases: &[(&str, DiffClass)] = &[
        ("spec.job.upgradeMode", DiffClass::Ignore),
        ("spec.job.initialSavepointPath", DiffClass::Ignore),
        ("spec.job.allowNonRestoredState", DiffClass::Ignore),
        ("spec.flinkConfiguration[\"job.autoscaler.target.utilization\"]", DiffClass::Ignore),
        ("spec.flinkConfiguration[\"kubernetes.operator.periodic.savepoint.interval\"]", DiffClass::Ignore),
        ("spec.flinkConfiguration[\"parallelism.default\"]", DiffClass::Ignore),
        ("spec.flinkConfiguration[\"pipeline.jobvertex-parallelism-overrides\"]", DiffClass::Scale),
        ("spec.flinkConfiguration[\"taskmanager.numberOfTaskSlots\"]", DiffClass::Upgrade),
        ("spec.job.savepointRedeployNonce", DiffClass::SavepointRedeploy),
        ("spec.image", DiffClass::Upgrade),
        ("spec.podTemplate.spec.containers[0].image", DiffClass::Upgrade),
        ("metadata.labels.team", DiffClass::Metadata),
        ("spec.taskManager.replicas", DiffClass::Scale),
    ];
    for (path, class) in cases {
        assert_eq!(class_of(&FieldPath::parse(path)), *class, "{path}");
    }
}

#[test]
fn other_manager_rows() {
    // Rule "other_manager_field_ignored",: replicas under an HPA differ between Git and live.
    let before = set(app(), "/spec/taskManager/replicas", json!(5));
    let after = set(app(), "/spec/taskManager/replicas", json!(2));
    let context =
        OwnershipContext::for_desired(&after).with_other_managers([FieldPath::parse("spec.taskManager.replicas")]);
    let result = diff(&after, &before, &context);
    let impact = assess(ImpactInput {
        kind: Kind::FlinkDeployment,
        before: Some(&result.current),
        after: Some(&result.desired),
        changes: &result.changes,
        ignored: &result.ignored,
        job_running: Some(true),
    });
    assert_eq!(impact.upgrade, Upgrade::None);
    assert_eq!(levels_of(&impact, "other_manager_field_ignored"), vec![RiskLevel::Low]);
}
