//! The server-side apply payload: which part of Git's object flinkops applies, and which fields it leaves out because
//! another field manager, the operator or the autoscaler owns them. Pure (live `managedFields` + desired JSON in,
//! payload and report out); the API call is in `mod.rs`.
//!
//! The apply is never forced, so sending a field another manager owns with a different value would fail with a 409,
//! and forcing would take the field over (an HPA's replicas, a human's `kubectl edit`). Leaving such fields out
//! avoids both: the API server keeps the other manager's value and flinkops reports the field instead.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::manifests::path::{FieldPath, Segment};
use crate::ownership::{self, Owner, OwnershipContext};
use crate::store::{ObjectRef, managed};

/// A field of Git's object that an apply left out, and who owns it instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StrippedField {
    /// The field (logical path: `spec.taskManager.replicas`, `spec.flinkConfiguration["a.b"]`).
    pub path: FieldPath,
    /// Who owns it per the ownership table ([`Owner::OtherManager`] for a field another manager wrote).
    pub owner: Owner,
    /// The field managers that own it on the live object (`kubectl-edit`, an HPA's manager), sorted; empty when the
    /// ownership table alone claims it.
    pub managers: Vec<String>,
    /// Why it is not Git's.
    pub reason: String,
}

/// What to send with server-side apply, and what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyPayload {
    /// `apiVersion`, `kind`, `metadata.{name, namespace, labels, annotations}` and `spec`, without stripped fields.
    pub payload: Value,
    /// The fields left out, in path order.
    pub stripped: Vec<StrippedField>,
}

/// The apply payload for `desired` (the whole object as JSON) written by `field_manager` over the live object's
/// metadata (`None` when it does not exist yet).
///
/// Left out: every field another field manager owns in `live.managedFields` (status-subresource entries aside), and
/// the fields the ownership table gives to the server, the operator or the autoscaler. Two exceptions keep the
/// latter: on create (Git's value is the starting point), and while `field_manager` itself still owns the field,
/// because leaving a field out of an apply makes the API server remove the applier's value.
pub fn apply_payload(
    target: &ObjectRef,
    desired: &Value,
    live: Option<&ObjectMeta>,
    field_manager: &str,
) -> ApplyPayload {
    let mut payload = git_owned_part(target, desired);
    let (ours, theirs) = owners(live, field_manager);
    let context = OwnershipContext::for_desired(desired).with_other_managers(theirs.keys().cloned());
    let mut stripped = Vec::new();
    for field in ownership::strip_owned(&mut payload, &context) {
        let table_owned = matches!(field.owner, Owner::Operator | Owner::Autoscaler);
        // The operator's fields travel when flinkops wrote them before (or creates the object), and the sync's
        // own record does too (this very apply writes it) unless someone else took it over: a non-forced apply of
        // it would then fail.
        let ours_before = live.is_none() || ours.iter().any(|path| overlaps(path, &field.path));
        let sync_record =
            ownership::is_sync_record(&field.path) && !theirs.keys().any(|path| overlaps(path, &field.path));
        if table_owned && (ours_before || sync_record) {
            restore(&mut payload, &field.path, field.value);
            continue;
        }
        let managers: BTreeSet<&String> =
            theirs.iter().filter(|(path, _)| overlaps(path, &field.path)).flat_map(|(_, managers)| managers).collect();
        stripped.push(StrippedField {
            path: field.path,
            owner: field.owner,
            managers: managers.into_iter().cloned().collect(),
            reason: field.reason.into_owned(),
        });
    }
    stripped.sort_by(|a, b| a.path.cmp(&b.path));
    ApplyPayload { payload, stripped }
}

/// Only what Git owns: identity, labels, annotations and spec (never status or server metadata).
fn git_owned_part(target: &ObjectRef, desired: &Value) -> Value {
    let mut metadata = Map::new();
    metadata.insert("name".to_owned(), Value::String(target.name.clone()));
    metadata.insert("namespace".to_owned(), Value::String(target.namespace.clone()));
    for key in ["labels", "annotations"] {
        match desired.pointer(&format!("/metadata/{key}")) {
            Some(Value::Object(map)) if !map.is_empty() => {
                metadata.insert(key.to_owned(), Value::Object(map.clone()));
            }
            _ => {}
        }
    }
    let mut payload = Map::new();
    payload.insert("apiVersion".to_owned(), Value::String(crate::crd::API_VERSION.to_owned()));
    payload.insert("kind".to_owned(), Value::String(target.kind.as_str().to_owned()));
    payload.insert("metadata".to_owned(), Value::Object(metadata));
    if let Some(spec) = desired.get("spec").filter(|spec| !spec.is_null()) {
        payload.insert("spec".to_owned(), spec.clone());
    }
    Value::Object(payload)
}

/// The live fields `field_manager` owns, and every other manager's fields with their managers (logical paths).
fn owners(
    live: Option<&ObjectMeta>,
    field_manager: &str,
) -> (BTreeSet<FieldPath>, BTreeMap<FieldPath, BTreeSet<String>>) {
    let (mut ours, mut theirs) = (BTreeSet::new(), BTreeMap::<FieldPath, BTreeSet<String>>::new());
    let entries = live.and_then(|meta| meta.managed_fields.as_ref()).into_iter().flatten();
    // NB: status-subresource entries never overlap an apply (it has no status), so they are skipped. Scale
    // entries (an HPA) name the main resource's fields and count.
    for entry in entries.filter(|entry| entry.subresource.as_deref() != Some("status")) {
        let Some(manager) = entry.manager.as_deref() else { continue };
        for path in managed::entry_fields(entry).into_iter().map(logical) {
            if manager == field_manager {
                ours.insert(path);
            } else {
                theirs.entry(path).or_default().insert(manager.to_owned());
            }
        }
    }
    (ours, theirs)
}

/// The logical form of a managedFields path: Flink configuration keys below `spec.flinkConfiguration` are joined
/// with `.` (a nested manifest's `f:pipeline: {f:max-parallelism}` is `pipeline.max-parallelism`), as the ownership
/// table addresses them.
fn logical(path: FieldPath) -> FieldPath {
    match path.0.as_slice() {
        [Segment::Key(spec), Segment::Key(config), rest @ ..] if spec == "spec" && config == "flinkConfiguration" => {
            let keys: Option<Vec<&str>> = rest
                .iter()
                .map(|segment| match segment {
                    Segment::Key(key) => Some(key.as_str()),
                    Segment::Index(_) => None,
                })
                .collect();
            match keys {
                Some(keys) if keys.len() > 1 => {
                    FieldPath::root().key("spec").key("flinkConfiguration").key(&keys.join("."))
                }
                _ => path,
            }
        }
        _ => path,
    }
}

/// Whether one path lies within the other (a manager owning `spec.taskManager` owns `spec.taskManager.replicas`,
/// and one owning `spec.taskManager.replicas` claims part of `spec.taskManager`).
fn overlaps(a: &FieldPath, b: &FieldPath) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Puts a stripped value back at its logical path (a Flink configuration key is restored in its flat spelling,
/// which Flink reads the same).
fn restore(payload: &mut Value, path: &FieldPath, value: Value) {
    let Some((last, parents)) = path.0.split_last() else { return };
    let mut node = payload;
    for segment in parents {
        let (Segment::Key(key), Value::Object(map)) = (segment, node) else { return };
        node = map.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    if let (Segment::Key(key), Value::Object(map)) = (last, node) {
        map.insert(key.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
    use serde_json::json;

    use super::*;
    use crate::crd::Kind;

    fn target() -> ObjectRef {
        ObjectRef::new(Kind::FlinkDeployment, "flink", "wordcount")
    }

    fn desired() -> Value {
        json!({
            "apiVersion": "flink.apache.org/v1beta1",
            "kind": "FlinkDeployment",
            "metadata": {
                "name": "wordcount", "namespace": "flink", "uid": "u-1", "resourceVersion": "7",
                "labels": {"team": "data"}, "annotations": {}
            },
            "spec": {
                "image": "flink:2.0",
                "taskManager": {"replicas": 2, "resource": {"cpu": 1.0}},
                "job": {"jarURI": "local:///job.jar", "parallelism": 4},
                "flinkConfiguration": {"job.autoscaler.enabled": "true", "taskmanager.numberOfTaskSlots": "2"}
            },
            "status": {"lifecycleState": "STABLE"}
        })
    }

    fn entry(manager: &str, fields: Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.to_owned()),
            operation: Some("Update".to_owned()),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

    fn live(entries: Vec<ManagedFieldsEntry>) -> ObjectMeta {
        ObjectMeta { managed_fields: Some(entries), ..ObjectMeta::default() }
    }

    fn paths(stripped: &[StrippedField]) -> Vec<String> {
        stripped.iter().map(|field| field.path.to_string()).collect()
    }

    #[test]
    fn a_create_sends_only_git_owned_parts_and_keeps_the_autoscalers_starting_value() {
        let ApplyPayload { payload, stripped } = apply_payload(&target(), &desired(), None, "flinkops");
        assert_eq!(stripped, []);
        assert_eq!(
            payload,
            json!({
                "apiVersion": "flink.apache.org/v1beta1",
                "kind": "FlinkDeployment",
                "metadata": {"name": "wordcount", "namespace": "flink", "labels": {"team": "data"}},
                "spec": desired()["spec"]
            })
        );
    }

    #[test]
    fn fields_other_managers_own_are_stripped_and_reported_with_their_managers() {
        let meta = live(vec![
            entry("flinkops", json!({"f:spec": {"f:image": {}, "f:job": {"f:parallelism": {}}}})),
            entry("kubectl-edit", json!({"f:spec": {"f:image": {}}})),
            entry("keda-hpa", json!({"f:spec": {"f:taskManager": {".": {}, "f:replicas": {}}}})),
            entry("flinkops", json!({"f:status": {"f:lifecycleState": {}}})),
        ]);
        let ApplyPayload { payload, stripped } = apply_payload(&target(), &desired(), Some(&meta), "flinkops");
        assert_eq!(paths(&stripped), ["spec.image", "spec.taskManager.replicas"]);
        assert_eq!(stripped[0].managers, ["kubectl-edit"]);
        assert_eq!(stripped[1].managers, ["keda-hpa"]);
        assert!(stripped.iter().all(|field| field.owner == Owner::OtherManager));
        assert_eq!(payload.pointer("/spec/image"), None);
        assert_eq!(payload.pointer("/spec/taskManager"), Some(&json!({"resource": {"cpu": 1.0}})));
        // Still flinkops' own: the autoscaler has not written parallelism yet, so it stays in the apply.
        assert_eq!(payload.pointer("/spec/job/parallelism"), Some(&json!(4)));
    }

    #[test]
    fn autoscaler_fields_are_stripped_once_flinkops_no_longer_owns_them() {
        let meta = live(vec![
            entry("flinkops", json!({"f:spec": {"f:image": {}}})),
            entry("flinkops-autoscaler", json!({"f:spec": {"f:job": {"f:parallelism": {}}}})),
        ]);
        let ApplyPayload { payload, stripped } = apply_payload(&target(), &desired(), Some(&meta), "flinkops");
        assert_eq!(paths(&stripped), ["spec.job.parallelism"]);
        assert_eq!(stripped[0].owner, Owner::Autoscaler);
        assert_eq!(stripped[0].managers, ["flinkops-autoscaler"]);
        assert_eq!(payload.pointer("/spec/job"), Some(&json!({"jarURI": "local:///job.jar"})));
    }

    #[test]
    fn nested_flink_configuration_keys_in_managed_fields_match_their_flat_spelling() {
        let meta = live(vec![
            entry("flinkops", json!({"f:spec": {"f:job": {"f:parallelism": {}}}})),
            entry(
                "kubectl-edit",
                json!({"f:spec": {"f:flinkConfiguration": {"f:taskmanager": {"f:numberOfTaskSlots": {}}}}}),
            ),
        ]);
        let ApplyPayload { payload, stripped } = apply_payload(&target(), &desired(), Some(&meta), "flinkops");
        assert_eq!(paths(&stripped), ["spec.flinkConfiguration[\"taskmanager.numberOfTaskSlots\"]"]);
        assert_eq!(payload.pointer("/spec/flinkConfiguration"), Some(&json!({"job.autoscaler.enabled": "true"})));
    }

    #[test]
    fn the_appliers_own_fields_and_status_entries_never_strip_anything() {
        let mut status_entry = entry("kubectl-edit", json!({"f:spec": {"f:image": {}}}));
        status_entry.subresource = Some("status".to_owned());
        let ours = json!({"f:spec": {"f:image": {}, "f:job": {"f:parallelism": {}}}});
        let meta = live(vec![entry("flinkops", ours), status_entry]);
        let ApplyPayload { payload, stripped } = apply_payload(&target(), &desired(), Some(&meta), "flinkops");
        assert_eq!(stripped, []);
        assert_eq!(payload.pointer("/spec/image"), Some(&json!("flink:2.0")));
    }
}
