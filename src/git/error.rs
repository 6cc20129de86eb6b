//! Errors of the Git source, split the way retry policy needs them: bad input or configuration (retrying cannot
//! help) versus transient failures (network, remote down; retry with backoff). Every message is redacted before
//! it is built: no variant carries a credential.

/// What went wrong with a Git operation.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository URL does not parse or uses an unsupported scheme.
    #[error("invalid repository URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// A path glob does not parse.
    #[error("invalid path glob {glob:?}: {reason}")]
    InvalidGlob {
        /// The glob.
        glob: String,
        /// Why.
        reason: String,
    },
    /// Credentials could not be read.
    #[error("cannot read credentials from {origin}: {reason}")]
    Credentials {
        /// File or variable name (never the content).
        origin: String,
        /// Why.
        reason: String,
    },
    /// A branch, tag or commit does not exist.
    #[error("revision {revision} not found: {reason}")]
    UnknownRevision {
        /// The revision as given.
        revision: String,
        /// Why.
        reason: String,
    },
    /// The SSH host key is unknown or does not match the known_hosts file.
    #[error("host key verification failed for {host}: {reason}")]
    HostKey {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The remote could not be reached or refused (network, authentication, server error).
    #[error("{operation} {url} failed: {reason}")]
    Remote {
        /// `fetch`, `ls-remote`.
        operation: &'static str,
        /// The URL, redacted.
        url: String,
        /// libgit2's message, redacted.
        reason: String,
    },
    /// The operation took longer than its bound.
    #[error("{operation} timed out after {seconds} s")]
    Timeout {
        /// What timed out.
        operation: &'static str,
        /// The bound.
        seconds: u64,
    },
    /// The new revision was read but is not acceptable (empty, unreadable tree, refused by the acceptance check).
    #[error("revision {revision} rejected: {reason}")]
    Rejected {
        /// The revision.
        revision: String,
        /// Why.
        reason: String,
    },
    /// The local clone or working copy is unusable.
    #[error("local repository {path}: {reason}")]
    Local {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
}

impl GitError {
    /// Whether retrying later may help (network, remote, timeouts); `false` for configuration and input errors.
    pub fn is_transient(&self) -> bool {
        matches!(self, GitError::Remote { .. } | GitError::Timeout { .. } | GitError::Local { .. })
    }

    /// A stable category for metrics and events.
    pub fn category(&self) -> &'static str {
        match self {
            GitError::InvalidUrl { .. } => "invalid-url",
            GitError::InvalidGlob { .. } => "invalid-glob",
            GitError::Credentials { .. } => "credentials",
            GitError::UnknownRevision { .. } => "unknown-revision",
            GitError::HostKey { .. } => "host-key",
            GitError::Remote { .. } => "remote",
            GitError::Timeout { .. } => "timeout",
            GitError::Rejected { .. } => "rejected",
            GitError::Local { .. } => "local",
        }
    }
}
