//! Plans: normalization, ownership-aware diff, upgrade impact and risks of a Git change, and their renderers.
//!
//! [`build`] is pure: it takes the manifests loaded from the two revisions (see `cli/plan.rs` and `git::tree`
//! for how only the changed files are read) and returns a [`Plan`]. [`diff::diff`] is the per-resource core that
//! `drift` reuses against live objects.

pub mod context;
pub mod diff;
pub mod impact;
pub mod normalize;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use self::diff::{Change, IgnoredField};
use self::impact::{Impact, ImpactInput, Risk, RiskLevel, Upgrade};
use crate::crd::Kind;
use crate::manifests::load::{LoadedManifest, ManifestSet};
use crate::ownership::OwnershipContext;
use crate::validation::Severity;

/// What happens to a resource object when the change is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The object is created.
    Create,
    /// The object is changed.
    Update,
    /// The object is deleted (pruned).
    Delete,
    /// Nothing Git owns changes (owned fields may differ; see `ignored`).
    Unchanged,
    /// The new manifest has errors: it will not be applied, the last good version keeps running.
    Invalid,
}

impl Action {
    /// The spelling used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
            Action::Invalid => "invalid",
        }
    }
}

/// The plan of one resource.
#[derive(Debug, Clone, Serialize)]
pub struct ResourcePlan {
    /// Kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// File in the head revision (the base file for deletions).
    pub file: String,
    /// 1-based line where the document starts in that file.
    pub line: usize,
    /// What happens to the object.
    pub action: Action,
    /// Which upgrade path the job takes.
    pub upgrade: Upgrade,
    /// Expected interruption, in words.
    pub interruption: String,
    /// Changed Git-owned fields.
    pub changes: Vec<Change>,
    /// Fields that differ but are owned by someone else.
    pub ignored: Vec<IgnoredField>,
    /// Risks, highest first.
    pub risks: Vec<Risk>,
    /// Unified diff of the normalized YAML (owned fields removed).
    pub diff: String,
    /// For a new resource: the savepoint recorded by write-back that it will start from (no live state, no
    /// `initialSavepointPath`, no opt-out; see [`crate::writeback::restore_from_annotations`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_from: Option<String>,
}

impl ResourcePlan {
    /// The highest risk level, if any risk.
    pub fn max_risk(&self) -> Option<RiskLevel> {
        self.risks.iter().map(|r| r.level).max()
    }
}

/// A validation problem with its place, as in the JSON output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanProblem {
    /// File.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Field path.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The plan of a Git change.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Base revision (as given and resolved).
    pub base: String,
    /// Head revision.
    pub head: String,
    /// Base commit id, when the base is a Git revision.
    pub base_commit: Option<String>,
    /// Head commit id, when the head is a Git revision.
    pub head_commit: Option<String>,
    /// Resources that change, are ignored-only, invalid, created or deleted; in file order.
    pub resources: Vec<ResourcePlan>,
    /// Validation errors in the head revision's changed files (and the files they affect).
    pub errors: Vec<PlanProblem>,
    /// Validation warnings, same scope.
    pub warnings: Vec<PlanProblem>,
    /// Files compared (changed between the revisions).
    pub files_changed: usize,
    /// Resources found in the changed files that do not change at all.
    pub unchanged: usize,
}

impl Plan {
    /// The highest risk level over all resources.
    pub fn max_risk(&self) -> Option<RiskLevel> {
        self.resources.iter().filter_map(ResourcePlan::max_risk).max()
    }

    /// Exit status for `flinkops plan`: 1 with errors, 3 with high risks (errors win), else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            1
        } else if self.max_risk() == Some(RiskLevel::High) {
            3
        } else {
            0
        }
    }
}

/// The manifests of both revisions, as loaded by the caller.
#[derive(Debug, Default)]
pub struct PlanInput {
    /// Base revision label.
    pub base_revision: String,
    /// Head revision label.
    pub head_revision: String,
    /// Base commit id, if known.
    pub base_commit: Option<String>,
    /// Head commit id, if known.
    pub head_commit: Option<String>,
    /// Manifests of the changed files at the base revision.
    pub base: ManifestSet,
    /// Manifests of the changed files at the head revision, plus context files (see [`context`]).
    pub head: ManifestSet,
    /// The changed files (paths as in both sets); manifests of other files are context only.
    pub changed_files: BTreeSet<String>,
}

type Identity = (Kind, String, String);

fn identity(manifest: &LoadedManifest) -> Identity {
    (manifest.kind, manifest.namespace.clone(), manifest.name.clone())
}

/// Builds the plan. Pure.
pub fn build(input: &PlanInput) -> Plan {
    let changed = |m: &&LoadedManifest| input.changed_files.contains(&m.file);
    let base: BTreeMap<Identity, &LoadedManifest> =
        input.base.manifests.iter().filter(changed).map(|m| (identity(m), m)).collect();
    let head_all: BTreeMap<Identity, &LoadedManifest> = input.head.manifests.iter().map(|m| (identity(m), m)).collect();
    let head_changed: BTreeMap<Identity, &LoadedManifest> =
        input.head.manifests.iter().filter(changed).map(|m| (identity(m), m)).collect();
    // Files whose head version could not be read as YAML: their base resources may still exist.
    let broken: BTreeSet<&str> = input
        .head
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error && p.path == crate::manifests::path::FieldPath::root().to_string())
        .map(|p| p.file.as_str())
        .collect();

    let mut resources = Vec::new();
    let mut unchanged = 0;
    let identities: BTreeSet<&Identity> = base.keys().chain(head_changed.keys()).collect();
    for id in identities {
        let before = base.get(id).copied();
        let after = head_changed.get(id).copied().or_else(|| head_all.get(id).copied());
        let _span = tracing::debug_span!("plan_resource", kind = %id.0, namespace = %id.1, name = %id.2).entered();
        let plan = match (before, after) {
            (Some(before), None) if broken.contains(before.file.as_str()) => Some(unreadable(before)),
            (before, after) => plan_resource(before, after),
        };
        match plan {
            Some(plan) => resources.push(plan),
            None => unchanged += 1,
        }
    }
    resources.sort_by(|a, b| (&a.file, a.line, &a.name).cmp(&(&b.file, b.line, &b.name)));

    let problems = |severity: Severity| {
        input
            .head
            .problems
            .iter()
            .filter(|p| p.severity == severity)
            .map(|p| PlanProblem {
                file: p.file.clone(),
                line: p.line,
                column: p.column,
                path: p.path.clone(),
                message: p.message.clone(),
            })
            .collect::<Vec<_>>()
    };
    Plan {
        base: input.base_revision.clone(),
        head: input.head_revision.clone(),
        base_commit: input.base_commit.clone(),
        head_commit: input.head_commit.clone(),
        resources,
        errors: problems(Severity::Error),
        warnings: problems(Severity::Warning),
        files_changed: input.changed_files.len(),
        unchanged,
    }
}

/// A base resource whose head file does not parse: we cannot tell whether it was deleted, so it is not planned
/// as a deletion (a YAML typo must never read as "prune this job").
fn unreadable(before: &LoadedManifest) -> ResourcePlan {
    ResourcePlan {
        kind: before.kind,
        namespace: before.namespace.clone(),
        name: before.name.clone(),
        file: before.file.clone(),
        line: before.line(),
        action: Action::Invalid,
        upgrade: Upgrade::None,
        interruption: "none: the file does not parse, the last good version keeps running".to_owned(),
        changes: Vec::new(),
        ignored: Vec::new(),
        risks: Vec::new(),
        diff: String::new(),
        restore_from: None,
    }
}

fn plan_resource(before: Option<&LoadedManifest>, after: Option<&LoadedManifest>) -> Option<ResourcePlan> {
    let located = after.or(before)?;
    let desired = after.map(|m| &m.document.value).unwrap_or(&Value::Null);
    let current = before.map(|m| &m.document.value).unwrap_or(&Value::Null);
    let context = OwnershipContext::for_desired(if desired.is_null() { current } else { desired });
    let result = diff::diff(desired, current, &context);
    let invalid = after.is_some_and(|m| m.has_errors);
    let action = match (before, after) {
        (_, Some(_)) if invalid => Action::Invalid,
        (None, Some(_)) => Action::Create,
        (Some(_), None) => Action::Delete,
        _ if result.has_changes() => Action::Update,
        _ => Action::Unchanged,
    };
    if action == Action::Unchanged && result.ignored.is_empty() {
        return None;
    }
    let Impact { upgrade, interruption, risks } = if invalid {
        Impact {
            upgrade: Upgrade::None,
            interruption: "none: the manifest has errors and is not applied; the last good version keeps running"
                .to_owned(),
            risks: Vec::new(),
        }
    } else {
        impact::assess(ImpactInput {
            kind: located.kind,
            before: before.map(|_| &result.current),
            after: after.map(|_| &result.desired),
            changes: &result.changes,
            ignored: &result.ignored,
            job_running: None,
        })
    };
    let restore_from = match action {
        Action::Create => crate::writeback::restore_from_annotations(
            &crate::writeback::annotations::annotations_of(desired),
            desired.pointer("/spec/job/initialSavepointPath").and_then(Value::as_str),
        ),
        _ => None,
    };
    Some(ResourcePlan {
        restore_from,
        kind: located.kind,
        namespace: located.namespace.clone(),
        name: located.name.clone(),
        file: located.file.clone(),
        line: located.line(),
        action,
        upgrade,
        interruption,
        diff: render::unified_diff(&result.current, &result.desired),
        changes: result.changes,
        ignored: result.ignored,
        risks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::load::load_texts;

    fn set(files: &[(&str, &str)]) -> ManifestSet {
        load_texts(files.iter().map(|(name, text)| ((*name).to_owned(), Ok(text.as_bytes().to_vec()))))
    }

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
    job.autoscaler.enabled: "true"
  jobManager:
    resource: {memory: 2g, cpu: 1}
  taskManager:
    resource: {memory: 4g, cpu: 2}
  job:
    jarURI: local:///opt/job.jar
    parallelism: 2
    upgradeMode: savepoint
"#;

    fn input(base: &[(&str, &str)], head: &[(&str, &str)]) -> PlanInput {
        let changed = base.iter().chain(head).map(|(name, _)| (*name).to_owned()).collect();
        PlanInput {
            base_revision: "base".into(),
            head_revision: "head".into(),
            base_commit: None,
            head_commit: None,
            base: set(base),
            head: set(head),
            changed_files: changed,
        }
    }

    #[test]
    fn owned_only_change_plans_as_none_with_ignored_field() {
        let head = ORDERS.replace("parallelism: 2", "parallelism: 6");
        let plan = build(&input(&[("a.yaml", ORDERS)], &[("a.yaml", &head)]));
        assert_eq!(plan.resources.len(), 1);
        let resource = &plan.resources[0];
        assert_eq!(resource.action, Action::Unchanged);
        assert_eq!(resource.upgrade, Upgrade::None);
        assert_eq!(resource.ignored[0].path.to_string(), "spec.job.parallelism");
        assert_eq!(plan.exit_code(), 0);
    }

    #[test]
    fn create_update_delete() {
        let other = ORDERS.replace("name: orders", "name: payments");
        let head = ORDERS.replace("image: flink:2.1", "image: flink:2.2");
        let plan = build(&input(
            &[("a.yaml", ORDERS), ("b.yaml", &other)],
            &[("a.yaml", &head), ("c.yaml", &other.replace("payments", "clicks"))],
        ));
        let actions: Vec<(&str, Action, Upgrade)> =
            plan.resources.iter().map(|r| (r.name.as_str(), r.action, r.upgrade)).collect();
        assert_eq!(
            actions,
            [
                ("orders", Action::Update, Upgrade::Savepoint),
                ("payments", Action::Delete, Upgrade::Delete),
                ("clicks", Action::Create, Upgrade::Create),
            ]
        );
        assert_eq!(plan.exit_code(), 3, "deleting a savepoint-mode job without savepoint-on-deletion is high risk");
        assert!(plan.resources.iter().all(|r| r.restore_from.is_none()));
    }

    #[test]
    fn a_new_resource_with_a_recorded_savepoint_restores_from_it() {
        let recorded = ORDERS.replace(
            "  namespace: team-a\n",
            "  namespace: team-a\n  annotations:\n    flinkops.io/savepoint-path: s3://b/sp/savepoint-1\n",
        );
        let plan = build(&input(&[], &[("a.yaml", &recorded)]));
        assert_eq!(plan.resources[0].restore_from.as_deref(), Some("s3://b/sp/savepoint-1"));
        assert!(render::text(&plan).contains("will restore from s3://b/sp/savepoint-1"), "{}", render::text(&plan));
        let explicit = recorded.replace(
            "    upgradeMode: savepoint\n",
            "    upgradeMode: savepoint\n    initialSavepointPath: s3://b/sp/x\n",
        );
        assert_eq!(build(&input(&[], &[("a.yaml", &explicit)])).resources[0].restore_from, None);
        // An existing resource keeps its live state: the annotation changes nothing.
        let plan = build(&input(&[("a.yaml", ORDERS)], &[("a.yaml", &recorded)]));
        assert!(plan.resources.iter().all(|r| r.restore_from.is_none()));
    }

    #[test]
    fn broken_file_is_an_error_not_a_deletion() {
        let plan = build(&input(&[("a.yaml", ORDERS)], &[("a.yaml", "spec: [unclosed\n")]));
        assert_eq!(plan.resources[0].action, Action::Invalid);
        assert_eq!(plan.errors[0].file, "a.yaml");
        assert_eq!(plan.exit_code(), 1);
    }

    #[test]
    fn normalized_equal_change_is_not_planned() {
        let head = ORDERS.replace("memory: 4g", "memory: 4096m");
        let plan = build(&input(&[("a.yaml", ORDERS)], &[("a.yaml", &head)]));
        assert!(plan.resources.is_empty());
        assert_eq!(plan.unchanged, 1);
    }
}
