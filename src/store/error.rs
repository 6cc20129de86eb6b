//! `StoreError`: every way a [`Store`](super::Store) call can fail, with the retry policy (`is_transient`) and a
//! stable `category` for events and metric labels. The backends map their own failures onto it.

use std::path::PathBuf;

use super::ObjectRef;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist (or no longer exists).
    #[error("{object} not found")]
    NotFound {
        /// The object asked for.
        object: ObjectRef,
    },
    /// Someone else wrote the object since the caller read it (stale `resourceVersion` or `uid`). Re-read and retry.
    #[error("conflict writing {object}: {reason}")]
    Conflict {
        /// The object written.
        object: ObjectRef,
        /// What did not match.
        reason: String,
    },
    /// The request itself is wrong (missing or malformed name, a finalizer added to an object being deleted). Retrying
    /// the same request fails again.
    #[error("invalid request for {object}: {reason}")]
    Invalid {
        /// The object as far as it could be named (`Kind/namespace/<unnamed>` when the name is missing).
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing the backing storage failed (disk full, permissions).
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A stored object cannot be decoded. It is reported on its own and never hides the others; calls on it fail with
    /// this error until it is repaired (the store never overwrites what it cannot read).
    #[error("corrupt resource at {location}: {reason}")]
    Corrupt {
        /// The object, when its location names it.
        object: Option<ObjectRef>,
        /// Where it is stored: the file path for the local store, `Kind/namespace/name` for the Kubernetes API.
        location: String,
        /// Why it does not decode (with the JSON path of the offending field when known).
        reason: String,
    },
    /// An object could not be encoded as JSON (a bug in a type, not in the data).
    #[error("cannot encode {object}: {source}")]
    Encode {
        /// The object being written.
        object: ObjectRef,
        /// The serializer's error.
        source: serde_json::Error,
    },
    /// The backend cannot be reached right now (API server down, request timed out).
    #[error("store unavailable: {reason}")]
    Unavailable {
        /// What failed.
        reason: String,
    },
}

impl StoreError {
    /// Whether retrying later (after re-reading, for [`StoreError::Conflict`]) can succeed. Non-transient errors need
    /// a change of input or a human: report them as `Stalled`.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Conflict { .. } | StoreError::Io { .. } | StoreError::Unavailable { .. } => true,
            StoreError::NotFound { .. }
            | StoreError::Invalid { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Encode { .. } => false,
        }
    }

    /// A stable, low-cardinality name for the error's kind: the Kubernetes event reason and the metric label.
    pub fn category(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "NotFound",
            StoreError::Conflict { .. } => "Conflict",
            StoreError::Invalid { .. } => "Invalid",
            StoreError::Io { .. } => "StorageIo",
            StoreError::Corrupt { .. } => "CorruptResource",
            StoreError::Encode { .. } => "EncodeFailed",
            StoreError::Unavailable { .. } => "StoreUnavailable",
        }
    }

    /// Whether this is [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// Whether this is [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Kind;

    fn object() -> ObjectRef {
        ObjectRef::new(Kind::FlinkDeployment, "ns", "job")
    }

    #[test]
    fn conflict_and_io_are_transient_bad_input_is_not() {
        let cases = [
            (StoreError::Conflict { object: object(), reason: "stale".into() }, true),
            (StoreError::Io { path: "/x".into(), source: std::io::Error::other("disk full") }, true),
            (StoreError::Unavailable { reason: "down".into() }, true),
            (StoreError::NotFound { object: object() }, false),
            (StoreError::Invalid { object: "FlinkDeployment/ns/<unnamed>".into(), reason: "no name".into() }, false),
            (StoreError::Corrupt { object: None, location: "/x.json".into(), reason: "eof".into() }, false),
        ];
        for (error, transient) in cases {
            assert_eq!(error.is_transient(), transient, "{error}");
        }
    }

    #[test]
    fn messages_name_the_object_and_the_path() {
        let error = StoreError::Corrupt {
            object: Some(object()),
            location: "/state/resources/flinkdeployments/ns/job.json".into(),
            reason: "expected value at line 1 column 1".into(),
        };
        assert_eq!(
            error.to_string(),
            "corrupt resource at /state/resources/flinkdeployments/ns/job.json: expected value at line 1 column 1"
        );
        assert_eq!(StoreError::NotFound { object: object() }.to_string(), "FlinkDeployment/ns/job not found");
    }
}
