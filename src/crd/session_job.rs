//! The `FlinkSessionJob` kind (`flink.apache.org/v1beta1`): a job submitted to a session `FlinkDeployment`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::common::JobSpec;
use super::flink_config::FlinkConfiguration;
use super::status::FlinkSessionJobStatus;

/// Desired state of a job running on a session cluster.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[kube(
    group = "flink.apache.org",
    version = "v1beta1",
    kind = "FlinkSessionJob",
    plural = "flinksessionjobs",
    singular = "flinksessionjob",
    shortname = "sessionjob",
    namespaced,
    status = "FlinkSessionJobStatus",
    derive = "PartialEq",
    doc = "A Flink job on a session cluster managed by flinkops, wire-compatible with the Apache Flink Kubernetes Operator.",
    printcolumn = r#"{"name": "Job Status", "type": "string", "jsonPath": ".status.jobStatus.state", "priority": 0}"#,
    printcolumn = r#"{"name": "Lifecycle State", "type": "string", "jsonPath": ".status.lifecycleState", "priority": 0}"#
)]
#[serde(rename_all = "camelCase")]
pub struct FlinkSessionJobSpec {
    /// Name of the session `FlinkDeployment` in the same namespace; immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_name: Option<String>,
    /// The job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSpec>,
    /// A new value restarts the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_nonce: Option<i64>,
    /// Per-job Flink configuration layered over the session cluster's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flink_configuration: Option<FlinkConfiguration>,
}

impl FlinkSessionJobSpec {
    /// The flattened per-job Flink configuration (empty when none is set).
    pub fn flink_config(&self) -> BTreeMap<String, String> {
        self.flink_configuration.as_ref().map(FlinkConfiguration::flatten).unwrap_or_default()
    }
}
