//! Where Flink clusters run. The `Runtime` trait is what the controllers use; the local implementation runs
//! clusters as child processes, and the Kubernetes one ([`kubernetes`]) applies Deployments and Services. Both
//! deploy the same [`cluster::ClusterSpec`].

pub mod cluster;
pub mod kubernetes;
pub mod local;
pub mod session_jobs;

use std::future::Future;
use std::sync::Arc;

pub use cluster::{ApplicationJob, ClusterId, ClusterSpec, DeployIntent, Restore};
pub use session_jobs::SessionJobRuntime;

/// What a runtime knows about a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterStatus {
    /// No cluster exists.
    Missing,
    /// Started, REST not ready yet.
    Deploying,
    /// REST answers and the TaskManagers are registered.
    Ready,
    /// The cluster failed (a process crashed, a start failed); the reason is safe to show.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A cluster as observed by its runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterObservation {
    /// Status.
    pub status: ClusterStatus,
    /// REST endpoint, once known.
    pub rest_url: Option<String>,
    /// `metadata.generation` the cluster was deployed for.
    pub generation: Option<i64>,
    /// Job id an application cluster was started with.
    pub job_id: Option<String>,
    /// Things the user should know (e.g. a Flink version that differs from the distribution's).
    pub notes: Vec<String>,
}

impl ClusterObservation {
    /// No cluster.
    pub fn missing() -> Self {
        ClusterObservation {
            status: ClusterStatus::Missing,
            rest_url: None,
            generation: None,
            job_id: None,
            notes: Vec::new(),
        }
    }
}

/// Errors of a runtime: bad input is not retried, transient failures are.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The spec asks for something this runtime cannot do (missing jar, unsupported scheme, wrong major version).
    #[error("{cluster}: {message}")]
    BadInput {
        /// Which cluster.
        cluster: ClusterId,
        /// What is wrong.
        message: String,
    },
    /// Starting, stopping or observing failed; retrying may help.
    #[error("{cluster}: {message}")]
    Transient {
        /// Which cluster.
        cluster: ClusterId,
        /// What failed.
        message: String,
    },
}

impl RuntimeError {
    /// Whether retrying can help.
    pub fn is_transient(&self) -> bool {
        matches!(self, RuntimeError::Transient { .. })
    }
}

/// Deploys, observes and deletes Flink clusters.
///
/// # Idempotence
/// `deploy` replaces whatever runs under the same id; `delete` of a missing cluster succeeds.
pub trait Runtime: Send + Sync {
    /// Starts the cluster described by `spec` (replacing an existing one with the same id) and returns once it
    /// is ready or has failed.
    fn deploy(&self, spec: &ClusterSpec) -> impl Future<Output = Result<ClusterObservation, RuntimeError>> + Send;
    /// What is running under `id` now.
    fn observe(&self, id: &ClusterId) -> impl Future<Output = Result<ClusterObservation, RuntimeError>> + Send;
    /// Stops and removes the cluster.
    fn delete(&self, id: &ClusterId) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Takes over what an earlier flinkops deployed under `id`, as the resource's status recorded it, when this
    /// runtime's own record of it is gone (a session-job record on an operator pod's emptyDir) and `observe`
    /// says Missing. Returns whether it was adopted; `observe` then sees it. A runtime that keeps no record of its
    /// own has nothing to adopt.
    fn adopt(
        &self,
        id: &ClusterId,
        recorded: &RecordedDeploy,
    ) -> impl Future<Output = Result<bool, RuntimeError>> + Send {
        let _ = (id, recorded);
        std::future::ready(Ok(false))
    }
}

/// What a resource's status (the write-ahead log) says was deployed for it: the job id and generation of the
/// last deploy, and the session cluster it went to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDeploy {
    /// The session cluster (a `FlinkSessionJob`'s `deploymentName`); `None` for a `FlinkDeployment`.
    pub session_cluster: Option<String>,
    /// `status.jobStatus.jobId`.
    pub job_id: String,
    /// `status.observedGeneration`.
    pub generation: i64,
}

/// A shared runtime is a runtime: the session-job runtime and the manager share the cluster runtime.
impl<R: Runtime> Runtime for Arc<R> {
    fn deploy(&self, spec: &ClusterSpec) -> impl Future<Output = Result<ClusterObservation, RuntimeError>> + Send {
        R::deploy(self, spec)
    }

    fn observe(&self, id: &ClusterId) -> impl Future<Output = Result<ClusterObservation, RuntimeError>> + Send {
        R::observe(self, id)
    }

    fn delete(&self, id: &ClusterId) -> impl Future<Output = Result<(), RuntimeError>> + Send {
        R::delete(self, id)
    }

    fn adopt(
        &self,
        id: &ClusterId,
        recorded: &RecordedDeploy,
    ) -> impl Future<Output = Result<bool, RuntimeError>> + Send {
        R::adopt(self, id, recorded)
    }
}
