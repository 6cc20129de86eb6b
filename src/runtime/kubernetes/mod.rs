//! `KubernetesRuntime`: the [`Runtime`] that runs each `FlinkDeployment` as Kubernetes objects in Flink's standalone
//! mode. It server-side-applies what `crate::kubernetes::build_cluster` builds, removes what a new spec no longer
//! produces, and reads readiness from the Deployments' status and the cluster's pods (`readiness`).
//!
//! What a deploy was for (generation, job id) is recorded on the JobManager Deployment, so a restarted operator
//! reads it back instead of keeping state of its own.
//!
//! # RBAC
//! `get` on `flinkdeployments`; `get`, `patch`, `delete` on ConfigMaps, Services, Deployments and Ingresses;
//! `list` on Pods: the chart's operator role grants them.

mod objects;
mod readiness;
#[cfg(test)]
mod tests;

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};

pub use objects::{CONFIG_HASH_ANNOTATION, DEFAULT_REST_URL_TEMPLATE, JOB_ID_ANNOTATION};
use objects::{Kind, ObjectRef};

use crate::crd::FlinkDeployment;
use crate::kubernetes::{KubernetesDefaults, build_cluster, names};
use crate::runtime::{ClusterId, ClusterObservation, ClusterSpec, ClusterStatus, Runtime, RuntimeError};

/// Field manager of every object the runtime applies.
pub const FIELD_MANAGER: &str = "flinkops";

/// Runs Flink clusters as Deployments and Services on Kubernetes.
///
/// Built with [`KubernetesRuntime::new`] and tuned with the `with_*` methods.
pub struct KubernetesRuntime {
    client: Client,
    defaults: KubernetesDefaults,
    rest_url_template: String,
    deploy_timeout: Duration,
    delete_timeout: Duration,
    poll_interval: Duration,
}

impl KubernetesRuntime {
    /// A runtime on `client`, filling what a `FlinkDeployment` leaves out from `defaults`. It waits up to 60 s for
    /// a deploy to become ready and for a deleted cluster's Deployments to be gone, looking every 2 s, and reports
    /// the in-cluster REST URL ([`DEFAULT_REST_URL_TEMPLATE`]).
    pub fn new(client: Client, defaults: KubernetesDefaults) -> Self {
        KubernetesRuntime {
            client,
            defaults,
            rest_url_template: DEFAULT_REST_URL_TEMPLATE.to_owned(),
            deploy_timeout: Duration::from_secs(60),
            delete_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(2),
        }
    }

    /// The REST URL reported for a cluster, with `{{name}}` and `{{namespace}}` replaced: for an operator outside
    /// the cluster, reaching Flink through a port-forward or an Ingress (`https://flink.example.com/{{name}}`).
    pub fn with_rest_url_template(mut self, template: impl Into<String>) -> Self {
        self.rest_url_template = template.into();
        self
    }

    /// How long `deploy` waits for the cluster to become ready before returning `Deploying` (the controller then
    /// observes it until it is).
    pub fn with_deploy_timeout(mut self, timeout: Duration) -> Self {
        self.deploy_timeout = timeout;
        self
    }

    /// How long `delete` waits for the Deployments (and, through foreground deletion, their pods) to be gone.
    pub fn with_delete_timeout(mut self, timeout: Duration) -> Self {
        self.delete_timeout = timeout;
        self
    }

    /// How often the waits of `deploy` and `delete` look again.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The REST URL of a cluster, from the template.
    pub fn rest_url(&self, id: &ClusterId) -> String {
        objects::rest_url(&self.rest_url_template, id)
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Server-side applies one object as [`FIELD_MANAGER`], forcing conflicts: these objects belong to the operator.
    async fn apply<K>(&self, id: &ClusterId, object: &K) -> Result<(), RuntimeError>
    where
        K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Serialize
            + DeserializeOwned
            + Clone
            + Debug,
    {
        let name = object.meta().name.clone().unwrap_or_default();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.api::<K>(&id.namespace)
            .patch(&name, &params, &Patch::Apply(object))
            .await
            .map_err(|error| api_error(id, &format!("applying {} {name}", K::kind(&())), &error))?;
        debug!(cluster = %id, kind = %K::kind(&()), %name, "applied");
        Ok(())
    }

    async fn get_deployment(&self, id: &ClusterId, name: &str) -> Result<Option<Deployment>, RuntimeError> {
        self.api::<Deployment>(&id.namespace)
            .get_opt(name)
            .await
            .map_err(|error| api_error(id, &format!("reading Deployment {name}"), &error))
    }

    /// The metadata of one object of the cluster, if it exists.
    async fn metadata_of(&self, id: &ClusterId, object: &ObjectRef) -> Result<Option<ObjectMeta>, RuntimeError> {
        let namespace = &id.namespace;
        let name = object.name.as_str();
        let found = match object.kind {
            Kind::ConfigMap => self.api::<ConfigMap>(namespace).get_opt(name).await.map(|o| o.map(|o| o.metadata)),
            Kind::Service => self.api::<Service>(namespace).get_opt(name).await.map(|o| o.map(|o| o.metadata)),
            Kind::Deployment => self.api::<Deployment>(namespace).get_opt(name).await.map(|o| o.map(|o| o.metadata)),
            Kind::Ingress => self.api::<Ingress>(namespace).get_opt(name).await.map(|o| o.map(|o| o.metadata)),
        };
        found.map_err(|error| api_error(id, &format!("reading {:?} {name}", object.kind), &error))
    }

    /// Deletes one object of the cluster with foreground propagation; one that is already gone is fine.
    async fn delete_object(&self, id: &ClusterId, object: &ObjectRef) -> Result<(), RuntimeError> {
        let namespace = &id.namespace;
        let name = object.name.as_str();
        let params = DeleteParams::foreground();
        let deleted = match object.kind {
            Kind::ConfigMap => self.api::<ConfigMap>(namespace).delete(name, &params).await.map(drop),
            Kind::Service => self.api::<Service>(namespace).delete(name, &params).await.map(drop),
            Kind::Deployment => self.api::<Deployment>(namespace).delete(name, &params).await.map(drop),
            Kind::Ingress => self.api::<Ingress>(namespace).delete(name, &params).await.map(drop),
        };
        match deleted {
            Ok(()) => {
                debug!(cluster = %id, kind = ?object.kind, %name, "deleted");
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(api_error(id, &format!("deleting {:?} {name}", object.kind), &error)),
        }
    }

    /// Removes the objects the new spec no longer produces, if this `FlinkDeployment` (`uid`) controls them.
    async fn prune(&self, id: &ClusterId, uid: &str, stale: &[ObjectRef]) -> Result<(), RuntimeError> {
        for object in stale {
            match self.metadata_of(id, object).await? {
                Some(metadata) if objects::owned_by(&metadata, uid) => {
                    info!(cluster = %id, kind = ?object.kind, name = %object.name, "removing an object the spec no longer produces");
                    self.delete_object(id, object).await?;
                }
                Some(_) => {
                    warn!(cluster = %id, kind = ?object.kind, name = %object.name, "not removing an object this FlinkDeployment does not control");
                }
                None => {}
            }
        }
        Ok(())
    }

    /// The JobManager Deployment and the cluster's status, or `None` when there is no JobManager Deployment.
    async fn read_cluster(&self, id: &ClusterId) -> Result<Option<(Deployment, ClusterStatus)>, RuntimeError> {
        let Some(jobmanager) = self.get_deployment(id, &names::jobmanager_deployment(&id.name)).await? else {
            return Ok(None);
        };
        let taskmanager = self.get_deployment(id, &names::taskmanager_deployment(&id.name)).await?;
        let status = match readiness::cluster_status(&jobmanager, taskmanager.as_ref(), &[]) {
            // Pods are only listed while the rollout is unfinished: that is when one can be stuck.
            ClusterStatus::Deploying => {
                let pods = self.pods(id).await?;
                readiness::cluster_status(&jobmanager, taskmanager.as_ref(), &pods)
            }
            status => status,
        };
        Ok(Some((jobmanager, status)))
    }

    /// The pods of both components of the cluster.
    async fn pods(&self, id: &ClusterId) -> Result<Vec<Pod>, RuntimeError> {
        let selector = format!("{}={},{}={}", names::LABEL_APP, id.name, names::LABEL_TYPE, names::TYPE_STANDALONE);
        let pods = self
            .api::<Pod>(&id.namespace)
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|error| api_error(id, "listing the cluster's pods", &error))?;
        Ok(pods.items)
    }

    /// Refuses to apply over a Deployment that is being deleted: the apply would succeed and the deletion would
    /// then take the new cluster with it.
    async fn refuse_while_terminating(&self, id: &ClusterId) -> Result<(), RuntimeError> {
        for name in [names::jobmanager_deployment(&id.name), names::taskmanager_deployment(&id.name)] {
            let terminating =
                self.get_deployment(id, &name).await?.is_some_and(|d| d.metadata.deletion_timestamp.is_some());
            if terminating {
                return Err(RuntimeError::Transient {
                    cluster: id.clone(),
                    message: format!("Deployment {name} of the previous cluster is still being deleted"),
                });
            }
        }
        Ok(())
    }

    /// Observes the cluster until it is no longer deploying or the deploy timeout passes.
    async fn await_rollout(&self, id: &ClusterId) -> Result<ClusterStatus, RuntimeError> {
        let deadline = Instant::now() + self.deploy_timeout;
        loop {
            let status = self.read_cluster(id).await?.map_or(ClusterStatus::Missing, |(_, status)| status);
            let now = Instant::now();
            if status != ClusterStatus::Deploying || now >= deadline {
                return Ok(status);
            }
            tokio::time::sleep(self.poll_interval.min(deadline - now)).await;
        }
    }

    /// Waits until both Deployments are gone (foreground deletion keeps them until their pods are).
    async fn await_gone(&self, id: &ClusterId) -> Result<(), RuntimeError> {
        let deadline = Instant::now() + self.delete_timeout;
        loop {
            let mut remaining = Vec::new();
            for name in [names::jobmanager_deployment(&id.name), names::taskmanager_deployment(&id.name)] {
                if self.get_deployment(id, &name).await?.is_some() {
                    remaining.push(name);
                }
            }
            if remaining.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RuntimeError::Transient {
                    cluster: id.clone(),
                    message: format!(
                        "Deployment {} still exists {:?} after deleting it (its pods are shutting down)",
                        remaining.join(", "),
                        self.delete_timeout
                    ),
                });
            }
            tokio::time::sleep(self.poll_interval.min(deadline - now)).await;
        }
    }
}

/// An API failure as a runtime error: an object the API server rejects as invalid (422) will be rejected again, so
/// it is bad input; anything else may pass on a retry.
fn api_error(id: &ClusterId, action: &str, error: &kube::Error) -> RuntimeError {
    let cause = match error {
        kube::Error::Api(status) => format!("{} ({} {})", status.message, status.code, status.reason),
        // NB: a proxy URL can carry credentials; its errors are named without it.
        kube::Error::ProxyProtocolUnsupported { .. } | kube::Error::ProxyProtocolDisabled { .. } => {
            "the configured proxy's protocol is not supported".to_owned()
        }
        other => other.to_string(),
    };
    let message = format!("{action}: {cause}");
    match error {
        kube::Error::Api(status) if status.code == 422 => RuntimeError::BadInput { cluster: id.clone(), message },
        _ => RuntimeError::Transient { cluster: id.clone(), message },
    }
}

/// A builder error as bad input, without repeating the cluster name the runtime error already shows.
fn build_error(id: &ClusterId, error: &crate::kubernetes::BuildError) -> RuntimeError {
    let text = error.to_string();
    let message = text.strip_prefix(&format!("{id}: ")).map(str::to_owned).unwrap_or(text);
    RuntimeError::BadInput { cluster: id.clone(), message }
}

/// The image of the JobManager's Flink container.
fn jobmanager_image(jobmanager: &Deployment) -> Option<&str> {
    let containers = &jobmanager.spec.template.spec.as_ref()?.containers;
    containers.iter().find(|c| c.name == names::MAIN_CONTAINER)?.image.as_deref()
}

impl Runtime for KubernetesRuntime {
    /// Applies the cluster's objects and waits (bounded) for it to be ready.
    ///
    /// # Idempotence
    /// Applying the same spec again changes nothing and restarts nothing. A new job id or restore point changes the
    /// JobManager's arguments, a new configuration the pods' configuration hash: the pods are then replaced (the
    /// JobManager with the `Recreate` strategy, so two never run the job at once).
    ///
    /// # Errors
    /// `BadInput` when the objects cannot be built or the API server rejects them as invalid; `Transient` for
    /// every other API failure and while the previous cluster is still being deleted.
    async fn deploy(&self, spec: &ClusterSpec) -> Result<ClusterObservation, RuntimeError> {
        let span = info_span!("deploy", cluster = %spec.id, generation = spec.generation);
        async move {
            let id = &spec.id;
            let deployment = self
                .api::<FlinkDeployment>(&id.namespace)
                .get_opt(&id.name)
                .await
                .map_err(|error| api_error(id, "reading the FlinkDeployment", &error))?
                .ok_or_else(|| RuntimeError::Transient {
                    cluster: id.clone(),
                    message: "the FlinkDeployment does not exist (deleted while deploying?)".to_owned(),
                })?;
            let mut cluster = build_cluster(&deployment, spec, &self.defaults).map_err(|e| build_error(id, &e))?;
            objects::stamp(&mut cluster, spec);
            let stale = objects::stale(&id.name, &cluster);
            // The builders fail without a uid, so it is there; the owner reference carries the same one.
            let uid = deployment.metadata.uid.clone().unwrap_or_default();
            self.refuse_while_terminating(id).await?;
            info!(taskmanagers = spec.taskmanagers, application = spec.job.is_some(), "applying the Flink cluster");
            // Configuration first, so no pod ever starts without it; the Deployments before the Ingress.
            self.apply(id, &cluster.config_map).await?;
            self.apply(id, &cluster.rest_service).await?;
            self.apply(id, &cluster.internal_service).await?;
            self.apply(id, &cluster.jobmanager).await?;
            self.apply(id, &cluster.taskmanager).await?;
            if let Some(ingress) = &cluster.ingress {
                self.apply(id, ingress).await?;
            }
            self.prune(id, &uid, &stale).await?;
            let notes: Vec<String> = jobmanager_image(&cluster.jobmanager)
                .and_then(|image| objects::version_note(image, spec.flink_version))
                .into_iter()
                .collect();
            for note in &notes {
                warn!("{note}");
            }
            let status = self.await_rollout(id).await?;
            match &status {
                ClusterStatus::Ready => info!("Flink cluster ready"),
                ClusterStatus::Deploying => {
                    info!(timeout = ?self.deploy_timeout, "Flink cluster not ready yet; observation continues")
                }
                ClusterStatus::Failed { reason } => warn!(%reason, "Flink cluster failed"),
                ClusterStatus::Missing => warn!("the Flink cluster disappeared while deploying"),
            }
            Ok(ClusterObservation {
                status,
                rest_url: Some(self.rest_url(id)),
                generation: Some(spec.generation),
                job_id: spec.job.as_ref().map(|j| j.job_id.clone()),
                notes,
            })
        }
        .instrument(span)
        .await
    }

    /// Reads the Deployments (and, while they roll out, the pods) of the cluster.
    ///
    /// # Errors
    /// `Transient` when the API cannot be read.
    async fn observe(&self, id: &ClusterId) -> Result<ClusterObservation, RuntimeError> {
        let Some((jobmanager, status)) = self.read_cluster(id).await? else {
            return Ok(ClusterObservation::missing());
        };
        let (generation, job_id) = readiness::recorded_deploy(&jobmanager);
        Ok(ClusterObservation { status, rest_url: Some(self.rest_url(id)), generation, job_id, notes: Vec::new() })
    }

    /// Deletes every object of the cluster (foreground propagation) and waits, bounded, until the Deployments are
    /// gone.
    ///
    /// # Idempotence
    /// Objects already gone are skipped; deleting a missing cluster succeeds.
    ///
    /// # Errors
    /// `Transient` when a delete fails or the Deployments outlive the delete timeout.
    async fn delete(&self, id: &ClusterId) -> Result<(), RuntimeError> {
        info!(cluster = %id, "deleting the Flink cluster");
        for object in objects::every_object(&id.name) {
            self.delete_object(id, &object).await?;
        }
        self.await_gone(id).await
    }
}
