//! The Kubernetes objects of a Flink cluster, built purely from a `FlinkDeployment`, the [`ClusterSpec`] the
//! operator decided to deploy, and the operator's [`KubernetesDefaults`]: no IO here. Applying them (server-side
//! apply with field manager `flinkops`) and reading their status belong to the Kubernetes runtime next door.
//!
//! Start at [`build_cluster`]. One cluster is, as in upstream's standalone mode:
//!
//! | object | name | what |
//! |---|---|---|
//! | ConfigMap | `flink-config-<name>` | `config.yaml` (Flink 2.x) or `flink-conf.yaml` (1.x) and the log configuration ([`config`]) |
//! | Deployment | `<name>` | the JobManager: `standalone-job` (application) or `jobmanager` (session) ([`workloads`]) |
//! | Deployment | `<name>-taskmanager` | the TaskManagers, as many as the [`ClusterSpec`] says |
//! | Service | `<name>-rest` | REST on 8081 ([`network`]) |
//! | Service | `<name>` | headless: JobManager RPC (6123) and blob server (6124) |
//! | Ingress | `<name>` | only with `spec.ingress` |
//!
//! Every object carries the labels of [`names`] and a controller owner reference to the `FlinkDeployment`, so
//! deleting the resource deletes its cluster. Pod templates merge as [`pod_template`] describes.
//!
//! [`events`] (Kubernetes events about Flink resources, deduplicated) and [`leader`] (leader election on a Lease)
//! are the submodules that call the API.

pub mod config;
pub mod events;
pub mod leader;
pub mod names;
pub mod network;
pub mod pod_template;
pub mod workloads;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::crd::FlinkDeployment;
use crate::runtime::{ClusterId, ClusterSpec};

/// The operator's defaults for what a `FlinkDeployment` leaves out.
#[derive(Debug, Clone, PartialEq)]
pub struct KubernetesDefaults {
    /// Image when neither `spec.image` nor `kubernetes.container.image.ref` names one; `None` falls back to the
    /// official image of the spec's Flink version (`flink:<major>.<minor>`).
    pub image: Option<String>,
    /// Service account of the Flink pods when neither `spec.serviceAccount` nor `kubernetes.service-account` names
    /// one and the pod template has none (the Helm chart creates `flink`).
    pub service_account: Option<String>,
    /// Log configuration files when `spec.logConfiguration` is empty.
    pub log_configuration: BTreeMap<String, String>,
}

impl Default for KubernetesDefaults {
    fn default() -> Self {
        KubernetesDefaults {
            image: None,
            service_account: None,
            log_configuration: BTreeMap::from([(
                "log4j-console.properties".to_owned(),
                config::DEFAULT_LOG4J_CONSOLE.to_owned(),
            )]),
        }
    }
}

/// Why the objects of a cluster cannot be built. None of these is transient: the spec or the defaults must change.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The `FlinkDeployment` has no `metadata.uid`, so nothing can be owned by it (it was not read from the API).
    #[error("{0}: metadata.uid is missing; objects can only be owned by a stored FlinkDeployment")]
    MissingUid(ClusterId),
    /// The cluster spec was built from another resource.
    #[error("cluster spec {cluster} does not belong to FlinkDeployment {deployment}")]
    Mismatch {
        /// The deployment passed.
        deployment: ClusterId,
        /// The cluster spec passed.
        cluster: ClusterId,
    },
    /// No image: none in the spec, the configuration or the defaults, and no Flink version to pick one by.
    #[error("{0}: spec.image is required (no flinkVersion to choose the official image by)")]
    MissingImage(ClusterId),
    /// A job jar whose scheme Flink's class loader cannot read.
    #[error("{cluster}: jarURI {uri:?} is not supported; use local://, file://, http:// or https://")]
    UnsupportedJarUri {
        /// Which cluster.
        cluster: ClusterId,
        /// The URI.
        uri: String,
    },
    /// The merged pod template no longer reads as a pod (a field's type was changed by the overlay).
    #[error("{cluster}: the merged {component} pod template is invalid: {source}")]
    PodTemplate {
        /// Which cluster.
        cluster: ClusterId,
        /// `jobmanager` or `taskmanager`.
        component: &'static str,
        /// What does not decode.
        source: serde_json::Error,
    },
    /// A cpu, memory or storage amount that does not parse.
    #[error("{cluster}: {field}: {reason}")]
    InvalidResource {
        /// Which cluster.
        cluster: ClusterId,
        /// The spec field.
        field: String,
        /// Why.
        reason: String,
    },
    /// A Flink configuration value the layout cannot use.
    #[error("{cluster}: flinkConfiguration {key}: {reason}")]
    InvalidConfig {
        /// Which cluster.
        cluster: ClusterId,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// `spec.ingress` cannot be turned into an Ingress.
    #[error("{cluster}: {reason}")]
    InvalidIngress {
        /// Which cluster.
        cluster: ClusterId,
        /// Why.
        reason: String,
    },
}

/// Every object of one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterObjects {
    /// `flink-config-<name>`.
    pub config_map: ConfigMap,
    /// `<name>-rest`.
    pub rest_service: Service,
    /// `<name>` (headless).
    pub internal_service: Service,
    /// `<name>`.
    pub jobmanager: Deployment,
    /// `<name>-taskmanager`.
    pub taskmanager: Deployment,
    /// `<name>`, with `spec.ingress`.
    pub ingress: Option<Ingress>,
}

impl ClusterObjects {
    /// The objects as JSON (with `apiVersion` and `kind`), in the order to apply them: configuration first, so the
    /// pods never start without it.
    ///
    /// # Errors
    /// Only if a k8s-openapi type fails to serialize, which would be a bug in that crate.
    pub fn to_values(&self) -> Result<Vec<serde_json::Value>, serde_json::Error> {
        let mut values = vec![
            serde_json::to_value(&self.config_map)?,
            serde_json::to_value(&self.rest_service)?,
            serde_json::to_value(&self.internal_service)?,
            serde_json::to_value(&self.jobmanager)?,
            serde_json::to_value(&self.taskmanager)?,
        ];
        if let Some(ingress) = &self.ingress {
            values.push(serde_json::to_value(ingress)?);
        }
        Ok(values)
    }
}

/// What the builders share: the inputs and what is derived from them once.
pub(crate) struct Cluster<'a> {
    deployment: &'a FlinkDeployment,
    spec: &'a ClusterSpec,
    defaults: &'a KubernetesDefaults,
    owner: OwnerReference,
    flink_config: BTreeMap<String, String>,
    image: String,
    image_pull_policy: String,
    service_account: Option<String>,
}

impl<'a> Cluster<'a> {
    fn new(
        deployment: &'a FlinkDeployment,
        spec: &'a ClusterSpec,
        defaults: &'a KubernetesDefaults,
    ) -> Result<Self, BuildError> {
        let id = ClusterId::of(deployment);
        if id != spec.id {
            return Err(BuildError::Mismatch { deployment: id, cluster: spec.id.clone() });
        }
        let owner = names::owner_reference(deployment)?;
        let flink_config = config::flink_config(spec, &deployment.spec)?;
        let non_empty = |value: Option<&String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let image = non_empty(deployment.spec.image.as_ref())
            .or_else(|| non_empty(flink_config.get("kubernetes.container.image.ref")))
            .or_else(|| non_empty(defaults.image.as_ref()))
            .or_else(|| {
                let (major, minor) = deployment.spec.flink_version?.major_minor();
                Some(format!("flink:{major}.{minor}"))
            })
            .ok_or_else(|| BuildError::MissingImage(id.clone()))?;
        let image_pull_policy = non_empty(deployment.spec.image_pull_policy.as_ref())
            .or_else(|| non_empty(flink_config.get("kubernetes.container.image.pull-policy")))
            .unwrap_or_else(|| "IfNotPresent".to_owned());
        let configured_account = non_empty(deployment.spec.service_account.as_ref())
            .or_else(|| non_empty(flink_config.get("kubernetes.service-account")));
        let template_has_account = [
            deployment.spec.pod_template.as_deref(),
            deployment.spec.job_manager.as_ref().and_then(|j| j.pod_template.as_deref()),
            deployment.spec.task_manager.as_ref().and_then(|t| t.pod_template.as_deref()),
        ]
        .into_iter()
        .flatten()
        .any(|t| t.spec.as_ref().is_some_and(|s| s.service_account_name.is_some()));
        let service_account = configured_account
            .or_else(|| if template_has_account { None } else { non_empty(defaults.service_account.as_ref()) });
        Ok(Cluster { deployment, spec, defaults, owner, flink_config, image, image_pull_policy, service_account })
    }

    fn name(&self) -> &str {
        &self.spec.id.name
    }

    fn namespace(&self) -> &str {
        &self.spec.id.namespace
    }

    /// Metadata of one object: name, namespace, labels and the owner reference.
    fn metadata(&self, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace().to_owned()),
            labels: Some(labels),
            owner_references: Some(vec![self.owner.clone()]),
            ..Default::default()
        }
    }
}

/// Builds every object of the cluster `spec` of `deployment`.
///
/// `deployment` must be the stored resource (its `metadata.uid` becomes the owner reference) and `spec` must have
/// been built from it (`runtime::cluster::build`).
///
/// # Errors
/// See [`BuildError`]; each names the cluster and the field at fault.
pub fn build_cluster(
    deployment: &FlinkDeployment,
    spec: &ClusterSpec,
    defaults: &KubernetesDefaults,
) -> Result<ClusterObjects, BuildError> {
    let cluster = Cluster::new(deployment, spec, defaults)?;
    Ok(ClusterObjects {
        config_map: config::config_map(&cluster),
        rest_service: network::rest_service(&cluster)?,
        internal_service: network::internal_service(&cluster),
        jobmanager: workloads::jobmanager_deployment(&cluster)?,
        taskmanager: workloads::taskmanager_deployment(&cluster)?,
        ingress: deployment.spec.ingress.as_ref().map(|i| network::ingress(&cluster, i)).transpose()?,
    })
}
