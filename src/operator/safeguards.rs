//! The two safeguards around a running job, as the controller needs them: the health check (sampled metrics in,
//! the stored state and a verdict out, see [`super::health`]) and rollback of an upgrade that never became ready
//! (a marker in `status.clusterInfo` that makes the last stable spec the desired one for that generation).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::crd::status::FlinkDeploymentStatus;
use crate::crd::{FlinkDeploymentSpec, JobState, UpgradeMode};
use crate::flink::config_keys;
use crate::savepoints::config::duration_ms;

use super::health::{HealthConfig, HealthSample, HealthState, evaluate_health};
use super::reconciled::ReconciledSpec;

/// `clusterInfo` key holding the generation whose upgrade was rolled back.
pub const ROLLBACK_GENERATION: &str = "flinkops.io/rolled-back-generation";
/// Upstream's default `kubernetes.operator.deployment.readiness.timeout`.
pub const DEFAULT_READINESS_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const READINESS_TIMEOUT: &str = "kubernetes.operator.deployment.readiness.timeout";

/// The readiness timeout after which an upgrade is rolled back, when rollback is enabled.
pub fn rollback_after(config: &BTreeMap<String, String>) -> Option<Duration> {
    if config_keys::flag(config, config_keys::ROLLBACK_ENABLED) != Some(true) {
        return None;
    }
    let timeout = duration_ms(config, READINESS_TIMEOUT).ok().flatten().and_then(|ms| u64::try_from(ms).ok());
    Some(timeout.map_or(DEFAULT_READINESS_TIMEOUT, Duration::from_millis))
}

/// Whether the upgrade of `generation` was rolled back (the marker names it).
pub fn rolled_back(status: &FlinkDeploymentStatus, generation: i64) -> bool {
    status.cluster_info.as_ref().and_then(|info| info.get(ROLLBACK_GENERATION)) == Some(&generation.to_string())
}

/// The spec a rollback deploys: the last stable one, redeployed as upstream does with `last-state` (or
/// `stateless` when that is the desired mode). `None` when there is no usable stable spec.
pub fn rollback_spec(status: &FlinkDeploymentStatus, desired: &FlinkDeploymentSpec) -> Option<FlinkDeploymentSpec> {
    let stable = status.reconciliation_status.as_ref()?.last_stable_spec.as_deref().and_then(ReconciledSpec::decode)?;
    if stable.job_state() == JobState::Suspended {
        return None;
    }
    let mut spec = stable.spec;
    if let Some(job) = spec.job.as_mut() {
        let stateless = desired.job.as_ref().is_some_and(|j| j.effective_upgrade_mode() == UpgradeMode::Stateless);
        job.upgrade_mode = Some(if stateless { UpgradeMode::Stateless } else { UpgradeMode::LastState });
        job.state = Some(JobState::Running);
    }
    Some(spec)
}

/// Marks `generation` as rolled back.
pub fn mark_rolled_back(status: &mut FlinkDeploymentStatus, generation: i64) {
    status
        .cluster_info
        .get_or_insert_with(BTreeMap::new)
        .insert(ROLLBACK_GENERATION.to_owned(), generation.to_string());
}

/// Drops a stale marker (a newer generation supersedes a rollback) and the health state (a deploy starts a new
/// job): what every deploy does.
pub fn reset_on_deploy(status: &mut FlinkDeploymentStatus, generation: i64) {
    if let Some(info) = status.cluster_info.as_mut() {
        HealthState::clear(info);
        if info.get(ROLLBACK_GENERATION).is_some_and(|marked| *marked != generation.to_string()) {
            info.remove(ROLLBACK_GENERATION);
        }
    }
}

/// Evaluates a health sample against the state stored in `status` and stores the next state. Returns why the job
/// is unhealthy, if it is.
pub fn record_health(
    status: &mut FlinkDeploymentStatus,
    sample: HealthSample,
    config: &HealthConfig,
) -> Option<String> {
    let info = status.cluster_info.get_or_insert_with(BTreeMap::new);
    // An unreadable state is dropped: the next sample starts afresh.
    let previous = HealthState::from_cluster_info(info).ok().flatten();
    let (state, health) = evaluate_health(previous, sample, config);
    // Storing a plain struct as JSON cannot fail; if it did, the check would only start afresh next time.
    let _ = state.store(info);
    (!health.healthy).then(|| health.reason.map_or_else(|| "the job is unhealthy".to_owned(), |r| r.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::status::ReconciliationStatus;

    fn config(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn rollback_is_off_unless_enabled_and_then_waits_the_readiness_timeout() {
        assert_eq!(rollback_after(&config(&[])), None);
        let enabled = config(&[(config_keys::ROLLBACK_ENABLED, "true")]);
        assert_eq!(rollback_after(&enabled), Some(DEFAULT_READINESS_TIMEOUT));
        let quick = config(&[(config_keys::ROLLBACK_ENABLED, "true"), (READINESS_TIMEOUT, "20 s")]);
        assert_eq!(rollback_after(&quick), Some(Duration::from_secs(20)));
    }

    #[test]
    fn the_marker_names_one_generation_and_a_deploy_of_another_drops_it() {
        let mut status = FlinkDeploymentStatus::default();
        mark_rolled_back(&mut status, 4);
        assert!(rolled_back(&status, 4));
        assert!(!rolled_back(&status, 5));
        reset_on_deploy(&mut status, 4);
        assert!(rolled_back(&status, 4), "redeploying the rolled-back generation keeps it");
        reset_on_deploy(&mut status, 5);
        assert!(!rolled_back(&status, 4));
    }

    #[test]
    fn a_rollback_redeploys_the_stable_spec_with_last_state() {
        let desired: FlinkDeploymentSpec = serde_json::from_value(
            serde_json::json!({"job": {"jarURI": "local:///v2.jar", "upgradeMode": "savepoint"}}),
        )
        .unwrap();
        let mut stable = desired.clone();
        stable.job.as_mut().unwrap().jar_uri = Some("local:///v1.jar".into());
        let status = FlinkDeploymentStatus {
            reconciliation_status: Some(ReconciliationStatus {
                last_stable_spec: Some(ReconciledSpec::new(&stable, JobState::Running, None, false).encode()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let spec = rollback_spec(&status, &desired).unwrap();
        let job = spec.job.unwrap();
        assert_eq!((job.jar_uri.as_deref(), job.upgrade_mode), (Some("local:///v1.jar"), Some(UpgradeMode::LastState)));
        assert_eq!(rollback_spec(&FlinkDeploymentStatus::default(), &desired), None);
    }
}
