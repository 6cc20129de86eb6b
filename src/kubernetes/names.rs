//! Names, labels, ports and owner references of the Kubernetes objects of one Flink cluster, as upstream's
//! standalone mode spells them: Deployments `<name>` and `<name>-taskmanager`, Services `<name>-rest` and `<name>`,
//! ConfigMap `flink-config-<name>`, labels `app`, `component` and `type: flink-standalone-kubernetes`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::BuildError;
use crate::crd::{API_VERSION, FlinkDeployment};
use crate::runtime::ClusterId;

/// Label key holding the cluster name.
pub const LABEL_APP: &str = "app";
/// Label key holding the component ([`Component`]).
pub const LABEL_COMPONENT: &str = "component";
/// Label key holding the deployment type.
pub const LABEL_TYPE: &str = "type";
/// Value of [`LABEL_TYPE`]: upstream's standalone-mode value, so upstream tooling's selectors keep working.
pub const TYPE_STANDALONE: &str = "flink-standalone-kubernetes";
/// The recommended `app.kubernetes.io/managed-by` label key.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "flinkops";
/// Annotation on the JobManager Deployment with the `metadata.generation` it was deployed for (upstream's key),
/// which recognises an upgrade that was done before a crash.
pub const GENERATION_ANNOTATION: &str = "flinkdeployment.flink.apache.org/generation";
/// Name of the container that runs Flink in every pod template.
pub const MAIN_CONTAINER: &str = "flink-main-container";
/// Name of the volume holding the Flink configuration.
pub const CONFIG_VOLUME: &str = "flink-config-volume";

/// REST port of the JobManager (Service `<name>-rest`).
pub const REST_PORT: i32 = 8081;
/// RPC port of the JobManager.
pub const JOBMANAGER_RPC_PORT: i32 = 6123;
/// Blob server port of the JobManager.
pub const BLOB_PORT: i32 = 6124;
/// RPC port of a TaskManager.
pub const TASKMANAGER_RPC_PORT: i32 = 6122;

/// Which half of a cluster a pod belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// The JobManager.
    JobManager,
    /// The TaskManagers.
    TaskManager,
}

impl Component {
    /// The value of the `component` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::JobManager => "jobmanager",
            Component::TaskManager => "taskmanager",
        }
    }
}

/// Name of the JobManager Deployment.
pub fn jobmanager_deployment(cluster: &str) -> String {
    cluster.to_owned()
}

/// Name of the TaskManager Deployment.
pub fn taskmanager_deployment(cluster: &str) -> String {
    format!("{cluster}-taskmanager")
}

/// Name of the REST Service (also the Ingress backend).
pub fn rest_service(cluster: &str) -> String {
    format!("{cluster}-rest")
}

/// Name of the internal (RPC and blob) Service; TaskManagers reach the JobManager by this name.
pub fn internal_service(cluster: &str) -> String {
    cluster.to_owned()
}

/// Name of the ConfigMap with the Flink and log configuration.
pub fn config_map(cluster: &str) -> String {
    format!("flink-config-{cluster}")
}

/// Name of the Ingress.
pub fn ingress(cluster: &str) -> String {
    cluster.to_owned()
}

/// The in-cluster REST URL of a cluster.
pub fn rest_url(id: &ClusterId) -> String {
    format!("http://{}.{}:{REST_PORT}", rest_service(&id.name), id.namespace)
}

/// Labels that select the pods of one component: `app`, `component`, `type`. Never changes for a cluster, since a
/// Deployment's selector is immutable.
pub fn selector(cluster: &str, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_APP.to_owned(), cluster.to_owned()),
        (LABEL_COMPONENT.to_owned(), component.as_str().to_owned()),
        (LABEL_TYPE.to_owned(), TYPE_STANDALONE.to_owned()),
    ])
}

/// Labels of every object of a cluster: `app`, `type` and `app.kubernetes.io/managed-by`.
pub fn common_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_APP.to_owned(), cluster.to_owned()),
        (LABEL_TYPE.to_owned(), TYPE_STANDALONE.to_owned()),
        (LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
    ])
}

/// Labels of the objects of one component: [`common_labels`] plus `component`.
pub fn component_labels(cluster: &str, component: Component) -> BTreeMap<String, String> {
    let mut labels = common_labels(cluster);
    labels.insert(LABEL_COMPONENT.to_owned(), component.as_str().to_owned());
    labels
}

/// The TaskManager label selector as `status.taskManager.labelSelector` reports it (upstream's spelling).
pub fn taskmanager_label_selector(cluster: &str) -> String {
    format!("{LABEL_COMPONENT}={},{LABEL_APP}={cluster}", Component::TaskManager.as_str())
}

/// The owner reference every object of a cluster carries, so deleting the `FlinkDeployment` deletes them (garbage
/// collection) and kube-runtime's `Controller::owns` maps their events back to it.
///
/// # Errors
/// [`BuildError::MissingUid`] when the deployment has no `metadata.uid` (it was never stored by the API server).
pub fn owner_reference(deployment: &FlinkDeployment) -> Result<OwnerReference, BuildError> {
    let id = ClusterId::of(deployment);
    let uid = deployment.metadata.uid.clone().filter(|u| !u.is_empty()).ok_or(BuildError::MissingUid(id.clone()))?;
    Ok(OwnerReference {
        api_version: API_VERSION.to_owned(),
        kind: "FlinkDeployment".to_owned(),
        name: id.name,
        uid,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_upstream_standalone_mode() {
        assert_eq!(jobmanager_deployment("orders"), "orders");
        assert_eq!(taskmanager_deployment("orders"), "orders-taskmanager");
        assert_eq!(rest_service("orders"), "orders-rest");
        assert_eq!(internal_service("orders"), "orders");
        assert_eq!(config_map("orders"), "flink-config-orders");
        assert_eq!(taskmanager_label_selector("orders"), "component=taskmanager,app=orders");
        let id = ClusterId { namespace: "streaming".into(), name: "orders".into() };
        assert_eq!(rest_url(&id), "http://orders-rest.streaming:8081");
    }

    #[test]
    fn selectors_carry_app_component_and_type_only() {
        let selector = selector("orders", Component::TaskManager);
        let pairs: Vec<_> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(pairs, ["app=orders", "component=taskmanager", "type=flink-standalone-kubernetes"]);
        let labels = component_labels("orders", Component::JobManager);
        assert_eq!(labels[LABEL_MANAGED_BY], "flinkops");
        assert_eq!(labels[LABEL_COMPONENT], "jobmanager");
    }

    #[test]
    fn the_owner_reference_needs_a_uid() {
        let mut deployment = FlinkDeployment::new("orders", Default::default());
        assert!(matches!(owner_reference(&deployment), Err(BuildError::MissingUid(_))));
        deployment.metadata.uid = Some("u-1".into());
        let owner = owner_reference(&deployment).unwrap();
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("flink.apache.org/v1beta1", "FlinkDeployment", "orders", "u-1")
        );
        assert_eq!((owner.controller, owner.block_owner_deletion), (Some(true), Some(true)));
    }
}
