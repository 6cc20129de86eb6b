//! `ClusterSpec`: what a runtime deploys, built purely from a `FlinkDeployment` and the operator's intent (job id,
//! restore point). Both runtimes take this one description, so what runs locally is what runs on Kubernetes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crd::{FlinkDeployment, FlinkSessionJob, FlinkVersion};
use crate::flink::config_render;

/// A cluster's identity: the namespace and name of its `FlinkDeployment`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClusterId {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ClusterId {
    /// The id of a deployment (`default` namespace when unset).
    pub fn of(deployment: &FlinkDeployment) -> Self {
        ClusterId {
            namespace: crate::validation::namespace_of(&deployment.metadata),
            name: deployment.metadata.name.clone().unwrap_or_default(),
        }
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where a job restores from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restore {
    /// Savepoint or retained checkpoint path.
    pub path: String,
    /// Skip state that does not map to the new job graph.
    pub allow_non_restored_state: bool,
}

/// The job an application cluster runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationJob {
    /// Jar URI as written (`local://`, `file://`, `https://`); the runtime resolves it.
    pub jar_uri: String,
    /// Main class, if the jar's manifest does not name one.
    pub entry_class: Option<String>,
    /// Program arguments.
    pub args: Vec<String>,
    /// Job id, fixed by the operator before deploying so a retry submits the same id.
    pub job_id: String,
    /// Restore point, if any.
    pub restore: Option<Restore>,
}

/// Everything a runtime needs to deploy one Flink cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// Identity.
    pub id: ClusterId,
    /// `metadata.generation` the cluster is deployed for (stamped on it, to recognise "already upgraded").
    pub generation: i64,
    /// Flink version of the spec.
    pub flink_version: Option<FlinkVersion>,
    /// The effective Flink configuration.
    pub flink_config: BTreeMap<String, String>,
    /// Number of TaskManagers.
    pub taskmanagers: u32,
    /// The job, for an application cluster; `None` for a session cluster.
    pub job: Option<ApplicationJob>,
    /// Log configuration files by name.
    pub log_configuration: BTreeMap<String, String>,
    /// For a session job: the session cluster (same namespace) the job is submitted to; `flink_config` then holds
    /// only the job's own options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_cluster: Option<String>,
}

/// The operator's decisions that go into a deployment besides the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployIntent {
    /// Job id to submit with (application clusters).
    pub job_id: Option<String>,
    /// Restore point.
    pub restore: Option<Restore>,
}

/// Why a deployment cannot be turned into a cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// An application cluster without a jar.
    #[error("{0}: spec.job.jarURI is required to deploy an application cluster")]
    MissingJar(ClusterId),
    /// An application cluster without a job id from the operator.
    #[error("{0}: no job id was fixed before deploying")]
    MissingJobId(ClusterId),
    /// A session job without a job, or without the session cluster to run on.
    #[error("{0}: spec.deploymentName and spec.job are required to submit a session job")]
    MissingSessionTarget(ClusterId),
}

/// Builds the cluster description of a deployment.
pub fn build(deployment: &FlinkDeployment, intent: &DeployIntent) -> Result<ClusterSpec, BuildError> {
    let id = ClusterId::of(deployment);
    let spec = &deployment.spec;
    let flink_config = config_render::render(spec, &id.name);
    let taskmanagers = config_render::taskmanager_count(spec, &flink_config);
    let job = match &spec.job {
        None => None,
        Some(job) => Some(ApplicationJob {
            jar_uri: job.jar_uri.clone().filter(|j| !j.is_empty()).ok_or_else(|| BuildError::MissingJar(id.clone()))?,
            entry_class: job.entry_class.clone(),
            args: job.args.clone().unwrap_or_default(),
            job_id: intent.job_id.clone().ok_or_else(|| BuildError::MissingJobId(id.clone()))?,
            restore: intent.restore.clone(),
        }),
    };
    Ok(ClusterSpec {
        generation: deployment.metadata.generation.unwrap_or(0),
        flink_version: spec.flink_version,
        flink_config,
        taskmanagers,
        job,
        log_configuration: spec.log_configuration.clone().unwrap_or_default(),
        session_cluster: None,
        id,
    })
}

/// Builds the submission of a session job: the job, its own Flink options (parallelism included) and the session
/// cluster it runs on.
pub fn build_session_job(session_job: &FlinkSessionJob, intent: &DeployIntent) -> Result<ClusterSpec, BuildError> {
    let id = ClusterId {
        namespace: crate::validation::namespace_of(&session_job.metadata),
        name: session_job.metadata.name.clone().unwrap_or_default(),
    };
    let spec = &session_job.spec;
    let (Some(session_cluster), Some(job)) = (spec.deployment_name.clone().filter(|d| !d.is_empty()), &spec.job) else {
        return Err(BuildError::MissingSessionTarget(id));
    };
    let mut flink_config = spec.flink_config();
    if let Some(parallelism) = job.parallelism.filter(|p| *p > 0) {
        flink_config.insert("parallelism.default".to_owned(), parallelism.to_string());
    }
    Ok(ClusterSpec {
        generation: session_job.metadata.generation.unwrap_or(0),
        flink_version: None,
        flink_config,
        taskmanagers: 0,
        job: Some(ApplicationJob {
            jar_uri: job.jar_uri.clone().filter(|j| !j.is_empty()).ok_or_else(|| BuildError::MissingJar(id.clone()))?,
            entry_class: job.entry_class.clone(),
            args: job.args.clone().unwrap_or_default(),
            job_id: intent.job_id.clone().ok_or_else(|| BuildError::MissingJobId(id.clone()))?,
            restore: intent.restore.clone(),
        }),
        log_configuration: BTreeMap::new(),
        session_cluster: Some(session_cluster),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(yaml: &str) -> FlinkDeployment {
        crate::manifests::yaml::from_str(yaml).unwrap()
    }

    const APPLICATION: &str = "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: orders, namespace: streaming, generation: 3}\nspec:\n  flinkVersion: v2_3\n  flinkConfiguration: {taskmanager.numberOfTaskSlots: \"2\"}\n  job: {jarURI: \"local:///job.jar\", args: [--rate, \"10\"], parallelism: 3}\n";

    #[test]
    fn an_application_cluster_carries_its_job_and_intent() {
        let intent = DeployIntent {
            job_id: Some("a".repeat(32)),
            restore: Some(Restore { path: "file:///sp-1".into(), allow_non_restored_state: false }),
        };
        let cluster = build(&deployment(APPLICATION), &intent).unwrap();
        assert_eq!(cluster.id.to_string(), "streaming/orders");
        assert_eq!(cluster.generation, 3);
        assert_eq!(cluster.taskmanagers, 2);
        let job = cluster.job.unwrap();
        assert_eq!(job.args, ["--rate", "10"]);
        assert_eq!(job.restore, intent.restore);
        assert_eq!(cluster.flink_config["parallelism.default"], "3");
    }

    #[test]
    fn an_application_cluster_needs_a_job_id_and_a_jar() {
        assert!(matches!(build(&deployment(APPLICATION), &DeployIntent::default()), Err(BuildError::MissingJobId(_))));
        let no_jar = APPLICATION.replace("jarURI: \"local:///job.jar\", ", "");
        let intent = DeployIntent { job_id: Some("b".repeat(32)), restore: None };
        assert!(matches!(build(&deployment(&no_jar), &intent), Err(BuildError::MissingJar(_))));
    }

    #[test]
    fn a_session_cluster_has_no_job() {
        let session = "apiVersion: flink.apache.org/v1beta1\nkind: FlinkDeployment\nmetadata: {name: s}\nspec: {flinkVersion: v2_3, taskManager: {replicas: 2}}\n";
        let cluster = build(&deployment(session), &DeployIntent::default()).unwrap();
        assert!(cluster.job.is_none());
        assert_eq!(cluster.taskmanagers, 2);
        assert_eq!(cluster.id.namespace, "default");
    }
}
