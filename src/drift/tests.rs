//! Unit tests of the pure comparison: states, writers, owned fields, broken files.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, ObjectMeta};
use serde_json::json;

use super::live::{LiveObject, ManagerPolicy};
use super::*;

const ORDERS: &str = r#"apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: orders
  namespace: team-a
spec:
  image: flink:2.1
  flinkVersion: v2_1
  serviceAccount: flink
  flinkConfiguration:
    execution.checkpointing.dir: s3://b/cp
    execution.checkpointing.savepoint-dir: s3://b/sp
  jobManager:
    resource: {memory: 2g, cpu: 1}
  taskManager:
    replicas: 2
    resource: {memory: 4g, cpu: 2}
  job:
    jarURI: local:///opt/job.jar
    parallelism: 2
    upgradeMode: savepoint
"#;

fn entry(manager: &str, fields: Value) -> ManagedFieldsEntry {
    ManagedFieldsEntry {
        manager: Some(manager.to_owned()),
        fields_v1: Some(FieldsV1(fields)),
        operation: Some("Apply".to_owned()),
        ..ManagedFieldsEntry::default()
    }
}

/// The live object: the Git document with `edit` applied, and the given managedFields.
fn live(edit: impl FnOnce(&mut Value), entries: Vec<ManagedFieldsEntry>) -> LiveObject {
    let set = load_texts([("a.yaml".to_owned(), Ok(ORDERS.as_bytes().to_vec()))]);
    let mut value = desired_value(&set.manifests[0]);
    edit(&mut value);
    value["status"] = json!({"lifecycleState": "STABLE"});
    value["metadata"]["annotations"] = json!({"flinkops.io/last-savepoint": "s3://b/sp/1"});
    LiveObject {
        kind: Kind::FlinkDeployment,
        namespace: "team-a".into(),
        name: "orders".into(),
        value,
        meta: ObjectMeta { managed_fields: Some(entries), ..ObjectMeta::default() },
    }
}

fn flinkops_fields() -> ManagedFieldsEntry {
    entry("flinkops", json!({"f:spec": {"f:image": {}, "f:job": {}, "f:taskManager": {}}}))
}

fn report(live: Vec<LiveObject>, managers: ManagerPolicy) -> DriftReport {
    compare(&DriftInput {
        revision: "r".into(),
        store: "s".into(),
        files: vec![("a.yaml".into(), ORDERS.as_bytes().to_vec())],
        live,
        store_errors: Vec::new(),
        managers,
    })
}

#[test]
fn equal_objects_are_in_sync_whatever_status_and_flinkops_annotations_say() {
    let drift = report(vec![live(|_| {}, vec![flinkops_fields()])], ManagerPolicy::default());
    assert_eq!(drift.resources[0].state, State::InSync, "{drift:#?}");
    assert!(drift.resources[0].ignored.is_empty());
    assert_eq!(drift.exit_code(), 0);
}

#[test]
fn a_field_another_manager_changed_is_drift_naming_it() {
    let object = live(
        |v| v["spec"]["image"] = json!("flink:2.2"),
        vec![flinkops_fields(), entry("kubectl-edit", json!({"f:spec": {"f:image": {}}}))],
    );
    let drift = report(vec![object], ManagerPolicy::default());
    let resource = &drift.resources[0];
    assert_eq!(resource.state, State::Drifted);
    assert_eq!(resource.changes.len(), 1);
    assert_eq!(resource.changes[0].path.to_string(), "spec.image");
    assert_eq!(resource.changes[0].git, Some(json!("flink:2.1")));
    assert_eq!(resource.changes[0].live, Some(json!("flink:2.2")));
    assert_eq!(resource.changes[0].manager.as_deref(), Some("kubectl-edit"));
    assert_eq!(drift.exit_code(), 4);
}

#[test]
fn replicas_another_manager_wrote_are_owned_not_drift() {
    let object = live(
        |v| v["spec"]["taskManager"]["replicas"] = json!(5),
        vec![
            entry("flinkops", json!({"f:spec": {"f:image": {}, "f:job": {}}})),
            entry("hpa", json!({"f:spec": {"f:taskManager": {}}})),
        ],
    );
    let drift = report(vec![object], ManagerPolicy::default());
    let resource = &drift.resources[0];
    assert_eq!(resource.state, State::InSync, "{resource:#?}");
    assert_eq!(resource.ignored.len(), 1);
    assert_eq!(resource.ignored[0].path.to_string(), "spec.taskManager.replicas");
    assert_eq!(resource.ignored[0].owner, Owner::OtherManager);
    assert_eq!(resource.ignored[0].manager.as_deref(), Some("hpa"));
}

#[test]
fn a_named_owner_manager_owns_everything_it_wrote() {
    let object = live(
        |v| v["spec"]["image"] = json!("flink:2.2"),
        vec![flinkops_fields(), entry("keda", json!({"f:spec": {"f:image": {}}}))],
    );
    let policy = ManagerPolicy { owners: ["keda".to_owned()].into(), ..ManagerPolicy::default() };
    let drift = report(vec![object], policy);
    assert_eq!(drift.resources[0].state, State::InSync);
    assert_eq!(drift.resources[0].ignored[0].path.to_string(), "spec.image");
}

#[test]
fn a_live_object_mentioned_by_a_broken_file_is_invalid_not_live_only() {
    let mut other = live(|_| {}, Vec::new());
    other.name = "payments".into();
    let drift = compare(&DriftInput {
        files: vec![("b.yaml".into(), b"metadata:\n  name: payments\n  bad: [\n".to_vec())],
        live: vec![other],
        ..DriftInput::default()
    });
    assert_eq!(drift.resources[0].state, State::Invalid, "{drift:#?}");
    assert_eq!(drift.resources[0].file.as_deref(), Some("b.yaml"));
    assert_eq!(drift.exit_code(), 1);
}
