//! The write-back repository: a bare clone of the remote under its own directory, one commit per cycle with the
//! edits of every record, and a push that is never forced. A rejected push (someone pushed meanwhile) fetches the
//! new head, re-applies the edits there and pushes again, a bounded number of times.
//!
//! No working tree is checked out: files are read from the fetched commit, edited in memory, and written back as
//! blobs of a new tree, so a cycle costs the files it edits, not the size of the repository. Blocking (libgit2);
//! async callers use `spawn_blocking`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use git2::build::TreeUpdateBuilder;
use git2::{ErrorCode, FetchOptions, FetchPrune, Oid, PushOptions, Repository, Signature};

use super::annotations::{SavepointRecord, write_back_enabled};
use super::edit::set_annotations;
use super::locate::{ResourceKey, locate_in_commit};
use crate::git::{GitError, PathFilter, Reference, RemoteAccess, SourceConfig};

/// Configuration of write-back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBackConfig {
    /// Whether anything is written at all.
    pub enabled: bool,
    /// The branch to commit to; `None` commits to the followed branch. A configured branch that does not exist
    /// yet is created from the followed branch.
    pub branch: Option<String>,
    /// Author and committer name.
    pub author_name: String,
    /// Author and committer email.
    pub author_email: String,
    /// Commit message; `{count}`, `{resources}` (comma-separated) and `{savepoints}` (one line per savepoint) are
    /// replaced. The [`super::TRAILER`] line is always appended.
    pub message_template: String,
    /// How many pushes one write tries before giving up (at least 1).
    pub max_push_attempts: u32,
    /// Pause before the second attempt; it grows linearly with each further attempt.
    pub retry_backoff: Duration,
}

impl Default for WriteBackConfig {
    fn default() -> Self {
        WriteBackConfig {
            enabled: true,
            branch: None,
            author_name: "flinkops".into(),
            author_email: "flinkops@localhost".into(),
            message_template: "Record {count} savepoint(s): {resources}\n\n{savepoints}".into(),
            max_push_attempts: 5,
            retry_backoff: Duration::from_millis(50),
        }
    }
}

/// Why a record was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Write-back is disabled in the configuration.
    Disabled,
    /// No manifest on the branch defines the resource (deleted, moved out of the path, renamed).
    NotFound,
    /// The manifest opts out with `flinkops.io/write-back: "false"`.
    OptedOut {
        /// The manifest's file.
        file: String,
    },
    /// The manifest could not be edited safely.
    Edit {
        /// File.
        file: String,
        /// 1-based line.
        line: usize,
        /// Why.
        message: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Disabled => f.write_str("write-back is disabled"),
            SkipReason::NotFound => f.write_str("no manifest on the branch defines it (deleted or moved)"),
            SkipReason::OptedOut { file } => write!(f, "{file} opts out (flinkops.io/write-back: \"false\")"),
            SkipReason::Edit { file, line, message } => write!(f, "{file}:{line}: {message}"),
        }
    }
}

/// A record that was reported and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// `Kind namespace/name`.
    pub resource: String,
    /// Why.
    pub reason: SkipReason,
}

/// What one [`WriteBack::write`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The pushed commit, or `None` when no file changed.
    pub commit: Option<String>,
    /// Resources whose annotations the commit changes, as `Kind namespace/name`.
    pub written: Vec<String>,
    /// Resources whose manifest already held the record.
    pub unchanged: Vec<String>,
    /// Records that were skipped, with the reason.
    pub skipped: Vec<SkippedRecord>,
    /// Push attempts made (0 when nothing was pushed).
    pub attempts: u32,
}

/// Why a write failed as a whole. Per-record problems are [`SkippedRecord`]s instead.
#[derive(Debug, thiserror::Error)]
pub enum WriteBackError {
    /// The configuration cannot work (no branch to write to, an unusable author); retrying cannot help.
    #[error("write-back configuration: {0}")]
    Config(String),
    /// Fetch, push or the local clone failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// Every push attempt was rejected (the branch kept moving, or the remote refuses the update).
    #[error("push to branch {branch} rejected {attempts} time(s): {reason}")]
    PushRejected {
        /// The branch.
        branch: String,
        /// Attempts made.
        attempts: u32,
        /// The last rejection, redacted.
        reason: String,
    },
}

impl WriteBackError {
    /// Whether a later cycle may succeed (remote down, branch busy); `false` for configuration errors.
    pub fn is_transient(&self) -> bool {
        match self {
            WriteBackError::Config(_) => false,
            WriteBackError::Git(error) => error.is_transient(),
            WriteBackError::PushRejected { .. } => true,
        }
    }

    /// A stable category for metrics and events.
    pub fn category(&self) -> &'static str {
        match self {
            WriteBackError::Config(_) => "config",
            WriteBackError::Git(error) => error.category(),
            WriteBackError::PushRejected { .. } => "push-rejected",
        }
    }
}

/// The write-back repository of one remote branch.
pub struct WriteBack {
    access: RemoteAccess,
    filter: PathFilter,
    config: WriteBackConfig,
    /// The followed branch (the base of a write-back branch that does not exist yet).
    followed: String,
    /// The branch commits go to.
    branch: String,
    repo: Repository,
    dir: PathBuf,
    cancel: Arc<AtomicBool>,
}

impl fmt::Debug for WriteBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteBack")
            .field("access", &self.access)
            .field("branch", &self.branch)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl WriteBack {
    /// Opens (or creates) the bare clone under `dir` (e.g. `<state-dir>/writeback/`) for the source's remote,
    /// path filter and credentials. Nothing is fetched yet.
    ///
    /// # Errors
    /// [`WriteBackError::Config`] when the source follows a tag or commit and no write-back branch is configured,
    /// or the author is empty; [`GitError::InvalidUrl`] for a bad URL; [`GitError::Local`] when `dir` is unusable.
    pub fn open(source: &SourceConfig, dir: &Path, config: WriteBackConfig) -> Result<Self, WriteBackError> {
        let followed = match &source.reference {
            Reference::Branch(name) => Some(name.clone()),
            Reference::Tag(_) | Reference::Commit(_) => None,
        };
        let branch = match (&config.branch, &followed) {
            (Some(branch), _) => branch.clone(),
            (None, Some(followed)) => followed.clone(),
            (None, None) => {
                return Err(WriteBackError::Config(format!(
                    "the source follows {}; write-back needs a branch (configure one)",
                    source.reference
                )));
            }
        };
        if config.author_name.trim().is_empty() || config.author_email.trim().is_empty() {
            return Err(WriteBackError::Config("the author name and email must not be empty".into()));
        }
        let access = RemoteAccess::new(&source.url, &source.credentials, &source.host_keys)?;
        let local = |e: &dyn fmt::Display| GitError::Local { path: dir.display().to_string(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(|e| local(&e))?;
        let repo = Repository::open_bare(dir).or_else(|_| Repository::init_bare(dir)).map_err(|e| local(&e))?;
        Ok(WriteBack {
            access,
            filter: source.filter.clone(),
            followed: followed.unwrap_or_else(|| branch.clone()),
            branch,
            config,
            repo,
            dir: dir.to_owned(),
            cancel: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The branch commits go to.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// Setting this flag aborts a running fetch or push (e.g. on shutdown); clear it before the next write.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }

    /// Records the savepoints of one cycle on their manifests: fetch the branch, edit every manifest, make one
    /// commit and push it. A rejected push fetches again and re-applies the edits on the new head, up to
    /// `max_push_attempts` times with a short growing pause. When several records name the same resource, the
    /// latest (by time) wins.
    ///
    /// # Idempotence
    /// Records whose annotations the manifest already holds change nothing; when no file changes, no commit is
    /// made. Writing the same records twice makes one commit.
    ///
    /// # Errors
    /// [`WriteBackError::Git`] when fetching or pushing fails, [`WriteBackError::PushRejected`] when every attempt
    /// was rejected. A record that cannot be written (manifest gone, opted out, not editable) is not an error: it
    /// is reported in [`WriteOutcome::skipped`]. Never force-pushes.
    pub fn write(&mut self, records: &[SavepointRecord]) -> Result<WriteOutcome, WriteBackError> {
        let records = latest_per_resource(records);
        if !self.config.enabled {
            let skipped = records
                .iter()
                .map(|r| SkippedRecord { resource: r.resource(), reason: SkipReason::Disabled })
                .collect();
            return Ok(WriteOutcome { skipped, ..WriteOutcome::default() });
        }
        if records.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let attempts = self.config.max_push_attempts.max(1);
        let mut last_rejection = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                std::thread::sleep(self.config.retry_backoff.saturating_mul(attempt - 1));
            }
            let head = self.fetch()?;
            let (mut outcome, tree) = self.apply(head, &records)?;
            // Nothing changed: no commit (a write-back branch that does not exist yet is not created empty).
            let Some(tree) = tree else { return Ok(outcome) };
            let commit = self.commit(head, tree, &records, &outcome.written)?;
            match self.push(commit)? {
                None => {
                    outcome.commit = Some(commit.to_string());
                    outcome.attempts = attempt;
                    tracing::info!(
                        branch = %self.branch,
                        commit = %commit,
                        written = outcome.written.len(),
                        skipped = outcome.skipped.len(),
                        "savepoints written back"
                    );
                    return Ok(outcome);
                }
                Some(rejection) => {
                    tracing::info!(branch = %self.branch, attempt, reason = %rejection, "write-back push rejected; retrying on the new head");
                    last_rejection = rejection;
                }
            }
        }
        Err(WriteBackError::PushRejected { branch: self.branch.clone(), attempts, reason: last_rejection })
    }

    fn local_error(&self, error: &git2::Error) -> GitError {
        GitError::Local { path: self.dir.display().to_string(), reason: self.access.redact(error.message()) }
    }

    /// Fetches the write-back branch (and the followed branch when they differ) into `refs/flinkops/writeback/`;
    /// returns the head to commit on (the followed branch's while the write-back branch does not exist yet).
    fn fetch(&self) -> Result<Oid, GitError> {
        let tracking = |branch: &str| format!("refs/flinkops/writeback/{branch}");
        let mut refspecs = vec![format!("+refs/heads/{0}:{1}", self.branch, tracking(&self.branch))];
        if self.followed != self.branch {
            refspecs.push(format!("+refs/heads/{0}:{1}", self.followed, tracking(&self.followed)));
        }
        let mut remote =
            self.repo.remote_anonymous(&self.access.remote.url).map_err(|e| self.access.error("fetch", &e))?;
        let mut options = FetchOptions::new();
        options.remote_callbacks(self.access.callbacks(Arc::clone(&self.cancel)));
        options.download_tags(git2::AutotagOption::None);
        options.prune(FetchPrune::On);
        remote.fetch(&refspecs, Some(&mut options), None).map_err(|e| self.access.error("fetch", &e))?;
        let head = |branch: &str| self.repo.refname_to_id(&tracking(branch)).ok();
        head(&self.branch).or_else(|| head(&self.followed)).ok_or_else(|| GitError::UnknownRevision {
            revision: format!("branch {}", self.branch),
            reason: "the remote has no such branch".into(),
        })
    }

    /// Edits every record's manifest at `head`; returns the outcome so far and the new tree, if any file changed.
    fn apply(&self, head: Oid, records: &[SavepointRecord]) -> Result<(WriteOutcome, Option<Oid>), WriteBackError> {
        let wanted: HashSet<ResourceKey> = records.iter().map(key).collect();
        let locations = locate_in_commit(&self.repo, head, &self.filter, &wanted)?;
        let mut outcome = WriteOutcome::default();
        // Per file: the records to apply, in order.
        let mut by_file: BTreeMap<String, Vec<(&SavepointRecord, usize)>> = BTreeMap::new();
        for record in records {
            let skip = |reason| SkippedRecord { resource: record.resource(), reason };
            match locations.get(&key(record)) {
                None => outcome.skipped.push(skip(SkipReason::NotFound)),
                Some(location) if !write_back_enabled(&location.annotations) => {
                    outcome.skipped.push(skip(SkipReason::OptedOut { file: location.file.clone() }));
                }
                Some(location) => by_file.entry(location.file.clone()).or_default().push((record, location.document)),
            }
        }
        let head_tree = self.repo.find_commit(head).and_then(|c| c.tree()).map_err(|e| self.local_error(&e))?;
        let mut update = TreeUpdateBuilder::new();
        let mut changed_files = 0;
        for (file, entries) in by_file {
            let entry = head_tree.get_path(Path::new(&file)).map_err(|e| self.local_error(&e))?;
            let blob = self.repo.find_blob(entry.id()).map_err(|e| self.local_error(&e))?;
            let Ok(original) = std::str::from_utf8(blob.content()) else {
                for (record, _) in entries {
                    let reason =
                        SkipReason::Edit { file: file.clone(), line: 1, message: "the file is not UTF-8".into() };
                    outcome.skipped.push(SkippedRecord { resource: record.resource(), reason });
                }
                continue;
            };
            let mut text = original.to_owned();
            for (record, document) in entries {
                match set_annotations(&text, document, &record.annotations()) {
                    Ok(edited) if edited == text => outcome.unchanged.push(record.resource()),
                    Ok(edited) => {
                        text = edited;
                        outcome.written.push(record.resource());
                    }
                    Err(error) => {
                        let reason =
                            SkipReason::Edit { file: file.clone(), line: error.line(), message: error.to_string() };
                        tracing::warn!(resource = %record.resource(), %reason, "savepoint not written back");
                        outcome.skipped.push(SkippedRecord { resource: record.resource(), reason });
                    }
                }
            }
            if text != original {
                let id = self.repo.blob(text.as_bytes()).map_err(|e| self.local_error(&e))?;
                let mode = if entry.filemode() == i32::from(git2::FileMode::BlobExecutable) {
                    git2::FileMode::BlobExecutable
                } else {
                    git2::FileMode::Blob
                };
                update.upsert(&file, id, mode);
                changed_files += 1;
            }
        }
        if changed_files == 0 {
            return Ok((outcome, None));
        }
        let tree = update.create_updated(&self.repo, &head_tree).map_err(|e| self.local_error(&e))?;
        Ok((outcome, Some(tree)))
    }

    fn commit(
        &self,
        parent: Oid,
        tree: Oid,
        records: &[SavepointRecord],
        written: &[String],
    ) -> Result<Oid, WriteBackError> {
        let signature = Signature::now(&self.config.author_name, &self.config.author_email)
            .map_err(|e| WriteBackError::Config(format!("author: {}", e.message())))?;
        let written: Vec<&SavepointRecord> = records.iter().filter(|r| written.contains(&r.resource())).collect();
        let message = message(&self.config.message_template, &written);
        let parent = self.repo.find_commit(parent).map_err(|e| self.local_error(&e))?;
        let tree = self.repo.find_tree(tree).map_err(|e| self.local_error(&e))?;
        let id = self
            .repo
            .commit(None, &signature, &signature, &message, &tree, &[&parent])
            .map_err(|e| self.local_error(&e))?;
        Ok(id)
    }

    /// Pushes `commit` to the branch without force. `Ok(None)` when accepted, `Ok(Some(reason))` when rejected
    /// because the branch moved (or the remote refused this update).
    fn push(&self, commit: Oid) -> Result<Option<String>, GitError> {
        let local_ref = format!("refs/flinkops/writeback-out/{}", self.branch);
        self.repo.reference(&local_ref, commit, true, "write-back").map_err(|e| self.local_error(&e))?;
        let mut remote =
            self.repo.remote_anonymous(&self.access.remote.url).map_err(|e| self.access.error("push", &e))?;
        let mut rejection: Option<String> = None;
        let result = {
            let mut callbacks = self.access.callbacks(Arc::clone(&self.cancel));
            callbacks.push_update_reference(|_, status| {
                if let Some(message) = status {
                    rejection = Some(message.to_owned());
                }
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            // No leading `+`: the remote (and libgit2 before it) refuses anything but a fast-forward.
            remote.push(&[format!("{local_ref}:refs/heads/{}", self.branch)], Some(&mut options))
        };
        match result {
            Ok(()) => Ok(rejection.map(|r| self.access.redact(&r))),
            Err(error) if error.code() == ErrorCode::NotFastForward => Ok(Some(self.access.redact(error.message()))),
            Err(error) => Err(self.access.error("push", &error)),
        }
    }
}

fn key(record: &SavepointRecord) -> ResourceKey {
    (record.kind, record.namespace.clone(), record.name.clone())
}

/// One record per resource: the latest by time (the later one in the list on a tie), in first-seen order.
fn latest_per_resource(records: &[SavepointRecord]) -> Vec<SavepointRecord> {
    let mut latest: Vec<SavepointRecord> = Vec::new();
    for record in records {
        match latest.iter_mut().find(|r| key(r) == key(record)) {
            Some(existing) if record.time_ms >= existing.time_ms => *existing = record.clone(),
            Some(_) => {}
            None => latest.push(record.clone()),
        }
    }
    latest
}

/// The commit message: the template with its placeholders filled, then the write-back trailer. Pure.
pub fn message(template: &str, written: &[&SavepointRecord]) -> String {
    let resources = written.iter().map(|r| r.resource()).collect::<Vec<_>>().join(", ");
    let savepoints = written
        .iter()
        .map(|r| format!("- {}: {} ({})", r.resource(), r.location, r.trigger))
        .collect::<Vec<_>>()
        .join("\n");
    let body = template
        .replace("{count}", &written.len().to_string())
        .replace("{resources}", &resources)
        .replace("{savepoints}", &savepoints);
    format!("{}\n\n{}\n", body.trim_end(), super::TRAILER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Kind;

    fn record(name: &str, time_ms: i64) -> SavepointRecord {
        SavepointRecord {
            kind: Kind::FlinkDeployment,
            namespace: "team-a".into(),
            name: name.into(),
            location: format!("s3://sp/{name}-{time_ms}"),
            time_ms,
            trigger: "periodic".into(),
            job_id: None,
        }
    }

    #[test]
    fn message_names_resources_and_savepoints_and_ends_with_the_trailer() {
        let (a, b) = (record("a", 1), record("b", 2));
        let text = message(&WriteBackConfig::default().message_template, &[&a, &b]);
        assert_eq!(
            text,
            "Record 2 savepoint(s): FlinkDeployment team-a/a, FlinkDeployment team-a/b\n\n\
             - FlinkDeployment team-a/a: s3://sp/a-1 (periodic)\n\
             - FlinkDeployment team-a/b: s3://sp/b-2 (periodic)\n\nFlinkops-Write-Back: true\n"
        );
        assert!(super::super::is_write_back_commit(&text));
    }

    #[test]
    fn the_latest_record_of_a_resource_wins() {
        let records = [record("a", 5), record("b", 1), record("a", 3), record("a", 7)];
        let latest = latest_per_resource(&records);
        assert_eq!(latest.iter().map(|r| (r.name.as_str(), r.time_ms)).collect::<Vec<_>>(), [("a", 7), ("b", 1)]);
    }
}
