//! The JobManager and TaskManager Deployments of a cluster, in Flink's standalone mode: the official image's
//! `/docker-entrypoint.sh` with `standalone-job` (an application cluster: job class, job id, savepoint restore,
//! `--allowNonRestoredState`, then the job's arguments), `jobmanager` (a session cluster) or `taskmanager`.
//! Under Kubernetes high availability the JobManager advertises its pod IP (`-Djobmanager.rpc.address`), as
//! upstream does since `--host` left Flink 2.0.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector, Probe,
    ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::CONF_DIR;
use super::names::{self, BLOB_PORT, Component, JOBMANAGER_RPC_PORT, REST_PORT, TASKMANAGER_RPC_PORT};
use super::pod_template::{self, FlinkPod, MERGE_ARRAYS_BY_NAME};
use super::{BuildError, Cluster};
use crate::crd::{PodTemplate, Resource};
use crate::units;

/// The image's entry point, unless `kubernetes.entry.path` names another.
pub const DEFAULT_ENTRYPOINT: &str = "/docker-entrypoint.sh";
/// Environment variable with the pod's IP (Flink's own name for it).
pub const POD_IP_ENV: &str = "_POD_IP_ADDRESS";

/// Formats bytes as a Kubernetes quantity, exact and short (`2Gi`, `1600Mi`, `1000`).
pub fn memory_quantity(bytes: u64) -> Quantity {
    const UNITS: [(u64, &str); 4] = [(1 << 40, "Ti"), (1 << 30, "Gi"), (1 << 20, "Mi"), (1 << 10, "Ki")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return Quantity(format!("{}{unit}", bytes / size));
        }
    }
    Quantity(bytes.to_string())
}

/// Formats cores as a Kubernetes quantity (`2`, `500m`, `1500m`).
pub fn cpu_quantity(cores: f64) -> Quantity {
    let millis = (cores * 1000.0).round();
    if millis % 1000.0 == 0.0 { Quantity(format!("{}", millis / 1000.0)) } else { Quantity(format!("{millis}m")) }
}

fn factor(config: &BTreeMap<String, String>, key: &str) -> f64 {
    config.get(key).and_then(|v| v.trim().parse::<f64>().ok()).filter(|f| *f >= 1.0).unwrap_or(1.0)
}

/// The main container's resources: `spec.*.resources` as written (memory normalised the way upstream reads it, so
/// `2048m` is 2048 MiB), else cpu and memory from the Flink configuration (requests; limits times the
/// `kubernetes.<component>.{cpu,memory}.limit-factor`) and `spec.*.resource.ephemeralStorage`.
fn resources(cluster: &Cluster<'_>, component: Component) -> Result<ResourceRequirements, BuildError> {
    let spec = &cluster.deployment.spec;
    let (resource, requirements): (Option<&Resource>, Option<&ResourceRequirements>) = match component {
        Component::JobManager => {
            spec.job_manager.as_ref().map_or((None, None), |j| (j.resource.as_ref(), j.resources.as_ref()))
        }
        Component::TaskManager => {
            spec.task_manager.as_ref().map_or((None, None), |t| (t.resource.as_ref(), t.resources.as_ref()))
        }
    };
    let invalid = |field: &str, reason: String| BuildError::InvalidResource {
        cluster: cluster.spec.id.clone(),
        field: format!(
            "spec.{}.{field}",
            if component == Component::JobManager { "jobManager" } else { "taskManager" }
        ),
        reason,
    };
    if let Some(requirements) = requirements {
        let mut normalised = requirements.clone();
        for (kind, map) in [("requests", &mut normalised.requests), ("limits", &mut normalised.limits)] {
            if let Some(memory) = map.as_mut().and_then(|m| m.get_mut("memory")) {
                let bytes = units::parse_memory(&memory.0)
                    .map_err(|e| invalid(&format!("resources.{kind}.memory"), e.to_string()))?;
                *memory = memory_quantity(bytes);
            }
        }
        return Ok(normalised);
    }
    let config = &cluster.flink_config;
    let prefix = component.as_str();
    let cpu: f64 = match config.get(&format!("kubernetes.{prefix}.cpu.amount")) {
        Some(text) => units::parse_cpu(text).map_err(|e| invalid("resource.cpu", e.to_string()))?,
        None => 1.0,
    };
    let mut requests = BTreeMap::from([("cpu".to_owned(), cpu_quantity(cpu))]);
    let mut limits = BTreeMap::from([(
        "cpu".to_owned(),
        cpu_quantity(cpu * factor(config, &format!("kubernetes.{prefix}.cpu.limit-factor"))),
    )]);
    if let Some(size) = config.get(&format!("{prefix}.memory.process.size")) {
        let bytes = units::parse_flink_memory(size).map_err(|e| invalid("resource.memory", e.to_string()))?;
        let limit = bytes as f64 * factor(config, &format!("kubernetes.{prefix}.memory.limit-factor"));
        requests.insert("memory".into(), memory_quantity(bytes));
        limits.insert("memory".into(), memory_quantity(limit.ceil() as u64));
    }
    if let Some(storage) = resource.and_then(|r| r.ephemeral_storage.as_deref()) {
        units::parse_kubernetes_quantity(storage).map_err(|e| invalid("resource.ephemeralStorage", e.to_string()))?;
        requests.insert("ephemeral-storage".into(), Quantity(storage.to_owned()));
        limits.insert("ephemeral-storage".into(), Quantity(storage.to_owned()));
    }
    Ok(ResourceRequirements { requests: Some(requests), limits: Some(limits), ..Default::default() })
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn pod_ip_env() -> EnvVar {
    EnvVar {
        name: POD_IP_ENV.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: "status.podIP".into(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The arguments of the JobManager's entry point.
pub(super) fn jobmanager_args(cluster: &Cluster<'_>) -> Vec<String> {
    let ha = super::config::is_kubernetes_ha(&cluster.flink_config);
    let ha_arg = format!("-Djobmanager.rpc.address=$({POD_IP_ENV})");
    let Some(job) = &cluster.spec.job else {
        let mut args = vec!["jobmanager".to_owned()];
        if ha {
            args.push(ha_arg);
        }
        return args;
    };
    let mut args = vec!["standalone-job".to_owned()];
    if let Some(class) = &job.entry_class {
        args.extend(["--job-classname".to_owned(), class.clone()]);
    }
    args.extend(["--job-id".to_owned(), job.job_id.clone()]);
    if let Some(restore) = &job.restore {
        if restore.allow_non_restored_state {
            args.push("--allowNonRestoredState".to_owned());
        }
        args.extend(["--fromSavepoint".to_owned(), restore.path.clone()]);
    }
    if ha {
        args.push(ha_arg);
    }
    // Everything after the options goes to the job's main().
    args.extend(job.args.iter().cloned());
    args
}

fn template_of(cluster: &Cluster<'_>, component: Component) -> Result<PodTemplate, BuildError> {
    let spec = &cluster.deployment.spec;
    let specific = match component {
        Component::JobManager => spec.job_manager.as_ref().and_then(|j| j.pod_template.as_deref()),
        Component::TaskManager => spec.task_manager.as_ref().and_then(|t| t.pod_template.as_deref()),
    };
    let by_name = cluster.flink_config.get(MERGE_ARRAYS_BY_NAME).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    pod_template::merge_pod_templates(spec.pod_template.as_deref(), specific, by_name).map_err(|source| {
        BuildError::PodTemplate { cluster: cluster.spec.id.clone(), component: component.as_str(), source }
    })
}

fn pull_secrets(cluster: &Cluster<'_>) -> Vec<String> {
    cluster
        .flink_config
        .get("kubernetes.container.image.pull-secrets")
        .map(|v| v.split([';', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn deployment(
    cluster: &Cluster<'_>,
    component: Component,
    replicas: i32,
    main_container: Container,
) -> Result<Deployment, BuildError> {
    let name = cluster.name();
    let config_volume = Volume {
        name: names::CONFIG_VOLUME.to_owned(),
        config_map: Some(ConfigMapVolumeSource { name: names::config_map(name), ..Default::default() }),
        ..Default::default()
    };
    let flink_pod = FlinkPod {
        labels: names::component_labels(name, component),
        annotations: BTreeMap::new(),
        main_container,
        volumes: vec![config_volume],
        service_account: cluster.service_account.clone(),
        image_pull_secrets: pull_secrets(cluster),
    };
    let template = pod_template::apply_flink_pod(template_of(cluster, component)?, flink_pod);
    let deployment_name = match component {
        Component::JobManager => names::jobmanager_deployment(name),
        Component::TaskManager => names::taskmanager_deployment(name),
    };
    let mut metadata = cluster.metadata(deployment_name, names::component_labels(name, component));
    // The generation the cluster was deployed for, to recognise an upgrade done before a crash.
    metadata.annotations =
        Some(BTreeMap::from([(names::GENERATION_ANNOTATION.to_owned(), cluster.spec.generation.to_string())]));
    Ok(Deployment {
        metadata,
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: Some(names::selector(name, component)), ..Default::default() },
            // Two JobManagers of one application cluster would each run the job: replace, never overlap.
            strategy: (component == Component::JobManager)
                .then(|| DeploymentStrategy { type_: Some("Recreate".into()), ..Default::default() }),
            template,
            ..Default::default()
        },
        ..Default::default()
    })
}

fn main_container(cluster: &Cluster<'_>, args: Vec<String>, ports: Vec<ContainerPort>) -> Container {
    let entrypoint =
        cluster.flink_config.get("kubernetes.entry.path").cloned().unwrap_or_else(|| DEFAULT_ENTRYPOINT.into());
    Container {
        name: names::MAIN_CONTAINER.to_owned(),
        image: Some(cluster.image.clone()),
        image_pull_policy: Some(cluster.image_pull_policy.clone()),
        command: Some(vec![entrypoint]),
        args: Some(args),
        env: Some(vec![pod_ip_env()]),
        ports: Some(ports),
        volume_mounts: Some(vec![VolumeMount {
            name: names::CONFIG_VOLUME.to_owned(),
            mount_path: CONF_DIR.to_owned(),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

/// The JobManager Deployment `<name>`: `spec.jobManager.replicas` (default 1) pods, replaced with the `Recreate`
/// strategy, annotated with the generation it was deployed for, ready once REST answers.
pub(super) fn jobmanager_deployment(cluster: &Cluster<'_>) -> Result<Deployment, BuildError> {
    let jm = cluster.deployment.spec.job_manager.as_ref();
    let mut container = main_container(
        cluster,
        jobmanager_args(cluster),
        vec![port("rest", REST_PORT), port("jobmanager-rpc", JOBMANAGER_RPC_PORT), port("blobserver", BLOB_PORT)],
    );
    container.resources = Some(resources(cluster, Component::JobManager)?);
    container.readiness_probe = Some(Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/config".into()),
            port: IntOrString::String("rest".into()),
            ..Default::default()
        }),
        period_seconds: Some(5),
        ..Default::default()
    });
    let replicas = jm.and_then(|j| j.replicas).filter(|r| *r > 0).unwrap_or(1);
    deployment(cluster, Component::JobManager, replicas, container)
}

/// The TaskManager Deployment `<name>-taskmanager` with the [`ClusterSpec`](crate::runtime::ClusterSpec)'s number
/// of TaskManagers.
pub(super) fn taskmanager_deployment(cluster: &Cluster<'_>) -> Result<Deployment, BuildError> {
    let mut container =
        main_container(cluster, vec!["taskmanager".to_owned()], vec![port("taskmanager-rpc", TASKMANAGER_RPC_PORT)]);
    container.resources = Some(resources(cluster, Component::TaskManager)?);
    let replicas = i32::try_from(cluster.spec.taskmanagers).unwrap_or(i32::MAX);
    deployment(cluster, Component::TaskManager, replicas, container)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_exact_and_short() {
        assert_eq!(memory_quantity(2 << 30).0, "2Gi");
        assert_eq!(memory_quantity(1600 << 20).0, "1600Mi");
        assert_eq!(memory_quantity(1000).0, "1000");
        assert_eq!(cpu_quantity(2.0).0, "2");
        assert_eq!(cpu_quantity(0.5).0, "500m");
        assert_eq!(cpu_quantity(1.25).0, "1250m");
    }
}
