//! The ownership-aware diff of one resource: desired (Git) against another version of it (the base revision for
//! `plan`, the live object for `drift`). Both sides are normalized, fields Git does not own are set aside (listed
//! as ignored when they differ), and what remains is compared field by field. Pure.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::normalize::normalize;
use crate::manifests::path::FieldPath;
use crate::ownership::{Owner, OwnershipContext, Stripped, logical_child, strip_owned};

/// One changed field: `from` is the other side's value (base or live), `to` the desired one; `None` = absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Logical path of the field.
    pub path: FieldPath,
    /// Value before (base revision, or live).
    pub from: Option<Value>,
    /// Value wanted (Git).
    pub to: Option<Value>,
}

/// A field that differs but is not Git's, so neither diffed nor applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredField {
    /// Logical path of the field.
    pub path: FieldPath,
    /// Who owns it.
    pub owner: Owner,
    /// Why it is not Git's.
    pub reason: String,
    /// Value before (base revision, or live).
    pub from: Option<Value>,
    /// Value Git asks for.
    pub to: Option<Value>,
}

/// The diff of one resource.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceDiff {
    /// Changed Git-owned fields, in path order.
    pub changes: Vec<Change>,
    /// Differing fields owned by someone else, in path order.
    pub ignored: Vec<IgnoredField>,
    /// The desired side, normalized, owned fields removed (`Null` when absent).
    pub desired: Value,
    /// The other side, normalized, owned fields removed (`Null` when absent).
    pub current: Value,
}

impl ResourceDiff {
    /// Whether any Git-owned field differs.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Diffs `desired` (Git) against `current` (base revision or live object); `Value::Null` stands for an absent
/// side (a created or deleted resource).
pub fn diff(desired: &Value, current: &Value, context: &OwnershipContext) -> ResourceDiff {
    let (desired, desired_owned) = prepare(desired, context);
    let (current, current_owned) = prepare(current, context);
    let mut changes = Vec::new();
    compare(&FieldPath::root(), side(&current), side(&desired), &mut changes);
    let ignored = ignored_fields(desired_owned, current_owned);
    ResourceDiff { changes, ignored, desired, current }
}

fn side(value: &Value) -> Option<&Value> {
    (!value.is_null()).then_some(value)
}

fn prepare(value: &Value, context: &OwnershipContext) -> (Value, Vec<Stripped>) {
    if value.is_null() {
        return (Value::Null, Vec::new());
    }
    let mut normalized = normalize(value);
    let owned = strip_owned(&mut normalized, context);
    (normalized, owned)
}

/// Owned fields whose values differ. A field only the cluster side has (status, uid…) and that Git never asked
/// for is not "ignored": nobody wanted to change it. Fields owned by the autoscaler or another manager are listed
/// whenever they differ, because Git writing them is exactly what a reviewer needs to see is not applied.
fn ignored_fields(desired: Vec<Stripped>, current: Vec<Stripped>) -> Vec<IgnoredField> {
    let mut by_path: BTreeMap<FieldPath, (Option<Stripped>, Option<Stripped>)> = BTreeMap::new();
    for stripped in current {
        let path = stripped.path.clone();
        by_path.entry(path).or_default().0 = Some(stripped);
    }
    for stripped in desired {
        let path = stripped.path.clone();
        by_path.entry(path).or_default().1 = Some(stripped);
    }
    by_path
        .into_iter()
        .filter_map(|(path, (from, to))| {
            let claim = to.as_ref().or(from.as_ref())?;
            let (owner, reason) = (claim.owner, claim.reason.to_string());
            let from = from.map(|s| s.value);
            let to = to.map(|s| s.value);
            let git_silent = to.is_none() && matches!(owner, Owner::Server | Owner::Operator);
            (from != to && !git_silent).then_some(IgnoredField { path, owner, reason, from, to })
        })
        .collect()
}

fn compare(path: &FieldPath, from: Option<&Value>, to: Option<&Value>, changes: &mut Vec<Change>) {
    match (from, to) {
        (Some(a), Some(b)) if a == b => {}
        (None, None) => {}
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                compare(&logical_child(path, key), a.get(key), b.get(key), changes);
            }
        }
        (Some(Value::Object(a)), None) => {
            for (key, child) in a {
                compare(&logical_child(path, key), Some(child), None, changes);
            }
        }
        (None, Some(Value::Object(b))) => {
            for (key, child) in b {
                compare(&logical_child(path, key), None, Some(child), changes);
            }
        }
        // Same length: element by element, so `args[2]` reads better than the whole list. Otherwise the list
        // changes as a whole, which is also how server-side apply owns the CRD's (atomic) lists.
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                compare(&path.index(index), Some(x), Some(y), changes);
            }
        }
        (from, to) => changes.push(Change { path: path.clone(), from: from.cloned(), to: to.cloned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(spec: Value) -> Value {
        json!({"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
               "metadata": {"name": "a", "namespace": "ns"}, "spec": spec})
    }

    fn paths(changes: &[Change]) -> Vec<String> {
        changes.iter().map(|c| c.path.to_string()).collect()
    }

    #[test]
    fn normalized_equal_manifests_have_no_changes() {
        let a = manifest(json!({"taskManager": {"resource": {"memory": "2048m", "cpu": "500m"}},
            "flinkConfiguration": {"taskmanager.numberOfTaskSlots": "2"}, "job": {"jarURI": "j", "args": []}}));
        let b = manifest(json!({"job": {"jarURI": "j", "state": "running", "upgradeMode": "stateless"},
            "flinkConfiguration": {"taskmanager": {"numberOfTaskSlots": 2}},
            "taskManager": {"resource": {"cpu": 0.5, "memory": "2Gi"}}}));
        let result = diff(&a, &b, &OwnershipContext::default());
        assert!(!result.has_changes(), "{:?}", result.changes);
        assert!(result.ignored.is_empty());
    }

    #[test]
    fn changes_are_listed_per_field_with_flat_config_keys() {
        let base = manifest(json!({"image": "a:1", "job": {"args": ["x", "y"]}, "flinkConfiguration": {"a.b": "1"}}));
        let head = manifest(json!({"image": "a:2", "job": {"args": ["x", "z"]}, "flinkConfiguration": {"a": {"b": 2}},
            "ingress": {"template": "t"}}));
        let result = diff(&head, &base, &OwnershipContext::default());
        assert_eq!(
            paths(&result.changes),
            ["spec.flinkConfiguration[\"a.b\"]", "spec.image", "spec.ingress.template", "spec.job.args[1]"]
        );
        assert_eq!(result.changes[1].from, Some(json!("a:1")));
        assert_eq!(result.changes[1].to, Some(json!("a:2")));
        assert_eq!(result.changes[2].from, None);
    }

    #[test]
    fn lists_of_different_length_change_as_a_whole() {
        let result = diff(
            &manifest(json!({"job": {"args": ["x", "y"]}})),
            &manifest(json!({"job": {"args": ["x"]}})),
            &OwnershipContext::default(),
        );
        assert_eq!(paths(&result.changes), ["spec.job.args"]);
    }

    #[test]
    fn owned_fields_are_ignored_not_changed() {
        let config = json!({"job.autoscaler.enabled": "true"});
        let base = manifest(json!({"flinkConfiguration": config, "job": {"parallelism": 2}}));
        let head = manifest(json!({"flinkConfiguration": config, "job": {"parallelism": 8}}));
        let result = diff(&head, &base, &OwnershipContext::for_desired(&head));
        assert!(result.changes.is_empty());
        assert_eq!(result.ignored.len(), 1);
        assert_eq!(result.ignored[0].path.to_string(), "spec.job.parallelism");
        assert_eq!(result.ignored[0].owner, Owner::Autoscaler);
        assert_eq!((result.ignored[0].from.clone(), result.ignored[0].to.clone()), (Some(json!(2)), Some(json!(8))));
    }

    #[test]
    fn cluster_only_fields_are_not_reported() {
        let desired = manifest(json!({"image": "a"}));
        let mut live = desired.clone();
        live["status"] = json!({"lifecycleState": "STABLE"});
        live["metadata"]["uid"] = json!("u");
        live["metadata"]["finalizers"] = json!(["flinkdeployments.flink.apache.org/finalizer"]);
        let result = diff(&desired, &live, &OwnershipContext::default());
        assert!(result.changes.is_empty(), "{:?}", result.changes);
        assert!(result.ignored.is_empty(), "{:?}", result.ignored);
    }

    #[test]
    fn hpa_owned_replicas_are_ignored() {
        let desired = manifest(json!({"taskManager": {"replicas": 2}}));
        let live = manifest(json!({"taskManager": {"replicas": 5}}));
        let context = OwnershipContext::default().with_other_managers([FieldPath::parse("spec.taskManager.replicas")]);
        let result = diff(&desired, &live, &context);
        assert!(result.changes.is_empty());
        assert_eq!(result.ignored[0].owner, Owner::OtherManager);
    }

    #[test]
    fn created_resources_list_every_leaf() {
        let result = diff(&manifest(json!({"image": "a"})), &Value::Null, &OwnershipContext::default());
        assert!(paths(&result.changes).contains(&"spec.image".to_owned()));
        assert!(result.changes.iter().all(|c| c.from.is_none()));
    }
}
