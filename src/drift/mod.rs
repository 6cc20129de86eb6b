//! `drift`: Git's head against the live objects of a store, field by field, naming who wrote each live value.
//!
//! [`compare`] is pure: it loads and validates the Git files, pairs each resource with its live object (see
//! [`live`] for reading a [`Store`](crate::store::Store)), and diffs each pair with the same
//! [`plan::diff::diff`](crate::plan::diff::diff) that `plan` uses, with an
//! [`OwnershipContext`](crate::ownership::OwnershipContext) filled from the live object's `managedFields`
//! ([`live::ownership_context`]). Owned fields are listed as ignored, never as drift. [`render`] prints the report.

pub mod live;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use self::live::{LiveObject, ManagerPolicy};
use crate::crd::Kind;
use crate::git::source::Snapshot;
use crate::manifests::load::{LoadedManifest, load_texts};
use crate::manifests::path::FieldPath;
use crate::ownership::Owner;
use crate::plan::context::mentions_any;
use crate::plan::diff::diff;
use crate::store::{Store, StoreError};
use crate::validation::{Resource, Severity};

/// Where a resource stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Every Git-owned field has Git's value.
    InSync,
    /// At least one Git-owned field differs.
    Drifted,
    /// In Git, but not in the store.
    MissingLive,
    /// In the store, but not in Git.
    NotInGit,
    /// The Git manifest has errors (or its file does not parse): it is not compared.
    Invalid,
}

impl State {
    /// The spelling used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            State::InSync => "in-sync",
            State::Drifted => "drifted",
            State::MissingLive => "missing-live",
            State::NotInGit => "not-in-git",
            State::Invalid => "invalid",
        }
    }

    /// Whether this state is drift (exit status 4).
    pub fn is_drift(self) -> bool {
        matches!(self, State::Drifted | State::MissingLive | State::NotInGit)
    }
}

/// One Git-owned field whose live value is not Git's; `None` means absent on that side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDrift {
    /// Logical path of the field.
    pub path: FieldPath,
    /// The value in Git.
    pub git: Option<Value>,
    /// The live value.
    pub live: Option<Value>,
    /// The field manager that wrote the live value (or the nearest recorded field above it), when the store knows.
    pub manager: Option<String>,
}

/// A field that differs but is not Git's (the ownership table), so it is not drift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnedField {
    /// Logical path of the field.
    pub path: FieldPath,
    /// Who owns it.
    pub owner: Owner,
    /// Why it is not Git's.
    pub reason: String,
    /// The field manager that wrote the live value, when the store knows.
    pub manager: Option<String>,
    /// The value in Git.
    pub git: Option<Value>,
    /// The live value.
    pub live: Option<Value>,
}

/// The drift of one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceDrift {
    /// Kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The Git file (`None` for a resource only the store has).
    pub file: Option<String>,
    /// 1-based line of the document in that file.
    pub line: Option<usize>,
    /// Where it stands.
    pub state: State,
    /// Git-owned fields whose live value differs, in path order.
    pub changes: Vec<FieldDrift>,
    /// Owned fields whose values differ, in path order.
    pub ignored: Vec<OwnedField>,
}

/// Where a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProblemSource {
    /// A Git manifest.
    Git,
    /// The store (an object that cannot be decoded, a read failure).
    Store,
}

/// An error that keeps part of the comparison from being made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftProblem {
    /// Git or the store.
    pub source: ProblemSource,
    /// The Git file, or where the store keeps the object (a file locally, `Kind/ns/name` on Kubernetes).
    pub file: String,
    /// 1-based line (Git only).
    pub line: Option<usize>,
    /// 1-based column (Git only).
    pub column: Option<usize>,
    /// Field path (Git only).
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl DriftProblem {
    /// A store error as a problem.
    pub fn from_store(error: &StoreError) -> Self {
        let file = match error {
            StoreError::Corrupt { location, .. } => location.clone(),
            StoreError::Io { path, .. } => path.display().to_string(),
            _ => String::new(),
        };
        DriftProblem {
            source: ProblemSource::Store,
            file,
            line: None,
            column: None,
            path: None,
            message: error.to_string(),
        }
    }
}

/// Counts of resources per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// In sync.
    pub in_sync: usize,
    /// Drifted.
    pub drifted: usize,
    /// In Git, missing live.
    pub missing_live: usize,
    /// Live, not in Git.
    pub not_in_git: usize,
    /// Invalid in Git.
    pub invalid: usize,
}

impl Counts {
    fn add(&mut self, state: State) {
        match state {
            State::InSync => self.in_sync += 1,
            State::Drifted => self.drifted += 1,
            State::MissingLive => self.missing_live += 1,
            State::NotInGit => self.not_in_git += 1,
            State::Invalid => self.invalid += 1,
        }
    }

    /// Resources that are drift (drifted, missing live, not in Git).
    pub fn drift(&self) -> usize {
        self.drifted + self.missing_live + self.not_in_git
    }
}

/// Counts per namespace and over all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Per namespace, in name order.
    pub namespaces: BTreeMap<String, Counts>,
    /// Over every namespace.
    pub total: Counts,
}

/// The drift report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// The Git revision compared (a commit id, or `worktree:<digest>` for a working copy).
    pub revision: String,
    /// The store compared against (the resources directory of the local store).
    pub store: String,
    /// Counts per namespace.
    pub summary: Summary,
    /// Every resource, in namespace, name and kind order.
    pub resources: Vec<ResourceDrift>,
    /// Git manifest errors and store read errors.
    pub errors: Vec<DriftProblem>,
}

impl DriftReport {
    /// Exit status for `flinkops drift`: 1 with errors (they win), 4 with drift, else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            1
        } else if self.summary.total.drift() > 0 {
            4
        } else {
            0
        }
    }
}

/// What [`compare`] needs.
#[derive(Debug, Default)]
pub struct DriftInput {
    /// The Git revision.
    pub revision: String,
    /// A label of the store.
    pub store: String,
    /// The selected manifest files of the revision: `(repository-relative path, bytes)`.
    pub files: Vec<(String, Vec<u8>)>,
    /// The live objects.
    pub live: Vec<LiveObject>,
    /// Objects the store could not read.
    pub store_errors: Vec<StoreError>,
    /// Which field managers are Git's and which own what they write.
    pub managers: ManagerPolicy,
}

type Identity = (Kind, String, String);

/// Compares Git with the live objects. Pure.
pub fn compare(input: &DriftInput) -> DriftReport {
    let set = load_texts(input.files.iter().map(|(path, bytes)| (path.clone(), Ok(bytes.clone()))));
    // The first definition of a name wins; a duplicate is already a validation error.
    let mut git: BTreeMap<Identity, &LoadedManifest> = BTreeMap::new();
    for manifest in &set.manifests {
        git.entry((manifest.kind, manifest.namespace.clone(), manifest.name.clone())).or_insert(manifest);
    }
    let live: BTreeMap<Identity, &LiveObject> = input
        .live
        .iter()
        .map(|object| ((object.kind, object.namespace.clone(), object.name.clone()), object))
        .collect();
    let unreadable: BTreeSet<Identity> = input
        .store_errors
        .iter()
        .filter_map(|error| match error {
            StoreError::Corrupt { object: Some(object), .. } => {
                Some((object.kind, object.namespace.clone(), object.name.clone()))
            }
            _ => None,
        })
        .collect();
    // Files that do not parse: a live object they mention may be defined there, so it is not "not in Git".
    let broken: Vec<(&str, usize, &[u8])> = input
        .files
        .iter()
        .filter_map(|(file, bytes)| {
            let problem = set.problems.iter().find(|p| {
                p.file == *file && p.severity == Severity::Error && p.path == FieldPath::root().to_string()
            })?;
            Some((file.as_str(), problem.line, bytes.as_slice()))
        })
        .collect();

    let mut resources = Vec::new();
    for id in git.keys().chain(live.keys()).collect::<BTreeSet<_>>() {
        if unreadable.contains(id) {
            continue;
        }
        let resource = match (git.get(id), live.get(id)) {
            (Some(manifest), live) => Some(compare_one(manifest, live.copied(), &input.managers)),
            (None, Some(object)) => Some(live_only(object, &broken)),
            (None, None) => None,
        };
        resources.extend(resource);
    }
    resources.sort_by(|a, b| (&a.namespace, &a.name, a.kind).cmp(&(&b.namespace, &b.name, b.kind)));

    let mut summary = Summary::default();
    for resource in &resources {
        summary.namespaces.entry(resource.namespace.clone()).or_default().add(resource.state);
        summary.total.add(resource.state);
    }
    let mut errors: Vec<DriftProblem> = set
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(|p| DriftProblem {
            source: ProblemSource::Git,
            file: p.file.clone(),
            line: Some(p.line),
            column: Some(p.column),
            path: Some(p.path.clone()),
            message: p.message.clone(),
        })
        .collect();
    errors.extend(input.store_errors.iter().map(DriftProblem::from_store));
    DriftReport { revision: input.revision.clone(), store: input.store.clone(), summary, resources, errors }
}

/// The value Git asks for: the typed resource as sync applies it (so both sides went through the same types), or
/// the document as written when it does not build one.
fn desired_value(manifest: &LoadedManifest) -> Value {
    let typed = match &manifest.resource {
        Some(Resource::Deployment(deployment)) => serde_json::to_value(deployment.as_ref()).ok(),
        Some(Resource::SessionJob(job)) => serde_json::to_value(job.as_ref()).ok(),
        None => None,
    };
    typed.unwrap_or_else(|| manifest.document.value.clone())
}

fn compare_one(manifest: &LoadedManifest, live: Option<&LiveObject>, policy: &ManagerPolicy) -> ResourceDrift {
    let mut resource = ResourceDrift {
        kind: manifest.kind,
        namespace: manifest.namespace.clone(),
        name: manifest.name.clone(),
        file: Some(manifest.file.clone()),
        line: Some(manifest.line()),
        state: State::InSync,
        changes: Vec::new(),
        ignored: Vec::new(),
    };
    if manifest.has_errors {
        resource.state = State::Invalid;
        return resource;
    }
    let Some(live) = live else {
        resource.state = State::MissingLive;
        return resource;
    };
    let desired = desired_value(manifest);
    let context = live::ownership_context(&desired, live, policy);
    let result = diff(&desired, &live.value, &context);
    resource.changes = result
        .changes
        .into_iter()
        .map(|change| FieldDrift {
            manager: live.manager_of(&change.path),
            path: change.path,
            git: change.to,
            live: change.from,
        })
        .collect();
    resource.ignored = result
        .ignored
        .into_iter()
        .map(|field| OwnedField {
            manager: live.manager_of(&field.path),
            path: field.path,
            owner: field.owner,
            reason: field.reason,
            git: field.to,
            live: field.from,
        })
        .collect();
    if !resource.changes.is_empty() {
        resource.state = State::Drifted;
    }
    resource
}

fn live_only(object: &LiveObject, broken: &[(&str, usize, &[u8])]) -> ResourceDrift {
    let names: std::collections::HashSet<String> = [object.name.clone()].into();
    let unparsed = broken.iter().find(|(_, _, bytes)| mentions_any(bytes, &names));
    ResourceDrift {
        kind: object.kind,
        namespace: object.namespace.clone(),
        name: object.name.clone(),
        file: unparsed.map(|(file, _, _)| (*file).to_owned()),
        line: unparsed.map(|(_, line, _)| *line),
        state: if unparsed.is_some() { State::Invalid } else { State::NotInGit },
        changes: Vec::new(),
        ignored: Vec::new(),
    }
}

/// Reads a store and compares it with a Git snapshot: the whole `drift` for any [`Store`] implementation.
///
/// # Errors
/// What [`live::read`] reports (the store cannot be listed).
pub async fn against_store<S: Store>(
    store: &S,
    store_label: &str,
    snapshot: &Snapshot,
    managers: ManagerPolicy,
) -> Result<DriftReport, StoreError> {
    let live = live::read(store).await?;
    Ok(compare(&DriftInput {
        revision: snapshot.revision.clone(),
        store: store_label.to_owned(),
        files: snapshot.files.clone(),
        live: live.objects,
        store_errors: live.unreadable,
        managers,
    }))
}

#[cfg(test)]
mod tests;
