//! The `FlinkDeployment` kind (`flink.apache.org/v1beta1`): a Flink cluster, running one job (application mode) or
//! serving session jobs (session mode, no `job`).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::common::{DeploymentMode, FlinkVersion, IngressSpec, JobManagerSpec, JobSpec, PodTemplate, TaskManagerSpec};
use super::flink_config::FlinkConfiguration;
use super::status::FlinkDeploymentStatus;

/// Desired state of a Flink cluster and, in application mode, its job.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[kube(
    group = "flink.apache.org",
    version = "v1beta1",
    kind = "FlinkDeployment",
    plural = "flinkdeployments",
    singular = "flinkdeployment",
    shortname = "flinkdep",
    namespaced,
    status = "FlinkDeploymentStatus",
    derive = "PartialEq",
    doc = "A Flink cluster (application or session mode) managed by flinkops, wire-compatible with the Apache Flink Kubernetes Operator.",
    scale(
        spec_replicas_path = ".spec.taskManager.replicas",
        status_replicas_path = ".status.taskManager.replicas",
        label_selector_path = ".status.taskManager.labelSelector"
    ),
    printcolumn = r#"{"name": "Job Status", "type": "string", "jsonPath": ".status.jobStatus.state", "priority": 0}"#,
    printcolumn = r#"{"name": "Lifecycle State", "type": "string", "jsonPath": ".status.lifecycleState", "priority": 0}"#
)]
#[serde(rename_all = "camelCase")]
pub struct FlinkDeploymentSpec {
    /// The job; absent for a session cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSpec>,
    /// A new value restarts the cluster and job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_nonce: Option<i64>,
    /// Flink configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_configuration: Option<FlinkConfiguration>,
    /// Flink image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image pull policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Service account of the JobManager and TaskManager pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Flink version of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_version: Option<FlinkVersion>,
    /// Ingress for the REST endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// Base pod template for JobManager and TaskManager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<Box<PodTemplate>>,
    /// The JobManager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_manager: Option<JobManagerSpec>,
    /// The TaskManagers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_manager: Option<TaskManagerSpec>,
    /// Log configuration files (`log4j-console.properties`, `logback-console.xml`) by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<BTreeMap<String, String>>,
    /// Deployment mode; immutable after the first deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DeploymentMode>,
}

impl FlinkDeploymentSpec {
    /// Whether this is a session cluster (no job).
    pub fn is_session_cluster(&self) -> bool {
        self.job.is_none()
    }

    /// The flattened Flink configuration (empty when none is set).
    pub fn flink_config(&self) -> BTreeMap<String, String> {
        self.flink_configuration.as_ref().map(FlinkConfiguration::flatten).unwrap_or_default()
    }
}
