//! Spec types shared by `FlinkDeployment` and `FlinkSessionJob`: the job spec, resources, ingress, pod templates
//! and the enumerations whose spellings are part of the `flink.apache.org/v1beta1` wire format.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The desired state of a job (`spec.job.state`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// The job should run.
    #[default]
    Running,
    /// The job should be stopped, keeping its state where the upgrade mode says.
    Suspended,
}

/// How a running job is stopped and restored when its spec changes (`spec.job.upgradeMode`).
///
/// `stateful`, which the user guide documents but upstream never shipped, is read as [`UpgradeMode::LastState`];
/// validation warns about it. It is always written back as `last-state`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UpgradeMode {
    /// Cancel and start from empty state.
    #[default]
    #[serde(rename = "stateless")]
    Stateless,
    /// Stop with a savepoint and restore from it.
    #[serde(rename = "savepoint")]
    Savepoint,
    /// Restore from the latest checkpoint (or HA metadata) without taking a savepoint.
    #[serde(rename = "last-state", alias = "stateful")]
    LastState,
}

impl UpgradeMode {
    /// The spelling used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeMode::Stateless => "stateless",
            UpgradeMode::Savepoint => "savepoint",
            UpgradeMode::LastState => "last-state",
        }
    }

    /// Whether this mode carries state across an upgrade.
    pub fn is_stateful(self) -> bool {
        !matches!(self, UpgradeMode::Stateless)
    }
}

impl JsonSchema for UpgradeMode {
    fn schema_name() -> Cow<'static, str> {
        "UpgradeMode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Upgrade mode of the job. `stateful` is accepted as a deprecated alias of `last-state`.",
            "enum": ["last-state", "savepoint", "stateless", "stateful"]
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

/// The job part of a `FlinkDeployment` (application mode) or a `FlinkSessionJob`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// URI of the job jar (`local://`, `file://`, `https://`).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "jarURI")]
    pub jar_uri: Option<String>,
    /// Job parallelism; ignored when `taskManager.replicas` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// Fully qualified main class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_class: Option<String>,
    /// Program arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Desired state of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    /// Nonce for a manual savepoint; a new value triggers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_trigger_nonce: Option<i64>,
    /// Savepoint to start from on first deployment or with `savepointRedeployNonce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_savepoint_path: Option<String>,
    /// Nonce for a manual checkpoint; a new value triggers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_trigger_nonce: Option<i64>,
    /// How the job is stopped and restored on upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_mode: Option<UpgradeMode>,
    /// Allow skipping savepoint state that cannot be mapped to the new job graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_non_restored_state: Option<bool>,
    /// Nonce for a full redeploy from `initialSavepointPath`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_redeploy_nonce: Option<i64>,
    /// Nonce that wipes autoscaler state and overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaler_reset_nonce: Option<i64>,
}

impl JobSpec {
    /// The desired job state, defaulted as upstream does.
    pub fn desired_state(&self) -> JobState {
        self.state.unwrap_or_default()
    }

    /// The upgrade mode, defaulted as upstream does.
    pub fn effective_upgrade_mode(&self) -> UpgradeMode {
        self.upgrade_mode.unwrap_or_default()
    }
}

/// Cpu, memory and ephemeral storage of a JobManager or TaskManager pod (`spec.*.resource`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Cpu cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// Memory: a Flink size (`2048m`, `2g`) or a Kubernetes quantity (`2Gi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Ephemeral storage as a Kubernetes quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<String>,
}

/// A Pod-shaped template (`apiVersion`, `kind`, `metadata`, `spec`) merged into the JobManager and TaskManager pods.
///
/// Upstream's schema is a full `Pod`; a Kubernetes `PodTemplateSpec` (`metadata` + `spec`) is the same object
/// without `apiVersion`/`kind`, so both shapes are accepted. `status` is accepted for compatibility and ignored.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    /// Usually `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Usually `Pod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Labels and annotations for the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    /// The pod spec to merge; the main container is `flink-main-container`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpec>,
    /// Ignored; accepted (as free-form content) because upstream's schema has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_schema")]
    pub status: Option<serde_json::Value>,
}

/// The JobManager (`spec.jobManager`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobManagerSpec {
    /// Cpu and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// Kubernetes resource requirements (newer alternative to `resource`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Number of JobManager replicas; more than one needs high availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pod template merged over the top-level one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<Box<PodTemplate>>,
}

/// The TaskManagers (`spec.taskManager`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskManagerSpec {
    /// Cpu and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// Kubernetes resource requirements (newer alternative to `resource`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Number of TaskManagers; when set it wins over `job.parallelism`. Target of the scale subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pod template merged over the top-level one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<Box<PodTemplate>>,
}

/// An Ingress for the Flink REST endpoint (`spec.ingress`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// `host[/path]` with `{{name}}` and `{{namespace}}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Ingress class name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Annotations for the Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Labels for the Ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Vec<IngressTls>>,
}

/// One TLS entry of an Ingress.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IngressTls {
    /// Hosts covered by the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    /// Secret holding the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
}

/// Supported Flink versions (`spec.flinkVersion`). `v1_13` and `v1_14` exist on the wire but are rejected by
/// validation, as upstream does.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(non_camel_case_types)]
pub enum FlinkVersion {
    /// Flink 1.13 (unsupported).
    v1_13,
    /// Flink 1.14 (unsupported).
    v1_14,
    /// Flink 1.15.
    v1_15,
    /// Flink 1.16.
    v1_16,
    /// Flink 1.17.
    v1_17,
    /// Flink 1.18.
    v1_18,
    /// Flink 1.19.
    v1_19,
    /// Flink 1.20.
    v1_20,
    /// Flink 2.0.
    v2_0,
    /// Flink 2.1.
    v2_1,
    /// Flink 2.2.
    v2_2,
    /// Flink 2.3.
    v2_3,
    /// Flink 2.4.
    v2_4,
}

impl FlinkVersion {
    /// `(major, minor)` of this version.
    pub fn major_minor(self) -> (u32, u32) {
        match self {
            FlinkVersion::v1_13 => (1, 13),
            FlinkVersion::v1_14 => (1, 14),
            FlinkVersion::v1_15 => (1, 15),
            FlinkVersion::v1_16 => (1, 16),
            FlinkVersion::v1_17 => (1, 17),
            FlinkVersion::v1_18 => (1, 18),
            FlinkVersion::v1_19 => (1, 19),
            FlinkVersion::v1_20 => (1, 20),
            FlinkVersion::v2_0 => (2, 0),
            FlinkVersion::v2_1 => (2, 1),
            FlinkVersion::v2_2 => (2, 2),
            FlinkVersion::v2_3 => (2, 3),
            FlinkVersion::v2_4 => (2, 4),
        }
    }

    /// The oldest version the operator supports.
    pub const OLDEST_SUPPORTED: FlinkVersion = FlinkVersion::v1_15;

    /// Whether this version is at least `other`.
    pub fn is_at_least(self, other: FlinkVersion) -> bool {
        self >= other
    }
}

/// How the cluster is deployed (`spec.mode`). Both are deployed in standalone fashion by flinkops.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentMode {
    /// Flink's native Kubernetes integration upstream; deployed standalone here, with a warning.
    Native,
    /// The operator creates JobManager and TaskManager Deployments itself.
    Standalone,
}

/// Schema of a field whose content is kept as written and never interpreted.
pub(crate) fn free_form_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}
