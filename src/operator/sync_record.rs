//! The sync's record on each resource: the Git revision its applied manifest comes from, kept in two
//! operator-owned annotations. The revision moves only when the manifest's content does, so a commit that leaves a
//! resource's manifest as it was writes nothing to that resource.

use sha2::{Digest, Sha256};

use crate::store::StoredResource;

/// The revision of the Git branch whose manifest this resource's spec, labels and annotations came from.
pub const SYNC_REVISION_ANNOTATION: &str = crate::ownership::SYNC_RECORD_ANNOTATIONS[0];
/// A digest of the applied manifest: how the sync tells an unchanged manifest from a changed one.
pub const SYNC_DIGEST_ANNOTATION: &str = crate::ownership::SYNC_RECORD_ANNOTATIONS[1];

/// `desired` with the sync's record: the digest of its content, and `revision` if that content differs from
/// what `live` was applied from, else `live`'s recorded revision.
pub fn stamp<K: StoredResource>(desired: &K, live: Option<&K>, revision: &str) -> K {
    let mut stamped = desired.clone();
    // A record written into Git by hand is not part of the manifest's content.
    let annotations = stamped.meta_mut().annotations.get_or_insert_with(Default::default);
    annotations.remove(SYNC_REVISION_ANNOTATION);
    annotations.remove(SYNC_DIGEST_ANNOTATION);
    let digest = digest(&stamped);
    let live_annotations = live.and_then(|live| live.meta().annotations.as_ref());
    let unchanged = live_annotations.filter(|live| live.get(SYNC_DIGEST_ANNOTATION) == Some(&digest));
    let revision = unchanged.and_then(|live| live.get(SYNC_REVISION_ANNOTATION)).map_or(revision, String::as_str);
    let annotations = stamped.meta_mut().annotations.get_or_insert_with(Default::default);
    annotations.insert(SYNC_REVISION_ANNOTATION.to_owned(), revision.to_owned());
    annotations.insert(SYNC_DIGEST_ANNOTATION.to_owned(), digest);
    stamped
}

/// The revision `stamp` recorded on `object`, if any.
pub fn synced_revision<K: StoredResource>(object: &K) -> Option<&str> {
    object.meta().annotations.as_ref()?.get(SYNC_REVISION_ANNOTATION).map(String::as_str)
}

/// The first 16 hex digits of the SHA-256 of the manifest's labels, annotations and spec (serde's output is
/// deterministic: struct fields in order, maps sorted).
fn digest<K: StoredResource>(manifest: &K) -> String {
    let meta = manifest.meta();
    let content = serde_json::json!({
        "labels": meta.labels,
        "annotations": meta.annotations,
        "spec": serde_json::to_value(manifest.spec()).unwrap_or_default(),
    });
    let hash = Sha256::digest(content.to_string().as_bytes());
    hex::encode(&hash[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::FlinkDeployment;
    use kube::Resource as _;

    fn deployment(parallelism: i64) -> FlinkDeployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "flink.apache.org/v1beta1",
            "kind": "FlinkDeployment",
            "metadata": {"name": "orders", "namespace": "flink", "annotations": {"team": "payments"}},
            "spec": {"flinkVersion": "v2_0", "job": {"jarURI": "local:///job.jar", "parallelism": parallelism}},
        }))
        .unwrap()
    }

    #[test]
    fn a_new_resource_records_the_revision_it_was_applied_from() {
        let stamped = stamp(&deployment(2), None, "aaa");
        assert_eq!(synced_revision(&stamped), Some("aaa"));
        let annotations = stamped.meta().annotations.as_ref().unwrap();
        assert_eq!(annotations.get("team").map(String::as_str), Some("payments"));
        assert_eq!(annotations.get(SYNC_DIGEST_ANNOTATION).map(String::len), Some(16));
    }

    #[test]
    fn an_unchanged_manifest_keeps_its_revision_so_a_new_commit_writes_nothing() {
        let live = stamp(&deployment(2), None, "aaa");
        let again = stamp(&deployment(2), Some(&live), "bbb");
        assert_eq!(synced_revision(&again), Some("aaa"));
        assert_eq!(again.meta().annotations, live.meta().annotations);
    }

    #[test]
    fn a_changed_spec_or_annotation_moves_the_revision() {
        let live = stamp(&deployment(2), None, "aaa");
        assert_eq!(synced_revision(&stamp(&deployment(3), Some(&live), "bbb")), Some("bbb"));
        let mut annotated = deployment(2);
        annotated.meta_mut().annotations.as_mut().unwrap().insert("flinkops.io/savepoint".into(), "file:///sp".into());
        assert_eq!(synced_revision(&stamp(&annotated, Some(&live), "ccc")), Some("ccc"));
    }

    #[test]
    fn a_record_written_into_git_by_hand_is_not_trusted() {
        let mut forged = deployment(2);
        let annotations = forged.meta_mut().annotations.as_mut().unwrap();
        annotations.insert(SYNC_REVISION_ANNOTATION.into(), "forged".into());
        annotations.insert(SYNC_DIGEST_ANNOTATION.into(), "0000000000000000".into());
        let stamped = stamp(&forged, None, "aaa");
        assert_eq!(synced_revision(&stamped), Some("aaa"));
        assert_eq!(stamped.meta().annotations, stamp(&deployment(2), None, "aaa").meta().annotations);
    }
}
