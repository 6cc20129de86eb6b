//! A Git source: a bare mirror of one remote ref (branch, tag or commit) under a cache directory, updated by
//! [`GitSource::sync`], which always leaves a *last good* [`Snapshot`] in place. A sync first asks the remote
//! for the ref's commit (`ls-remote`: connect and list, no objects), and fetches only when it moved; the fetch
//! uses a forced refspec, so a force-pushed branch is followed. When the remote is unreachable or the new revision
//! is rejected, the previous snapshot keeps being served and [`SourceStatus`] says why.
//!
//! Blocking (libgit2); the async drivers in `poll` run it on `spawn_blocking`. A [`Worktree`] source serves the
//! files of a local working copy instead, for the file-watch mode.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use git2::{Direction, FetchOptions, Oid, RemoteCallbacks, Repository};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::credentials::Credentials;
use super::error::GitError;
use super::filter::PathFilter;
use super::remote::RemoteAccess;
use super::tree;
use super::url::Transport;

/// Which ref to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A branch (`main`).
    Branch(String),
    /// A tag (`v1.2.0`); annotated tags are peeled to their commit.
    Tag(String),
    /// A fixed commit id.
    Commit(String),
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Branch(name) => write!(f, "branch {name}"),
            Reference::Tag(name) => write!(f, "tag {name}"),
            Reference::Commit(id) => write!(f, "commit {id}"),
        }
    }
}

/// SSH host-key policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Verify against this known_hosts file (the default: `~/.ssh/known_hosts`).
    KnownHosts(PathBuf),
    /// Accept any host key. Only for tests and trusted networks; logged as a warning on every connect.
    InsecureAcceptAny,
}

impl Default for HostKeyPolicy {
    fn default() -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        HostKeyPolicy::KnownHosts(home.join(".ssh/known_hosts"))
    }
}

/// Configuration of a Git source. `Debug` redacts the URL, which may carry credentials.
#[derive(Clone)]
pub struct SourceConfig {
    /// Remote URL (https, ssh, scp-style, file:// or a local path). Credentials inside it are moved out.
    pub url: String,
    /// What to follow.
    pub reference: Reference,
    /// Authentication.
    pub credentials: Credentials,
    /// SSH host-key policy.
    pub host_keys: HostKeyPolicy,
    /// Which files are manifests.
    pub filter: PathFilter,
    /// Where the bare mirror lives (created when missing).
    pub cache_dir: PathBuf,
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceConfig")
            .field("url", &super::credentials::redact_url(&self.url))
            .field("reference", &self.reference)
            .field("credentials", &self.credentials)
            .field("host_keys", &self.host_keys)
            .field("filter", &self.filter)
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

/// One revision's manifest files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Commit id (or `worktree:<digest>` for a working copy).
    pub revision: String,
    /// Selected files and their contents, in tree order.
    pub files: Vec<(String, Vec<u8>)>,
}

/// What the last sync did and what is being served; safe to log and to put in a status page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceStatus {
    /// The remote, redacted.
    pub url: String,
    /// The followed ref.
    pub reference: String,
    /// The revision being served (the last good one).
    pub revision: Option<String>,
    /// Why the last attempt failed, if it did (redacted).
    pub last_error: Option<String>,
    /// Stable category of that error.
    pub last_error_category: Option<&'static str>,
    /// When a sync last succeeded (remote reached, revision served).
    pub last_success: Option<SystemTime>,
    /// When a sync was last attempted.
    pub last_attempt: Option<SystemTime>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
}

/// The result of one sync.
#[derive(Debug)]
pub enum SyncOutcome {
    /// The remote ref has not moved; nothing was fetched.
    Unchanged {
        /// The served revision.
        revision: String,
    },
    /// A new revision is served.
    Updated {
        /// The previous revision.
        from: Option<String>,
        /// The new one.
        to: String,
    },
    /// The sync failed; the previous revision (if any) is still served.
    Failed(GitError),
}

/// Something that produces snapshots: a remote ([`GitSource`]) or a working copy ([`Worktree`]).
pub trait Source: Send + 'static {
    /// Brings the source up to date. Blocking.
    fn sync(&mut self) -> SyncOutcome;
    /// The last good snapshot.
    fn current(&self) -> Option<Arc<Snapshot>>;
    /// The status.
    fn status(&self) -> SourceStatus;
    /// A flag that, once set, makes a running sync give up at its next progress callback.
    fn cancel_flag(&self) -> Arc<AtomicBool>;
}

/// A check a new snapshot must pass before it is served (the default refuses an empty selection, which would
/// otherwise read as "delete every job").
pub type Acceptance = Box<dyn Fn(&Snapshot) -> Result<(), String> + Send>;

fn default_acceptance() -> Acceptance {
    Box::new(|snapshot: &Snapshot| {
        if snapshot.files.is_empty() {
            Err("no manifest files match the configured path and globs; refusing to serve an empty revision".into())
        } else {
            Ok(())
        }
    })
}

/// A remote Git repository followed through a local bare mirror.
pub struct GitSource {
    config: SourceConfig,
    access: RemoteAccess,
    mirror: Repository,
    current: Option<Arc<Snapshot>>,
    status: SourceStatus,
    accept: Acceptance,
    cancel: Arc<AtomicBool>,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("access", &self.access)
            .field("reference", &self.config.reference)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl GitSource {
    /// Opens (or creates) the mirror for a remote.
    ///
    /// # Errors
    /// [`GitError::InvalidUrl`] for a bad URL, [`GitError::Local`] when the cache directory is unusable.
    pub fn open(config: SourceConfig) -> Result<Self, GitError> {
        let access = RemoteAccess::new(&config.url, &config.credentials, &config.host_keys)?;
        std::fs::create_dir_all(&config.cache_dir)
            .map_err(|e| GitError::Local { path: config.cache_dir.display().to_string(), reason: e.to_string() })?;
        let mirror =
            Repository::open_bare(&config.cache_dir).or_else(|_| Repository::init_bare(&config.cache_dir)).map_err(
                |e| GitError::Local { path: config.cache_dir.display().to_string(), reason: e.message().to_owned() },
            )?;
        let status = SourceStatus {
            url: access.remote.to_string(),
            reference: config.reference.to_string(),
            ..Default::default()
        };
        Ok(GitSource {
            config,
            access,
            mirror,
            current: None,
            status,
            accept: default_acceptance(),
            cancel: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Replaces the acceptance check of new snapshots.
    pub fn with_acceptance(mut self, accept: Acceptance) -> Self {
        self.accept = accept;
        self
    }

    fn remote_error(&self, operation: &'static str, error: &git2::Error) -> GitError {
        self.access.error(operation, error)
    }

    fn callbacks(&self) -> RemoteCallbacks<'_> {
        self.access.callbacks(Arc::clone(&self.cancel))
    }

    /// The commit the remote ref points at now, without fetching objects (ls-remote).
    fn remote_head(&self) -> Result<Option<Oid>, GitError> {
        let (wanted, peeled) = match &self.config.reference {
            Reference::Branch(name) => (format!("refs/heads/{name}"), None),
            Reference::Tag(name) => (format!("refs/tags/{name}"), Some(format!("refs/tags/{name}^{{}}"))),
            Reference::Commit(id) => {
                return Oid::from_str(id)
                    .map(Some)
                    .map_err(|e| GitError::UnknownRevision { revision: id.clone(), reason: e.message().to_owned() });
            }
        };
        let mut remote =
            self.mirror.remote_anonymous(&self.access.remote.url).map_err(|e| self.remote_error("ls-remote", &e))?;
        let connection = remote
            .connect_auth(Direction::Fetch, Some(self.callbacks()), None)
            .map_err(|e| self.remote_error("ls-remote", &e))?;
        let heads = connection.list().map_err(|e| self.remote_error("ls-remote", &e))?;
        let find = |name: &str| heads.iter().find(|h| h.name() == name).map(|h| h.oid());
        let oid = peeled.as_deref().and_then(find).or_else(|| find(&wanted));
        Ok(oid)
    }

    fn fetch(&self) -> Result<Oid, GitError> {
        let (refspec, local) = match &self.config.reference {
            // Forced refspecs: a force-pushed (rewritten) branch or a moved tag is followed, not refused.
            Reference::Branch(name) => {
                (format!("+refs/heads/{name}:refs/flinkops/heads/{name}"), format!("refs/flinkops/heads/{name}"))
            }
            Reference::Tag(name) => {
                (format!("+refs/tags/{name}:refs/flinkops/tags/{name}"), format!("refs/flinkops/tags/{name}"))
            }
            Reference::Commit(_) => ("+refs/heads/*:refs/flinkops/heads/*".to_owned(), String::new()),
        };
        let mut remote =
            self.mirror.remote_anonymous(&self.access.remote.url).map_err(|e| self.remote_error("fetch", &e))?;
        let mut options = FetchOptions::new();
        options.remote_callbacks(self.callbacks());
        options.download_tags(git2::AutotagOption::None);
        remote.fetch(&[refspec.as_str()], Some(&mut options), None).map_err(|e| self.remote_error("fetch", &e))?;
        match &self.config.reference {
            Reference::Commit(id) => {
                let oid = Oid::from_str(id)
                    .map_err(|e| GitError::UnknownRevision { revision: id.clone(), reason: e.message().to_owned() })?;
                self.mirror.find_commit(oid).map(|c| c.id()).map_err(|e| GitError::UnknownRevision {
                    revision: id.clone(),
                    reason: format!("not on any branch of the remote: {}", e.message()),
                })
            }
            _ => self.mirror.find_reference(&local).and_then(|r| r.peel_to_commit()).map(|c| c.id()).map_err(|e| {
                GitError::UnknownRevision {
                    revision: self.config.reference.to_string(),
                    reason: e.message().to_owned(),
                }
            }),
        }
    }

    fn try_sync(&mut self) -> Result<SyncOutcome, GitError> {
        let served = self.current.as_ref().map(|s| s.revision.clone());
        let listed = self.remote_head()?;
        if let (Some(listed), Some(served)) = (listed, &served)
            && listed.to_string() == *served
        {
            return Ok(SyncOutcome::Unchanged { revision: served.clone() });
        }
        let have_locally = listed.is_some_and(|oid| self.mirror.find_commit(oid).is_ok());
        let target = match (listed, &self.config.reference) {
            (Some(oid), Reference::Commit(_)) if have_locally => oid,
            (None, Reference::Branch(_) | Reference::Tag(_)) => {
                return Err(GitError::UnknownRevision {
                    revision: self.config.reference.to_string(),
                    reason: "the remote has no such ref".into(),
                });
            }
            _ => self.fetch()?,
        };
        if served.as_deref() == Some(target.to_string().as_str()) {
            return Ok(SyncOutcome::Unchanged { revision: target.to_string() });
        }
        let revision = target.to_string();
        let files = tree::read_files(&self.mirror, target, &self.config.filter)
            .map_err(|e| GitError::Rejected { revision: revision.clone(), reason: e.to_string() })?;
        let snapshot = Snapshot { revision: revision.clone(), files };
        (self.accept)(&snapshot).map_err(|reason| GitError::Rejected { revision: revision.clone(), reason })?;
        self.current = Some(Arc::new(snapshot));
        Ok(SyncOutcome::Updated { from: served, to: revision })
    }
}

fn record(status: &mut SourceStatus, outcome: &SyncOutcome, current: Option<&Arc<Snapshot>>, now: SystemTime) {
    status.last_attempt = Some(now);
    status.revision = current.map(|s| s.revision.clone());
    match outcome {
        SyncOutcome::Failed(error) => {
            status.last_error = Some(error.to_string());
            status.last_error_category = Some(error.category());
            status.consecutive_failures += 1;
        }
        SyncOutcome::Unchanged { .. } | SyncOutcome::Updated { .. } => {
            status.last_error = None;
            status.last_error_category = None;
            status.last_success = Some(now);
            status.consecutive_failures = 0;
        }
    }
}

impl Source for GitSource {
    fn sync(&mut self) -> SyncOutcome {
        let _span =
            tracing::info_span!("git_sync", url = %self.access.remote, reference = %self.config.reference).entered();
        self.cancel.store(false, Ordering::Relaxed);
        if self.access.remote.transport == Transport::Http {
            tracing::debug!("plain http remote: credentials travel unencrypted");
        }
        let outcome = self.try_sync().unwrap_or_else(SyncOutcome::Failed);
        match &outcome {
            SyncOutcome::Unchanged { revision } => tracing::debug!(revision, "remote unchanged"),
            SyncOutcome::Updated { from, to } => tracing::info!(from = ?from, to, "new revision"),
            SyncOutcome::Failed(error) => tracing::warn!(
                error = %error,
                category = error.category(),
                serving = ?self.current.as_ref().map(|s| &s.revision),
                "sync failed; keeping the last good revision"
            ),
        }
        record(&mut self.status, &outcome, self.current.as_ref(), SystemTime::now());
        outcome
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.clone()
    }

    fn status(&self) -> SourceStatus {
        self.status.clone()
    }

    fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }
}

/// The files of a local working copy (uncommitted edits included), for the file-watch mode.
pub struct Worktree {
    root: PathBuf,
    filter: PathFilter,
    current: Option<Arc<Snapshot>>,
    status: SourceStatus,
    cancel: Arc<AtomicBool>,
}

impl Worktree {
    /// A working-copy source rooted at `root`.
    pub fn new(root: &Path, filter: PathFilter) -> Self {
        let status =
            SourceStatus { url: root.display().to_string(), reference: "working copy".into(), ..Default::default() };
        Worktree { root: root.to_owned(), filter, current: None, status, cancel: Arc::new(AtomicBool::new(false)) }
    }

    fn read(&self) -> Result<Snapshot, GitError> {
        let mut files = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(relative) = stack.pop() {
            let dir = self.root.join(&relative);
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| GitError::Local { path: dir.display().to_string(), reason: e.to_string() })?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let rel = if relative.as_os_str().is_empty() {
                    name.clone()
                } else {
                    format!("{}/{name}", relative.display())
                };
                let Ok(kind) = entry.file_type() else { continue };
                if kind.is_dir() && self.filter.may_contain(&rel) {
                    stack.push(PathBuf::from(&rel));
                } else if kind.is_file() && self.filter.matches(&rel) {
                    let bytes = std::fs::read(entry.path())
                        .map_err(|e| GitError::Local { path: rel.clone(), reason: e.to_string() })?;
                    files.push((rel, bytes));
                }
            }
        }
        files.sort();
        let mut digest = Sha256::new();
        for (path, bytes) in &files {
            digest.update(path.as_bytes());
            digest.update([0]);
            digest.update(bytes);
            digest.update([0]);
        }
        let revision = format!("worktree:{}", &hex::encode(digest.finalize())[..12]);
        Ok(Snapshot { revision, files })
    }
}

impl Source for Worktree {
    fn sync(&mut self) -> SyncOutcome {
        let served = self.current.as_ref().map(|s| s.revision.clone());
        let outcome = match self.read() {
            Ok(snapshot) if served.as_deref() == Some(snapshot.revision.as_str()) => {
                SyncOutcome::Unchanged { revision: snapshot.revision }
            }
            Ok(snapshot) if snapshot.files.is_empty() => SyncOutcome::Failed(GitError::Rejected {
                revision: snapshot.revision,
                reason: "no manifest files in the working copy".into(),
            }),
            Ok(snapshot) => {
                let to = snapshot.revision.clone();
                self.current = Some(Arc::new(snapshot));
                SyncOutcome::Updated { from: served, to }
            }
            Err(error) => SyncOutcome::Failed(error),
        };
        record(&mut self.status, &outcome, self.current.as_ref(), SystemTime::now());
        outcome
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.clone()
    }

    fn status(&self) -> SourceStatus {
        self.status.clone()
    }

    fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }
}
