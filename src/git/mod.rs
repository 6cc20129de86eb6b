//! Git: following a branch (fetch, poll, file watch, push webhook) and reading trees at a revision.
//!
//! [`tree`] reads files at a revision (what `plan` uses); [`source`] keeps a local mirror of a remote up to date
//! and always serves the last good revision; [`poll`], [`watch`] and [`webhook`] decide *when* it updates. All IO
//! of this crate that touches Git lives here; credentials never leave [`credentials`] unredacted.

pub mod credentials;
pub mod error;
pub mod filter;
pub mod known_hosts;
pub mod poll;
pub mod remote;
pub mod revisions;
pub mod source;
pub mod tree;
pub mod url;
pub mod watch;
pub mod webhook;

pub use credentials::{Credentials, Secret, SecretSource, redact_url};
pub use error::GitError;
pub use filter::PathFilter;
pub use remote::RemoteAccess;
pub use source::{
    GitSource, HostKeyPolicy, Reference, Snapshot, Source, SourceConfig, SourceStatus, SyncOutcome, Worktree,
};
