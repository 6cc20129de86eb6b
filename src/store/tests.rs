//! Unit tests of the store contract on an in-memory [`LocalStore`], one behaviour each. Restarts, corrupt files,
//! concurrency and the model-based property test are in `tests/store_local.rs`.

use super::*;
use crate::crd::{FlinkDeploymentSpec, FlinkDeploymentStatus};

const FINALIZER: &str = "flinkdeployments.flink.apache.org/finalizer";

fn deployment(name: &str, image: &str) -> FlinkDeployment {
    let mut object = FlinkDeployment::new(
        name,
        FlinkDeploymentSpec { image: Some(image.to_owned()), ..FlinkDeploymentSpec::default() },
    );
    object.metadata.namespace = Some("team".to_owned());
    object
}

fn with_status(mut object: FlinkDeployment, error: &str) -> FlinkDeployment {
    object.status = Some(FlinkDeploymentStatus { error: Some(error.to_owned()), ..FlinkDeploymentStatus::default() });
    object
}

fn rv(object: &FlinkDeployment) -> u64 {
    object.metadata.resource_version.as_deref().and_then(|rv| rv.parse().ok()).unwrap_or(0)
}

fn generation(object: &FlinkDeployment) -> i64 {
    object.metadata.generation.unwrap_or(0)
}

#[test]
fn object_refs_print_as_kind_namespace_name() {
    assert_eq!(ObjectRef::new(Kind::FlinkSessionJob, "ns", "job").to_string(), "FlinkSessionJob/ns/job");
    let mut object = deployment("wc", "flink:1.20");
    object.metadata.namespace = None;
    assert_eq!(object.store_ref().to_string(), "FlinkDeployment/default/wc");
}

#[tokio::test]
async fn create_sets_identity_and_generation_one() {
    let store = LocalStore::in_memory();
    let created = store.apply(&with_status(deployment("wc", "flink:1.20"), "ignored"), FIELD_MANAGER).await.unwrap();
    assert_eq!(generation(&created), 1);
    assert!(rv(&created) > 0);
    assert!(created.metadata.uid.as_deref().is_some_and(|uid| uid.len() == 36));
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(created.status, None, "apply never writes status");
    assert_eq!(store.get::<FlinkDeployment>("team", "wc").await.unwrap(), Some(created));
}

#[tokio::test]
async fn generation_increments_only_when_the_spec_changes() {
    let store = LocalStore::in_memory();
    let first = store.apply(&deployment("wc", "flink:1.19"), FIELD_MANAGER).await.unwrap();

    let again = store.apply(&deployment("wc", "flink:1.19"), FIELD_MANAGER).await.unwrap();
    assert_eq!(again, first, "an identical apply is a no-op");

    let mut labelled = deployment("wc", "flink:1.19");
    labelled.metadata.labels = Some([("team".to_owned(), "a".to_owned())].into());
    let labelled = store.apply(&labelled, FIELD_MANAGER).await.unwrap();
    assert_eq!(generation(&labelled), 1, "labels are not spec");
    assert!(rv(&labelled) > rv(&first));

    let upgraded = store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    assert_eq!(generation(&upgraded), 2);
    assert_eq!(upgraded.metadata.labels, None, "labels are written as given");
    assert_eq!(upgraded.metadata.uid, first.metadata.uid);
}

#[tokio::test]
async fn status_writes_keep_the_generation_and_bump_the_resource_version() {
    let store = LocalStore::in_memory();
    let created = store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    let written = store.update_status(&with_status(created.clone(), "boom")).await.unwrap();
    assert_eq!(generation(&written), 1);
    assert!(rv(&written) > rv(&created));
    assert_eq!(written.status.as_ref().and_then(|status| status.error.as_deref()), Some("boom"));

    let reapplied = store.apply(&deployment("wc", "flink:1.21"), FIELD_MANAGER).await.unwrap();
    assert_eq!(reapplied.status, written.status, "apply keeps the status");

    let same = store.update_status(&reapplied).await.unwrap();
    assert_eq!(same, reapplied, "writing the same status is a no-op");
}

#[tokio::test]
async fn a_stale_resource_version_conflicts_and_none_is_unconditional() {
    let store = LocalStore::in_memory();
    let created = store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    store.update_status(&with_status(created.clone(), "first")).await.unwrap();

    let error = store.update_status(&with_status(created.clone(), "second")).await.unwrap_err();
    assert!(error.is_conflict() && error.is_transient(), "{error}");

    let mut blind = with_status(created.clone(), "blind");
    blind.metadata.resource_version = None;
    assert!(store.update_status(&blind).await.is_ok());

    let mut other_uid = with_status(created, "other");
    other_uid.metadata.resource_version = None;
    other_uid.metadata.uid = Some("00000000-0000-4000-8000-000000000000".to_owned());
    assert!(store.update_status(&other_uid).await.unwrap_err().is_conflict());
}

#[tokio::test]
async fn status_of_a_missing_object_is_not_found() {
    let store = LocalStore::in_memory();
    let error = store.update_status(&with_status(deployment("ghost", "x"), "x")).await.unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert!(!error.is_transient());
}

#[tokio::test]
async fn bad_input_is_invalid() {
    let store = LocalStore::in_memory();
    let mut unnamed = deployment("x", "flink:1.20");
    unnamed.metadata.name = None;
    let error = store.apply(&unnamed, FIELD_MANAGER).await.unwrap_err();
    assert!(matches!(&error, StoreError::Invalid { object, .. } if object == "FlinkDeployment/team/<unnamed>"));
    for name in ["../escape", "Upper", ""] {
        let error = store.apply(&deployment(name, "x"), FIELD_MANAGER).await.unwrap_err();
        assert_eq!(error.category(), "Invalid", "{name}: {error}");
    }
    assert_eq!(store.apply(&deployment("ok", "x"), " ").await.unwrap_err().category(), "Invalid");
    assert_eq!(store.get::<FlinkDeployment>("team", "a/b").await.unwrap_err().category(), "Invalid");
}

#[tokio::test]
async fn finalizers_are_idempotent() {
    let store = LocalStore::in_memory();
    store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    let once: FlinkDeployment = store.add_finalizer("team", "wc", FINALIZER).await.unwrap();
    let twice: FlinkDeployment = store.add_finalizer("team", "wc", FINALIZER).await.unwrap();
    assert_eq!(once, twice);
    assert_eq!(once.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
    assert_eq!(generation(&once), 1);

    let removed = store.remove_finalizer::<FlinkDeployment>("team", "wc", FINALIZER).await.unwrap();
    assert_eq!(removed.as_ref().and_then(|object| object.metadata.finalizers.clone()), None);
    let again = store.remove_finalizer::<FlinkDeployment>("team", "wc", FINALIZER).await.unwrap();
    assert_eq!(again, removed);
    assert_eq!(store.remove_finalizer::<FlinkDeployment>("team", "gone", FINALIZER).await.unwrap(), None);
    assert!(store.add_finalizer::<FlinkDeployment>("team", "gone", FINALIZER).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn delete_without_finalizers_removes_at_once() {
    let store = LocalStore::in_memory();
    store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    assert_eq!(store.delete::<FlinkDeployment>("team", "wc").await.unwrap(), None);
    assert_eq!(store.get::<FlinkDeployment>("team", "wc").await.unwrap(), None);
    assert_eq!(store.delete::<FlinkDeployment>("team", "wc").await.unwrap(), None, "deleting a missing object is Ok");
}

#[tokio::test]
async fn delete_with_finalizers_waits_for_the_last_one() {
    let store = LocalStore::in_memory();
    store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    store.add_finalizer::<FlinkDeployment>("team", "wc", FINALIZER).await.unwrap();
    store.add_finalizer::<FlinkDeployment>("team", "wc", "other/finalizer").await.unwrap();

    let deleting = store.delete::<FlinkDeployment>("team", "wc").await.unwrap().unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(generation(&deleting), 2, "setting deletionTimestamp bumps the generation, as Kubernetes does");
    let again = store.delete::<FlinkDeployment>("team", "wc").await.unwrap();
    assert_eq!(again.as_ref(), Some(&deleting), "deleting twice changes nothing");

    let error = store.add_finalizer::<FlinkDeployment>("team", "wc", "late/finalizer").await.unwrap_err();
    assert_eq!(error.category(), "Invalid", "{error}");
    assert!(store.update_status(&with_status(deleting, "stopping")).await.is_ok(), "status is writable while deleting");

    let still = store.remove_finalizer::<FlinkDeployment>("team", "wc", "other/finalizer").await.unwrap();
    assert!(still.is_some());
    assert_eq!(store.remove_finalizer::<FlinkDeployment>("team", "wc", FINALIZER).await.unwrap(), None);
    assert_eq!(store.get::<FlinkDeployment>("team", "wc").await.unwrap(), None);
}

#[tokio::test]
async fn list_is_per_kind_and_ordered() {
    let store = LocalStore::in_memory();
    for name in ["b", "a"] {
        store.apply(&deployment(name, "x"), FIELD_MANAGER).await.unwrap();
    }
    let mut job = FlinkSessionJob::new("a", crate::crd::FlinkSessionJobSpec::default());
    job.metadata.namespace = Some("team".to_owned());
    store.apply(&job, FIELD_MANAGER).await.unwrap();
    let names: Vec<String> =
        store.list::<FlinkDeployment>().await.unwrap().into_iter().filter_map(|object| object.metadata.name).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(store.list::<FlinkSessionJob>().await.unwrap().len(), 1);
    assert!(store.unreadable().await.unwrap().is_empty());
}

#[tokio::test]
async fn watch_says_whether_the_generation_changed() {
    let store = LocalStore::in_memory();
    let mut events = store.watch();
    let created = store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap(); // no-op: no event
    store.update_status(&with_status(created, "x")).await.unwrap();
    store.add_finalizer::<FlinkDeployment>("team", "wc", FINALIZER).await.unwrap();
    store.apply(&deployment("wc", "flink:1.21"), FIELD_MANAGER).await.unwrap();
    store.delete::<FlinkDeployment>("team", "wc").await.unwrap();
    store.remove_finalizer::<FlinkDeployment>("team", "wc", FINALIZER).await.unwrap();

    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        assert_eq!(event.object().to_string(), "FlinkDeployment/team/wc");
        seen.push(event.generation_changed);
    }
    // create, status, finalizer, spec change, deletion started, removed.
    assert_eq!(seen, [true, false, false, true, true, true]);
}

#[tokio::test]
async fn managed_fields_name_the_last_writer_of_each_spec_field() {
    let store = LocalStore::in_memory();
    store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    let mut edited = deployment("wc", "flink:1.20");
    edited.spec.restart_nonce = Some(7);
    let edited = store.apply(&edited, "kubectl-edit").await.unwrap();
    let path = crate::manifests::path::FieldPath::parse;
    assert_eq!(manager_of(&edited.metadata, &path("spec.image")).as_deref(), Some(FIELD_MANAGER));
    assert_eq!(manager_of(&edited.metadata, &path("spec.restartNonce")).as_deref(), Some("kubectl-edit"));
    let entries = edited.metadata.managed_fields.unwrap_or_default();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|entry| entry.operation.as_deref() == Some("Apply") && entry.time.is_some()));
}
