//! Planning between two revisions of a repository: the IO half of `flinkops plan`. Only the files the two
//! commits differ in are read and validated, plus the unchanged files that define or reference the same names
//! (cross-resource validation needs them; see `plan::context`), so the cost follows the size of the change, not
//! of the repository.

use std::collections::BTreeSet;

use git2::Repository;

use super::error::GitError;
use super::filter::PathFilter;
use super::tree;
use crate::manifests::load::load_texts;
use crate::plan::{self, Plan, PlanInput};

/// Builds the plan of `head` against `base` (any revisions `git rev-parse` understands).
///
/// # Errors
/// [`GitError::UnknownRevision`] when a revision does not resolve, [`GitError::Local`] when the repository
/// cannot be read.
pub fn plan_between(repo: &Repository, base: &str, head: &str, filter: &PathFilter) -> Result<Plan, GitError> {
    let _span = tracing::info_span!("plan", base, head).entered();
    let base_commit = tree::resolve(repo, base)?;
    let head_commit = tree::resolve(repo, head)?;
    let changed = tree::changed_files(repo, base_commit, head_commit, filter)?;
    tracing::debug!(files = changed.len(), "changed manifest files");
    let base_files = tree::read_paths(repo, base_commit, &changed)?;
    let head_files = tree::read_paths(repo, head_commit, &changed)?;
    let base_set = load_texts(base_files.into_iter().map(|(path, bytes)| (path, Ok(bytes))));

    // First pass over the changed head files only, to learn which names the change touches.
    let first = load_texts(head_files.iter().map(|(path, bytes)| (path.clone(), Ok(bytes.clone()))));
    let names = plan::context::names_of(first.manifests.iter().chain(&base_set.manifests));
    let changed_set: BTreeSet<String> = changed.iter().cloned().collect();
    let mut context_files = Vec::new();
    if !names.is_empty() {
        tree::for_each_file(repo, head_commit, filter, |path, bytes| {
            if !changed_set.contains(path) && plan::context::mentions_any(bytes, &names) {
                context_files.push((path.to_owned(), bytes.to_vec()));
            }
        })?;
    }
    tracing::debug!(files = context_files.len(), "context files for cross-resource validation");
    let head_set = if context_files.is_empty() {
        first
    } else {
        load_texts(head_files.into_iter().chain(context_files).map(|(path, bytes)| (path, Ok(bytes))))
    };
    let mut plan = plan::build(&PlanInput {
        base_revision: base.to_owned(),
        head_revision: head.to_owned(),
        base_commit: Some(base_commit.to_string()),
        head_commit: Some(head_commit.to_string()),
        base: base_set,
        head: head_set,
        changed_files: changed_set,
    });
    // Problems in context files that the change did not cause are not this change's errors; keep only
    // problems of changed files, and of context files at the fields cross-resource rules check.
    let relevant = |p: &plan::PlanProblem| {
        plan.resources.iter().any(|r| r.file == p.file)
            || changed.contains(&p.file)
            || p.path == "spec.deploymentName"
            || p.path == "metadata.name"
    };
    plan.errors.retain(relevant);
    plan.warnings.retain(relevant);
    Ok(plan)
}
