//! The cluster health check (`kubernetes.operator.cluster.health-check.*`) as pure code: one metrics sample in,
//! the next stored state and a verdict out ([`evaluate_health`]), and whether an unhealthy job is restarted
//! ([`restart_decision`]). Fetching `GET /jobs/:id/metrics?get=fullRestarts,numRestarts,numberOfCompletedCheckpoints`
//! and restarting are the controller's; the state lives as JSON in `status.clusterInfo["ClusterHealthInfo"]`, in
//! upstream's field layout, and is dropped on every deploy.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::crd::status::FlinkJobState;
use crate::savepoints::config::{ConfigError, boolean, duration_ms, integer};

/// The `clusterInfo` key the state is stored under.
pub const CLUSTER_INFO_KEY: &str = "ClusterHealthInfo";
/// `kubernetes.operator.cluster.health-check.enabled` (default false).
pub const HEALTH_CHECK_ENABLED: &str = "kubernetes.operator.cluster.health-check.enabled";
/// `kubernetes.operator.cluster.health-check.restarts.threshold` (default 64).
pub const RESTARTS_THRESHOLD: &str = "kubernetes.operator.cluster.health-check.restarts.threshold";
/// `kubernetes.operator.cluster.health-check.restarts.window` (default 2 min).
pub const RESTARTS_WINDOW: &str = "kubernetes.operator.cluster.health-check.restarts.window";
/// `kubernetes.operator.cluster.health-check.checkpoint-progress.enabled` (default true).
pub const CHECKPOINT_PROGRESS_ENABLED: &str = "kubernetes.operator.cluster.health-check.checkpoint-progress.enabled";
/// `kubernetes.operator.cluster.health-check.checkpoint-progress.window` (no default; derived).
pub const CHECKPOINT_PROGRESS_WINDOW: &str = "kubernetes.operator.cluster.health-check.checkpoint-progress.window";
/// Flink's checkpoint interval (unset or ≤ 0 = checkpointing off).
pub const CHECKPOINTING_INTERVAL: &str = "execution.checkpointing.interval";
/// Flink's checkpoint timeout (default 10 min).
pub const CHECKPOINTING_TIMEOUT: &str = "execution.checkpointing.timeout";
/// Flink's tolerable checkpoint failures (default 0).
pub const TOLERABLE_FAILED_CHECKPOINTS: &str = "execution.checkpointing.tolerable-failed-checkpoints";

const MINUTE_MS: i64 = 60_000;

/// The health-check keys, parsed, with upstream's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// Whether the check runs at all.
    pub enabled: bool,
    /// Unhealthy when more restarts than this fall in one window.
    pub restarts_threshold: i64,
    /// The restart window, milliseconds.
    pub restarts_window_ms: i64,
    /// Whether checkpoint progress is checked.
    pub checkpoint_progress_enabled: bool,
    /// The configured checkpoint-progress window, milliseconds.
    pub checkpoint_progress_window_ms: Option<i64>,
    /// Flink's checkpoint interval, `None` when checkpointing is off.
    pub checkpoint_interval_ms: Option<i64>,
    /// Flink's checkpoint timeout, milliseconds.
    pub checkpoint_timeout_ms: i64,
    /// Flink's tolerable checkpoint failures (negative values count as 0).
    pub tolerable_failed_checkpoints: i64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            restarts_threshold: 64,
            restarts_window_ms: 2 * MINUTE_MS,
            checkpoint_progress_enabled: true,
            checkpoint_progress_window_ms: None,
            checkpoint_interval_ms: None,
            checkpoint_timeout_ms: 10 * MINUTE_MS,
            tolerable_failed_checkpoints: 0,
        }
    }
}

impl HealthConfig {
    /// Reads the keys from the flat effective configuration.
    ///
    /// # Errors
    /// A value that does not parse, naming its key.
    pub fn from_config(config: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            enabled: boolean(config, HEALTH_CHECK_ENABLED)?.unwrap_or(defaults.enabled),
            restarts_threshold: integer(config, RESTARTS_THRESHOLD)?.unwrap_or(defaults.restarts_threshold),
            restarts_window_ms: duration_ms(config, RESTARTS_WINDOW)?.unwrap_or(defaults.restarts_window_ms),
            checkpoint_progress_enabled: boolean(config, CHECKPOINT_PROGRESS_ENABLED)?
                .unwrap_or(defaults.checkpoint_progress_enabled),
            checkpoint_progress_window_ms: duration_ms(config, CHECKPOINT_PROGRESS_WINDOW)?,
            checkpoint_interval_ms: duration_ms(config, CHECKPOINTING_INTERVAL)?.filter(|ms| *ms > 0),
            checkpoint_timeout_ms: duration_ms(config, CHECKPOINTING_TIMEOUT)?
                .unwrap_or(defaults.checkpoint_timeout_ms),
            tolerable_failed_checkpoints: integer(config, TOLERABLE_FAILED_CHECKPOINTS)?
                .unwrap_or(defaults.tolerable_failed_checkpoints),
        })
    }

    /// The shortest checkpoint-progress window that makes sense:
    /// `max(checkpoint interval, checkpoint timeout) × (tolerable failures + 2)`.
    pub fn minimum_checkpoint_window_ms(&self) -> i64 {
        let attempts = self.tolerable_failed_checkpoints.max(0).saturating_add(2);
        self.checkpoint_interval_ms.unwrap_or(0).max(self.checkpoint_timeout_ms).saturating_mul(attempts)
    }

    /// The checkpoint-progress window in force: the configured one if it is at least the minimum, else the
    /// minimum; `None` (check skipped) when the check is disabled, or checkpointing is off and no window is set.
    pub fn checkpoint_window_ms(&self) -> Option<i64> {
        if !self.checkpoint_progress_enabled {
            return None;
        }
        let minimum = self.minimum_checkpoint_window_ms();
        match (self.checkpoint_progress_window_ms, self.checkpoint_interval_ms) {
            (None, None) => None,
            (Some(window), _) if window >= minimum => Some(window),
            (Some(_) | None, _) => Some(minimum),
        }
    }
}

/// One metrics sample of the running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSample {
    /// When it was taken (the loop's `now`), epoch milliseconds.
    pub time_ms: i64,
    /// `numRestarts`, else `fullRestarts`.
    pub num_restarts: i64,
    /// `numberOfCompletedCheckpoints`.
    pub completed_checkpoints: i64,
}

/// The stored health-check state, field for field upstream's `ClusterHealthInfo` JSON.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthState {
    /// Time of the last evaluated sample.
    pub time_stamp: i64,
    /// Restart count at the reference sample.
    pub num_restarts: i64,
    /// Time of the reference sample for the restart window.
    pub num_restarts_evaluation_time_stamp: i64,
    /// Completed checkpoints at the last increase.
    pub num_completed_checkpoints: i64,
    /// When the completed-checkpoint count last grew (or was reset).
    pub num_completed_checkpoints_increased_time_stamp: i64,
    /// The last verdict.
    pub healthy: bool,
}

/// A stored state that is not valid JSON of the expected shape.
#[derive(Debug, thiserror::Error)]
#[error("clusterInfo[\"ClusterHealthInfo\"] is not a valid health-check state: {source}")]
pub struct HealthStateError {
    #[from]
    source: serde_json::Error,
}

impl HealthState {
    /// The state stored in `clusterInfo`, `None` when there is none.
    ///
    /// # Errors
    /// The stored value does not parse; the controller should drop it (the next sample starts afresh).
    pub fn from_cluster_info(cluster_info: &BTreeMap<String, String>) -> Result<Option<Self>, HealthStateError> {
        cluster_info.get(CLUSTER_INFO_KEY).map(|text| serde_json::from_str(text)).transpose().map_err(Into::into)
    }

    /// Stores the state in `clusterInfo`.
    ///
    /// # Errors
    /// Serialisation failed (it cannot for this plain struct; the error is passed on rather than hidden).
    pub fn store(&self, cluster_info: &mut BTreeMap<String, String>) -> Result<(), HealthStateError> {
        cluster_info.insert(CLUSTER_INFO_KEY.to_owned(), serde_json::to_string(self)?);
        Ok(())
    }

    /// Drops the state (on every deploy).
    pub fn clear(cluster_info: &mut BTreeMap<String, String>) {
        cluster_info.remove(CLUSTER_INFO_KEY);
    }

    /// The stored verdict, for a loop that could not sample (upstream's reconciler reads this flag).
    pub fn health(&self) -> Health {
        Health { healthy: self.healthy, reason: None }
    }
}

/// Why a job is unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnhealthyReason {
    /// More restarts in the window than the threshold.
    TooManyRestarts {
        /// Restarts counted for one window.
        restarts: i64,
        /// The threshold.
        threshold: i64,
    },
    /// No completed checkpoint for longer than the window.
    NoCheckpointProgress {
        /// The window in force, milliseconds.
        window_ms: i64,
    },
}

impl fmt::Display for UnhealthyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnhealthyReason::TooManyRestarts { threshold, .. } => write!(f, "Restart count hit threshold: {threshold}"),
            UnhealthyReason::NoCheckpointProgress { .. } => f.write_str("Cluster is not able to complete checkpoints"),
        }
    }
}

/// The verdict of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Whether the job is healthy.
    pub healthy: bool,
    /// Why not (the first failing check), when known.
    pub reason: Option<UnhealthyReason>,
}

impl Health {
    const HEALTHY: Health = Health { healthy: true, reason: None };
}

/// Evaluates one sample against the stored state and returns the state to store and the verdict.
///
/// - No previous state: the sample only initialises it (healthy).
/// - A sample older than the state is ignored: the state is unchanged and its verdict stands (upstream raises an
///   error that its observer swallows, with the same effect).
/// - Restarts: `trunc((restarts − reference restarts) × min(1, window / elapsed))` with `elapsed` from the
///   reference sample; unhealthy when above the threshold. A counter that went down resets the reference (healthy);
///   the reference also moves to this sample once it is older than the window.
/// - Checkpoint progress: unhealthy when the completed-checkpoint count has not grown for longer than
///   [`HealthConfig::checkpoint_window_ms`]; a counter that went down resets the mark (healthy).
/// - The verdict is the join of both checks.
pub fn evaluate_health(
    previous: Option<HealthState>,
    sample: HealthSample,
    config: &HealthConfig,
) -> (HealthState, Health) {
    let Some(mut state) = previous else {
        let state = HealthState {
            time_stamp: sample.time_ms,
            num_restarts: sample.num_restarts,
            num_restarts_evaluation_time_stamp: sample.time_ms,
            num_completed_checkpoints: sample.completed_checkpoints,
            num_completed_checkpoints_increased_time_stamp: sample.time_ms,
            healthy: true,
        };
        return (state, Health::HEALTHY);
    };
    if sample.time_ms < state.time_stamp {
        return (state, state.health());
    }
    let restarts = evaluate_restarts(&mut state, sample, config);
    let checkpoints = evaluate_checkpoints(&mut state, sample, config);
    let reason = restarts.or(checkpoints);
    state.time_stamp = sample.time_ms;
    state.healthy = reason.is_none();
    (state, Health { healthy: reason.is_none(), reason })
}

fn evaluate_restarts(state: &mut HealthState, sample: HealthSample, config: &HealthConfig) -> Option<UnhealthyReason> {
    if sample.num_restarts < state.num_restarts {
        state.num_restarts = sample.num_restarts;
        state.num_restarts_evaluation_time_stamp = sample.time_ms;
        return None;
    }
    let elapsed_ms = sample.time_ms.saturating_sub(state.num_restarts_evaluation_time_stamp);
    // Java double arithmetic, as upstream: x/0 is +inf (clamped to 1), 0/0 is NaN (truncates to 0).
    let multiplier = (config.restarts_window_ms as f64 / elapsed_ms as f64).min(1.0);
    let restarts = (sample.num_restarts.saturating_sub(state.num_restarts) as f64 * multiplier) as i64;
    if state.num_restarts_evaluation_time_stamp < sample.time_ms.saturating_sub(config.restarts_window_ms) {
        state.num_restarts = sample.num_restarts;
        state.num_restarts_evaluation_time_stamp = sample.time_ms;
    }
    (restarts > config.restarts_threshold)
        .then_some(UnhealthyReason::TooManyRestarts { restarts, threshold: config.restarts_threshold })
}

fn evaluate_checkpoints(
    state: &mut HealthState,
    sample: HealthSample,
    config: &HealthConfig,
) -> Option<UnhealthyReason> {
    let window_ms = config.checkpoint_window_ms()?;
    if sample.completed_checkpoints != state.num_completed_checkpoints {
        // Grew (progress) or went down (counter reset): either way the mark moves to now.
        state.num_completed_checkpoints = sample.completed_checkpoints;
        state.num_completed_checkpoints_increased_time_stamp = sample.time_ms;
        return None;
    }
    (state.num_completed_checkpoints_increased_time_stamp.saturating_add(window_ms) < sample.time_ms)
        .then_some(UnhealthyReason::NoCheckpointProgress { window_ms })
}

/// Whether this loop samples the job at all: the check is enabled, the resource is an application cluster, the
/// JobManager is READY, and the job was found and is not globally terminal.
pub fn should_sample(config: &HealthConfig, application: bool, jm_ready: bool, job: Option<FlinkJobState>) -> bool {
    config.enabled && application && jm_ready && job.is_some_and(|state| !state.is_globally_terminal())
}

/// What the controller does about the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthAction {
    /// Healthy, the check is off, or the job already ended.
    Nothing,
    /// Emit `RestartUnhealthyJob`, delete the cluster and resubmit the job.
    Restart {
        /// Why, when known.
        reason: Option<UnhealthyReason>,
    },
    /// Unhealthy, but a stateful job without HA metadata cannot be restarted safely: warn only.
    CannotRestart {
        /// Why, when known.
        reason: Option<UnhealthyReason>,
    },
}

/// Whether to restart an unhealthy job: only while the check is enabled, never a job that is already globally
/// terminal (FLINK-39507), and only when the restart loses nothing (`stateless` upgrade mode) or can restore from
/// HA metadata.
pub fn restart_decision(
    config: &HealthConfig,
    health: Health,
    job: Option<FlinkJobState>,
    stateless_or_ha_metadata: bool,
) -> HealthAction {
    let terminal = job.is_some_and(FlinkJobState::is_globally_terminal);
    match (config.enabled, health.healthy, terminal, stateless_or_ha_metadata) {
        (false, _, _, _) | (true, true, _, _) | (true, false, true, _) => HealthAction::Nothing,
        (true, false, false, true) => HealthAction::Restart { reason: health.reason },
        (true, false, false, false) => HealthAction::CannotRestart { reason: health.reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_704_067_200_000;
    const SEC: i64 = 1_000;

    fn sample(time_ms: i64, num_restarts: i64, completed_checkpoints: i64) -> HealthSample {
        HealthSample { time_ms, num_restarts, completed_checkpoints }
    }

    fn no_checkpoint_check() -> HealthConfig {
        HealthConfig { enabled: true, checkpoint_progress_enabled: false, ..HealthConfig::default() }
    }

    fn state_at(time: i64, restarts: i64, checkpoints: i64) -> HealthState {
        evaluate_health(None, sample(time, restarts, checkpoints), &no_checkpoint_check()).0
    }

    #[test]
    fn first_sample_only_initialises_the_state() {
        let (state, health) = evaluate_health(None, sample(T0, 500, 3), &HealthConfig::default());
        assert_eq!(health, Health { healthy: true, reason: None });
        assert_eq!(
            state,
            HealthState {
                time_stamp: T0,
                num_restarts: 500,
                num_restarts_evaluation_time_stamp: T0,
                num_completed_checkpoints: 3,
                num_completed_checkpoints_increased_time_stamp: T0,
                healthy: true,
            }
        );
    }

    #[test]
    fn restarts_above_threshold_within_the_window_are_unhealthy() {
        let config = no_checkpoint_check();
        let (_, health) = evaluate_health(Some(state_at(T0, 0, 0)), sample(T0 + 60 * SEC, 64, 0), &config);
        assert!(health.healthy, "64 is not above the threshold 64");
        let (state, health) = evaluate_health(Some(state_at(T0, 0, 0)), sample(T0 + 60 * SEC, 65, 0), &config);
        assert_eq!(health.reason, Some(UnhealthyReason::TooManyRestarts { restarts: 65, threshold: 64 }));
        assert_eq!(health.reason.map(|r| r.to_string()).as_deref(), Some("Restart count hit threshold: 64"));
        assert!(!state.healthy);
        assert_eq!(state.num_restarts_evaluation_time_stamp, T0, "reference still inside the window");
    }

    #[test]
    fn restarts_are_scaled_to_the_window_and_truncated() {
        let config = HealthConfig { restarts_threshold: 10, ..no_checkpoint_check() };
        // 23 restarts over 4 minutes with a 2-minute window: trunc(23 / 2) = 11 > 10.
        let (_, health) = evaluate_health(Some(state_at(T0, 0, 0)), sample(T0 + 240 * SEC, 23, 0), &config);
        assert_eq!(health.reason, Some(UnhealthyReason::TooManyRestarts { restarts: 11, threshold: 10 }));
        // 21 restarts: trunc(10.5) = 10, healthy.
        let (_, health) = evaluate_health(Some(state_at(T0, 0, 0)), sample(T0 + 240 * SEC, 21, 0), &config);
        assert!(health.healthy);
    }

    #[test]
    fn restart_reference_moves_once_older_than_the_window() {
        let config = no_checkpoint_check();
        let (state, _) = evaluate_health(Some(state_at(T0, 5, 0)), sample(T0 + 120 * SEC, 7, 0), &config);
        assert_eq!(
            (state.num_restarts, state.num_restarts_evaluation_time_stamp),
            (5, T0),
            "exactly the window: stays"
        );
        let (state, _) = evaluate_health(Some(state_at(T0, 5, 0)), sample(T0 + 120 * SEC + 1, 7, 0), &config);
        assert_eq!((state.num_restarts, state.num_restarts_evaluation_time_stamp), (7, T0 + 120 * SEC + 1));
        assert_eq!(state.time_stamp, T0 + 120 * SEC + 1);
    }

    #[test]
    fn restart_counter_going_down_resets_the_reference_and_is_healthy() {
        let config = HealthConfig { restarts_threshold: 0, ..no_checkpoint_check() };
        let (state, health) = evaluate_health(Some(state_at(T0, 100, 0)), sample(T0 + SEC, 2, 0), &config);
        assert!(health.healthy);
        assert_eq!((state.num_restarts, state.num_restarts_evaluation_time_stamp), (2, T0 + SEC));
    }

    #[test]
    fn sample_older_than_the_state_is_ignored() {
        let mut previous = state_at(T0, 0, 0);
        previous.healthy = false;
        let (state, health) = evaluate_health(Some(previous), sample(T0 - 1, 1000, 0), &no_checkpoint_check());
        assert_eq!(state, previous);
        assert!(!health.healthy, "the stored verdict stands");
    }

    #[test]
    fn zero_elapsed_time_counts_restarts_unscaled() {
        let config = HealthConfig { restarts_threshold: 3, ..no_checkpoint_check() };
        let (_, health) = evaluate_health(Some(state_at(T0, 0, 0)), sample(T0, 4, 0), &config);
        assert!(!health.healthy);
    }

    fn checkpointing(interval_ms: i64) -> HealthConfig {
        HealthConfig {
            enabled: true,
            checkpoint_interval_ms: Some(interval_ms),
            checkpoint_timeout_ms: 60 * SEC,
            ..HealthConfig::default()
        }
    }

    #[test]
    fn no_checkpoint_progress_for_longer_than_the_window_is_unhealthy() {
        // Derived window: max(10 s, 60 s) × (0 + 2) = 120 s.
        let config = checkpointing(10 * SEC);
        assert_eq!(config.checkpoint_window_ms(), Some(120 * SEC));
        let (_, health) = evaluate_health(Some(state_at(T0, 0, 5)), sample(T0 + 120 * SEC, 0, 5), &config);
        assert!(health.healthy, "exactly the window");
        let (state, health) = evaluate_health(Some(state_at(T0, 0, 5)), sample(T0 + 120 * SEC + 1, 0, 5), &config);
        assert_eq!(health.reason, Some(UnhealthyReason::NoCheckpointProgress { window_ms: 120 * SEC }));
        assert_eq!(
            health.reason.map(|r| r.to_string()).as_deref(),
            Some("Cluster is not able to complete checkpoints")
        );
        assert_eq!(state.num_completed_checkpoints_increased_time_stamp, T0, "the mark does not move without progress");
    }

    #[test]
    fn checkpoint_progress_moves_the_mark() {
        let config = checkpointing(10 * SEC);
        let (state, health) = evaluate_health(Some(state_at(T0, 0, 5)), sample(T0 + 500 * SEC, 0, 6), &config);
        assert!(health.healthy);
        assert_eq!(
            (state.num_completed_checkpoints, state.num_completed_checkpoints_increased_time_stamp),
            (6, T0 + 500 * SEC)
        );
    }

    #[test]
    fn checkpoint_counter_going_down_resets_the_mark_and_is_healthy() {
        let config = checkpointing(10 * SEC);
        let (state, health) = evaluate_health(Some(state_at(T0, 0, 50)), sample(T0 + 500 * SEC, 0, 1), &config);
        assert!(health.healthy);
        assert_eq!(
            (state.num_completed_checkpoints, state.num_completed_checkpoints_increased_time_stamp),
            (1, T0 + 500 * SEC)
        );
    }

    #[test]
    fn configured_window_shorter_than_the_minimum_is_raised() {
        let mut config = checkpointing(90 * SEC);
        config.tolerable_failed_checkpoints = 1;
        // Minimum: max(90 s, 60 s) × (1 + 2) = 270 s.
        assert_eq!(config.minimum_checkpoint_window_ms(), 270 * SEC);
        config.checkpoint_progress_window_ms = Some(100 * SEC);
        assert_eq!(config.checkpoint_window_ms(), Some(270 * SEC));
        config.checkpoint_progress_window_ms = Some(600 * SEC);
        assert_eq!(config.checkpoint_window_ms(), Some(600 * SEC));
    }

    #[test]
    fn checkpoint_check_skipped_when_checkpointing_is_off_and_no_window_is_set() {
        let config = HealthConfig { enabled: true, ..HealthConfig::default() };
        assert_eq!(config.checkpoint_window_ms(), None);
        let (_, health) = evaluate_health(Some(state_at(T0, 0, 0)), sample(T0 + 86_400 * SEC, 0, 0), &config);
        assert!(health.healthy);
        // With a window set, it applies even without checkpointing (minimum: timeout 10 min × 2).
        let config = HealthConfig { checkpoint_progress_window_ms: Some(SEC), ..config };
        assert_eq!(config.checkpoint_window_ms(), Some(20 * 60 * SEC));
        let disabled = HealthConfig { checkpoint_progress_enabled: false, ..config };
        assert_eq!(disabled.checkpoint_window_ms(), None);
    }

    #[test]
    fn verdict_is_the_join_of_both_checks() {
        let config = HealthConfig { restarts_threshold: 0, ..checkpointing(10 * SEC) };
        let (state, health) = evaluate_health(Some(state_at(T0, 0, 5)), sample(T0 + 500 * SEC, 10, 5), &config);
        assert!(!health.healthy);
        assert!(matches!(health.reason, Some(UnhealthyReason::TooManyRestarts { .. })), "restarts reported first");
        assert!(!state.healthy);
        let (_, health) = evaluate_health(Some(state_at(T0, 0, 5)), sample(T0 + 500 * SEC, 0, 5), &config);
        assert!(matches!(health.reason, Some(UnhealthyReason::NoCheckpointProgress { .. })));
    }

    #[test]
    fn never_restart_an_already_terminal_job() {
        let config = HealthConfig { enabled: true, ..HealthConfig::default() };
        let unhealthy = Health { healthy: false, reason: None };
        for state in [FlinkJobState::Failed, FlinkJobState::Finished, FlinkJobState::Canceled] {
            assert_eq!(restart_decision(&config, unhealthy, Some(state), true), HealthAction::Nothing, "{state:?}");
            assert!(!should_sample(&config, true, true, Some(state)));
        }
        assert_eq!(
            restart_decision(&config, unhealthy, Some(FlinkJobState::Restarting), true),
            HealthAction::Restart { reason: None }
        );
    }

    #[test]
    fn unhealthy_stateful_job_without_ha_metadata_is_not_restarted() {
        let config = HealthConfig { enabled: true, ..HealthConfig::default() };
        let unhealthy = Health { healthy: false, reason: None };
        assert_eq!(
            restart_decision(&config, unhealthy, Some(FlinkJobState::Running), false),
            HealthAction::CannotRestart { reason: None }
        );
        assert_eq!(
            restart_decision(&config, Health::HEALTHY, Some(FlinkJobState::Running), true),
            HealthAction::Nothing
        );
        let off = HealthConfig::default();
        assert_eq!(restart_decision(&off, unhealthy, Some(FlinkJobState::Running), true), HealthAction::Nothing);
    }

    #[test]
    fn sampled_only_for_ready_application_clusters_with_a_live_job() {
        let config = HealthConfig { enabled: true, ..HealthConfig::default() };
        assert!(should_sample(&config, true, true, Some(FlinkJobState::Running)));
        assert!(!should_sample(&config, false, true, Some(FlinkJobState::Running)), "session cluster");
        assert!(!should_sample(&config, true, false, Some(FlinkJobState::Running)), "JM not ready");
        assert!(!should_sample(&config, true, true, None), "job not found");
        assert!(!should_sample(&HealthConfig::default(), true, true, Some(FlinkJobState::Running)), "disabled");
    }

    #[test]
    fn state_is_stored_as_upstream_json_and_dropped_on_deploy() {
        let state = HealthState {
            time_stamp: 3,
            num_restarts: 1,
            num_restarts_evaluation_time_stamp: 2,
            num_completed_checkpoints: 4,
            num_completed_checkpoints_increased_time_stamp: 5,
            healthy: true,
        };
        let mut info = BTreeMap::new();
        state.store(&mut info).unwrap();
        let json: serde_json::Value = serde_json::from_str(&info[CLUSTER_INFO_KEY]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "timeStamp": 3, "numRestarts": 1, "numRestartsEvaluationTimeStamp": 2,
                "numCompletedCheckpoints": 4, "numCompletedCheckpointsIncreasedTimeStamp": 5, "healthy": true
            })
        );
        assert_eq!(HealthState::from_cluster_info(&info).unwrap(), Some(state));
        HealthState::clear(&mut info);
        assert_eq!(HealthState::from_cluster_info(&info).unwrap(), None);
        // Older upstream versions stored only three fields; the rest default to 0.
        info.insert(CLUSTER_INFO_KEY.into(), r#"{"timeStamp":7,"numRestarts":2,"healthy":false}"#.into());
        let old = HealthState::from_cluster_info(&info).unwrap().unwrap();
        assert_eq!((old.time_stamp, old.num_restarts, old.healthy, old.num_completed_checkpoints), (7, 2, false, 0));
        info.insert(CLUSTER_INFO_KEY.into(), "not json".into());
        assert!(HealthState::from_cluster_info(&info).is_err());
    }

    #[test]
    fn keys_read_with_upstream_defaults() {
        assert_eq!(HealthConfig::from_config(&BTreeMap::new()).unwrap(), HealthConfig::default());
        let config: BTreeMap<String, String> = [
            (HEALTH_CHECK_ENABLED, "true"),
            (RESTARTS_THRESHOLD, "5"),
            (RESTARTS_WINDOW, "10 min"),
            (CHECKPOINT_PROGRESS_WINDOW, "30 min"),
            (CHECKPOINTING_INTERVAL, "1 min"),
            (CHECKPOINTING_TIMEOUT, "2 min"),
            (TOLERABLE_FAILED_CHECKPOINTS, "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let parsed = HealthConfig::from_config(&config).unwrap();
        assert!(parsed.enabled);
        assert_eq!(parsed.restarts_threshold, 5);
        assert_eq!(parsed.restarts_window_ms, 10 * 60 * SEC);
        assert_eq!(parsed.checkpoint_interval_ms, Some(60 * SEC));
        assert_eq!(parsed.minimum_checkpoint_window_ms(), 10 * 60 * SEC);
        assert_eq!(parsed.checkpoint_window_ms(), Some(30 * 60 * SEC));
        let bad: BTreeMap<String, String> = [(RESTARTS_WINDOW.to_owned(), "a while".to_owned())].into();
        assert_eq!(HealthConfig::from_config(&bad).unwrap_err().key(), RESTARTS_WINDOW);
    }
}
