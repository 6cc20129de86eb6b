//! Flink configuration rendering, shared by the local and Kubernetes runtimes: the effective configuration of a
//! cluster from `spec.flinkConfiguration`, the resources and the job, with upstream's injected defaults and key
//! names translated for the target Flink version; and the configuration file (`config.yaml` for Flink 2.x,
//! `flink-conf.yaml` for 1.x).

use std::collections::BTreeMap;

use crate::crd::{FlinkDeploymentSpec, FlinkVersion, UpgradeMode};
use crate::units;

/// Keys renamed between Flink 1.x and 2.x: `(1.x name, 2.x name)`. Flink 2.x still reads most 1.x names, but
/// 1.x does not know the 2.x ones, so rendering writes each key in the target version's spelling.
pub const RENAMED_KEYS: &[(&str, &str)] = &[
    ("state.checkpoints.dir", "execution.checkpointing.dir"),
    ("state.savepoints.dir", "execution.checkpointing.savepoint-dir"),
    ("state.checkpoints.num-retained", "execution.checkpointing.num-retained"),
    ("state.backend.incremental", "execution.checkpointing.incremental"),
    ("state.backend", "state.backend.type"),
    ("high-availability", "high-availability.type"),
];

/// The target Flink major version (`None` is read as the newest).
fn is_flink_2(version: Option<FlinkVersion>) -> bool {
    version.is_none_or(|v| v.major_minor().0 >= 2)
}

/// Rewrites every renamed key into the target version's spelling. When both spellings are set, the one for the
/// target version wins.
pub fn translate_keys(config: &BTreeMap<String, String>, version: Option<FlinkVersion>) -> BTreeMap<String, String> {
    let flink_2 = is_flink_2(version);
    let mut out = config.clone();
    for (old, new) in RENAMED_KEYS {
        let (from, to) = if flink_2 { (old, new) } else { (new, old) };
        if from == to {
            continue;
        }
        if let Some(value) = out.remove(*from) {
            out.entry((*to).to_owned()).or_insert(value);
        }
    }
    out
}

/// Injected by the operator when the user has not set them (upstream §1.2).
fn inject_defaults(config: &mut BTreeMap<String, String>, spec: &FlinkDeploymentSpec, name: &str) {
    let mut default = |key: &str, value: String| {
        config.entry(key.to_owned()).or_insert(value);
    };
    default("pipeline.name", name.to_owned());
    default("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION".to_owned());
    if let Some(job) = &spec.job {
        if job.effective_upgrade_mode() == UpgradeMode::LastState {
            default("execution.checkpointing.interval", "5 min".to_owned());
        }
        // The cluster stays up after the job ends, so a stop-with-savepoint leaves it to the operator.
        default("execution.shutdown-on-application-finish", "false".to_owned());
        default("execution.submit-failed-job-on-application-error", "true".to_owned());
        if let Some(parallelism) = job.parallelism.filter(|p| *p > 0) {
            default("parallelism.default", parallelism.to_string());
        }
    }
}

/// The effective Flink configuration of a `FlinkDeployment` named `name`.
pub fn render(spec: &FlinkDeploymentSpec, name: &str) -> BTreeMap<String, String> {
    let mut config = translate_keys(&spec.flink_config(), spec.flink_version);
    let memory = |resource: Option<&crate::crd::Resource>| {
        resource
            .and_then(|r| r.memory.as_deref())
            .and_then(|m| units::parse_memory(m).ok())
            .map(units::format_flink_memory)
    };
    let cpu = |resource: Option<&crate::crd::Resource>| resource.and_then(|r| r.cpu).map(|c| c.to_string());
    let jm = spec.job_manager.as_ref().and_then(|j| j.resource.as_ref());
    let tm = spec.task_manager.as_ref().and_then(|t| t.resource.as_ref());
    // Resources from the spec win over the same keys in flinkConfiguration, as upstream applies them later.
    if let Some(size) = memory(jm) {
        config.insert("jobmanager.memory.process.size".into(), size);
    }
    if let Some(size) = memory(tm) {
        config.insert("taskmanager.memory.process.size".into(), size);
    }
    if let Some(cores) = cpu(jm) {
        config.insert("kubernetes.jobmanager.cpu.amount".into(), cores);
    }
    if let Some(cores) = cpu(tm) {
        config.insert("kubernetes.taskmanager.cpu.amount".into(), cores);
    }
    inject_defaults(&mut config, spec, name);
    config
}

/// Slots per TaskManager (Flink's default is 1).
pub fn task_slots(config: &BTreeMap<String, String>) -> u32 {
    config.get("taskmanager.numberOfTaskSlots").and_then(|s| s.trim().parse().ok()).filter(|n| *n > 0).unwrap_or(1)
}

/// The number of TaskManagers a deployment needs: `taskManager.replicas` when set, else
/// ceil(parallelism / slots) for an application cluster, else one.
pub fn taskmanager_count(spec: &FlinkDeploymentSpec, config: &BTreeMap<String, String>) -> u32 {
    if let Some(replicas) = spec.task_manager.as_ref().and_then(|t| t.replicas).filter(|r| *r > 0) {
        return replicas.unsigned_abs();
    }
    let parallelism = spec.job.as_ref().and_then(|j| j.parallelism).filter(|p| *p > 0).map_or(1, i32::unsigned_abs);
    // With slot sharing the job needs as many slots as its widest vertex, overrides (the autoscaler's) included.
    let widest_override = config
        .get("pipeline.jobvertex-parallelism-overrides")
        .into_iter()
        .flat_map(|overrides| overrides.split(','))
        .filter_map(|entry| entry.split_once(':')?.1.trim().parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    parallelism.max(widest_override).div_ceil(task_slots(config)).max(1)
}

/// The configuration file Flink reads, for a version: `(file name, content)`. Flink 2.x reads only `config.yaml`
/// (flat keys are valid YAML there); 1.x reads `flink-conf.yaml` (`key: value` lines).
pub fn config_file(config: &BTreeMap<String, String>, version: Option<FlinkVersion>) -> (&'static str, String) {
    let mut out = String::new();
    for (key, value) in config {
        out.push_str(key);
        out.push_str(": ");
        if is_flink_2(version) {
            out.push_str(&crate::manifests::emit::string_text(value));
        } else {
            // flink-conf.yaml is read line by line, not as YAML: the value is the rest of the line.
            out.push_str(&value.replace('\n', " "));
        }
        out.push('\n');
    }
    (if is_flink_2(version) { "config.yaml" } else { "flink-conf.yaml" }, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{JobSpec, Resource, TaskManagerSpec};

    fn spec(version: FlinkVersion, config: &[(&str, &str)]) -> FlinkDeploymentSpec {
        FlinkDeploymentSpec {
            flink_version: Some(version),
            flink_configuration: Some(config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            job: Some(JobSpec {
                parallelism: Some(5),
                upgrade_mode: Some(UpgradeMode::LastState),
                ..Default::default()
            }),
            task_manager: Some(TaskManagerSpec {
                resource: Some(Resource { memory: Some("2Gi".into()), cpu: Some(1.5), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn flink_2_targets_get_2x_key_names() {
        let rendered = render(
            &spec(FlinkVersion::v2_1, &[("state.checkpoints.dir", "file:///c"), ("high-availability", "kubernetes")]),
            "orders",
        );
        assert_eq!(rendered.get("execution.checkpointing.dir").map(String::as_str), Some("file:///c"));
        assert_eq!(rendered.get("high-availability.type").map(String::as_str), Some("kubernetes"));
        assert!(!rendered.contains_key("state.checkpoints.dir"));
    }

    #[test]
    fn flink_1_targets_get_1x_key_names() {
        let rendered =
            render(&spec(FlinkVersion::v1_20, &[("execution.checkpointing.savepoint-dir", "file:///s")]), "orders");
        assert_eq!(rendered.get("state.savepoints.dir").map(String::as_str), Some("file:///s"));
        assert!(!rendered.contains_key("execution.checkpointing.savepoint-dir"));
    }

    #[test]
    fn the_target_spelling_wins_when_both_are_set() {
        let config = [("state.checkpoints.dir", "file:///old"), ("execution.checkpointing.dir", "file:///new")];
        let rendered = render(&spec(FlinkVersion::v2_0, &config), "orders");
        assert_eq!(rendered["execution.checkpointing.dir"], "file:///new");
    }

    #[test]
    fn resources_and_upstream_defaults_are_rendered() {
        let rendered = render(&spec(FlinkVersion::v2_1, &[("taskmanager.memory.process.size", "1g")]), "orders");
        assert_eq!(rendered["taskmanager.memory.process.size"], "2g", "the spec's resource wins");
        assert_eq!(rendered["kubernetes.taskmanager.cpu.amount"], "1.5");
        assert_eq!(rendered["pipeline.name"], "orders");
        assert_eq!(rendered["parallelism.default"], "5");
        assert_eq!(rendered["execution.checkpointing.interval"], "5 min", "last-state gets a checkpoint interval");
        assert_eq!(rendered["execution.checkpointing.externalized-checkpoint-retention"], "RETAIN_ON_CANCELLATION");
        assert_eq!(rendered["execution.shutdown-on-application-finish"], "false");
    }

    #[test]
    fn taskmanagers_follow_parallelism_and_slots_unless_replicas_are_set() {
        let mut deployment = spec(FlinkVersion::v2_1, &[("taskmanager.numberOfTaskSlots", "2")]);
        let mut config = render(&deployment, "x");
        assert_eq!(taskmanager_count(&deployment, &config), 3, "ceil(5 / 2)");
        config.insert("pipeline.jobvertex-parallelism-overrides".into(), "a:8,b:2".into());
        assert_eq!(taskmanager_count(&deployment, &config), 4, "the widest vertex override: ceil(8 / 2)");
        config.remove("pipeline.jobvertex-parallelism-overrides");
        deployment.task_manager.as_mut().unwrap().replicas = Some(4);
        assert_eq!(taskmanager_count(&deployment, &config), 4);
        deployment.job = None;
        deployment.task_manager.as_mut().unwrap().replicas = None;
        assert_eq!(taskmanager_count(&deployment, &config), 1, "a session cluster without replicas gets one");
    }

    #[test]
    fn config_files_have_the_version_s_name_and_syntax() {
        let config: BTreeMap<String, String> =
            [("a.b", "1"), ("pipeline.name", "my: job")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (name, text) = config_file(&config, Some(FlinkVersion::v2_3));
        assert_eq!(name, "config.yaml");
        assert_eq!(text, "a.b: \"1\"\npipeline.name: \"my: job\"\n");
        let parsed = crate::manifests::yaml::parse_documents(&text);
        assert_eq!(parsed.documents[0].value["pipeline.name"], "my: job");
        let (name, text) = config_file(&config, Some(FlinkVersion::v1_18));
        assert_eq!(name, "flink-conf.yaml");
        assert_eq!(text, "a.b: 1\npipeline.name: my: job\n");
    }
}
