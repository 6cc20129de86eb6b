//! The kinds the lifecycle controller runs, seen through one deployment-shaped view: a `FlinkSessionJob` is an
//! application job whose "cluster" is a submission to its session cluster, so `decide` and `act` serve both.

use crate::crd::status::{FlinkDeploymentStatus, FlinkSessionJobStatus};
use crate::crd::{FlinkDeployment, FlinkDeploymentSpec, FlinkSessionJob, FlinkSessionJobSpec};
use crate::runtime::cluster::{self, BuildError};
use crate::runtime::{ClusterSpec, DeployIntent};
use crate::store::StoredResource;
use crate::validation::{Context, Finding, rules};

/// The finalizer flinkops puts on every `FlinkDeployment` (upstream's name, so either operator can release it).
pub const DEPLOYMENT_FINALIZER: &str = "flinkdeployments.flink.apache.org/finalizer";
/// The finalizer flinkops puts on every `FlinkSessionJob` (upstream's name).
pub const SESSION_JOB_FINALIZER: &str = "flinksessionjobs.flink.apache.org/finalizer";

/// A kind the lifecycle controller reconciles.
pub trait Managed: StoredResource {
    /// The finalizer that holds a deleted object until its job is cleaned up.
    const FINALIZER: &'static str;

    /// The deployment-shaped view: same metadata, the job and Flink configuration as spec, the status mapped.
    fn view(&self) -> FlinkDeployment;
    /// An object carrying the view's metadata and status (what a status write needs); the spec is mapped back as
    /// far as the view holds it.
    fn from_view(view: FlinkDeployment) -> Self;
    /// What the runtime deploys for `target` (a spec as `decide` chose it, in view form).
    fn cluster_spec(&self, target: &FlinkDeploymentSpec, intent: &DeployIntent) -> Result<ClusterSpec, BuildError>;
    /// The session cluster a session job runs on (`None` for a deployment).
    fn session_cluster(&self) -> Option<&str>;
    /// The rules the spec must pass before it is acted on; `context` knows the session cluster, when there is one.
    fn findings(&self, context: &Context<'_>) -> Vec<Finding>;
}

impl Managed for FlinkDeployment {
    const FINALIZER: &'static str = DEPLOYMENT_FINALIZER;

    fn view(&self) -> FlinkDeployment {
        self.clone()
    }

    fn from_view(view: FlinkDeployment) -> Self {
        view
    }

    fn cluster_spec(&self, target: &FlinkDeploymentSpec, intent: &DeployIntent) -> Result<ClusterSpec, BuildError> {
        let mut deployed = self.clone();
        deployed.spec = target.clone();
        cluster::build(&deployed, intent)
    }

    fn session_cluster(&self) -> Option<&str> {
        None
    }

    fn findings(&self, _context: &Context<'_>) -> Vec<Finding> {
        rules::deployment(self)
    }
}

impl Managed for FlinkSessionJob {
    const FINALIZER: &'static str = SESSION_JOB_FINALIZER;

    fn view(&self) -> FlinkDeployment {
        let spec = FlinkDeploymentSpec {
            job: self.spec.job.clone(),
            restart_nonce: self.spec.restart_nonce,
            flink_configuration: self.spec.flink_configuration.clone(),
            ..FlinkDeploymentSpec::default()
        };
        let status = self.status.clone().map(|status| FlinkDeploymentStatus {
            job_status: status.job_status,
            error: status.error,
            observed_generation: status.observed_generation,
            lifecycle_state: status.lifecycle_state,
            reconciliation_status: status.reconciliation_status,
            conditions: status.conditions,
            ..FlinkDeploymentStatus::default()
        });
        FlinkDeployment { metadata: self.metadata.clone(), spec, status }
    }

    fn from_view(view: FlinkDeployment) -> Self {
        let spec = FlinkSessionJobSpec {
            deployment_name: None,
            job: view.spec.job,
            restart_nonce: view.spec.restart_nonce,
            flink_configuration: view.spec.flink_configuration,
        };
        let status = view.status.map(|status| FlinkSessionJobStatus {
            job_status: status.job_status,
            error: status.error,
            observed_generation: status.observed_generation,
            lifecycle_state: status.lifecycle_state,
            reconciliation_status: status.reconciliation_status,
            conditions: status.conditions,
        });
        FlinkSessionJob { metadata: view.metadata, spec, status }
    }

    fn cluster_spec(&self, target: &FlinkDeploymentSpec, intent: &DeployIntent) -> Result<ClusterSpec, BuildError> {
        let mut job = self.clone();
        job.spec.job = target.job.clone();
        job.spec.flink_configuration = target.flink_configuration.clone();
        cluster::build_session_job(&job, intent)
    }

    fn session_cluster(&self) -> Option<&str> {
        self.spec.deployment_name.as_deref()
    }

    fn findings(&self, context: &Context<'_>) -> Vec<Finding> {
        rules::session_job(self, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION_JOB: &str = "apiVersion: flink.apache.org/v1beta1\nkind: FlinkSessionJob\nmetadata: {name: enrich, namespace: streaming, generation: 4}\nspec:\n  deploymentName: shared\n  flinkConfiguration: {pipeline.name: enrich}\n  job: {jarURI: \"local:///job.jar\", parallelism: 2, upgradeMode: savepoint}\n";

    #[test]
    fn a_session_job_round_trips_through_its_view() {
        let mut job: FlinkSessionJob = crate::manifests::yaml::from_str(SESSION_JOB).unwrap();
        job.status = Some(FlinkSessionJobStatus { observed_generation: Some(4), ..Default::default() });
        let view = job.view();
        assert_eq!(view.metadata, job.metadata);
        assert_eq!(view.spec.job, job.spec.job);
        assert!(view.spec.is_session_cluster() || view.spec.job.is_some());
        let back = FlinkSessionJob::from_view(view);
        assert_eq!(back.status, job.status);
        assert_eq!(back.metadata, job.metadata);
        assert_eq!(back.spec.job, job.spec.job);
    }

    #[test]
    fn a_session_job_deploys_onto_its_session_cluster() {
        let job: FlinkSessionJob = crate::manifests::yaml::from_str(SESSION_JOB).unwrap();
        let intent = DeployIntent { job_id: Some("c".repeat(32)), restore: None };
        let spec = job.cluster_spec(&job.view().spec, &intent).unwrap();
        assert_eq!(spec.session_cluster.as_deref(), Some("shared"));
        assert_eq!(spec.id.to_string(), "streaming/enrich");
        assert_eq!(spec.generation, 4);
        assert_eq!(spec.flink_config.get("parallelism.default").map(String::as_str), Some("2"));
        assert_eq!(spec.flink_config.get("pipeline.name").map(String::as_str), Some("enrich"));
        assert_eq!(spec.job.unwrap().job_id, "c".repeat(32));
    }
}
