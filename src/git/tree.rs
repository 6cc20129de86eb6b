//! Reading trees at a revision: resolve a revision to a commit, list the manifest files that changed between two
//! commits (a tree-to-tree diff, so a plan reads only what changed), and read file contents through a
//! [`PathFilter`]. Blocking libgit2 calls; async callers use `spawn_blocking`.

use std::path::Path;

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use super::error::GitError;
use super::filter::PathFilter;

/// Opens the repository containing `path` (a working copy or a bare repository).
///
/// # Errors
/// [`GitError::Local`] when no repository is found there.
pub fn open(path: &Path) -> Result<Repository, GitError> {
    Repository::discover(path).map_err(|e| local(path, &e))
}

fn local(path: &Path, error: &git2::Error) -> GitError {
    GitError::Local { path: path.display().to_string(), reason: error.message().to_owned() }
}

/// Resolves a revision (`main`, `origin/main`, `v1.2`, `HEAD~1`, a commit id) to a commit id.
///
/// # Errors
/// [`GitError::UnknownRevision`] when it does not name a commit.
pub fn resolve(repo: &Repository, revision: &str) -> Result<Oid, GitError> {
    let unknown =
        |e: git2::Error| GitError::UnknownRevision { revision: revision.to_owned(), reason: e.message().to_owned() };
    let object = repo.revparse_single(revision).map_err(unknown)?;
    object.peel_to_commit().map(|c| c.id()).map_err(unknown)
}

fn tree_of(repo: &Repository, commit: Oid) -> Result<git2::Tree<'_>, GitError> {
    repo.find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(|e| GitError::UnknownRevision { revision: commit.to_string(), reason: e.message().to_owned() })
}

/// The selected files that differ between two commits (added, modified, deleted or renamed; renames appear
/// under both names), sorted.
///
/// # Errors
/// [`GitError::UnknownRevision`] for a missing commit, [`GitError::Local`] when the diff fails.
pub fn changed_files(repo: &Repository, base: Oid, head: Oid, filter: &PathFilter) -> Result<Vec<String>, GitError> {
    let base_tree = tree_of(repo, base)?;
    let head_tree = tree_of(repo, head)?;
    let mut options = git2::DiffOptions::new();
    options.skip_binary_check(true);
    if let Some(root) = filter.root() {
        options.pathspec(format!("{root}/"));
    }
    let diff = repo
        .diff_tree_to_tree(Some(&base_tree), Some(&head_tree), Some(&mut options))
        .map_err(|e| local(repo.path(), &e))?;
    let mut files: Vec<String> = Vec::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(path) = file.path().and_then(Path::to_str)
                && filter.matches(path)
            {
                files.push(path.to_owned());
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Calls `visit(path, bytes)` for every selected file of a commit, in tree order; directories the filter rules
/// out are not entered.
///
/// # Errors
/// [`GitError::UnknownRevision`] for a missing commit, [`GitError::Local`] for an unreadable blob.
pub fn for_each_file(
    repo: &Repository,
    commit: Oid,
    filter: &PathFilter,
    mut visit: impl FnMut(&str, &[u8]),
) -> Result<(), GitError> {
    let tree = tree_of(repo, commit)?;
    let mut failure = None;
    let walked = tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        let Ok(name) = entry.name() else { return TreeWalkResult::Skip };
        let path = format!("{dir}{name}");
        match entry.kind() {
            Some(ObjectType::Tree) if !filter.may_contain(&path) => TreeWalkResult::Skip,
            Some(ObjectType::Blob) if filter.matches(&path) => match repo.find_blob(entry.id()) {
                Ok(blob) => {
                    visit(&path, blob.content());
                    TreeWalkResult::Ok
                }
                Err(e) => {
                    failure = Some(local(repo.path(), &e));
                    TreeWalkResult::Abort
                }
            },
            _ => TreeWalkResult::Ok,
        }
    });
    if let Some(error) = failure {
        return Err(error);
    }
    walked.map_err(|e| local(repo.path(), &e))
}

/// Every selected file of a commit with its content: `rev → Vec<(path, bytes)>`.
///
/// # Errors
/// As [`for_each_file`].
pub fn read_files(repo: &Repository, commit: Oid, filter: &PathFilter) -> Result<Vec<(String, Vec<u8>)>, GitError> {
    let mut files = Vec::new();
    for_each_file(repo, commit, filter, |path, bytes| files.push((path.to_owned(), bytes.to_vec())))?;
    Ok(files)
}

/// The given files of a commit; files absent at that commit are left out.
///
/// # Errors
/// [`GitError::UnknownRevision`] for a missing commit.
pub fn read_paths(repo: &Repository, commit: Oid, paths: &[String]) -> Result<Vec<(String, Vec<u8>)>, GitError> {
    let tree = tree_of(repo, commit)?;
    let mut files = Vec::new();
    for path in paths {
        let Ok(entry) = tree.get_path(Path::new(path)) else { continue };
        if let Ok(blob) = repo.find_blob(entry.id()) {
            files.push((path.clone(), blob.content().to_vec()));
        }
    }
    Ok(files)
}
