//! The semantic rules: upstream's validator (§6 of the semantics reference) plus what a careful reviewer adds
//! (parallelism above max parallelism, unparsable memory, periodic schedules that mean nothing, session jobs
//! aimed at application clusters).

use std::collections::BTreeMap;

use super::{Context, Finding, namespace_of};
use crate::autoscaler::AutoscalerConfig;
use crate::crd::{DeploymentMode, FlinkDeployment, FlinkSessionJob, FlinkVersion, JobSpec, Resource, UpgradeMode};
use crate::flink::config_keys as keys;
use crate::manifests::path::FieldPath;
use crate::units;

fn path(text: &str) -> FieldPath {
    FieldPath::parse(text)
}

fn config_path(key: &str) -> FieldPath {
    path("spec.flinkConfiguration").key(key)
}

/// Rules for a `FlinkDeployment`.
pub fn deployment(deployment: &FlinkDeployment) -> Vec<Finding> {
    let mut findings = Vec::new();
    let spec = &deployment.spec;
    let config = spec.flink_config();

    check_name(deployment.metadata.name.as_deref(), &mut findings);

    match spec.flink_version {
        None => findings
            .push(Finding::error(path("spec.flinkVersion"), "flinkVersion must be set (for example v1_20 or v2_1)")),
        Some(version) if !version.is_at_least(FlinkVersion::OLDEST_SUPPORTED) => findings.push(Finding::error(
            path("spec.flinkVersion"),
            format!("{version:?} is not supported; the oldest supported version is v1_15"),
        )),
        Some(_) => {}
    }

    for reserved in [keys::KUBERNETES_NAMESPACE, keys::KUBERNETES_CLUSTER_ID, keys::HA_CLUSTER_ID] {
        if config.contains_key(reserved) {
            findings.push(Finding::error(
                config_path(reserved),
                format!("{reserved} is set by the operator and may not be configured"),
            ));
        }
    }

    let ha_enabled = keys::ha_enabled(&config);
    if keys::flag(&config, keys::ROLLBACK_ENABLED) == Some(true) && !ha_enabled {
        // Upstream refuses this; flinkops rolls back from the savepoint or checkpoint it recorded instead.
        findings.push(Finding::warning(
            config_path(keys::ROLLBACK_ENABLED),
            "without high availability a rollback restores from the last savepoint or checkpoint flinkops recorded (upstream's operator requires high-availability.type)",
        ));
    }
    if keys::flag(&config, keys::HEALTH_CHECK_ENABLED) == Some(true)
        && keys::flag(&config, keys::JM_DEPLOYMENT_RECOVERY_ENABLED) == Some(false)
    {
        findings.push(Finding::error(
            config_path(keys::HEALTH_CHECK_ENABLED),
            "the cluster health check needs JobManager deployment recovery (kubernetes.operator.jm-deployment-recovery.enabled)",
        ));
    }
    check_config_values(&config, &mut findings);

    if let Some(ingress) = &spec.ingress {
        match ingress.template.as_deref() {
            None | Some("") => findings.push(Finding::error(
                path("spec.ingress.template"),
                "an ingress needs a template such as {{name}}.example.com",
            )),
            Some(template) => {
                let rendered = template.replace("{{name}}", "name").replace("{{namespace}}", "namespace");
                let host = rendered.split('/').next().unwrap_or_default();
                let valid_host = !host.is_empty()
                    && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*'))
                    || rendered.starts_with('/');
                if !valid_host || rendered.contains(char::is_whitespace) || rendered.contains("{{") {
                    findings.push(Finding::error(
                        path("spec.ingress.template"),
                        format!("template {template:?} does not render to a valid host[/path]"),
                    ));
                }
            }
        }
    }
    if let Some(log_configuration) = &spec.log_configuration {
        for name in log_configuration.keys() {
            if name != "log4j-console.properties" && name != "logback-console.xml" {
                findings.push(Finding::error(
                    path("spec.logConfiguration").key(name),
                    "only log4j-console.properties and logback-console.xml can be configured",
                ));
            }
        }
    }

    if let Some(job) = &spec.job {
        let replicas = spec.task_manager.as_ref().and_then(|t| t.replicas);
        check_job(job, &config, replicas, "spec.job", ConfigScope::Complete, &mut findings);
    } else if spec.task_manager.as_ref().and_then(|t| t.replicas).is_some_and(|r| r < 1) {
        findings.push(Finding::error(path("spec.taskManager.replicas"), "replicas must be at least 1"));
    }

    let jm = spec.job_manager.clone().unwrap_or_default();
    check_memory_and_resources(
        "spec.jobManager",
        jm.resource.as_ref(),
        jm.resources.as_ref(),
        &config,
        keys::JM_MEMORY_KEYS,
        &mut findings,
    );
    if let Some(replicas) = jm.replicas {
        if replicas < 1 {
            findings.push(Finding::error(path("spec.jobManager.replicas"), "replicas must be at least 1"));
        } else if replicas > 1 && !ha_enabled {
            findings.push(Finding::error(
                path("spec.jobManager.replicas"),
                "more than one JobManager needs high availability (set high-availability.type)",
            ));
        }
    }
    let tm = spec.task_manager.clone().unwrap_or_default();
    check_memory_and_resources(
        "spec.taskManager",
        tm.resource.as_ref(),
        tm.resources.as_ref(),
        &config,
        keys::TM_MEMORY_KEYS,
        &mut findings,
    );
    if spec.job.is_some() && tm.replicas.is_some_and(|r| r < 1) {
        findings.push(Finding::error(path("spec.taskManager.replicas"), "replicas must be at least 1"));
    }

    if spec.service_account.as_deref().is_none_or(str::is_empty) {
        findings.push(Finding::error(path("spec.serviceAccount"), "serviceAccount must be set (for example flink)"));
    }
    if spec.mode == Some(DeploymentMode::Native) {
        findings.push(Finding::warning(
            path("spec.mode"),
            "native mode is deployed as standalone by flinkops (same behaviour, no Flink Kubernetes client)",
        ));
    }
    findings
}

/// Rules for a `FlinkSessionJob`; `context` tells whether its session cluster exists and what it is.
pub fn session_job(job: &FlinkSessionJob, context: &Context<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let spec = &job.spec;
    check_name(job.metadata.name.as_deref(), &mut findings);
    let mut config = spec.flink_config();
    // Without its session cluster the job's configuration is only its own layer: what the cluster's layer may
    // provide (checkpoint and savepoint directories, the artifact schemes it allows) is not checked, as upstream's
    // webhook does not check it for a session it cannot find.
    let mut cluster_config_known = false;
    match spec.deployment_name.as_deref() {
        None | Some("") => findings
            .push(Finding::error(path("spec.deploymentName"), "deploymentName must name the session FlinkDeployment")),
        Some(name) if !is_valid_name(name) => findings
            .push(Finding::error(path("spec.deploymentName"), format!("{name:?} is not a valid FlinkDeployment name"))),
        Some(name) => {
            let key = (namespace_of(&job.metadata), name.to_owned());
            match context.deployments.get(&key) {
                Some(target) if !target.is_session_cluster() => findings.push(Finding::error(
                    path("spec.deploymentName"),
                    format!("{name} is an application cluster (it has a job); session jobs need a session cluster"),
                )),
                Some(target) => {
                    // The job's configuration layers over the session cluster's.
                    let mut merged = target.flink_config();
                    merged.append(&mut config);
                    config = merged;
                    cluster_config_known = true;
                }
                None if !context.deployments.is_empty() => findings.push(Finding::warning(
                    path("spec.deploymentName"),
                    format!("no FlinkDeployment {name} in namespace {} among the manifests checked", key.0),
                )),
                None => {}
            }
        }
    }
    match &spec.job {
        None => findings.push(Finding::error(path("spec.job"), "a session job needs a job")),
        Some(job_spec) => {
            let scope = if cluster_config_known { ConfigScope::Complete } else { ConfigScope::JobOnly };
            check_job(job_spec, &config, None, "spec.job", scope, &mut findings);
            check_artifact(job_spec.jar_uri.as_deref(), &config, scope, &mut findings);
        }
    }
    check_config_values(&spec.flink_config(), &mut findings);
    findings
}

fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 45
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-'
}

fn check_name(name: Option<&str>, findings: &mut Vec<Finding>) {
    match name {
        None | Some("") => findings.push(Finding::error(path("metadata.name"), "metadata.name must be set")),
        Some(name) if !is_valid_name(name) => findings.push(Finding::error(
            path("metadata.name"),
            format!("{name:?} must be lowercase letters, digits and '-', start with a letter, end with a letter or digit, at most 45 characters"),
        )),
        Some(_) => {}
    }
}

/// How much of the effective Flink configuration a check sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigScope {
    /// Every layer: settings it lacks are really missing.
    Complete,
    /// Only the resource's own layer (a session job whose cluster is unknown): a missing setting may come from the
    /// layer not seen, so it is not reported.
    JobOnly,
}

fn check_job(
    job: &JobSpec,
    config: &BTreeMap<String, String>,
    tm_replicas: Option<i32>,
    base: &str,
    scope: ConfigScope,
    findings: &mut Vec<Finding>,
) {
    let at = |field: &str| path(&format!("{base}.{field}"));
    let mode = job.effective_upgrade_mode();
    let complete = scope == ConfigScope::Complete;
    let checkpoint_dir = keys::first(config, keys::CHECKPOINT_DIR_KEYS);
    let savepoint_dir = keys::first(config, keys::SAVEPOINT_DIR_KEYS);
    if complete && mode != UpgradeMode::Stateless && checkpoint_dir.is_none() {
        findings.push(Finding::error(
            at("upgradeMode"),
            format!("{} needs a checkpoint directory: set execution.checkpointing.dir (state.checkpoints.dir before Flink 2.0)", mode.as_str()),
        ));
    }
    if complete && savepoint_dir.is_none() {
        let needs_savepoint_dir = [
            (mode == UpgradeMode::Savepoint, at("upgradeMode"), "savepoint upgrade mode"),
            (
                job.savepoint_trigger_nonce.is_some(),
                at("savepointTriggerNonce"),
                "a manual savepoint (savepointTriggerNonce)",
            ),
            (
                config.contains_key(keys::PERIODIC_SAVEPOINT_INTERVAL),
                config_path(keys::PERIODIC_SAVEPOINT_INTERVAL),
                "periodic savepoints",
            ),
            (
                config.contains_key(keys::MAX_CHECKPOINT_AGE),
                config_path(keys::MAX_CHECKPOINT_AGE),
                "the last-state max checkpoint age",
            ),
        ];
        for (needed, where_, what) in needs_savepoint_dir {
            if needed {
                findings.push(Finding::error(
                    where_,
                    format!("{what} needs a savepoint directory: set execution.checkpointing.savepoint-dir (state.savepoints.dir before Flink 2.0)"),
                ));
            }
        }
    }
    match (tm_replicas, job.parallelism) {
        (Some(_), _) => {}
        (None, None) => {
            findings.push(Finding::error(at("parallelism"), "parallelism must be set (or taskManager.replicas)"))
        }
        (None, Some(p)) if p < 1 => findings.push(Finding::error(at("parallelism"), "parallelism must be at least 1")),
        (None, Some(_)) => {}
    }
    if let (Some(parallelism), Some(max)) = (job.parallelism, config.get(keys::MAX_PARALLELISM)) {
        match max.trim().parse::<i64>() {
            Ok(max) if max > 0 && i64::from(parallelism) > max => findings.push(Finding::error(
                at("parallelism"),
                format!("parallelism {parallelism} is above pipeline.max-parallelism {max}; the job cannot start"),
            )),
            Ok(_) => {}
            Err(_) => findings
                .push(Finding::error(config_path(keys::MAX_PARALLELISM), format!("{max:?} is not a whole number"))),
        }
    }
    if job.jar_uri.as_deref().is_some_and(str::is_empty) {
        findings.push(Finding::error(at("jarURI"), "jarURI must not be empty"));
    }
    if job.allow_non_restored_state == Some(true) {
        findings.push(Finding::warning(
            at("allowNonRestoredState"),
            "state that does not map to the new job graph is dropped on restore",
        ));
    }
    if job.savepoint_redeploy_nonce.is_some() && job.initial_savepoint_path.as_deref().is_none_or(str::is_empty) {
        findings.push(Finding::error(
            at("savepointRedeployNonce"),
            "savepointRedeployNonce needs initialSavepointPath to redeploy from",
        ));
    }
}

/// Values of well-known keys that must parse (durations, cron, booleans), checked where they are written.
fn check_config_values(config: &BTreeMap<String, String>, findings: &mut Vec<Finding>) {
    for key in [keys::PERIODIC_SAVEPOINT_INTERVAL, keys::PERIODIC_CHECKPOINT_INTERVAL] {
        if let Some(value) = config.get(key)
            && !value.trim().is_empty()
            && units::parse_flink_duration(value).is_err()
            && !keys::looks_like_quartz_cron(value)
        {
            findings.push(Finding::error(
                config_path(key),
                format!("{value:?} is neither a duration (10m, 6h) nor a Quartz cron expression (0 0 * * * ?)"),
            ));
        }
    }
    for key in keys::DURATION_KEYS {
        if let Some(value) = config.get(*key)
            && units::parse_flink_duration(value).is_err()
        {
            findings.push(Finding::error(
                config_path(key),
                format!("{value:?} is not a duration (for example 30s, 5 min, 1h)"),
            ));
        }
    }
    for key in keys::BOOLEAN_KEYS {
        if let Some(value) = config.get(*key)
            && !matches!(value.trim().to_ascii_lowercase().as_str(), "true" | "false")
        {
            findings.push(Finding::error(config_path(key), format!("{value:?} is not true or false")));
        }
    }
    for key in keys::JM_MEMORY_KEYS.iter().chain(keys::TM_MEMORY_KEYS) {
        if let Some(value) = config.get(*key)
            && units::parse_flink_memory(value).is_err()
        {
            findings.push(Finding::error(
                config_path(key),
                format!("{value:?} is not a Flink memory size (for example 1024m or 2g)"),
            ));
        }
    }
    if let Some(slots) = config.get(keys::TASK_SLOTS)
        && slots.trim().parse::<u32>().map_or(true, |n| n == 0)
    {
        findings.push(Finding::error(
            config_path(keys::TASK_SLOTS),
            format!("{slots:?} must be a whole number of at least 1"),
        ));
    }
    if keys::flag(config, keys::AUTOSCALER_ENABLED) == Some(true) {
        match AutoscalerConfig::from_flink_config(config) {
            Err(error) => findings.push(Finding::error(
                config_path(&error.key),
                format!("{:?} is not valid: {}", error.value, error.reason),
            )),
            Ok(autoscaler) => {
                for violation in autoscaler.validate() {
                    // Report the key as the user wrote it (legacy prefixes and old names are still read).
                    let written = [violation.key.clone(), format!("kubernetes.operator.{}", violation.key)]
                        .into_iter()
                        .find(|k| config.contains_key(k))
                        .unwrap_or(violation.key);
                    findings.push(Finding::error(config_path(&written), violation.message));
                }
            }
        }
    }
}

fn check_memory_and_resources(
    base: &str,
    resource: Option<&Resource>,
    resources: Option<&k8s_openapi::api::core::v1::ResourceRequirements>,
    config: &BTreeMap<String, String>,
    memory_keys: &[&str],
    findings: &mut Vec<Finding>,
) {
    let at = |field: &str| path(&format!("{base}.{field}"));
    let mut memory_defined = memory_keys.iter().any(|k| config.contains_key(*k));
    if let Some(resource) = resource {
        if let Some(memory) = &resource.memory {
            memory_defined = true;
            match units::parse_memory(memory) {
                Ok(0) => findings.push(Finding::error(at("resource.memory"), "memory must be more than 0")),
                Ok(_) => {}
                Err(error) => findings.push(Finding::error(at("resource.memory"), error.to_string())),
            }
        }
        if let Some(storage) = &resource.ephemeral_storage
            && let Err(error) = units::parse_kubernetes_quantity(storage)
        {
            findings.push(Finding::error(at("resource.ephemeralStorage"), error.to_string()));
        }
        if let Some(cpu) = resource.cpu
            && (!cpu.is_finite() || cpu <= 0.0)
        {
            findings.push(Finding::error(at("resource.cpu"), "cpu must be more than 0"));
        }
    }
    if let Some(requirements) = resources {
        let requests = requirements.requests.clone().unwrap_or_default();
        let limits = requirements.limits.clone().unwrap_or_default();
        memory_defined |= requests.contains_key("memory") || limits.contains_key("memory");
        for (section, values) in [("requests", &requests), ("limits", &limits)] {
            for (name, quantity) in values {
                match units::parse_kubernetes_quantity(&quantity.0) {
                    Ok(value) if (name == "cpu" || name == "memory") && value <= 0.0 => findings.push(Finding::error(
                        at(&format!("resources.{section}.{name}")),
                        format!("{name} must be more than 0"),
                    )),
                    Ok(value) if value < 0.0 => findings.push(Finding::error(
                        at(&format!("resources.{section}.{name}")),
                        format!("{name} must not be negative"),
                    )),
                    Ok(_) => {}
                    Err(error) => {
                        findings.push(Finding::error(at(&format!("resources.{section}.{name}")), error.to_string()))
                    }
                }
            }
        }
        for name in ["cpu", "memory"] {
            let request = requests.get(name).and_then(|q| units::parse_kubernetes_quantity(&q.0).ok());
            let limit = limits.get(name).and_then(|q| units::parse_kubernetes_quantity(&q.0).ok());
            if let (Some(request), Some(limit)) = (request, limit)
                && request > limit
            {
                findings.push(Finding::error(
                    at(&format!("resources.requests.{name}")),
                    format!("the {name} request is above its limit"),
                ));
            }
        }
    }
    if !memory_defined {
        findings.push(Finding::error(
            at("resource.memory"),
            format!(
                "memory must be set (resource.memory such as 2048m, resources, or {} in flinkConfiguration)",
                memory_keys[0]
            ),
        ));
    }
}

fn check_artifact(
    jar_uri: Option<&str>,
    config: &BTreeMap<String, String>,
    scope: ConfigScope,
    findings: &mut Vec<Finding>,
) {
    let Some(uri) = jar_uri else { return };
    let at = path("spec.job.jarURI");
    let Some((scheme, rest)) = uri.split_once("://") else {
        findings.push(Finding::error(at, format!("{uri:?} is not a URI (expected scheme://...)")));
        return;
    };
    let allowed: Vec<String> = config
        .get(keys::ALLOWED_ARTIFACT_SCHEMES)
        .map(|s| s.split([',', ';']).map(|p| p.trim().to_ascii_lowercase()).filter(|p| !p.is_empty()).collect())
        .unwrap_or_else(|| vec!["https".to_owned()]);
    if scope == ConfigScope::Complete && !allowed.iter().any(|a| a == &scheme.to_ascii_lowercase()) {
        findings.push(Finding::error(
            at.clone(),
            format!(
                "scheme {scheme} is not allowed for session job artifacts (allowed: {}; widen with {})",
                allowed.join(", "),
                keys::ALLOWED_ARTIFACT_SCHEMES
            ),
        ));
    }
    if matches!(scheme, "http" | "https") && keys::flag(config, keys::DISALLOW_RESTRICTED_HOSTS) != Some(false) {
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let host = host.trim_start_matches('[').split(']').next().unwrap_or(host);
        let host = if host.matches(':').count() == 1 { host.split(':').next().unwrap_or(host) } else { host };
        let restricted = host == "localhost"
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| match ip {
                std::net::IpAddr::V4(v4) => {
                    v4.is_loopback()
                        || v4.is_link_local()
                        || v4.is_private()
                        || v4.is_unspecified()
                        || v4.is_multicast()
                }
                std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || v6.is_multicast(),
            });
        if restricted {
            findings.push(Finding::error(
                at,
                format!("host {host} is a restricted address (loopback, link-local, private, wildcard or multicast)"),
            ));
        }
    }
}

/// Rules that compare a new spec with the last deployed one (sync, webhook): what may not change after deploy.
pub fn deployment_change(previous: &FlinkDeployment, next: &FlinkDeployment) -> Vec<Finding> {
    let mut findings = Vec::new();
    if previous.spec.is_session_cluster() != next.spec.is_session_cluster() {
        findings.push(Finding::error(
            path("spec.job"),
            "a session cluster cannot become an application cluster or the other way round; create a new resource",
        ));
    }
    let mode = |d: &FlinkDeployment| d.spec.mode.unwrap_or(DeploymentMode::Native);
    if mode(previous) != mode(next) {
        findings.push(Finding::error(path("spec.mode"), "mode cannot change after the first deployment"));
    }
    let nonce = |d: &FlinkDeployment| d.spec.job.as_ref().and_then(|j| j.savepoint_redeploy_nonce);
    if nonce(previous) != nonce(next)
        && nonce(next).is_some()
        && next.spec.job.as_ref().and_then(|j| j.initial_savepoint_path.as_deref()).is_none_or(str::is_empty)
    {
        findings.push(Finding::error(
            path("spec.job.savepointRedeployNonce"),
            "a new savepointRedeployNonce needs initialSavepointPath",
        ));
    }
    findings
}

/// Rules that compare a session job with its previous version.
pub fn session_job_change(previous: &FlinkSessionJob, next: &FlinkSessionJob) -> Vec<Finding> {
    if previous.spec.deployment_name != next.spec.deployment_name {
        vec![Finding::error(path("spec.deploymentName"), "deploymentName cannot change; create a new session job")]
    } else {
        Vec::new()
    }
}
