//! Request-level tests of [`KubernetesStore`] against a scripted fake API server (kube-rs' tower-test mock-service
//! pattern): each test answers the requests the store must send, asserts their method, path, query, content type
//! and body, and runs under a timeout, so a missing request fails as loudly as a wrong one. In memory only.

use std::future::Future;
use std::time::Duration;

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use super::*;
use crate::store::FIELD_MANAGER;

#[path = "../../../tests/common/fake_api.rs"]
mod fake_api;

use fake_api::{Seen, read, response, status};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

const PATH: &str = "/apis/flink.apache.org/v1beta1/namespaces/flink/flinkdeployments";
const FINALIZER: &str = "flinkdeployments.flink.apache.org/finalizer";

/// A store on a fake API server, watching namespace `flink`.
fn store() -> (KubernetesStore, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let store = KubernetesStore::new(Client::new(service, "default"), WatchNamespaces::Only(vec!["flink".into()]));
    (store, handle)
}

/// Answers the next request with `code` and `body`, returning what was asked.
async fn answer(api: &mut Handle, code: u16, body: Value) -> Seen {
    let (request, send) = api.next_request().await.expect("the store sent no further request");
    let seen = read(request).await;
    send.send_response(response(code, &body));
    seen
}

async fn bounded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), future).await.expect("scenario timed out")
}

/// A live `FlinkDeployment` as the API server returns it.
fn live(name: &str, meta: Value) -> Value {
    let mut metadata = json!({"name": name, "namespace": "flink", "uid": "u-1", "resourceVersion": "10",
        "generation": 1});
    if let (Some(metadata), Value::Object(extra)) = (metadata.as_object_mut(), meta) {
        metadata.extend(extra);
    }
    json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment", "metadata": metadata,
        "spec": {"image": "flink:2.0", "taskManager": {"replicas": 2}, "job": {"jarURI": "local:///job.jar"}},
        "status": {"error": "previous"}
    })
}

/// Git's version of `wordcount`.
fn desired() -> FlinkDeployment {
    serde_json::from_value(json!({
        "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
        "metadata": {"name": "wordcount", "namespace": "flink", "labels": {"team": "data"}},
        "spec": {"image": "flink:2.1", "taskManager": {"replicas": 4}, "job": {"jarURI": "local:///job.jar"}},
        "status": {"error": "never applied"}
    }))
    .expect("a valid FlinkDeployment")
}

#[test]
fn watch_namespaces_parse_the_helm_value() {
    assert_eq!(WatchNamespaces::parse(""), WatchNamespaces::All);
    assert_eq!(WatchNamespaces::parse(" , "), WatchNamespaces::All);
    assert_eq!(WatchNamespaces::parse("b, a,b"), WatchNamespaces::Only(vec!["a".into(), "b".into()]));
}

#[tokio::test]
async fn apply_of_a_new_object_is_a_non_forced_server_side_apply_of_git_owned_fields() {
    let (store, mut api) = store();
    let created = live("wordcount", json!({"labels": {"team": "data"}}));
    let desired = desired();
    let (applied, (get, patch)) = bounded(async {
        tokio::join!(store.apply_reporting(&desired, FIELD_MANAGER), async {
            let get = answer(&mut api, 404, status(404, "NotFound")).await;
            (get, answer(&mut api, 201, created).await)
        })
    })
    .await;
    let applied = applied.expect("applied");
    assert_eq!((get.method.as_str(), get.path), ("GET", format!("{PATH}/wordcount")));
    assert_eq!((patch.method.as_str(), patch.path), ("PATCH", format!("{PATH}/wordcount")));
    assert!(patch.query.contains("fieldManager=flinkops"), "{}", patch.query);
    assert!(!patch.query.contains("force"), "never forced: {}", patch.query);
    assert_eq!(patch.content_type, "application/apply-patch+yaml");
    assert_eq!(
        patch.body,
        json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
            "metadata": {"name": "wordcount", "namespace": "flink", "labels": {"team": "data"}},
            "spec": {"image": "flink:2.1", "taskManager": {"replicas": 4}, "job": {"jarURI": "local:///job.jar"}}
        }),
        "only Git's fields: no status, no server metadata"
    );
    assert_eq!(applied.stripped, []);
    assert_eq!(applied.object.metadata.uid.as_deref(), Some("u-1"));
}

#[tokio::test]
async fn apply_over_fields_kubectl_edit_and_an_hpa_own_strips_and_reports_them() {
    let (store, mut api) = store();
    let managed = json!({"managedFields": [
        {"manager": "flinkops", "operation": "Apply", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:job": {"f:jarURI": {}}}}},
        {"manager": "kubectl-edit", "operation": "Update", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:image": {}}}},
        {"manager": "keda-hpa", "operation": "Update", "subresource": "scale", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:taskManager": {"f:replicas": {}}}}}
    ]});
    let current = live("wordcount", managed);
    let desired = desired();
    let (applied, patch) = bounded(async {
        tokio::join!(store.apply_reporting(&desired, FIELD_MANAGER), async {
            answer(&mut api, 200, current.clone()).await;
            answer(&mut api, 200, current.clone()).await
        })
    })
    .await;
    let applied = applied.expect("applied");
    assert_eq!(
        patch.body["spec"],
        json!({"job": {"jarURI": "local:///job.jar"}}),
        "the image (kubectl-edit's) and the replicas (the HPA's) are left out"
    );
    let report: Vec<(String, Vec<String>)> =
        applied.stripped.iter().map(|field| (field.path.to_string(), field.managers.clone())).collect();
    assert_eq!(
        report,
        [
            ("spec.image".to_owned(), vec!["kubectl-edit".to_owned()]),
            ("spec.taskManager.replicas".to_owned(), vec!["keda-hpa".to_owned()]),
        ]
    );
}

#[tokio::test]
async fn apply_with_a_stale_resource_version_conflicts_without_writing() {
    let (store, mut api) = store();
    let mut stale = desired();
    stale.metadata.resource_version = Some("9".to_owned());
    let (result, _) = bounded(async {
        tokio::join!(store.apply(&stale, FIELD_MANAGER), answer(&mut api, 200, live("wordcount", json!({}))))
    })
    .await;
    assert!(result.expect_err("stale").is_conflict());
}

#[tokio::test]
async fn status_write_carries_the_resource_version_and_a_409_is_a_conflict() {
    let (store, mut api) = store();
    let managed = json!({"managedFields": [{"manager": "flinkops", "operation": "Apply", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:image": {}}}}]});
    let mut object: FlinkDeployment = serde_json::from_value(live("wordcount", managed)).expect("object");
    object.status.get_or_insert_default().error = Some("savepoint failed".to_owned());
    let (result, put) =
        bounded(async { tokio::join!(store.update_status(&object), answer(&mut api, 409, status(409, "Conflict"))) })
            .await;
    assert_eq!((put.method.as_str(), put.path), ("PUT", format!("{PATH}/wordcount/status")));
    assert_eq!(put.body["metadata"]["resourceVersion"], "10");
    assert_eq!(put.body["status"]["error"], "savepoint failed");
    assert_eq!(put.body["metadata"].get("managedFields"), None, "the API server keeps the ownership record");
    assert!(result.expect_err("stale").is_conflict());
}

#[tokio::test]
async fn status_write_without_a_resource_version_replaces_the_status_by_json_patch() {
    let (store, mut api) = store();
    let mut object: FlinkDeployment = serde_json::from_value(live("wordcount", json!({}))).expect("object");
    object.metadata.resource_version = None;
    object.status.get_or_insert_default().error = None;
    let written = live("wordcount", json!({"resourceVersion": "11"}));
    let (result, patch) =
        bounded(async { tokio::join!(store.update_status(&object), answer(&mut api, 200, written)) }).await;
    assert_eq!((patch.method.as_str(), patch.path), ("PATCH", format!("{PATH}/wordcount/status")));
    assert_eq!(patch.content_type, "application/json-patch+json");
    assert_eq!(patch.body[0]["op"], "add");
    assert_eq!(patch.body[0]["path"], "/status");
    assert!(result.is_ok());
}

#[tokio::test]
async fn finalizers_are_added_and_removed_with_tested_json_patches() {
    let (store, mut api) = store();
    let with_finalizer = live("wordcount", json!({"finalizers": [FINALIZER]}));
    let (added, add) = bounded(async {
        tokio::join!(store.add_finalizer::<FlinkDeployment>("flink", "wordcount", FINALIZER), async {
            answer(&mut api, 200, live("wordcount", json!({}))).await;
            answer(&mut api, 200, with_finalizer.clone()).await
        })
    })
    .await;
    assert_eq!(add.content_type, "application/json-patch+json");
    assert_eq!(
        add.body,
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}
        ])
    );
    assert_eq!(added.expect("added").metadata.finalizers, Some(vec![FINALIZER.to_owned()]));

    let deleting = json!({"deletionTimestamp": "2026-01-01T00:00:00Z"});
    let mut holding = deleting.clone();
    holding["finalizers"] = json!([FINALIZER]);
    let (removed, remove) = bounded(async {
        tokio::join!(store.remove_finalizer::<FlinkDeployment>("flink", "wordcount", FINALIZER), async {
            answer(&mut api, 200, live("wordcount", holding)).await;
            answer(&mut api, 200, live("wordcount", deleting)).await
        })
    })
    .await;
    assert_eq!(
        remove.body,
        json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ])
    );
    assert_eq!(removed.expect("removed"), None, "the last finalizer of a deleted object: it is gone");
}

#[tokio::test]
async fn a_failed_finalizer_test_is_a_conflict() {
    let (store, mut api) = store();
    let (result, _) = bounded(async {
        tokio::join!(store.add_finalizer::<FlinkDeployment>("flink", "wordcount", FINALIZER), async {
            answer(&mut api, 200, live("wordcount", json!({}))).await;
            answer(&mut api, 422, status(422, "Invalid")).await
        })
    })
    .await;
    assert!(result.expect_err("someone wrote in between").is_conflict());
}

#[tokio::test]
async fn delete_with_finalizers_returns_the_object_being_deleted() {
    let (store, mut api) = store();
    let held = live("wordcount", json!({"finalizers": [FINALIZER]}));
    let mut deleting = held.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let (result, delete) = bounded(async {
        tokio::join!(store.delete::<FlinkDeployment>("flink", "wordcount"), async {
            answer(&mut api, 200, held).await;
            answer(&mut api, 200, deleting).await
        })
    })
    .await;
    assert_eq!((delete.method.as_str(), delete.path), ("DELETE", format!("{PATH}/wordcount")));
    let object = result.expect("deleting").expect("still there");
    assert!(object.metadata.deletion_timestamp.is_some());

    let (missing, _) = bounded(async {
        tokio::join!(store.delete::<FlinkDeployment>("flink", "gone"), answer(&mut api, 404, status(404, "NotFound")))
    })
    .await;
    assert_eq!(missing.expect("missing is fine"), None);
}

/// `wordcount` with `spec.image` of the wrong type: it cannot decode as a `FlinkDeployment`.
fn broken() -> Value {
    let mut object = live("broken", json!({}));
    object["spec"]["image"] = json!(5);
    object
}

fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "flink.apache.org/v1beta1", "kind": "List", "metadata": {"resourceVersion": "100"},
        "items": items})
}

#[tokio::test]
async fn an_undecodable_object_is_reported_by_unreadable_and_left_out_of_list() {
    let (store, mut api) = store();
    let (listed, _) = bounded(async {
        tokio::join!(
            store.list::<FlinkDeployment>(),
            answer(&mut api, 200, list(vec![live("wordcount", json!({})), broken()]))
        )
    })
    .await;
    let names: Vec<String> = listed.expect("listed").into_iter().filter_map(|object| object.metadata.name).collect();
    assert_eq!(names, ["wordcount"]);

    let (unreadable, (deployments, jobs)) = bounded(async {
        tokio::join!(store.unreadable(), async {
            let deployments = answer(&mut api, 200, list(vec![live("wordcount", json!({})), broken()])).await;
            (deployments, answer(&mut api, 200, list(vec![])).await)
        })
    })
    .await;
    assert_eq!(deployments.path, PATH);
    assert_eq!(jobs.path, "/apis/flink.apache.org/v1beta1/namespaces/flink/flinksessionjobs");
    let unreadable = unreadable.expect("unreadable");
    assert_eq!(unreadable.len(), 1);
    let StoreError::Corrupt { location, reason, .. } = &unreadable[0] else { panic!("{:?}", unreadable[0]) };
    assert_eq!(location, "FlinkDeployment/flink/broken");
    assert!(reason.contains("spec.image"), "{reason}");
}

#[tokio::test]
async fn the_watch_announces_an_undecodable_object_and_keeps_going() {
    let (store, mut api) = store();
    let mut events = store.watch();
    let later = serde_json::to_string(&json!({"type": "ADDED", "object": live("later", json!({}))})).expect("JSON");
    // Two watch tasks (one per kind) send their list and watch requests in any order; watches stay open.
    let server = async {
        let (mut open, mut served_watch) = (Vec::new(), false);
        loop {
            let Some((request, send)) = api.next_request().await else { break };
            let seen = read(request).await;
            let watching = seen.query.contains("watch=true");
            match (seen.path.ends_with("flinkdeployments"), watching) {
                (true, false) => send.send_response(response(200, &list(vec![broken(), live("wordcount", json!({}))]))),
                (false, false) => send.send_response(response(200, &list(vec![]))),
                (true, true) if !served_watch => {
                    served_watch = true;
                    send.send_response(Response::new(Body::from(format!("{later}\n").into_bytes())));
                }
                _ => open.push(send),
            }
        }
    };
    let received = async {
        let mut names = Vec::new();
        while names.len() < 3 {
            let event = events.recv().await.expect("an event");
            assert!(event.generation_changed, "{event:?}");
            names.push(event.name);
        }
        names
    };
    let names = bounded(async {
        tokio::select! {
            names = received => names,
            () = server => panic!("the fake API server stopped"),
        }
    })
    .await;
    assert_eq!(names, ["broken", "wordcount", "later"], "the broken object neither stops nor hides the others");
}

#[tokio::test]
async fn a_503_is_unavailable_and_transient() {
    let (store, mut api) = store();
    let (result, _) = bounded(async {
        tokio::join!(store.get::<FlinkDeployment>("flink", "wordcount"), async {
            let (request, send) = api.next_request().await.expect("a request");
            drop(request);
            send.send_response(
                Response::builder().status(503).body(Body::from(b"upstream connect error".to_vec())).expect("503"),
            );
        })
    })
    .await;
    let error = result.expect_err("unavailable");
    assert_eq!(error.category(), "StoreUnavailable");
    assert!(error.is_transient());
}

#[tokio::test]
async fn list_over_all_namespaces_is_one_cluster_wide_call_sorted_by_namespace_and_name() {
    let (service, mut api) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let store = KubernetesStore::new(Client::new(service, "default"), WatchNamespaces::parse(""));
    let mut other = live("alpha", json!({}));
    other["metadata"]["namespace"] = json!("zeta");
    let items = vec![other, live("beta", json!({})), live("alpha", json!({}))];
    let (listed, request) =
        bounded(async { tokio::join!(store.list::<FlinkDeployment>(), answer(&mut api, 200, list(items))) }).await;
    assert_eq!(request.path, "/apis/flink.apache.org/v1beta1/flinkdeployments");
    let refs: Vec<String> = listed.expect("listed").iter().map(|object| object.store_ref().to_string()).collect();
    assert_eq!(refs, ["FlinkDeployment/flink/alpha", "FlinkDeployment/flink/beta", "FlinkDeployment/zeta/alpha"]);
}
