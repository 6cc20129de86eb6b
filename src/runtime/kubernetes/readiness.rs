//! Pure: a cluster's [`ClusterStatus`] from its JobManager and TaskManager Deployments and its pods, and what the
//! JobManager Deployment records about its deploy (generation, job id). Reading them from the API is the runtime's.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::objects::JOB_ID_ANNOTATION;
use crate::kubernetes::names::GENERATION_ANNOTATION;
use crate::runtime::ClusterStatus;

/// Waiting reasons of a container that will not get better by waiting: the image cannot be pulled, or the process
/// keeps crashing. A plain `ContainerCreating` or `PodInitializing` is progress, not failure.
const FAILING_REASONS: &[&str] =
    &["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError"];

/// Longest reason reported: pod messages can quote whole image references or probe output.
const MAX_REASON_CHARS: usize = 300;

/// Where the rollout of one Deployment is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rollout {
    /// Every desired replica runs the current template and is available.
    Complete,
    /// Still rolling out, or status not yet caught up with the spec.
    InProgress,
    /// Will not finish by itself; the reason is safe to show.
    Failed(String),
}

/// The rollout of `deployment`, as `kubectl rollout status` judges it: the controller has seen the current
/// generation, every desired replica is updated, no old replica is left, and all of them are available.
pub(super) fn rollout(deployment: &Deployment) -> Rollout {
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    if deployment.metadata.deletion_timestamp.is_some() {
        return Rollout::Failed(format!("Deployment {name} is being deleted"));
    }
    let Some(status) = &deployment.status else { return Rollout::InProgress };
    // NB: right after an apply the status still describes the previous template until the controller observes
    // the new generation; reading it earlier would call a cluster ready that was just replaced.
    if status.observed_generation.unwrap_or(0) < deployment.metadata.generation.unwrap_or(0) {
        return Rollout::InProgress;
    }
    let stalled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some("Progressing") && c.status.as_deref() == Some("False"));
    if let Some(condition) = stalled {
        let reason = condition.reason.as_deref().unwrap_or("NotProgressing");
        let message = condition.message.as_deref().unwrap_or_default();
        return Rollout::Failed(truncate(format!("Deployment {name}: {reason}: {message}")));
    }
    let desired = deployment.spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < desired || total > updated || available < desired {
        return Rollout::InProgress;
    }
    Rollout::Complete
}

/// The status of a cluster whose JobManager Deployment exists: Ready when both rollouts are complete, Failed when
/// one failed, the TaskManager Deployment is gone, or `pods` (listed only while not ready) show a failing
/// container; Deploying otherwise.
pub(super) fn cluster_status(jobmanager: &Deployment, taskmanager: Option<&Deployment>, pods: &[Pod]) -> ClusterStatus {
    let Some(taskmanager) = taskmanager else {
        let name = jobmanager.metadata.name.as_deref().unwrap_or_default();
        return ClusterStatus::Failed { reason: format!("the TaskManager Deployment {name}-taskmanager is missing") };
    };
    match (rollout(jobmanager), rollout(taskmanager)) {
        (Rollout::Failed(reason), _) | (_, Rollout::Failed(reason)) => ClusterStatus::Failed { reason },
        (Rollout::Complete, Rollout::Complete) => ClusterStatus::Ready,
        (Rollout::InProgress, _) | (_, Rollout::InProgress) => match pod_failure(pods) {
            Some(reason) => ClusterStatus::Failed { reason },
            None => ClusterStatus::Deploying,
        },
    }
}

/// The first container of a live pod that waits for a reason in [`FAILING_REASONS`], as a readable reason.
pub(super) fn pod_failure(pods: &[Pod]) -> Option<String> {
    pods.iter().filter(|pod| pod.metadata.deletion_timestamp.is_none()).find_map(|pod| {
        let status = pod.status.as_ref()?;
        let mut containers =
            status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
        containers.find_map(|container| {
            let waiting = container.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref().filter(|r| FAILING_REASONS.contains(r))?;
            let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
            let mut text = format!("pod {pod_name}: container {} is in {reason}", container.name);
            if let Some(message) = waiting.message.as_deref().filter(|m| !m.is_empty()) {
                text.push_str(": ");
                text.push_str(message);
            }
            if let Some(code) = last_exit_code(container) {
                text.push_str(&format!(" (last exit code {code})"));
            }
            Some(truncate(text))
        })
    })
}

fn last_exit_code(container: &ContainerStatus) -> Option<i32> {
    Some(container.last_state.as_ref()?.terminated.as_ref()?.exit_code)
}

/// The generation and job id the JobManager Deployment was deployed for (its annotations), so an operator that
/// restarted still knows what runs.
pub(super) fn recorded_deploy(jobmanager: &Deployment) -> (Option<i64>, Option<String>) {
    let annotations = jobmanager.metadata.annotations.as_ref();
    let generation = annotations.and_then(|a| a.get(GENERATION_ANNOTATION)).and_then(|g| g.parse().ok());
    let job_id = annotations.and_then(|a| a.get(JOB_ID_ANNOTATION)).filter(|j| !j.is_empty()).cloned();
    (generation, job_id)
}

fn truncate(mut text: String) -> String {
    if let Some((index, _)) = text.char_indices().nth(MAX_REASON_CHARS) {
        text.truncate(index);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(value: serde_json::Value) -> Deployment {
        serde_json::from_value(value).unwrap()
    }

    /// A Deployment at generation 2 wanting `desired` replicas, with the given status.
    fn at(desired: i32, status: serde_json::Value) -> Deployment {
        deployment(json!({
            "metadata": {"name": "orders", "generation": 2},
            "spec": {"replicas": desired, "selector": {}, "template": {}},
            "status": status,
        }))
    }

    fn pod(container_status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "orders-taskmanager-7d9-x2"},
            "status": {"containerStatuses": [container_status]},
        }))
        .unwrap()
    }

    #[test]
    fn a_rollout_is_complete_only_when_every_desired_replica_is_updated_and_available() {
        let cases = [
            ("no status yet", at(2, json!(null)), Rollout::InProgress),
            (
                "status of the previous generation",
                at(2, json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2})),
                Rollout::InProgress,
            ),
            (
                "new pods not available yet",
                at(2, json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1})),
                Rollout::InProgress,
            ),
            (
                "an old pod still running",
                at(1, json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2})),
                Rollout::InProgress,
            ),
            (
                "all updated and available",
                at(2, json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2})),
                Rollout::Complete,
            ),
            ("zero replicas wanted", at(0, json!({"observedGeneration": 2})), Rollout::Complete),
            (
                "progress deadline exceeded",
                at(
                    1,
                    json!({"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False",
                    "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"orders-5c\" has timed out progressing."}]}),
                ),
                Rollout::Failed(
                    "Deployment orders: ProgressDeadlineExceeded: ReplicaSet \"orders-5c\" has timed out progressing."
                        .into(),
                ),
            ),
        ];
        for (case, deployment, expected) in cases {
            assert_eq!(rollout(&deployment), expected, "{case}");
        }
    }

    #[test]
    fn a_deployment_being_deleted_has_failed() {
        let mut terminating =
            at(1, json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}));
        terminating.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time("2026-01-01T00:00:00Z".parse().unwrap()));
        assert_eq!(rollout(&terminating), Rollout::Failed("Deployment orders is being deleted".into()));
    }

    #[test]
    fn the_cluster_is_ready_when_both_deployments_are_and_failed_when_a_pod_cannot_run() {
        let ready =
            at(1, json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}));
        let starting = at(1, json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1}));
        let crashing = pod(
            json!({"name": "flink-main-container", "ready": false, "restartCount": 3, "image": "flink:2.3", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
            "lastState": {"terminated": {"exitCode": 1}}}),
        );
        let creating = pod(
            json!({"name": "flink-main-container", "ready": false, "restartCount": 0, "image": "flink:2.3", "imageID": "",
            "state": {"waiting": {"reason": "ContainerCreating"}}}),
        );
        assert_eq!(cluster_status(&ready, Some(&ready), &[]), ClusterStatus::Ready);
        assert_eq!(cluster_status(&ready, Some(&starting), std::slice::from_ref(&creating)), ClusterStatus::Deploying);
        assert_eq!(
            cluster_status(&ready, Some(&starting), &[creating, crashing]),
            ClusterStatus::Failed {
                reason: "pod orders-taskmanager-7d9-x2: container flink-main-container is in CrashLoopBackOff: \
                         back-off 40s restarting failed container (last exit code 1)"
                    .into()
            }
        );
        assert_eq!(
            cluster_status(&ready, None, &[]),
            ClusterStatus::Failed { reason: "the TaskManager Deployment orders-taskmanager is missing".into() }
        );
    }

    #[test]
    fn an_image_that_cannot_be_pulled_fails_the_cluster() {
        let pulling = pod(
            json!({"name": "flink-main-container", "ready": false, "restartCount": 0, "image": "flink:9.9", "imageID": "",
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"flink:9.9\""}}}),
        );
        assert_eq!(
            pod_failure(&[pulling]).as_deref(),
            Some(
                "pod orders-taskmanager-7d9-x2: container flink-main-container is in ImagePullBackOff: Back-off pulling image \"flink:9.9\""
            )
        );
    }

    #[test]
    fn long_reasons_are_cut() {
        let long = truncate("x".repeat(1000));
        assert_eq!(long.chars().count(), MAX_REASON_CHARS + 1);
    }

    #[test]
    fn the_deploy_is_read_back_from_the_annotations() {
        let jobmanager = deployment(json!({"metadata": {"name": "orders", "annotations": {
            GENERATION_ANNOTATION: "4", JOB_ID_ANNOTATION: "a".repeat(32)}}}));
        assert_eq!(recorded_deploy(&jobmanager), (Some(4), Some("a".repeat(32))));
        assert_eq!(recorded_deploy(&deployment(json!({"metadata": {"name": "s"}}))), (None, None));
    }
}
