//! The ownership table: which owner (git, operator, autoscaler, an HPA) owns which field, used by plan, drift,
//! apply and write-back alike.
//!
//! One declarative [`TABLE`] of `(path pattern, owner, condition, reason)` rows; the first matching row wins. A
//! field that is not Git's is neither diffed ([`classify`]) nor applied ([`strip_owned`]): flinkops never fights
//! the operator, the autoscaler or an HPA over it (the VVP 2 mistake, `reference/gitops-model.md` §1).
//!
//! Paths are *logical*: `spec.flinkConfiguration` keys are always flat (`["pipeline.max-parallelism"]`) whether
//! the manifest spells them flat or nested, and `metadata.finalizers` is a set addressed by value
//! (`metadata.finalizers["flinkdeployments.flink.apache.org/finalizer"]`), as server-side apply's `v:` keys are.

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::crd::FlinkConfiguration;
use crate::flink::config_keys;
use crate::manifests::path::{FieldPath, Segment};

/// Who owns a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    /// The Git manifest: diffed and applied.
    Git,
    /// The operator (flinkops or upstream's): status, its annotations, finalizers, webhook labels.
    Operator,
    /// The autoscaler: parallelism while it is enabled.
    Autoscaler,
    /// Another field manager: an HPA or KEDA through the scale subresource, kubectl, anything managedFields names.
    OtherManager,
    /// The API server: uid, resourceVersion, generation and the other server-populated metadata.
    Server,
}

impl Owner {
    /// The spelling used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::Git => "git",
            Owner::Operator => "operator",
            Owner::Autoscaler => "autoscaler",
            Owner::OtherManager => "other-manager",
            Owner::Server => "server",
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a row of the table applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Always.
    Always,
    /// While `job.autoscaler.enabled` is true in the desired (Git) spec.
    AutoscalerEnabled,
    /// While another field manager claims the path (or an ancestor of it), per [`OwnershipContext::other_managers`].
    ClaimedByOtherManager,
}

/// One step of a path pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Exactly this key.
    Key(&'static str),
    /// Any key starting with this prefix.
    KeyPrefix(&'static str),
    /// Any key ending with this suffix.
    KeySuffix(&'static str),
    /// Any path at all (the row then matches every path; used with [`Condition::ClaimedByOtherManager`]).
    AnyPath,
}

/// One row of the ownership table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The node the row owns (its whole subtree is owned with it).
    pub pattern: &'static [Pattern],
    /// Who owns it.
    pub owner: Owner,
    /// When.
    pub condition: Condition,
    /// Why, as shown in plans and drift reports.
    pub reason: &'static str,
}

use Pattern::{AnyPath, Key, KeyPrefix, KeySuffix};

const fn row(pattern: &'static [Pattern], owner: Owner, condition: Condition, reason: &'static str) -> Rule {
    Rule { pattern, owner, condition, reason }
}

/// The sync's record on each resource (`crate::operator::sync_record`): the Git revision its manifest was applied
/// from, and a digest of that manifest. Operator-owned like every `flinkops.io/` annotation (Git never sets them,
/// plans and drift never show them), and written by the sync itself with every apply.
pub const SYNC_RECORD_ANNOTATIONS: [&str; 2] = ["flinkops.io/sync-revision", "flinkops.io/sync-digest"];

/// Whether `path` is one of the [`SYNC_RECORD_ANNOTATIONS`].
pub fn is_sync_record(path: &FieldPath) -> bool {
    matches!(path.0.as_slice(),
        [Segment::Key(metadata), Segment::Key(annotations), Segment::Key(key)]
            if metadata == "metadata" && annotations == "annotations" && SYNC_RECORD_ANNOTATIONS.contains(&key.as_str()))
}

/// The one ownership table (DESIGN.md decision 6). First match wins; everything unmatched is Git's.
pub const TABLE: &[Rule] = &[
    row(&[Key("status")], Owner::Operator, Condition::Always, "status is written by the operator"),
    // Server-populated metadata: never in Git, and a Git value would be rejected or silently dropped.
    row(&[Key("metadata"), Key("uid")], Owner::Server, Condition::Always, "set by the API server"),
    row(&[Key("metadata"), Key("resourceVersion")], Owner::Server, Condition::Always, "set by the API server"),
    row(&[Key("metadata"), Key("generation")], Owner::Server, Condition::Always, "set by the API server"),
    row(&[Key("metadata"), Key("creationTimestamp")], Owner::Server, Condition::Always, "set by the API server"),
    row(&[Key("metadata"), Key("managedFields")], Owner::Server, Condition::Always, "set by the API server"),
    row(&[Key("metadata"), Key("selfLink")], Owner::Server, Condition::Always, "set by the API server"),
    row(&[Key("metadata"), Key("deletionTimestamp")], Owner::Server, Condition::Always, "set by the API server"),
    row(
        &[Key("metadata"), Key("deletionGracePeriodSeconds")],
        Owner::Server,
        Condition::Always,
        "set by the API server",
    ),
    // Finalizers form a set: the operator owns its own entries; entries written in Git stay Git's.
    row(
        &[Key("metadata"), Key("finalizers"), KeySuffix(".flink.apache.org/finalizer")],
        Owner::Operator,
        Condition::Always,
        "the operator's finalizer, added to every Flink resource it manages",
    ),
    row(
        &[Key("metadata"), Key("finalizers"), KeyPrefix("flinkops.io/")],
        Owner::Operator,
        Condition::Always,
        "a flinkops finalizer",
    ),
    // flinkops' own annotations and labels (savepoint write-back records, inventory): written by the operator and
    // committed back to Git by write-back, so a write-back commit never triggers an upgrade.
    row(
        &[Key("metadata"), Key("annotations"), KeyPrefix("flinkops.io/")],
        Owner::Operator,
        Condition::Always,
        "flinkops' own annotation (savepoint write-back and bookkeeping)",
    ),
    row(
        &[Key("metadata"), Key("labels"), KeyPrefix("flinkops.io/")],
        Owner::Operator,
        Condition::Always,
        "flinkops' own label",
    ),
    row(
        &[Key("metadata"), Key("labels"), Key("target.session")],
        Owner::Operator,
        Condition::Always,
        "stamped on session jobs by upstream's mutating webhook (FLINK-39509)",
    ),
    row(
        &[Key("metadata"), Key("annotations"), Key("kubectl.kubernetes.io/last-applied-configuration")],
        Owner::OtherManager,
        Condition::Always,
        "written by kubectl's client-side apply",
    ),
    // The autoscaler decides parallelism while it is on; Git's value is only the starting point.
    row(
        &[Key("spec"), Key("job"), Key("parallelism")],
        Owner::Autoscaler,
        Condition::AutoscalerEnabled,
        "job.autoscaler.enabled is true: the autoscaler decides parallelism",
    ),
    row(
        &[Key("spec"), Key("flinkConfiguration"), Key("pipeline.jobvertex-parallelism-overrides")],
        Owner::Autoscaler,
        Condition::AutoscalerEnabled,
        "job.autoscaler.enabled is true: the autoscaler writes the vertex parallelism overrides",
    ),
    // The FlinkDeployment scale subresource targets this path; an HPA or KEDA may own it.
    row(
        &[Key("spec"), Key("taskManager"), Key("replicas")],
        Owner::OtherManager,
        Condition::ClaimedByOtherManager,
        "owned by another field manager through the scale subresource (an HPA or KEDA)",
    ),
    row(&[AnyPath], Owner::OtherManager, Condition::ClaimedByOtherManager, "owned by another field manager"),
];

/// What the conditional rows depend on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnershipContext {
    /// Whether the autoscaler is enabled in the desired (Git) spec.
    pub autoscaler_enabled: bool,
    /// Paths owned by other field managers (e.g. read from managedFields); their subtrees are owned too.
    pub other_managers: BTreeSet<FieldPath>,
}

impl OwnershipContext {
    /// The context implied by a desired manifest alone (no other managers known).
    pub fn for_desired(desired: &Value) -> Self {
        OwnershipContext { autoscaler_enabled: autoscaler_enabled(desired), other_managers: BTreeSet::new() }
    }

    /// This context with paths owned by other field managers.
    pub fn with_other_managers(mut self, paths: impl IntoIterator<Item = FieldPath>) -> Self {
        self.other_managers.extend(paths);
        self
    }
}

/// Whether `job.autoscaler.enabled` (or its legacy spelling) is true in a manifest's flinkConfiguration, written
/// flat or nested.
pub fn autoscaler_enabled(manifest: &Value) -> bool {
    let Some(Value::Object(map)) = manifest.pointer("/spec/flinkConfiguration") else { return false };
    let config = FlinkConfiguration(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    config_keys::flag(&config.flatten(), config_keys::AUTOSCALER_ENABLED) == Some(true)
}

/// Who owns a field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The owner (never [`Owner::Git`]).
    pub owner: Owner,
    /// Why.
    pub reason: Cow<'static, str>,
}

/// The owner of `path` (a logical path) when it is not Git, or `None` when Git owns it.
pub fn classify(path: &FieldPath, context: &OwnershipContext) -> Option<Claim> {
    TABLE
        .iter()
        .find(|rule| rule_matches(rule, path, context))
        .map(|rule| Claim { owner: rule.owner, reason: Cow::Borrowed(rule.reason) })
}

fn rule_matches(rule: &Rule, path: &FieldPath, context: &OwnershipContext) -> bool {
    let applies = match rule.condition {
        Condition::Always => true,
        Condition::AutoscalerEnabled => context.autoscaler_enabled,
        Condition::ClaimedByOtherManager => context.other_managers.iter().any(|owned| path.starts_with(owned)),
    };
    applies && pattern_matches(rule.pattern, path)
}

/// Whether `path` is the node `pattern` names or lies below it.
fn pattern_matches(pattern: &[Pattern], path: &FieldPath) -> bool {
    if pattern == [AnyPath] {
        return true;
    }
    pattern.len() <= path.0.len()
        && pattern.iter().zip(&path.0).all(|(step, segment)| match (step, segment) {
            (Key(key), Segment::Key(actual)) => key == actual,
            (KeyPrefix(prefix), Segment::Key(actual)) => actual.starts_with(prefix),
            (KeySuffix(suffix), Segment::Key(actual)) => actual.ends_with(suffix),
            _ => false,
        })
}

/// A field removed by [`strip_owned`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stripped {
    /// Logical path of the removed node.
    pub path: FieldPath,
    /// Its owner.
    pub owner: Owner,
    /// Why it is not Git's.
    pub reason: Cow<'static, str>,
    /// The removed value.
    pub value: Value,
}

/// Removes every field Git does not own from a manifest (before apply, and before diffing), returning what was
/// removed. Maps and lists left empty by the removal are removed as well, so `annotations: {}` never reaches the
/// API server as a claim on the whole map.
pub fn strip_owned(manifest: &mut Value, context: &OwnershipContext) -> Vec<Stripped> {
    let mut removed = Vec::new();
    if let Value::Object(map) = manifest {
        strip_map(map, &FieldPath::root(), context, &mut removed);
    }
    removed
}

fn strip_map(
    map: &mut serde_json::Map<String, Value>,
    path: &FieldPath,
    context: &OwnershipContext,
    removed: &mut Vec<Stripped>,
) {
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let child_path = logical_child(path, &key);
        if let Some(claim) = classify(&child_path, context) {
            if let Some(value) = map.remove(&key) {
                removed.push(Stripped { path: child_path, owner: claim.owner, reason: claim.reason, value });
            }
            continue;
        }
        let Some(child) = map.get_mut(&key) else { continue };
        let emptied = match child {
            Value::Object(inner) if !inner.is_empty() => {
                strip_map(inner, &child_path, context, removed);
                inner.is_empty()
            }
            Value::Array(items) if is_finalizers(&child_path) && !items.is_empty() => {
                strip_set(items, &child_path, context, removed);
                items.is_empty()
            }
            _ => false,
        };
        if emptied {
            map.remove(&key);
        }
    }
}

/// Finalizers are a set: each entry is addressed by its value.
fn strip_set(items: &mut Vec<Value>, path: &FieldPath, context: &OwnershipContext, removed: &mut Vec<Stripped>) {
    items.retain(|item| {
        let Some(text) = item.as_str() else { return true };
        let item_path = path.key(text);
        match classify(&item_path, context) {
            Some(claim) => {
                removed.push(Stripped {
                    path: item_path,
                    owner: claim.owner,
                    reason: claim.reason,
                    value: item.clone(),
                });
                false
            }
            None => true,
        }
    });
}

fn is_finalizers(path: &FieldPath) -> bool {
    matches!(path.0.as_slice(), [Segment::Key(m), Segment::Key(f)] if m == "metadata" && f == "finalizers")
}

/// The logical path of `key` below `parent`: keys nested inside `spec.flinkConfiguration` join with `.`, as
/// Flink reads them.
pub fn logical_child(parent: &FieldPath, key: &str) -> FieldPath {
    match parent.0.as_slice() {
        [Segment::Key(spec), Segment::Key(config), Segment::Key(prefix)]
            if spec == "spec" && config == "flinkConfiguration" =>
        {
            let mut joined = parent.parent();
            joined.0.push(Segment::Key(format!("{prefix}.{key}")));
            joined
        }
        _ => parent.key(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(text: &str) -> FieldPath {
        FieldPath::parse(text)
    }

    fn owner_of(text: &str, context: &OwnershipContext) -> Option<Owner> {
        classify(&path(text), context).map(|claim| claim.owner)
    }

    #[test]
    fn table_rows_name_their_owner() {
        let plain = OwnershipContext::default();
        let autoscaled = OwnershipContext { autoscaler_enabled: true, ..Default::default() };
        let hpa = OwnershipContext::default().with_other_managers([path("spec.taskManager.replicas")]);
        let cases: &[(&str, &str, &OwnershipContext, Option<Owner>)] = &[
            ("status_is_the_operators", "status.jobStatus.state", &plain, Some(Owner::Operator)),
            ("uid_is_the_servers", "metadata.uid", &plain, Some(Owner::Server)),
            ("managed_fields_are_the_servers", "metadata.managedFields", &plain, Some(Owner::Server)),
            ("resource_version_is_the_servers", "metadata.resourceVersion", &plain, Some(Owner::Server)),
            (
                "flinkops_annotations_are_the_operators",
                "metadata.annotations[\"flinkops.io/savepoint\"]",
                &plain,
                Some(Owner::Operator),
            ),
            ("other_annotations_are_gits", "metadata.annotations[\"team\"]", &plain, None),
            (
                "operator_finalizer_is_the_operators",
                "metadata.finalizers[\"flinkdeployments.flink.apache.org/finalizer\"]",
                &plain,
                Some(Owner::Operator),
            ),
            ("user_finalizer_is_gits", "metadata.finalizers[\"example.com/keep\"]", &plain, None),
            ("webhook_label_is_the_operators", "metadata.labels[\"target.session\"]", &plain, Some(Owner::Operator)),
            ("parallelism_is_gits_without_autoscaler", "spec.job.parallelism", &plain, None),
            (
                "parallelism_is_the_autoscalers_when_enabled",
                "spec.job.parallelism",
                &autoscaled,
                Some(Owner::Autoscaler),
            ),
            (
                "vertex_overrides_are_the_autoscalers_when_enabled",
                "spec.flinkConfiguration[\"pipeline.jobvertex-parallelism-overrides\"]",
                &autoscaled,
                Some(Owner::Autoscaler),
            ),
            ("replicas_are_gits_without_hpa", "spec.taskManager.replicas", &plain, None),
            (
                "replicas_belong_to_an_hpa_that_claims_them",
                "spec.taskManager.replicas",
                &hpa,
                Some(Owner::OtherManager),
            ),
            ("image_is_gits", "spec.image", &hpa, None),
        ];
        for (name, text, context, expected) in cases {
            assert_eq!(owner_of(text, context), *expected, "{name}");
        }
    }

    #[test]
    fn claims_by_other_managers_cover_subtrees() {
        let context = OwnershipContext::default().with_other_managers([path("spec.podTemplate")]);
        assert_eq!(owner_of("spec.podTemplate.spec.containers[0].image", &context), Some(Owner::OtherManager));
        assert_eq!(owner_of("spec.podTemplateX", &context), None);
    }

    #[test]
    fn strip_owned_removes_owned_fields_and_reports_them() {
        let mut manifest = json!({
            "metadata": {
                "name": "a", "uid": "123",
                "annotations": {"flinkops.io/savepoint": "s3://x"},
                "finalizers": ["flinkdeployments.flink.apache.org/finalizer", "example.com/keep"]
            },
            "spec": {
                "job": {"parallelism": 4, "jarURI": "local:///j.jar"},
                "flinkConfiguration": {"job": {"autoscaler": {"enabled": "true"}},
                    "pipeline": {"jobvertex-parallelism-overrides": "a:1"}}
            },
            "status": {"lifecycleState": "STABLE"}
        });
        let context = OwnershipContext::for_desired(&manifest);
        assert!(context.autoscaler_enabled);
        let removed = strip_owned(&mut manifest, &context);
        let paths: Vec<String> = removed.iter().map(|s| s.path.to_string()).collect();
        assert_eq!(
            paths,
            [
                "metadata.annotations[\"flinkops.io/savepoint\"]",
                "metadata.finalizers[\"flinkdeployments.flink.apache.org/finalizer\"]",
                "metadata.uid",
                "spec.flinkConfiguration[\"pipeline.jobvertex-parallelism-overrides\"]",
                "spec.job.parallelism",
                "status",
            ]
        );
        assert_eq!(
            manifest,
            json!({
                "metadata": {"name": "a", "finalizers": ["example.com/keep"]},
                "spec": {"job": {"jarURI": "local:///j.jar"},
                    "flinkConfiguration": {"job": {"autoscaler": {"enabled": "true"}}}}
            })
        );
    }

    #[test]
    fn autoscaler_flag_reads_flat_nested_and_legacy_spellings() {
        for config in [
            json!({"job.autoscaler.enabled": "true"}),
            json!({"job.autoscaler.enabled": true}),
            json!({"job": {"autoscaler": {"enabled": true}}}),
            json!({"kubernetes.operator.job.autoscaler.enabled": "true"}),
        ] {
            assert!(autoscaler_enabled(&json!({"spec": {"flinkConfiguration": config}})), "{config}");
        }
        assert!(!autoscaler_enabled(&json!({"spec": {"flinkConfiguration": {"job.autoscaler.enabled": "false"}}})));
        assert!(!autoscaler_enabled(&json!({"spec": {}})));
    }
}
