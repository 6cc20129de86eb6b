//! A fake Flink REST server on loopback (job status, details, checkpoints, metrics, stop-with-savepoint and its
//! status) and a simulated cluster runtime whose clusters are ready at once and answer REST there. Shared by the
//! Kubernetes controller tests and the footprint benchmark.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use flinkops::operator::manager::ClusterRuntime;
use flinkops::runtime::{
    ClusterId, ClusterObservation, ClusterSpec, ClusterStatus, Runtime, RuntimeError, SessionJobRuntime,
};
use serde_json::{Value, json};

/// Flink REST of every simulated cluster. A job is RUNNING until stopped with a savepoint (then FINISHED);
/// status polls per job id, every request and every stop are recorded.
#[derive(Default)]
pub struct FakeFlink {
    /// Job status polls per job id.
    pub polls: Mutex<HashMap<String, u64>>,
    /// Requests of any kind.
    pub requests: AtomicU64,
    /// Jobs stopped with a savepoint: job id → savepoint location.
    pub stopped: Mutex<HashMap<String, String>>,
    /// Every stop-with-savepoint request: (job id, body).
    pub stops: Mutex<Vec<(String, Value)>>,
    /// Jobs this Flink does not know (their status is a 404); every other job id is known.
    pub unknown: Mutex<std::collections::HashSet<String>>,
}

impl FakeFlink {
    fn count(&self, job: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        *self.polls.lock().unwrap().entry(job.to_owned()).or_default() += 1;
    }

    fn state(&self, job: &str) -> &'static str {
        if self.stopped.lock().unwrap().contains_key(job) { "FINISHED" } else { "RUNNING" }
    }

    /// Marks `job` RUNNING again (a deploy under the same job id).
    pub fn start(&self, job: &str) {
        self.stopped.lock().unwrap().remove(job);
    }

    /// Where the savepoint of trigger `trigger` is written.
    pub fn savepoint_location(trigger: &str) -> String {
        format!("file:///savepoints/savepoint-{trigger}")
    }
}

async fn job_status(State(flink): State<Arc<FakeFlink>>, Path(job): Path<String>) -> (StatusCode, Json<Value>) {
    flink.count(&job);
    if flink.unknown.lock().unwrap().contains(&job) {
        return (StatusCode::NOT_FOUND, Json(json!({"errors": ["Job could not be found."]})));
    }
    (StatusCode::OK, Json(json!({"status": flink.state(&job)})))
}

async fn job_details(State(flink): State<Arc<FakeFlink>>, Path(job): Path<String>) -> Json<Value> {
    flink.requests.fetch_add(1, Ordering::Relaxed);
    let state = flink.state(&job);
    Json(json!({"jid": job, "name": "fake", "state": state, "start-time": 1_700_000_000_000_i64, "vertices": []}))
}

async fn checkpoints(State(flink): State<Arc<FakeFlink>>) -> Json<Value> {
    flink.requests.fetch_add(1, Ordering::Relaxed);
    Json(json!({"counts": {"completed": 3}, "latest": {}, "history": []}))
}

async fn job_metrics(State(flink): State<Arc<FakeFlink>>) -> Json<Value> {
    flink.requests.fetch_add(1, Ordering::Relaxed);
    Json(json!([{"id": "numRestarts", "value": "0"}, {"id": "numberOfCompletedCheckpoints", "value": "3"}]))
}

/// `POST /jobs/:id/stop`: the savepoint completes at once and the job finishes; answers the caller's trigger id.
async fn stop(State(flink): State<Arc<FakeFlink>>, Path(job): Path<String>, Json(body): Json<Value>) -> Json<Value> {
    flink.requests.fetch_add(1, Ordering::Relaxed);
    let trigger = body.get("triggerId").and_then(Value::as_str).unwrap_or("fake-trigger").to_owned();
    flink.stops.lock().unwrap().push((job.clone(), body));
    flink.stopped.lock().unwrap().insert(job, FakeFlink::savepoint_location(&trigger));
    Json(json!({"request-id": trigger}))
}

async fn savepoint_status(
    State(flink): State<Arc<FakeFlink>>,
    Path((_job, trigger)): Path<(String, String)>,
) -> Json<Value> {
    flink.requests.fetch_add(1, Ordering::Relaxed);
    let location = FakeFlink::savepoint_location(&trigger);
    Json(json!({"status": {"id": "COMPLETED"}, "operation": {"location": location}}))
}

/// Serves `flink` on a loopback port; returns its address.
pub async fn serve_fake_flink(flink: Arc<FakeFlink>) -> SocketAddr {
    let app = axum::Router::new()
        .route("/jobs/{job}/status", get(job_status))
        .route("/jobs/{job}", get(job_details))
        .route("/jobs/{job}/checkpoints", get(checkpoints))
        .route("/jobs/{job}/metrics", get(job_metrics))
        .route("/jobs/{job}/stop", post(stop))
        .route("/jobs/{job}/savepoints/{trigger}", get(savepoint_status))
        .with_state(flink);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("fake Flink REST") });
    address
}

/// Clusters that are ready the moment they are deployed, all answering REST at one loopback address.
pub struct SimulatedRuntime {
    /// The fake Flink every cluster answers from.
    pub flink: Arc<FakeFlink>,
    /// Its REST URL.
    pub rest_url: String,
    /// The clusters that exist.
    pub clusters: Mutex<HashMap<ClusterId, ClusterObservation>>,
    /// Every deploy, in order.
    pub deploys: Mutex<Vec<ClusterSpec>>,
    /// Every delete, in order.
    pub deletes: Mutex<Vec<ClusterId>>,
    /// Where session-job state goes.
    pub state_dir: PathBuf,
}

impl SimulatedRuntime {
    /// A runtime with no cluster whose clusters answer REST from `flink` at `rest_url`.
    pub fn new(flink: Arc<FakeFlink>, rest_url: &str, state_dir: PathBuf) -> Self {
        SimulatedRuntime {
            flink,
            rest_url: rest_url.to_owned(),
            clusters: Mutex::new(HashMap::new()),
            deploys: Mutex::new(Vec::new()),
            deletes: Mutex::new(Vec::new()),
            state_dir,
        }
    }
}

impl Runtime for SimulatedRuntime {
    async fn deploy(&self, spec: &ClusterSpec) -> Result<ClusterObservation, RuntimeError> {
        let job_id = spec.job.as_ref().map(|job| job.job_id.clone());
        if let Some(job) = &job_id {
            self.flink.start(job);
        }
        let observation = ClusterObservation {
            status: ClusterStatus::Ready,
            rest_url: Some(self.rest_url.clone()),
            generation: Some(spec.generation),
            job_id,
            notes: Vec::new(),
        };
        self.clusters.lock().unwrap().insert(spec.id.clone(), observation.clone());
        self.deploys.lock().unwrap().push(spec.clone());
        Ok(observation)
    }

    async fn observe(&self, id: &ClusterId) -> Result<ClusterObservation, RuntimeError> {
        Ok(self.clusters.lock().unwrap().get(id).cloned().unwrap_or_else(ClusterObservation::missing))
    }

    async fn delete(&self, id: &ClusterId) -> Result<(), RuntimeError> {
        self.clusters.lock().unwrap().remove(id);
        self.deletes.lock().unwrap().push(id.clone());
        Ok(())
    }
}

impl ClusterRuntime for SimulatedRuntime {
    fn session_jobs(self: &Arc<Self>, state_dir: &std::path::Path) -> SessionJobRuntime<Self> {
        SessionJobRuntime::new(self.clone(), state_dir)
    }

    async fn shut_down(&self, _stop_jobs: bool) {}
}
