//! The Flink configuration of a cluster on Kubernetes and the ConfigMap that carries it: the effective
//! configuration of the [`ClusterSpec`] plus the keys the Kubernetes layout owns (addresses, ports, cluster id,
//! high availability, the job jar), written as `config.yaml` (Flink 2.x) or `flink-conf.yaml` (1.x) next to the
//! log configuration. The ConfigMap is mounted over the image's `/opt/flink/conf`, so everything Flink needs from
//! that directory is in it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, ResourceRequirements};

use super::names::{self, BLOB_PORT, JOBMANAGER_RPC_PORT, REST_PORT, TASKMANAGER_RPC_PORT};
use super::{BuildError, Cluster};
use crate::crd::FlinkDeploymentSpec;
use crate::flink::config_render;
use crate::runtime::ClusterSpec;
use crate::units;

/// Where the official Flink image reads its configuration.
pub const CONF_DIR: &str = "/opt/flink/conf";

/// The log configuration used when the spec and the operator defaults give none: console logging at INFO, as the
/// official image's `log4j-console.properties`.
pub const DEFAULT_LOG4J_CONSOLE: &str = "\
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
logger.akka.name = akka
logger.akka.level = INFO
logger.pekko.name = org.apache.pekko
logger.pekko.level = INFO
logger.kafka.name = org.apache.kafka
logger.kafka.level = INFO
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = WARN
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = INFO
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
logger.netty.name = org.jboss.netty.channel.DefaultChannelPipeline
logger.netty.level = OFF
";

/// Memory of a JobManager process when nothing sizes it (the official image's default).
pub const DEFAULT_JOBMANAGER_MEMORY: &str = "1600m";
/// Memory of a TaskManager process when nothing sizes it (the official image's default).
pub const DEFAULT_TASKMANAGER_MEMORY: &str = "1728m";

/// Whether the configuration asks for Kubernetes high availability (`high-availability.type: kubernetes`, the 1.x
/// key `high-availability`, or the factory class name).
pub fn is_kubernetes_ha(config: &BTreeMap<String, String>) -> bool {
    ["high-availability.type", "high-availability"].iter().filter_map(|key| config.get(*key)).any(|value| {
        let value = value.trim();
        value.eq_ignore_ascii_case("kubernetes") || value.ends_with("KubernetesHaServicesFactory")
    })
}

/// The jar URI as the JobManager's class path names it: `local://` (a path in the image) becomes `file://`;
/// `file://`, `http://` and `https://` stay.
///
/// # Errors
/// [`BuildError::UnsupportedJarUri`] for any other scheme (Flink's class loader cannot read it).
pub fn classpath_entry(cluster: &ClusterSpec, jar_uri: &str) -> Result<String, BuildError> {
    if let Some(path) = jar_uri.strip_prefix("local://") {
        return Ok(format!("file://{path}"));
    }
    if ["file://", "http://", "https://"].iter().any(|scheme| jar_uri.starts_with(scheme)) {
        return Ok(jar_uri.to_owned());
    }
    Err(BuildError::UnsupportedJarUri { cluster: cluster.id.clone(), uri: jar_uri.to_owned() })
}

/// Process memory from `spec.*.resources` (Kubernetes requirements, read the way upstream reads memory: a Flink size
/// first, so `2048m` is 2048 MiB), requests before limits.
fn memory_of_requirements(resources: Option<&ResourceRequirements>) -> Option<u64> {
    let resources = resources?;
    [resources.requests.as_ref(), resources.limits.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|map| map.get("memory"))
        .and_then(|q| units::parse_memory(&q.0).ok())
}

fn has_any(config: &BTreeMap<String, String>, keys: &[&str]) -> bool {
    keys.iter().any(|key| config.contains_key(*key))
}

/// The configuration a cluster's pods read: `cluster.flink_config` plus the keys the Kubernetes layout owns.
///
/// Owned (overwriting the spec): `kubernetes.cluster-id`, `kubernetes.namespace`, `jobmanager.rpc.address` (the
/// internal Service), the ports ([`REST_PORT`], [`JOBMANAGER_RPC_PORT`], [`BLOB_PORT`], [`TASKMANAGER_RPC_PORT`]),
/// the bind addresses (`0.0.0.0`), `high-availability.cluster-id` under Kubernetes HA and `pipeline.classpaths` (the
/// job jar) for an application cluster. Defaulted (kept when the spec sets them): the slots per TaskManager (the
/// image would otherwise use the node's cpu count) and the process memory, from `spec.*.resources` or the image's
/// defaults.
pub fn flink_config(cluster: &ClusterSpec, spec: &FlinkDeploymentSpec) -> Result<BTreeMap<String, String>, BuildError> {
    let name = &cluster.id.name;
    let mut config = cluster.flink_config.clone();
    let slots = config_render::task_slots(&config);
    config.entry("taskmanager.numberOfTaskSlots".into()).or_insert_with(|| slots.to_string());
    let memory = |resources, default: &str| {
        memory_of_requirements(resources).map_or_else(|| default.to_owned(), units::format_flink_memory)
    };
    if !has_any(
        &config,
        &["jobmanager.memory.process.size", "jobmanager.memory.flink.size", "jobmanager.memory.heap.size"],
    ) {
        let resources = spec.job_manager.as_ref().and_then(|j| j.resources.as_ref());
        config.insert("jobmanager.memory.process.size".into(), memory(resources, DEFAULT_JOBMANAGER_MEMORY));
    }
    if !has_any(
        &config,
        &["taskmanager.memory.process.size", "taskmanager.memory.flink.size", "taskmanager.memory.task.heap.size"],
    ) {
        let resources = spec.task_manager.as_ref().and_then(|t| t.resources.as_ref());
        config.insert("taskmanager.memory.process.size".into(), memory(resources, DEFAULT_TASKMANAGER_MEMORY));
    }
    let owned = [
        ("kubernetes.cluster-id", name.clone()),
        ("kubernetes.namespace", cluster.id.namespace.clone()),
        ("jobmanager.rpc.address", names::internal_service(name)),
        ("jobmanager.rpc.port", JOBMANAGER_RPC_PORT.to_string()),
        ("jobmanager.bind-host", "0.0.0.0".into()),
        ("taskmanager.bind-host", "0.0.0.0".into()),
        ("taskmanager.rpc.port", TASKMANAGER_RPC_PORT.to_string()),
        ("blob.server.port", BLOB_PORT.to_string()),
        ("rest.port", REST_PORT.to_string()),
        ("rest.bind-address", "0.0.0.0".into()),
    ];
    for (key, value) in owned {
        config.insert(key.to_owned(), value);
    }
    if is_kubernetes_ha(&config) {
        config.insert("high-availability.cluster-id".into(), name.clone());
    }
    if let Some(job) = &cluster.job {
        config.insert("pipeline.classpaths".into(), classpath_entry(cluster, &job.jar_uri)?);
    }
    Ok(config)
}

/// The ConfigMap `flink-config-<name>`: the configuration file and the log configuration (the spec's files, else
/// the operator's default ones).
pub(super) fn config_map(cluster: &Cluster<'_>) -> ConfigMap {
    let (file, text) = config_render::config_file(&cluster.flink_config, cluster.spec.flink_version);
    let mut data = if cluster.spec.log_configuration.is_empty() {
        cluster.defaults.log_configuration.clone()
    } else {
        cluster.spec.log_configuration.clone()
    };
    data.insert(file.to_owned(), text);
    ConfigMap {
        metadata: cluster.metadata(names::config_map(cluster.name()), names::common_labels(cluster.name())),
        data: Some(data),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ApplicationJob, ClusterId};

    fn cluster(config: &[(&str, &str)], job: bool) -> ClusterSpec {
        ClusterSpec {
            id: ClusterId { namespace: "streaming".into(), name: "orders".into() },
            generation: 1,
            flink_version: None,
            flink_config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            taskmanagers: 1,
            job: job.then(|| ApplicationJob {
                jar_uri: "local:///opt/flink/usrlib/job.jar".into(),
                entry_class: None,
                args: vec![],
                job_id: "0".repeat(32),
                restore: None,
            }),
            log_configuration: BTreeMap::new(),
            session_cluster: None,
        }
    }

    #[test]
    fn the_layout_owns_addresses_ports_and_the_cluster_id() {
        let config = flink_config(
            &cluster(&[("rest.port", "9999"), ("kubernetes.cluster-id", "other"), ("a", "b")], true),
            &FlinkDeploymentSpec::default(),
        )
        .unwrap();
        let expected: BTreeMap<String, String> = [
            ("a", "b"),
            ("blob.server.port", "6124"),
            ("jobmanager.bind-host", "0.0.0.0"),
            ("jobmanager.memory.process.size", "1600m"),
            ("jobmanager.rpc.address", "orders"),
            ("jobmanager.rpc.port", "6123"),
            ("kubernetes.cluster-id", "orders"),
            ("kubernetes.namespace", "streaming"),
            ("pipeline.classpaths", "file:///opt/flink/usrlib/job.jar"),
            ("rest.bind-address", "0.0.0.0"),
            ("rest.port", "8081"),
            ("taskmanager.bind-host", "0.0.0.0"),
            ("taskmanager.memory.process.size", "1728m"),
            ("taskmanager.numberOfTaskSlots", "1"),
            ("taskmanager.rpc.port", "6122"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(config, expected);
    }

    #[test]
    fn kubernetes_ha_gets_the_cluster_id() {
        for (key, value) in [
            ("high-availability.type", "kubernetes"),
            ("high-availability", "KUBERNETES"),
            ("high-availability.type", "org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory"),
        ] {
            let config = flink_config(&cluster(&[(key, value)], false), &FlinkDeploymentSpec::default()).unwrap();
            assert_eq!(config["high-availability.cluster-id"], "orders", "{key}: {value}");
        }
        let zookeeper = [("high-availability.type", "zookeeper")];
        let config = flink_config(&cluster(&zookeeper, false), &FlinkDeploymentSpec::default()).unwrap();
        assert!(!config.contains_key("high-availability.cluster-id"));
    }

    #[test]
    fn memory_comes_from_the_spec_resources_when_the_config_has_none() {
        let spec: FlinkDeploymentSpec = serde_json::from_value(serde_json::json!({
            "jobManager": {"resources": {"requests": {"memory": "2048m"}}},
            "taskManager": {"resources": {"limits": {"memory": "3Gi"}}}
        }))
        .unwrap();
        let config = flink_config(&cluster(&[], false), &spec).unwrap();
        assert_eq!(config["jobmanager.memory.process.size"], "2g", "2048m is read as a Flink size");
        assert_eq!(config["taskmanager.memory.process.size"], "3g");
        let set = [("taskmanager.memory.flink.size", "1g")];
        let config = flink_config(&cluster(&set, false), &spec).unwrap();
        assert!(!config.contains_key("taskmanager.memory.process.size"), "a user-set memory option is not mixed");
    }

    #[test]
    fn jar_uris_become_class_path_entries() {
        let c = cluster(&[], true);
        assert_eq!(classpath_entry(&c, "local:///opt/job.jar").unwrap(), "file:///opt/job.jar");
        assert_eq!(classpath_entry(&c, "https://repo/job.jar").unwrap(), "https://repo/job.jar");
        assert!(matches!(classpath_entry(&c, "s3://bucket/job.jar"), Err(BuildError::UnsupportedJarUri { .. })));
    }
}
