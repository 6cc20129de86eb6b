//! The local store on disk: restarts keep everything, a corrupt file fails only itself, concurrent writers lose no
//! update, events follow durable writes, and a property test runs random operation sequences against a model.

use std::collections::BTreeMap;
use std::path::Path;

use flinkops::crd::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkDeploymentStatus, FlinkSessionJob, FlinkSessionJobSpec,
};
use flinkops::store::{FIELD_MANAGER, LocalStore, Store, StoreError};
use proptest::prelude::*;

const FINALIZER: &str = "flinkdeployments.flink.apache.org/finalizer";
const NS: &str = "team";

fn deployment(name: &str, image: &str) -> FlinkDeployment {
    let spec = FlinkDeploymentSpec { image: Some(image.to_owned()), ..FlinkDeploymentSpec::default() };
    let mut object = FlinkDeployment::new(name, spec);
    object.metadata.namespace = Some(NS.to_owned());
    object
}

fn session_job(name: &str) -> FlinkSessionJob {
    let spec = FlinkSessionJobSpec { deployment_name: Some("session".to_owned()), ..FlinkSessionJobSpec::default() };
    let mut object = FlinkSessionJob::new(name, spec);
    object.metadata.namespace = Some(NS.to_owned());
    object
}

fn status_error(object: &FlinkDeployment) -> Option<&str> {
    object.status.as_ref().and_then(|status| status.error.as_deref())
}

fn set_error(object: &mut FlinkDeployment, error: &str) {
    object.status.get_or_insert_with(FlinkDeploymentStatus::default).error = Some(error.to_owned());
}

fn rv(object: &FlinkDeployment) -> u64 {
    object.metadata.resource_version.as_deref().and_then(|rv| rv.parse().ok()).unwrap_or(0)
}

fn file(dir: &Path, plural: &str, name: &str) -> std::path::PathBuf {
    dir.join("resources").join(plural).join(NS).join(format!("{name}.json"))
}

async fn everything(store: &LocalStore) -> (Vec<FlinkDeployment>, Vec<FlinkSessionJob>) {
    (store.list().await.unwrap(), store.list().await.unwrap())
}

#[tokio::test]
async fn a_restart_keeps_generation_resource_version_status_and_finalizers() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    store.apply(&deployment("wc", "flink:1.19"), FIELD_MANAGER).await.unwrap();
    let mut upgraded = store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    set_error(&mut upgraded, "savepoint pending");
    store.update_status(&upgraded).await.unwrap();
    store.add_finalizer::<FlinkDeployment>(NS, "wc", FINALIZER).await.unwrap();
    store.apply(&deployment("doomed", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    store.add_finalizer::<FlinkDeployment>(NS, "doomed", FINALIZER).await.unwrap();
    store.delete::<FlinkDeployment>(NS, "doomed").await.unwrap();
    store.apply(&session_job("sj"), FIELD_MANAGER).await.unwrap();
    let before = everything(&store).await;
    drop(store);

    let reopened = LocalStore::open(dir.path()).unwrap();
    let after = everything(&reopened).await;
    assert_eq!(after, before);
    let wc = reopened.get::<FlinkDeployment>(NS, "wc").await.unwrap().unwrap();
    assert_eq!(wc.metadata.generation, Some(2));
    assert_eq!(status_error(&wc), Some("savepoint pending"));
    assert_eq!(wc.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
    let doomed = reopened.get::<FlinkDeployment>(NS, "doomed").await.unwrap().unwrap();
    assert!(doomed.metadata.deletion_timestamp.is_some());

    // Resource versions keep growing after the restart, and the stale copy from before still conflicts.
    let max_before = before.0.iter().map(rv).max().unwrap_or(0);
    let next = reopened.apply(&deployment("wc", "flink:1.21"), FIELD_MANAGER).await.unwrap();
    assert!(rv(&next) > max_before);
    assert!(reopened.update_status(&wc).await.unwrap_err().is_conflict());

    // Finishing the deletion removes the file.
    assert_eq!(reopened.remove_finalizer::<FlinkDeployment>(NS, "doomed", FINALIZER).await.unwrap(), None);
    assert!(!file(dir.path(), "flinkdeployments", "doomed").exists());
    let third = LocalStore::open(dir.path()).unwrap();
    assert_eq!(third.get::<FlinkDeployment>(NS, "doomed").await.unwrap(), None);
}

#[tokio::test]
async fn files_are_plain_kubernetes_json_at_the_documented_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    store.apply(&session_job("sj"), FIELD_MANAGER).await.unwrap();
    let text = std::fs::read_to_string(file(dir.path(), "flinkdeployments", "wc")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["apiVersion"], "flink.apache.org/v1beta1");
    assert_eq!(value["kind"], "FlinkDeployment");
    assert_eq!(value["metadata"]["generation"], 1);
    assert_eq!(value["spec"]["image"], "flink:1.20");
    assert!(file(dir.path(), "flinksessionjobs", "sj").is_file());
}

#[tokio::test]
async fn a_corrupt_file_is_reported_with_its_path_and_the_others_still_load() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LocalStore::open(dir.path()).unwrap();
        for name in ["a", "b", "c", "d"] {
            store.apply(&deployment(name, "flink:1.20"), FIELD_MANAGER).await.unwrap();
        }
    }
    let truncated = file(dir.path(), "flinkdeployments", "b");
    std::fs::write(&truncated, b"{\"apiVersion\": \"flink.apache.org/v1beta1\", \"kind\": \"FlinkDe").unwrap();
    let mistyped = file(dir.path(), "flinkdeployments", "c");
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&mistyped).unwrap()).unwrap();
    value["spec"]["image"] = serde_json::json!(5);
    std::fs::write(&mistyped, serde_json::to_vec(&value).unwrap()).unwrap();
    let renamed = file(dir.path(), "flinkdeployments", "d");
    std::fs::rename(&renamed, file(dir.path(), "flinkdeployments", "e")).unwrap();

    let store = LocalStore::open(dir.path()).unwrap();
    let names: Vec<String> =
        store.list::<FlinkDeployment>().await.unwrap().into_iter().filter_map(|object| object.metadata.name).collect();
    assert_eq!(names, ["a"]);

    let problems = store.unreadable().await.unwrap();
    let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 3, "{messages:#?}");
    assert!(messages[0].contains(&truncated.display().to_string()), "{}", messages[0]);
    assert!(messages[1].contains("spec.image"), "{}", messages[1]);
    assert!(messages[2].contains("holds FlinkDeployment/team/d"), "{}", messages[2]);
    assert!(problems.iter().all(|problem| !problem.is_transient() && problem.category() == "CorruptResource"));

    // Nothing overwrites or removes what could not be read.
    let bytes = std::fs::read(&truncated).unwrap();
    let error = store.get::<FlinkDeployment>(NS, "b").await.unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { object: Some(ref object), .. } if object.name == "b"));
    assert_eq!(
        store.apply(&deployment("b", "flink:1.21"), FIELD_MANAGER).await.unwrap_err().category(),
        "CorruptResource"
    );
    assert_eq!(store.delete::<FlinkDeployment>(NS, "b").await.unwrap_err().category(), "CorruptResource");
    assert_eq!(std::fs::read(&truncated).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_retrying_on_conflict_lose_no_update() {
    const WRITERS: usize = 6;
    const INCREMENTS: usize = 15;
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    store.apply(&deployment("counter", "flink:1.20"), FIELD_MANAGER).await.unwrap();

    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..INCREMENTS {
                loop {
                    let mut object = store.get::<FlinkDeployment>(NS, "counter").await.unwrap().unwrap();
                    let count: usize = status_error(&object).and_then(|count| count.parse().ok()).unwrap_or(0);
                    set_error(&mut object, &(count + 1).to_string());
                    match store.update_status(&object).await {
                        Ok(_) => break,
                        Err(error) if error.is_conflict() => conflicts += 1,
                        Err(error) => panic!("writer {writer}: {error}"),
                    }
                    tokio::task::yield_now().await;
                }
            }
            conflicts
        }));
    }
    // Meanwhile Git keeps applying the spec; it never touches the status.
    for image in ["flink:1.21", "flink:1.22"] {
        store.apply(&deployment("counter", image), FIELD_MANAGER).await.unwrap();
    }
    for task in tasks {
        task.await.unwrap();
    }

    let total = (WRITERS * INCREMENTS).to_string();
    let object = store.get::<FlinkDeployment>(NS, "counter").await.unwrap().unwrap();
    assert_eq!(status_error(&object), Some(total.as_str()));
    assert_eq!(object.spec.image.as_deref(), Some("flink:1.22"));
    let reopened = LocalStore::open(dir.path()).unwrap();
    assert_eq!(reopened.get::<FlinkDeployment>(NS, "counter").await.unwrap(), Some(object));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_arrives_after_the_write_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let mut events = store.watch();
    let created = store.apply(&deployment("wc", "flink:1.20"), FIELD_MANAGER).await.unwrap();
    let mut written = created.clone();
    set_error(&mut written, "observed");
    store.update_status(&written).await.unwrap();

    let first = events.recv().await.unwrap();
    assert!(first.generation_changed);
    let second = events.recv().await.unwrap();
    assert!(!second.generation_changed, "a status write is not a generation change");
    let on_disk = LocalStore::open(dir.path()).unwrap();
    let seen = on_disk.get::<FlinkDeployment>(&second.namespace, &second.name).await.unwrap().unwrap();
    assert_eq!(status_error(&seen), Some("observed"));
}

// ---- model-based property test ----

#[derive(Debug, Clone)]
enum Op {
    Apply { name: usize, image: usize, labelled: bool },
    Status { name: usize, value: u8, stale: bool },
    AddFinalizer { name: usize },
    RemoveFinalizer { name: usize },
    Delete { name: usize },
    Restart,
}

const NAMES: [&str; 3] = ["a", "b", "c"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..3usize, any::<bool>()).prop_map(|(name, image, labelled)| Op::Apply { name, image, labelled }),
        3 => (0..3usize, 0..3u8, any::<bool>()).prop_map(|(name, value, stale)| Op::Status { name, value, stale }),
        2 => (0..3usize).prop_map(|name| Op::AddFinalizer { name }),
        2 => (0..3usize).prop_map(|name| Op::RemoveFinalizer { name }),
        2 => (0..3usize).prop_map(|name| Op::Delete { name }),
        1 => Just(Op::Restart),
    ]
}

/// What the store should hold for one name.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    image: usize,
    labelled: bool,
    status: Option<u8>,
    finalizer: bool,
    deleting: bool,
    generation: i64,
}

fn model_object(name: &str, image: usize, labelled: bool) -> FlinkDeployment {
    let mut object = deployment(name, &format!("flink:1.{image}"));
    if labelled {
        object.metadata.labels = Some([("app".to_owned(), name.to_owned())].into());
    }
    object
}

/// Applies `op` to the model; returns whether the store must write (new resourceVersion) and the expected error
/// category, if any.
fn step(models: &mut BTreeMap<usize, Model>, op: &Op) -> (bool, Option<&'static str>) {
    match *op {
        Op::Apply { name, image, labelled } => match models.get_mut(&name) {
            None => {
                let model = Model { image, labelled, status: None, finalizer: false, deleting: false, generation: 1 };
                models.insert(name, model);
                (true, None)
            }
            Some(model) => {
                let changed = model.image != image || model.labelled != labelled;
                if model.image != image {
                    model.generation += 1;
                }
                model.image = image;
                model.labelled = labelled;
                (changed, None)
            }
        },
        Op::Status { name, value, stale } => match models.get_mut(&name) {
            None => (false, Some("NotFound")),
            Some(_) if stale => (false, Some("Conflict")),
            Some(model) => {
                let changed = model.status != Some(value);
                model.status = Some(value);
                (changed, None)
            }
        },
        Op::AddFinalizer { name } => match models.get_mut(&name) {
            None => (false, Some("NotFound")),
            Some(model) if model.finalizer => (false, None),
            Some(model) if model.deleting => (false, Some("Invalid")),
            Some(model) => {
                model.finalizer = true;
                (true, None)
            }
        },
        Op::RemoveFinalizer { name } => match models.get(&name) {
            Some(model) if model.finalizer && model.deleting => {
                models.remove(&name);
                (true, None)
            }
            Some(_) => {
                let changed = models.get(&name).is_some_and(|model| model.finalizer);
                if let Some(model) = models.get_mut(&name) {
                    model.finalizer = false;
                }
                (changed, None)
            }
            None => (false, None),
        },
        Op::Delete { name } => match models.get_mut(&name) {
            None => (false, None),
            Some(model) if model.deleting => (false, None),
            Some(model) if model.finalizer => {
                model.deleting = true;
                model.generation += 1;
                (true, None)
            }
            Some(_) => {
                models.remove(&name);
                (true, None)
            }
        },
        Op::Restart => (false, None),
    }
}

async fn run(store: &LocalStore, op: &Op) -> Result<(), StoreError> {
    match *op {
        Op::Apply { name, image, labelled } => {
            store.apply(&model_object(NAMES[name], image, labelled), FIELD_MANAGER).await.map(drop)
        }
        Op::Status { name, value, stale } => {
            let Some(mut object) = store.get::<FlinkDeployment>(NS, NAMES[name]).await? else {
                let mut ghost = deployment(NAMES[name], "x");
                set_error(&mut ghost, &value.to_string());
                return store.update_status(&ghost).await.map(drop);
            };
            if stale {
                object.metadata.resource_version = Some("0".to_owned());
            }
            set_error(&mut object, &value.to_string());
            store.update_status(&object).await.map(drop)
        }
        Op::AddFinalizer { name } => store.add_finalizer::<FlinkDeployment>(NS, NAMES[name], FINALIZER).await.map(drop),
        Op::RemoveFinalizer { name } => {
            store.remove_finalizer::<FlinkDeployment>(NS, NAMES[name], FINALIZER).await.map(drop)
        }
        Op::Delete { name } => store.delete::<FlinkDeployment>(NS, NAMES[name]).await.map(drop),
        Op::Restart => Ok(()),
    }
}

fn check(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LocalStore::open(dir.path()).unwrap();
        let mut models = BTreeMap::new();
        let mut versions: BTreeMap<usize, (u64, i64)> = BTreeMap::new();
        for op in &ops {
            if let Op::Restart = op {
                let before = everything(&store).await;
                store = LocalStore::open(dir.path()).unwrap();
                prop_assert_eq!(everything(&store).await, before, "a restart lost something");
                continue;
            }
            let (writes, expected_error) = step(&mut models, op);
            let outcome = run(&store, op).await;
            prop_assert_eq!(outcome.as_ref().err().map(StoreError::category), expected_error, "{:?}", op);
            for (index, name) in NAMES.iter().enumerate() {
                let stored = store.get::<FlinkDeployment>(NS, name).await.unwrap();
                let Some(model) = models.get(&index) else {
                    prop_assert!(stored.is_none(), "{} should be gone after {:?}", name, op);
                    versions.remove(&index);
                    continue;
                };
                let Some(stored) = stored else { return Err(TestCaseError::fail(format!("{name} lost after {op:?}"))) };
                prop_assert_eq!(stored.spec.image.clone(), Some(format!("flink:1.{}", model.image)));
                prop_assert_eq!(stored.metadata.labels.is_some(), model.labelled);
                prop_assert_eq!(status_error(&stored).map(str::to_owned), model.status.map(|value| value.to_string()));
                prop_assert_eq!(stored.metadata.finalizers.is_some(), model.finalizer);
                prop_assert_eq!(stored.metadata.deletion_timestamp.is_some(), model.deleting);
                prop_assert_eq!(stored.metadata.generation, Some(model.generation));
                let now = (rv(&stored), model.generation);
                if let Some(&(last_rv, last_generation)) = versions.get(&index) {
                    prop_assert!(now.1 >= last_generation, "generation went back");
                    let touched = matches!(op, Op::Apply { name, .. } | Op::Status { name, .. } | Op::AddFinalizer { name }
                        | Op::RemoveFinalizer { name } | Op::Delete { name } if *name == index);
                    if touched && writes {
                        prop_assert!(now.0 > last_rv, "resourceVersion did not grow on a write: {:?}", op);
                    } else {
                        prop_assert_eq!(now.0, last_rv, "resourceVersion changed without a write: {:?}", op);
                    }
                }
                versions.insert(index, now);
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_match_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        check(ops)?;
    }
}
