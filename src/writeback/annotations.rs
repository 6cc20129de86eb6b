//! The savepoint annotations write-back puts on a manifest, the per-resource opt-outs, and the pure rule that
//! picks the savepoint a resource without live state restores from.

use std::collections::BTreeMap;

pub use crate::units::rfc3339_millis;

use crate::crd::Kind;

/// Prefix of every annotation flinkops writes (operator-owned in [`crate::ownership::TABLE`]).
pub const PREFIX: &str = "flinkops.io/";
/// Where the last completed savepoint is (its full URI).
pub const SAVEPOINT_PATH: &str = "flinkops.io/savepoint-path";
/// When it completed, RFC 3339 in UTC with milliseconds.
pub const SAVEPOINT_TIME: &str = "flinkops.io/savepoint-time";
/// What triggered it: `upgrade`, `suspend`, `manual`, `periodic` or `deletion`.
pub const SAVEPOINT_TRIGGER: &str = "flinkops.io/savepoint-trigger";
/// The Flink job id the savepoint was taken from.
pub const SAVEPOINT_JOB_ID: &str = "flinkops.io/savepoint-job-id";
/// Opt-out: `"false"` on a manifest means write-back never edits it.
pub const WRITE_BACK: &str = "flinkops.io/write-back";
/// Opt-out: `"false"` on a manifest means a resource without live state never restores from the annotations.
pub const RESTORE_FROM_GIT: &str = "flinkops.io/restore-from-git";

/// One completed savepoint to record on the manifest that defines its resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavepointRecord {
    /// Kind of the resource.
    pub kind: Kind,
    /// Namespace (`default` when the manifest sets none, as the loader defaults it).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The savepoint's location (URI).
    pub location: String,
    /// Completion time, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// What triggered it: `upgrade`, `suspend`, `manual`, `periodic` or `deletion`.
    pub trigger: String,
    /// The job the savepoint was taken from, when known.
    pub job_id: Option<String>,
}

impl SavepointRecord {
    /// `Kind namespace/name`, as messages and reports name the resource.
    pub fn resource(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    /// The annotations this record sets, in a fixed order. Without a job id, `savepoint-job-id` is left out (an
    /// older value then stays; write-back never deletes annotations).
    pub fn annotations(&self) -> Vec<(String, String)> {
        let mut annotations = vec![
            (SAVEPOINT_PATH.to_owned(), self.location.clone()),
            (SAVEPOINT_TIME.to_owned(), rfc3339_millis(self.time_ms)),
            (SAVEPOINT_TRIGGER.to_owned(), self.trigger.clone()),
        ];
        if let Some(job_id) = &self.job_id {
            annotations.push((SAVEPOINT_JOB_ID.to_owned(), job_id.clone()));
        }
        annotations
    }
}

/// Whether a manifest's annotations allow write-back (no `flinkops.io/write-back: "false"`).
pub fn write_back_enabled(annotations: &BTreeMap<String, String>) -> bool {
    !is_false(annotations.get(WRITE_BACK))
}

/// The savepoint a resource restores from when it has no live state: the recorded `savepoint-path`, unless the
/// manifest sets `initialSavepointPath` (the manifest's explicit choice wins), opts out with
/// `flinkops.io/restore-from-git: "false"`, or carries no record.
pub fn restore_from_annotations(
    annotations: &BTreeMap<String, String>,
    initial_savepoint_path: Option<&str>,
) -> Option<String> {
    if initial_savepoint_path.is_some_and(|p| !p.trim().is_empty()) || is_false(annotations.get(RESTORE_FROM_GIT)) {
        return None;
    }
    annotations.get(SAVEPOINT_PATH).map(|p| p.trim()).filter(|p| !p.is_empty()).map(str::to_owned)
}

/// The string annotations of a manifest value (`metadata.annotations`; non-string values are left out).
pub fn annotations_of(manifest: &serde_json::Value) -> BTreeMap<String, String> {
    manifest
        .pointer("/metadata/annotations")
        .and_then(serde_json::Value::as_object)
        .map(|map| map.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

fn is_false(value: Option<&String>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("false"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn record_becomes_annotations() {
        let record = SavepointRecord {
            kind: Kind::FlinkDeployment,
            namespace: "team-a".into(),
            name: "orders".into(),
            location: "s3://sp/savepoint-1".into(),
            time_ms: 1_795_000_000_123,
            trigger: "upgrade".into(),
            job_id: Some("a1b2".into()),
        };
        assert_eq!(
            record.annotations(),
            [
                (SAVEPOINT_PATH.to_owned(), "s3://sp/savepoint-1".to_owned()),
                (SAVEPOINT_TIME.to_owned(), "2026-11-18T11:06:40.123Z".to_owned()),
                (SAVEPOINT_TRIGGER.to_owned(), "upgrade".to_owned()),
                (SAVEPOINT_JOB_ID.to_owned(), "a1b2".to_owned()),
            ]
        );
        assert_eq!(record.resource(), "FlinkDeployment team-a/orders");
        assert_eq!(SavepointRecord { job_id: None, ..record }.annotations().len(), 3);
    }

    #[test]
    fn restore_rules() {
        let recorded = map(&[(SAVEPOINT_PATH, "s3://sp/1")]);
        assert_eq!(restore_from_annotations(&recorded, None).as_deref(), Some("s3://sp/1"));
        assert_eq!(restore_from_annotations(&recorded, Some("s3://sp/explicit")), None, "the manifest wins");
        assert_eq!(restore_from_annotations(&recorded, Some("")).as_deref(), Some("s3://sp/1"), "empty is unset");
        let opted_out = map(&[(SAVEPOINT_PATH, "s3://sp/1"), (RESTORE_FROM_GIT, "False")]);
        assert_eq!(restore_from_annotations(&opted_out, None), None);
        assert_eq!(restore_from_annotations(&map(&[]), None), None);
        assert_eq!(restore_from_annotations(&map(&[(SAVEPOINT_PATH, " ")]), None), None);
    }

    #[test]
    fn write_back_opt_out() {
        assert!(write_back_enabled(&map(&[])));
        assert!(write_back_enabled(&map(&[(WRITE_BACK, "true")])));
        assert!(!write_back_enabled(&map(&[(WRITE_BACK, "false")])));
        let manifest = serde_json::json!({"metadata": {"annotations": {"a": "b", "n": 1}}});
        assert_eq!(annotations_of(&manifest), map(&[("a", "b")]));
    }
}
