//! Names of the Flink and operator configuration keys flinkops reads, with the old spellings Flink and upstream
//! still accept, and small readers for their values.

use std::collections::BTreeMap;

/// Checkpoint directory: the Flink 2.x name first, then the 1.x name.
pub const CHECKPOINT_DIR_KEYS: &[&str] = &["execution.checkpointing.dir", "state.checkpoints.dir"];
/// Savepoint directory: the Flink 2.x name first, then the 1.x name.
pub const SAVEPOINT_DIR_KEYS: &[&str] = &["execution.checkpointing.savepoint-dir", "state.savepoints.dir"];
/// JobManager memory keys that define its size without `spec.jobManager.resource`.
pub const JM_MEMORY_KEYS: &[&str] = &["jobmanager.memory.process.size", "jobmanager.memory.flink.size"];
/// TaskManager memory keys that define its size without `spec.taskManager.resource`.
pub const TM_MEMORY_KEYS: &[&str] = &["taskmanager.memory.process.size", "taskmanager.memory.flink.size"];
/// Set by the operator; users may not set it.
pub const KUBERNETES_NAMESPACE: &str = "kubernetes.namespace";
/// Set by the operator; users may not set it.
pub const KUBERNETES_CLUSTER_ID: &str = "kubernetes.cluster-id";
/// Set by the operator; users may not set it.
pub const HA_CLUSTER_ID: &str = "high-availability.cluster-id";
/// Maximum parallelism (key groups).
pub const MAX_PARALLELISM: &str = "pipeline.max-parallelism";
/// Slots per TaskManager.
pub const TASK_SLOTS: &str = "taskmanager.numberOfTaskSlots";
/// Rollback to the last stable spec.
pub const ROLLBACK_ENABLED: &str = "kubernetes.operator.deployment.rollback.enabled";
/// Cluster health check.
pub const HEALTH_CHECK_ENABLED: &str = "kubernetes.operator.cluster.health-check.enabled";
/// JobManager deployment recovery (default true).
pub const JM_DEPLOYMENT_RECOVERY_ENABLED: &str = "kubernetes.operator.jm-deployment-recovery.enabled";
/// Periodic savepoints: a duration or a Quartz cron expression.
pub const PERIODIC_SAVEPOINT_INTERVAL: &str = "kubernetes.operator.periodic.savepoint.interval";
/// Periodic checkpoints: a duration or a Quartz cron expression.
pub const PERIODIC_CHECKPOINT_INTERVAL: &str = "kubernetes.operator.periodic.checkpoint.interval";
/// Maximum checkpoint age for a last-state upgrade.
pub const MAX_CHECKPOINT_AGE: &str = "kubernetes.operator.job.upgrade.last-state.max.allowed.checkpoint.age";
/// Artifact URI schemes allowed for session jobs (default `https`).
pub const ALLOWED_ARTIFACT_SCHEMES: &str = "kubernetes.operator.user.artifacts.allowed-schemes";
/// Whether http(s) artifact hosts may not be restricted addresses (default true).
pub const DISALLOW_RESTRICTED_HOSTS: &str = "kubernetes.operator.user.artifacts.disallow-restricted-hosts";
/// Autoscaler switch (also read under the legacy `kubernetes.operator.` prefix).
pub const AUTOSCALER_ENABLED: &str = "job.autoscaler.enabled";

/// Keys whose values are Flink durations.
pub const DURATION_KEYS: &[&str] = &[
    "kubernetes.operator.deployment.readiness.timeout",
    "kubernetes.operator.savepoint.history.max.age",
    "kubernetes.operator.cluster.health-check.restarts.window",
    "kubernetes.operator.cluster.health-check.checkpoint-progress.window",
    "kubernetes.operator.jm-deployment.shutdown-ttl",
    "kubernetes.operator.savepoint.trigger.grace-period",
    "kubernetes.operator.checkpoint.trigger.grace-period",
    MAX_CHECKPOINT_AGE,
    "execution.checkpointing.interval",
    "execution.checkpointing.timeout",
    "job.autoscaler.metrics.window",
    "job.autoscaler.stabilization.interval",
    "job.autoscaler.scale-down.interval",
    "job.autoscaler.catch-up.duration",
    "job.autoscaler.restart.time",
];

/// Keys whose values are booleans.
pub const BOOLEAN_KEYS: &[&str] = &[
    ROLLBACK_ENABLED,
    HEALTH_CHECK_ENABLED,
    JM_DEPLOYMENT_RECOVERY_ENABLED,
    AUTOSCALER_ENABLED,
    "kubernetes.operator.job.restart.failed",
    "kubernetes.operator.job.savepoint-on-deletion",
    "kubernetes.operator.job.upgrade.last-state-fallback.enabled",
    "kubernetes.operator.savepoint.cleanup.enabled",
    "job.autoscaler.scaling.enabled",
];

/// The first of `keys` that is set.
pub fn first<'c>(config: &'c BTreeMap<String, String>, keys: &[&str]) -> Option<&'c str> {
    keys.iter().find_map(|k| config.get(*k)).map(String::as_str).filter(|v| !v.trim().is_empty())
}

/// A boolean key, `None` when unset or not a boolean.
pub fn flag(config: &BTreeMap<String, String>, key: &str) -> Option<bool> {
    let legacy = format!("kubernetes.operator.{key}");
    let value = config.get(key).or_else(|| config.get(&legacy))?;
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Whether high availability is configured (`high-availability.type` in 2.x, `high-availability` in 1.x).
pub fn ha_enabled(config: &BTreeMap<String, String>) -> bool {
    ["high-availability.type", "high-availability"]
        .iter()
        .filter_map(|k| config.get(*k))
        .any(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("none"))
}

/// Whether a string has the shape of a Quartz cron expression (6 or 7 fields of cron characters).
pub fn looks_like_quartz_cron(value: &str) -> bool {
    let fields: Vec<&str> = value.split_whitespace().collect();
    (6..=7).contains(&fields.len())
        && fields.iter().all(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || "*?,-/#LW".contains(c)))
}
