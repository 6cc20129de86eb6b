//! Which Git source a `--repo` argument names, shared by `run` and `drift` so both read Git the same way: a plain
//! directory (not a repository) without `--branch` is followed as a working copy, edits included; anything else
//! (a repository, a URL, `--branch`) is a remote followed through its branch (default `main`) with a bare mirror
//! under `<state-dir>/git`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::git::GitError;
use crate::git::credentials::Credentials;
use crate::git::filter::PathFilter;
use crate::git::source::{
    GitSource, HostKeyPolicy, Reference, Snapshot, Source, SourceConfig, SourceStatus, SyncOutcome, Worktree,
};

/// Where the manifests come from, shared by `run` and `drift`.
#[derive(clap::Args, Debug)]
pub(super) struct SourceArgs {
    /// A Git URL, a local repository, or a plain directory (read as a working copy, uncommitted edits included).
    #[arg(long)]
    pub(super) repo: String,
    /// Branch to follow (a Git repository is read through its branch; default: main).
    #[arg(long)]
    pub(super) branch: Option<String>,
    /// Only manifests under this directory of the repository.
    #[arg(long)]
    pub(super) path: Option<String>,
}

/// The files `run` and `drift` read: every YAML file, below `--path` when given.
pub(super) fn manifest_filter(path: Option<&str>) -> Result<PathFilter, GitError> {
    let include = vec!["**/*.yaml".to_owned(), "**/*.yml".to_owned()];
    PathFilter::new(path, &include, &[])
}

/// The source a `--repo` argument selects: a working copy or a remote branch.
pub(super) enum Selected {
    /// A plain directory, read as it is on disk.
    Worktree(Box<Worktree>),
    /// A Git repository or URL, followed through a branch.
    Git(Box<GitSource>),
}

impl Selected {
    /// Whether this is a working copy (for the log line of `run`).
    pub(super) fn is_worktree(&self) -> bool {
        matches!(self, Selected::Worktree(_))
    }
}

/// Selects the source for `repo`: a plain directory without `branch` is a working copy; otherwise a remote branch
/// (`main` by default) mirrored under `state_dir/git`.
///
/// # Errors
/// What [`GitSource::open`] reports: an invalid URL, an unusable cache directory.
pub(super) fn select(
    repo: &str,
    branch: Option<&str>,
    filter: PathFilter,
    state_dir: &Path,
) -> Result<Selected, GitError> {
    match git_config(repo, branch, filter.clone(), state_dir) {
        Some(config) => Ok(Selected::Git(Box::new(GitSource::open(config)?))),
        None => Ok(Selected::Worktree(Box::new(Worktree::new(Path::new(repo), filter)))),
    }
}

/// The Git source configuration `repo` names, or `None` for a plain directory followed as a working copy.
pub(super) fn git_config(
    repo: &str,
    branch: Option<&str>,
    filter: PathFilter,
    state_dir: &Path,
) -> Option<SourceConfig> {
    let repo_path = PathBuf::from(repo);
    let is_repository = repo_path.join(".git").exists() || repo.contains("://") || repo.contains('@');
    if repo_path.is_dir() && !is_repository && branch.is_none() {
        return None;
    }
    Some(SourceConfig {
        url: repo.to_owned(),
        reference: Reference::Branch(branch.unwrap_or("main").to_owned()),
        credentials: Credentials::None,
        host_keys: HostKeyPolicy::default(),
        filter,
        cache_dir: state_dir.join("git"),
    })
}

impl Source for Selected {
    fn sync(&mut self) -> SyncOutcome {
        match self {
            Selected::Worktree(source) => source.sync(),
            Selected::Git(source) => source.sync(),
        }
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        match self {
            Selected::Worktree(source) => source.current(),
            Selected::Git(source) => source.current(),
        }
    }

    fn status(&self) -> SourceStatus {
        match self {
            Selected::Worktree(source) => source.status(),
            Selected::Git(source) => source.status(),
        }
    }

    fn cancel_flag(&self) -> Arc<AtomicBool> {
        match self {
            Selected::Worktree(source) => source.cancel_flag(),
            Selected::Git(source) => source.cancel_flag(),
        }
    }
}
