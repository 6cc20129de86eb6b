//! Savepoint write-back: each completed savepoint is recorded as annotations on the manifest that defines its
//! resource, as a minimal text edit, committed in one batch per cycle and pushed without ever forcing.
//!
//! [`annotations`] names the annotations and the recovery rule, [`edit`] edits YAML text (pure), [`locate`]
//! finds the file and document of a resource, and [`commit`] owns the clone, the commit and the push with retry.
//! Wiring it into the operator loop is the caller's job: hand [`WriteBack::write`] the records of a cycle.

pub mod annotations;
pub mod commit;
pub mod edit;
pub mod locate;

pub use annotations::{SavepointRecord, restore_from_annotations};
pub use commit::{SkipReason, SkippedRecord, WriteBack, WriteBackConfig, WriteBackError, WriteOutcome};
pub use edit::{EditError, set_annotations};
pub use locate::{Location, ResourceKey};

/// The trailer every write-back commit message ends with, so the sync recognises its own commits.
pub const TRAILER: &str = "Flinkops-Write-Back: true";

/// Whether a commit message is a write-back commit's (it carries the [`TRAILER`] line). Pure.
pub fn is_write_back_commit(message: &str) -> bool {
    let (key, value) = TRAILER.split_once(':').unwrap_or((TRAILER, ""));
    message.lines().any(|line| {
        line.split_once(':').is_some_and(|(k, v)| k.trim().eq_ignore_ascii_case(key) && v.trim() == value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_back_commits_are_recognised_by_their_trailer() {
        assert!(is_write_back_commit("Record 1 savepoint\n\nFlinkops-Write-Back: true\n"));
        assert!(is_write_back_commit("x\r\n\r\nflinkops-write-back: true\r\n"));
        assert!(!is_write_back_commit("Bump image\n\nFlinkops-Write-Back: false"));
        assert!(!is_write_back_commit("mention Flinkops-Write-Back in prose"));
    }
}
