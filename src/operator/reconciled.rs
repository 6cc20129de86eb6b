//! The reconciled-spec record (`status.reconciliationStatus.lastReconciledSpec` / `lastStableSpec`): upstream's
//! JSON string `{"spec": ..., "resource_metadata": {"apiVersion", "firstDeployment"}}`, and the diff class of a
//! new spec against it (§2.3: IGNORE < SCALE < UPGRADE < SAVEPOINT_REDEPLOY).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crd::{FlinkDeploymentSpec, JobState, UpgradeMode};

/// The decoded record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconciledSpec {
    /// The spec as reconciled: `job.state` holds the post-reconcile state, `job.upgradeMode` the mode the last
    /// suspend really used (the restore mode).
    pub spec: FlinkDeploymentSpec,
    /// Upstream's metadata block.
    pub resource_metadata: ResourceMetadata,
}

/// `resource_metadata` of the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceMetadata {
    /// `flink.apache.org/v1beta1`.
    pub api_version: String,
    /// Whether this record is the first deployment.
    pub first_deployment: bool,
}

impl ReconciledSpec {
    /// A record of `spec` with the given job state and restore mode.
    pub fn new(
        spec: &FlinkDeploymentSpec,
        job_state: JobState,
        restore_mode: Option<UpgradeMode>,
        first: bool,
    ) -> Self {
        let mut spec = spec.clone();
        if let Some(job) = spec.job.as_mut() {
            job.state = Some(job_state);
            if let Some(mode) = restore_mode {
                job.upgrade_mode = Some(mode);
            }
        }
        ReconciledSpec {
            spec,
            resource_metadata: ResourceMetadata {
                api_version: crate::crd::API_VERSION.to_owned(),
                first_deployment: first,
            },
        }
    }

    /// Parses the JSON string stored in status.
    pub fn decode(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// The JSON string stored in status.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The recorded job state (`running` for a session cluster).
    pub fn job_state(&self) -> JobState {
        self.spec.job.as_ref().map_or(JobState::Running, |j| j.desired_state())
    }
}

/// How much a spec change needs, the maximum over the changed fields (§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiffClass {
    /// Nothing that needs the cluster touched (upgrade mode, nonces, operator and autoscaler keys...).
    Ignore,
    /// Only parallelism or replicas.
    Scale,
    /// Anything else: a full upgrade.
    Upgrade,
    /// A new `savepointRedeployNonce`: redeploy from `initialSavepointPath`.
    SavepointRedeploy,
}

/// Fields of the job spec that never need a redeploy.
const IGNORED_JOB_FIELDS: &[&str] = &[
    "upgradeMode",
    "initialSavepointPath",
    "allowNonRestoredState",
    "savepointTriggerNonce",
    "checkpointTriggerNonce",
    "autoscalerResetNonce",
];

fn ignored_config_key(key: &str) -> bool {
    key.starts_with("kubernetes.operator.") || key.starts_with("job.autoscaler.") || key == "parallelism.default"
}

/// The diff class of `new` against the reconciled `old`. `job.state` is compared as desired vs recorded state;
/// a `restartNonce` set back to null is ignored, as upstream does.
pub fn diff_class(old: &FlinkDeploymentSpec, new: &FlinkDeploymentSpec) -> DiffClass {
    let normalize = |spec: &FlinkDeploymentSpec| -> Value {
        let mut value = serde_json::to_value(spec).unwrap_or_default();
        if let Some(job) = value.get_mut("job").and_then(Value::as_object_mut) {
            for field in IGNORED_JOB_FIELDS {
                job.remove(*field);
            }
            job.remove("savepointRedeployNonce");
            job.entry("state").or_insert(Value::from("running"));
        }
        if let Some(object) = value.as_object_mut() {
            object.remove("flinkConfiguration");
            if new.restart_nonce.is_none() {
                object.remove("restartNonce");
            }
        }
        value
    };
    let redeploy_nonce = |spec: &FlinkDeploymentSpec| spec.job.as_ref().and_then(|j| j.savepoint_redeploy_nonce);
    if redeploy_nonce(new).is_some() && redeploy_nonce(new) != redeploy_nonce(old) {
        return DiffClass::SavepointRedeploy;
    }
    let config = |spec: &FlinkDeploymentSpec| -> Vec<(String, String)> {
        spec.flink_config().into_iter().filter(|(k, _)| !ignored_config_key(k)).collect()
    };
    let (mut old_value, mut new_value) = (normalize(old), normalize(new));
    if old_value == new_value && config(old) == config(new) {
        return DiffClass::Ignore;
    }
    // Parallelism alone is a SCALE change (standalone semantics); everything else is an upgrade.
    for value in [&mut old_value, &mut new_value] {
        if let Some(job) = value.get_mut("job").and_then(Value::as_object_mut) {
            job.remove("parallelism");
        }
        if let Some(tm) = value.get_mut("taskManager").and_then(Value::as_object_mut) {
            tm.remove("replicas");
        }
    }
    if old_value == new_value && config(old) == config(new) { DiffClass::Scale } else { DiffClass::Upgrade }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::JobSpec;

    fn spec() -> FlinkDeploymentSpec {
        FlinkDeploymentSpec {
            job: Some(JobSpec {
                jar_uri: Some("local:///job.jar".into()),
                parallelism: Some(2),
                upgrade_mode: Some(UpgradeMode::Savepoint),
                ..Default::default()
            }),
            flink_configuration: Some([("a", "1")].into_iter().collect()),
            ..Default::default()
        }
    }

    #[test]
    fn record_round_trips_in_upstream_layout() {
        let record = ReconciledSpec::new(&spec(), JobState::Suspended, Some(UpgradeMode::LastState), true);
        let text = record.encode();
        assert!(
            text.contains(
                "\"resource_metadata\":{\"apiVersion\":\"flink.apache.org/v1beta1\",\"firstDeployment\":true}"
            ),
            "{text}"
        );
        assert!(text.contains("\"state\":\"suspended\"") && text.contains("\"upgradeMode\":\"last-state\""), "{text}");
        assert_eq!(ReconciledSpec::decode(&text), Some(record));
    }

    #[test]
    fn ignored_fields_do_not_change_anything() {
        let mut new = spec();
        let job = new.job.as_mut().unwrap();
        job.upgrade_mode = Some(UpgradeMode::Stateless);
        job.savepoint_trigger_nonce = Some(3);
        job.allow_non_restored_state = Some(true);
        new.flink_configuration = Some(
            [("a", "1"), ("kubernetes.operator.x", "y"), ("job.autoscaler.enabled", "true")].into_iter().collect(),
        );
        assert_eq!(diff_class(&spec(), &new), DiffClass::Ignore);
    }

    #[test]
    fn parallelism_alone_is_a_scale_change() {
        let mut new = spec();
        new.job.as_mut().unwrap().parallelism = Some(4);
        assert_eq!(diff_class(&spec(), &new), DiffClass::Scale);
    }

    #[test]
    fn args_config_state_and_restart_nonce_are_upgrades() {
        let mut args = spec();
        args.job.as_mut().unwrap().args = Some(vec!["--rate".into()]);
        let mut config = spec();
        config.flink_configuration = Some([("a", "2")].into_iter().collect());
        let mut state = spec();
        state.job.as_mut().unwrap().state = Some(JobState::Suspended);
        let mut restart = spec();
        restart.restart_nonce = Some(1);
        for new in [args, config, state, restart] {
            assert_eq!(diff_class(&spec(), &new), DiffClass::Upgrade, "{new:?}");
        }
    }

    #[test]
    fn restart_nonce_set_back_to_null_is_ignored_and_redeploy_nonce_wins() {
        let mut old = spec();
        old.restart_nonce = Some(1);
        assert_eq!(diff_class(&old, &spec()), DiffClass::Ignore);
        let mut redeploy = spec();
        redeploy.job.as_mut().unwrap().savepoint_redeploy_nonce = Some(1);
        redeploy.job.as_mut().unwrap().args = Some(vec!["x".into()]);
        assert_eq!(diff_class(&spec(), &redeploy), DiffClass::SavepointRedeploy);
    }
}
