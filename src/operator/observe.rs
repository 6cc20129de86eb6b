//! Observation: asks the runtime about the cluster and Flink's REST API about the recorded job and any recorded
//! stop-with-savepoint, and condenses the answers into the facts `decide` needs. Failures to ask become
//! "unknown", never errors: deciding what to do about an unreachable cluster is decide's job.

use crate::crd::FlinkJobState;
use crate::crd::status::FlinkDeploymentStatus;
use crate::flink::client::{FlinkClient, JobState, OperationState};
use crate::runtime::{ClusterId, ClusterObservation, ClusterStatus, RecordedDeploy, Runtime};

use super::decide::{CheckpointFacts, JobFacts, Phase, StopFacts, phase};
use super::health::HealthSample;

/// What observing one deployment found.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The runtime's view.
    pub cluster: ClusterObservation,
    /// The recorded job, as Flink sees it.
    pub job: JobFacts,
    /// The recorded stop-with-savepoint, manual or periodic savepoint, as Flink sees it.
    pub stop: StopFacts,
    /// The recorded manual or periodic checkpoint, as Flink sees it.
    pub checkpoint: CheckpointFacts,
    /// The job's latest completed snapshot, once it has ended.
    pub latest_snapshot: Option<String>,
    /// Job start time (epoch millis), when known.
    pub job_start_time: Option<i64>,
    /// When the newest completed checkpoint of a running job was taken (epoch millis).
    pub latest_checkpoint_ms: Option<i64>,
    /// Restart and checkpoint counters of the running job, when the health check asked for them.
    pub health_sample: Option<HealthSample>,
    /// A REST client for the cluster, when it is ready.
    pub client: Option<FlinkClient>,
}

/// The deploy `status` records: its job id and generation, on `session_cluster`.
fn recorded_deploy(status: &FlinkDeploymentStatus, session_cluster: Option<&str>) -> Option<RecordedDeploy> {
    Some(RecordedDeploy {
        session_cluster: Some(session_cluster?.to_owned()),
        job_id: status.job_status.as_ref()?.job_id.clone().filter(|id| !id.is_empty())?,
        generation: status.observed_generation?,
    })
}

/// Maps Flink's REST job state onto the status enumeration.
pub fn flink_job_state(state: JobState) -> Option<FlinkJobState> {
    Some(match state {
        JobState::Initializing => FlinkJobState::Initializing,
        JobState::Created => FlinkJobState::Created,
        JobState::Running => FlinkJobState::Running,
        JobState::Failing => FlinkJobState::Failing,
        JobState::Failed => FlinkJobState::Failed,
        JobState::Cancelling => FlinkJobState::Cancelling,
        JobState::Canceled => FlinkJobState::Canceled,
        JobState::Finished => FlinkJobState::Finished,
        JobState::Restarting => FlinkJobState::Restarting,
        JobState::Suspended => FlinkJobState::Suspended,
        JobState::Reconciling => FlinkJobState::Reconciling,
        JobState::Unknown => return None,
    })
}

/// Observes one deployment; `sample_health` also reads the job's restart and checkpoint counters at `now_ms`.
/// A cluster the runtime reports missing although `session_cluster` and the status record a deploy is first
/// offered to the runtime for adoption ([`Runtime::adopt`]).
pub async fn observe<R: Runtime>(
    runtime: &R,
    id: &ClusterId,
    status: &FlinkDeploymentStatus,
    session_cluster: Option<&str>,
    sample_health: Option<i64>,
) -> Observation {
    let failed = |error: crate::runtime::RuntimeError| ClusterObservation {
        status: ClusterStatus::Failed { reason: error.to_string() },
        ..ClusterObservation::missing()
    };
    let mut cluster = runtime.observe(id).await.unwrap_or_else(failed);
    if cluster.status == ClusterStatus::Missing
        && let Some(recorded) = recorded_deploy(status, session_cluster)
    {
        match runtime.adopt(id, &recorded).await {
            Ok(true) => cluster = runtime.observe(id).await.unwrap_or_else(failed),
            Ok(false) => {}
            Err(error) => cluster = failed(error),
        }
    }
    let mut observation = Observation {
        cluster,
        job: JobFacts::Unknown,
        stop: StopFacts::Unknown,
        checkpoint: CheckpointFacts::Unknown,
        latest_snapshot: None,
        job_start_time: None,
        latest_checkpoint_ms: None,
        health_sample: None,
        client: None,
    };
    let (ClusterStatus::Ready, Some(rest_url)) = (&observation.cluster.status, observation.cluster.rest_url.clone())
    else {
        return observation;
    };
    let Ok(client) = FlinkClient::new(rest_url) else { return observation };
    let job_id = status.job_status.as_ref().and_then(|j| j.job_id.clone());
    if let Some(job_id) = &job_id {
        observation.job = match client.job_status(job_id).await {
            Ok(state) => flink_job_state(state).map_or(JobFacts::Unknown, JobFacts::State),
            Err(error) if error.is_not_found() => JobFacts::NotFound,
            Err(_) => JobFacts::Unknown,
        };
        // Any recorded savepoint trigger is polled: an upgrade's stop, or a manual or periodic savepoint.
        let recorded_trigger = match phase(status) {
            Phase::Stopping { trigger_id } => Some(trigger_id),
            _ => status.job_status.as_ref().and_then(|j| j.savepoint_info.as_ref()).and_then(|s| s.trigger_id.clone()),
        };
        if let Some(trigger_id) = recorded_trigger {
            observation.stop = match client.savepoint_status(job_id, &trigger_id).await {
                Ok(OperationState::InProgress) => StopFacts::InProgress,
                Ok(OperationState::Completed(location)) => StopFacts::Completed(location),
                Ok(OperationState::Failed(reason)) => StopFacts::Failed(reason),
                Err(error) if error.is_not_found() => StopFacts::NotIssued,
                Err(_) => StopFacts::Unknown,
            };
        }
        let checkpoint_trigger = status
            .job_status
            .as_ref()
            .and_then(|j| j.checkpoint_info.as_ref())
            .and_then(|c| c.trigger_id.clone())
            .filter(|id| !id.is_empty());
        if let Some(trigger_id) = checkpoint_trigger {
            observation.checkpoint = match client.checkpoint_status(job_id, &trigger_id).await {
                Ok(OperationState::InProgress) => CheckpointFacts::InProgress,
                Ok(OperationState::Completed(_)) => CheckpointFacts::Completed,
                Ok(OperationState::Failed(reason)) => CheckpointFacts::Failed(reason),
                Err(error) if error.is_not_found() => CheckpointFacts::NotIssued,
                Err(_) => CheckpointFacts::Unknown,
            };
        }
        if observation.job == JobFacts::State(FlinkJobState::Running)
            && let Ok(statistics) = client.checkpoint_statistics(job_id).await
        {
            observation.latest_checkpoint_ms =
                statistics.latest.completed.map(|c| c.latest_ack_timestamp).filter(|ms| *ms > 0);
        }
        if let JobFacts::State(state) = observation.job
            && state.is_globally_terminal()
            && let Ok(statistics) = client.checkpoint_statistics(job_id).await
        {
            // The newest of the latest checkpoint and the latest savepoint is where the job's state is.
            let latest = [statistics.latest.completed, statistics.latest.savepoint]
                .into_iter()
                .flatten()
                .max_by_key(|snapshot| snapshot.latest_ack_timestamp);
            observation.latest_snapshot = latest.and_then(|snapshot| snapshot.external_path);
        }
        if let (Some(now_ms), JobFacts::State(state)) = (sample_health, observation.job)
            && !state.is_globally_terminal()
        {
            // Fetch errors are ignored, as upstream's observer does: no sample, no verdict change.
            let names = ["numRestarts", "fullRestarts", "numberOfCompletedCheckpoints"];
            if let Ok(metrics) = client.job_metrics(job_id, &names).await {
                let value = |name: &str| metrics.iter().find(|m| m.id == name).and_then(|m| m.as_f64());
                let restarts = value("numRestarts").or_else(|| value("fullRestarts"));
                if let (Some(restarts), Some(checkpoints)) = (restarts, value("numberOfCompletedCheckpoints")) {
                    observation.health_sample = Some(HealthSample {
                        time_ms: now_ms,
                        num_restarts: restarts as i64,
                        completed_checkpoints: checkpoints as i64,
                    });
                }
            }
        }
        if matches!(observation.job, JobFacts::State(_))
            && let Ok(details) = client.job_details(job_id).await
        {
            observation.job_start_time = Some(details.start_time);
        }
    }
    observation.client = Some(client);
    observation
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::crd::status::JobStatus;
    use crate::runtime::{ClusterSpec, RuntimeError};

    /// A runtime whose only cluster is missing until adopted; it records what it was offered.
    #[derive(Default)]
    struct Forgetful {
        adopted: Mutex<Vec<RecordedDeploy>>,
    }

    impl Runtime for Forgetful {
        async fn deploy(&self, spec: &ClusterSpec) -> Result<ClusterObservation, RuntimeError> {
            Err(RuntimeError::BadInput { cluster: spec.id.clone(), message: "not in this test".into() })
        }

        async fn observe(&self, _id: &ClusterId) -> Result<ClusterObservation, RuntimeError> {
            let adopted = self.adopted.lock().unwrap().first().cloned();
            Ok(match adopted {
                // No REST URL: observation stops at the cluster, which is all this test is about.
                Some(recorded) => ClusterObservation {
                    status: ClusterStatus::Deploying,
                    job_id: Some(recorded.job_id),
                    generation: Some(recorded.generation),
                    ..ClusterObservation::missing()
                },
                None => ClusterObservation::missing(),
            })
        }

        async fn delete(&self, _id: &ClusterId) -> Result<(), RuntimeError> {
            Ok(())
        }

        async fn adopt(&self, _id: &ClusterId, recorded: &RecordedDeploy) -> Result<bool, RuntimeError> {
            self.adopted.lock().unwrap().push(recorded.clone());
            Ok(true)
        }
    }

    fn deployed(job_id: Option<&str>) -> FlinkDeploymentStatus {
        FlinkDeploymentStatus {
            observed_generation: Some(7),
            job_status: Some(JobStatus { job_id: job_id.map(str::to_owned), ..JobStatus::default() }),
            ..FlinkDeploymentStatus::default()
        }
    }

    #[tokio::test]
    async fn a_missing_session_job_with_a_recorded_deploy_is_offered_for_adoption_and_observed_again() {
        let runtime = Forgetful::default();
        let id = ClusterId { namespace: "flink".into(), name: "enrich".into() };
        let observation = observe(&runtime, &id, &deployed(Some("job-1")), Some("session"), None).await;
        assert_eq!(observation.cluster.status, ClusterStatus::Deploying);
        assert_eq!(observation.cluster.job_id.as_deref(), Some("job-1"));
        let offered = runtime.adopted.lock().unwrap().clone();
        assert_eq!(
            offered,
            [RecordedDeploy { session_cluster: Some("session".into()), job_id: "job-1".into(), generation: 7 }]
        );
    }

    #[tokio::test]
    async fn nothing_is_offered_without_a_session_cluster_or_a_recorded_job() {
        let runtime = Forgetful::default();
        let id = ClusterId { namespace: "flink".into(), name: "orders".into() };
        for (status, session) in [(deployed(Some("job-1")), None), (deployed(None), Some("session"))] {
            let observation = observe(&runtime, &id, &status, session, None).await;
            assert_eq!(observation.cluster.status, ClusterStatus::Missing);
        }
        assert!(runtime.adopted.lock().unwrap().is_empty());
    }
}
