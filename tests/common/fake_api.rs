//! A stateful fake Kubernetes API server for the flink.apache.org resources, served to a `kube::Client` through
//! kube-rs' tower-test mock service: GET, LIST, server-side apply, JSON patch, status PUT/PATCH and DELETE with the
//! API server's rules (resourceVersion preconditions and increments, generation on spec change, finalizers hold a
//! deletion, the status subresource). Every request is recorded for the test to assert on. In memory only. Also
//! included by the store's scripted unit tests (src/store/kubernetes/tests.rs) for reading and answering requests.

#![allow(dead_code, unreachable_pub)] // also compiled into the lib's unit tests

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

const PREFIX: &str = "/apis/flink.apache.org/v1beta1/namespaces/";
const EVENTS_PREFIX: &str = "/apis/events.k8s.io/v1/namespaces/";

/// One request as the fake API server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// The URL path.
    pub path: String,
    /// The URL query.
    pub query: String,
    /// `Content-Type`.
    pub content_type: String,
    /// The body as JSON (`Null` when empty).
    pub body: Value,
    /// The status code answered.
    pub code: u16,
}

impl Seen {
    /// `METHOD path` with the path relative to the flink.apache.org namespaces prefix.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path.strip_prefix(PREFIX).unwrap_or(&self.path))
    }
}

#[derive(Default)]
struct State {
    /// (plural, namespace, name) → object.
    objects: BTreeMap<(String, String, String), Value>,
    resource_version: u64,
    seen: Vec<Seen>,
    /// Status writes still to answer with 409 (after bumping the object's resourceVersion, as a concurrent
    /// writer would).
    conflicts: usize,
}

/// The fake API server: a handle on its state.
#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    /// A client on a fresh fake API server, and the server. Must run inside a tokio runtime.
    pub fn start() -> (Client, FakeApi) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api = FakeApi::default();
        let server = api.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let response = server.serve(request).await;
                send.send_response(response);
            }
        });
        (Client::new(service, "default"), api)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The `(reason, note)` of every event posted, in order.
    pub fn events(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .filter(|seen| seen.method == "POST" && seen.path.starts_with(EVENTS_PREFIX))
            .map(|seen| {
                let text = |field: &str| seen.body[field].as_str().unwrap_or_default().to_owned();
                (text("reason"), text("note"))
            })
            .collect()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().seen.clear();
    }

    /// The stored object, if any.
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let key = (plural.to_owned(), namespace.to_owned(), name.to_owned());
        self.state.lock().unwrap().objects.get(&key).cloned()
    }

    /// The next `count` status writes conflict, as if another writer had changed the object just before.
    pub fn conflict_on_status_writes(&self, count: usize) {
        self.state.lock().unwrap().conflicts = count;
    }

    /// Changes the stored object as another client would (bumping its resourceVersion).
    pub fn edit(&self, plural: &str, namespace: &str, name: &str, edit: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock().unwrap();
        let rv = next_version(&mut state);
        let key = (plural.to_owned(), namespace.to_owned(), name.to_owned());
        if let Some(object) = state.objects.get_mut(&key) {
            edit(object);
            object["metadata"]["resourceVersion"] = json!(rv);
        }
    }

    async fn serve(&self, request: Request<Body>) -> Response<Body> {
        let mut seen = read(request).await;
        let mut state = self.state.lock().unwrap();
        let (code, body) = handle(&mut state, &seen);
        seen.code = code;
        state.seen.push(seen);
        response(code, &body)
    }
}

/// What a request asks (its answer's `code` still 0).
pub async fn read(request: Request<Body>) -> Seen {
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.expect("request body");
    Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        content_type: parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") },
        code: 0,
    }
}

/// A JSON response.
pub fn response(code: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(body).expect("JSON")))
        .expect("response")
}

/// A `Status` failure body.
pub fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{reason} (fake API server)"), "reason": reason, "code": code})
}

fn next_version(state: &mut State) -> String {
    state.resource_version += 1;
    state.resource_version.to_string()
}

/// The singular kind of a flink.apache.org plural.
fn kind_of(plural: &str) -> &'static str {
    if plural == "flinksessionjobs" { "FlinkSessionJob" } else { "FlinkDeployment" }
}

fn handle(state: &mut State, seen: &Seen) -> (u16, Value) {
    // Events are accepted and only recorded (see `FakeApi::events`).
    if seen.method == "POST" && seen.path.starts_with(EVENTS_PREFIX) {
        return (201, seen.body.clone());
    }
    let Some(rest) = seen.path.strip_prefix(PREFIX) else { return (404, status(404, "NotFound")) };
    let segments: Vec<&str> = rest.split('/').collect();
    match (seen.method.as_str(), segments.as_slice()) {
        ("GET", [namespace, plural]) => list(state, namespace, plural),
        ("GET", [namespace, plural, name]) => match state.objects.get(&key(plural, namespace, name)) {
            Some(object) => (200, object.clone()),
            None => (404, status(404, "NotFound")),
        },
        ("PATCH", [namespace, plural, name]) if seen.content_type == "application/apply-patch+yaml" => {
            server_side_apply(state, key(plural, namespace, name), &seen.body)
        }
        ("PATCH", [namespace, plural, name]) => json_patch(state, key(plural, namespace, name), &seen.body, false),
        ("PATCH", [namespace, plural, name, "status"]) => {
            json_patch(state, key(plural, namespace, name), &seen.body, true)
        }
        ("PUT", [namespace, plural, name, "status"]) => replace_status(state, key(plural, namespace, name), &seen.body),
        ("DELETE", [namespace, plural, name]) => delete(state, key(plural, namespace, name)),
        _ => (405, status(405, "MethodNotAllowed")),
    }
}

fn key(plural: &str, namespace: &str, name: &str) -> (String, String, String) {
    (plural.to_owned(), namespace.to_owned(), name.to_owned())
}

fn list(state: &State, namespace: &str, plural: &str) -> (u16, Value) {
    let items: Vec<Value> = state
        .objects
        .iter()
        .filter(|((p, n, _), _)| p == plural && n == namespace)
        .map(|(_, object)| object.clone())
        .collect();
    let kind = format!("{}List", kind_of(plural));
    let rv = state.resource_version.to_string();
    (
        200,
        json!({"apiVersion": "flink.apache.org/v1beta1", "kind": kind, "metadata": {"resourceVersion": rv}, "items": items}),
    )
}

/// A stale `resourceVersion` precondition: 409.
fn stale(current: &Value, given: &Value) -> bool {
    let given = &given["metadata"]["resourceVersion"];
    given.is_string() && *given != current["metadata"]["resourceVersion"]
}

/// Stores `object` as changed: a new resourceVersion, and a new generation when the spec changed.
fn store_changed(state: &mut State, key: (String, String, String), mut object: Value, before: &Value) -> Value {
    if object == *before {
        return object;
    }
    if object["spec"] != before["spec"] {
        let generation = before["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        object["metadata"]["generation"] = json!(generation);
    }
    object["metadata"]["resourceVersion"] = json!(next_version(state));
    // Deletion requested and no finalizer left: the object goes.
    let finalizers_left = object["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
    if object["metadata"]["deletionTimestamp"].is_string() && !finalizers_left {
        state.objects.remove(&key);
    } else {
        state.objects.insert(key, object.clone());
    }
    object
}

fn server_side_apply(state: &mut State, key: (String, String, String), payload: &Value) -> (u16, Value) {
    let Some(before) = state.objects.get(&key).cloned() else {
        let mut object = payload.clone();
        let metadata = &mut object["metadata"];
        metadata["uid"] = json!(format!("uid-{}", key.2));
        metadata["generation"] = json!(1);
        metadata["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
        metadata["resourceVersion"] = json!(next_version(state));
        state.objects.insert(key, object.clone());
        return (201, object);
    };
    if stale(&before, payload) {
        return (409, status(409, "Conflict"));
    }
    let mut object = before.clone();
    for field in ["labels", "annotations"] {
        if let Some(value) = payload["metadata"].get(field) {
            object["metadata"][field] = value.clone();
        }
    }
    if let Some(spec) = payload.get("spec") {
        object["spec"] = spec.clone();
    }
    (200, store_changed(state, key, object, &before))
}

fn json_patch(state: &mut State, key: (String, String, String), operations: &Value, subresource: bool) -> (u16, Value) {
    let Some(before) = state.objects.get(&key).cloned() else { return (404, status(404, "NotFound")) };
    if subresource && state.conflicts > 0 {
        return conflict(state, key);
    }
    // As the API server's JSON patch library: a `test` of null passes on a missing path.
    let operations: Vec<Value> = operations
        .as_array()
        .into_iter()
        .flatten()
        .filter(|op| {
            let missing = op["path"].as_str().is_some_and(|path| before.pointer(path).is_none());
            !(op["op"] == "test" && op["value"].is_null() && missing)
        })
        .cloned()
        .collect();
    let Ok(patch) = serde_json::from_value::<json_patch::Patch>(Value::Array(operations)) else {
        return (400, status(400, "BadRequest"));
    };
    let mut object = before.clone();
    if json_patch::patch(&mut object, &patch).is_err() {
        // A failed `test` operation, as the API server reports it.
        return (422, status(422, "Invalid"));
    }
    // The status subresource changes only the status; the main resource everything else.
    if subresource {
        let status = object["status"].clone();
        object = before.clone();
        object["status"] = status;
    } else {
        object["status"] = before["status"].clone();
    }
    (200, store_changed(state, key, object, &before))
}

fn replace_status(state: &mut State, key: (String, String, String), body: &Value) -> (u16, Value) {
    let Some(before) = state.objects.get(&key).cloned() else { return (404, status(404, "NotFound")) };
    if !body["metadata"]["resourceVersion"].is_string() {
        return (422, status(422, "Invalid"));
    }
    if state.conflicts > 0 {
        return conflict(state, key);
    }
    if stale(&before, body) {
        return (409, status(409, "Conflict"));
    }
    let mut object = before.clone();
    object["status"] = body["status"].clone();
    (200, store_changed(state, key, object, &before))
}

/// Another writer got there first: the object moves on and this write is a 409.
fn conflict(state: &mut State, key: (String, String, String)) -> (u16, Value) {
    state.conflicts -= 1;
    let rv = next_version(state);
    if let Some(object) = state.objects.get_mut(&key) {
        object["metadata"]["resourceVersion"] = json!(rv);
        object["metadata"]["labels"]["touched-by"] = json!("someone-else");
    }
    (409, status(409, "Conflict"))
}

fn delete(state: &mut State, key: (String, String, String)) -> (u16, Value) {
    let Some(before) = state.objects.get(&key).cloned() else { return (404, status(404, "NotFound")) };
    let finalizers = before["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
    if !finalizers {
        state.objects.remove(&key);
        return (200, before);
    }
    if before["metadata"]["deletionTimestamp"].is_string() {
        return (200, before);
    }
    let mut object = before.clone();
    object["metadata"]["deletionTimestamp"] = json!("2026-01-01T01:00:00Z");
    object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    // NB: the API server may bump the generation when a deletion starts; modelled, so a controller that took it
    // for a spec change would show it.
    let generation = before["metadata"]["generation"].as_i64().unwrap_or(0);
    if generation > 0 {
        object["metadata"]["generation"] = json!(generation + 1);
    }
    (200, store_changed(state, key, object, &before))
}
