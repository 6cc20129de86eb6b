//! Manual and periodic snapshots through the legacy status fields (`jobStatus.savepointInfo` /
//! `jobStatus.checkpointInfo`): what to trigger in this reconcile loop ([`decide_trigger`]) and how a trigger, a
//! result or a failure is written back (`record_*`), exactly as upstream's status would look. Upgrade savepoints
//! (stop-with-savepoint) are `operator::decide`'s; FlinkStateSnapshot resources are not used here.
//!
//! The last handled nonce lives where upstream keeps it: in the reconciled spec
//! (`reconciliationStatus.lastReconciledSpec.job.savepointTriggerNonce` / `checkpointTriggerNonce`). The functions
//! here take it as an input and return a [`NonceUpdate`] the controller applies to that record.

use std::collections::BTreeMap;

use crate::crd::JobSpec;
use crate::crd::status::{
    Checkpoint, CheckpointInfo, CheckpointType, Savepoint, SavepointFormatType, SavepointInfo, SnapshotTriggerType,
};
use crate::flink::config_keys::{PERIODIC_CHECKPOINT_INTERVAL, PERIODIC_SAVEPOINT_INTERVAL};

use super::config::{
    CHECKPOINT_TRIGGER_GRACE_PERIOD, CHECKPOINT_TYPE, ConfigError, SAVEPOINT_FORMAT_TYPE,
    SAVEPOINT_TRIGGER_GRACE_PERIOD, duration_ms, raw,
};
use super::schedule::{Schedule, is_due, next_due, schedule_from_config};

/// Default grace period for failed manual triggers (1 min).
pub const DEFAULT_GRACE_PERIOD_MS: i64 = 60_000;

/// Savepoint or checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotKind {
    /// A savepoint (`POST /jobs/:id/savepoints`).
    Savepoint,
    /// A checkpoint (`POST /jobs/:id/checkpoints`, Flink ≥ 1.17).
    Checkpoint,
}

/// Why the operator triggers a snapshot on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerType {
    /// A new `savepointTriggerNonce` / `checkpointTriggerNonce`.
    Manual,
    /// The periodic schedule is due.
    Periodic,
}

impl From<TriggerType> for SnapshotTriggerType {
    fn from(value: TriggerType) -> Self {
        match value {
            TriggerType::Manual => SnapshotTriggerType::Manual,
            TriggerType::Periodic => SnapshotTriggerType::Periodic,
        }
    }
}

/// A snapshot to trigger now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// Savepoint or checkpoint.
    pub kind: SnapshotKind,
    /// Manual or periodic.
    pub trigger_type: TriggerType,
    /// The spec's nonce, for a manual trigger.
    pub nonce: Option<i64>,
}

/// The snapshot keys of the effective configuration, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerConfig {
    /// `kubernetes.operator.periodic.savepoint.interval`.
    pub savepoint_schedule: Schedule,
    /// `kubernetes.operator.periodic.checkpoint.interval`.
    pub checkpoint_schedule: Schedule,
    /// `kubernetes.operator.savepoint.format.type` (CANONICAL).
    pub savepoint_format: SavepointFormatType,
    /// `kubernetes.operator.checkpoint.type` (FULL).
    pub checkpoint_type: CheckpointType,
    /// `kubernetes.operator.savepoint.trigger.grace-period` (1 min).
    pub savepoint_grace_period_ms: i64,
    /// `kubernetes.operator.checkpoint.trigger.grace-period` (1 min).
    pub checkpoint_grace_period_ms: i64,
    /// Whether the job's Flink can trigger checkpoints over REST (≥ 1.17); without it checkpoint triggers are
    /// skipped, as upstream does (with a warning).
    pub checkpoint_triggering_supported: bool,
}

impl Default for TriggerConfig {
    fn default() -> Self {
        Self {
            savepoint_schedule: Schedule::Off,
            checkpoint_schedule: Schedule::Off,
            savepoint_format: SavepointFormatType::Canonical,
            checkpoint_type: CheckpointType::Full,
            savepoint_grace_period_ms: DEFAULT_GRACE_PERIOD_MS,
            checkpoint_grace_period_ms: DEFAULT_GRACE_PERIOD_MS,
            checkpoint_triggering_supported: true,
        }
    }
}

impl TriggerConfig {
    /// Reads the keys from the flat effective configuration; `checkpoint_triggering_supported` comes from the
    /// resource's `flinkVersion` (≥ v1_17).
    ///
    /// # Errors
    /// A value that does not parse, naming its key. Upstream ignores a periodic value that is neither a duration
    /// nor a cron expression (with a warning); flinkops reports it so validation can refuse it before it is applied.
    pub fn from_config(
        config: &BTreeMap<String, String>,
        checkpoint_triggering_supported: bool,
    ) -> Result<Self, ConfigError> {
        let savepoint_format = match raw(config, SAVEPOINT_FORMAT_TYPE).map(str::to_ascii_uppercase).as_deref() {
            None | Some("CANONICAL") => SavepointFormatType::Canonical,
            Some("NATIVE") => SavepointFormatType::Native,
            Some(_) => {
                return Err(ConfigError::Enum {
                    key: SAVEPOINT_FORMAT_TYPE.to_owned(),
                    value: config.get(SAVEPOINT_FORMAT_TYPE).cloned().unwrap_or_default(),
                    allowed: "CANONICAL, NATIVE",
                });
            }
        };
        let checkpoint_type = match raw(config, CHECKPOINT_TYPE).map(str::to_ascii_uppercase).as_deref() {
            None | Some("FULL") => CheckpointType::Full,
            Some("INCREMENTAL") => CheckpointType::Incremental,
            Some(_) => {
                return Err(ConfigError::Enum {
                    key: CHECKPOINT_TYPE.to_owned(),
                    value: config.get(CHECKPOINT_TYPE).cloned().unwrap_or_default(),
                    allowed: "FULL, INCREMENTAL",
                });
            }
        };
        Ok(Self {
            savepoint_schedule: schedule_from_config(config, PERIODIC_SAVEPOINT_INTERVAL)?,
            checkpoint_schedule: schedule_from_config(config, PERIODIC_CHECKPOINT_INTERVAL)?,
            savepoint_format,
            checkpoint_type,
            savepoint_grace_period_ms: duration_ms(config, SAVEPOINT_TRIGGER_GRACE_PERIOD)?
                .unwrap_or(DEFAULT_GRACE_PERIOD_MS),
            checkpoint_grace_period_ms: duration_ms(config, CHECKPOINT_TRIGGER_GRACE_PERIOD)?
                .unwrap_or(DEFAULT_GRACE_PERIOD_MS),
            checkpoint_triggering_supported,
        })
    }

    fn schedule(&self, kind: SnapshotKind) -> &Schedule {
        match kind {
            SnapshotKind::Savepoint => &self.savepoint_schedule,
            SnapshotKind::Checkpoint => &self.checkpoint_schedule,
        }
    }
}

/// What [`decide_trigger`] looks at, besides the configuration and `now`.
#[derive(Debug, Clone, Copy)]
pub struct TriggerInput<'a> {
    /// The desired job spec (its trigger nonces).
    pub job_spec: &'a JobSpec,
    /// `jobStatus.savepointInfo` (default when absent).
    pub savepoint_info: &'a SavepointInfo,
    /// `jobStatus.checkpointInfo` (default when absent).
    pub checkpoint_info: &'a CheckpointInfo,
    /// The last handled savepoint nonce: `lastReconciledSpec.job.savepointTriggerNonce`.
    pub handled_savepoint_nonce: Option<i64>,
    /// The last handled checkpoint nonce: `lastReconciledSpec.job.checkpointTriggerNonce`.
    pub handled_checkpoint_nonce: Option<i64>,
    /// When the last periodic savepoint was triggered; see [`last_periodic_trigger_ms`].
    pub last_periodic_savepoint_ms: i64,
    /// When the last periodic checkpoint was triggered; see [`last_periodic_trigger_ms`].
    pub last_periodic_checkpoint_ms: i64,
    /// Whether the job is RUNNING (`jobStatus.state`).
    pub job_running: bool,
}

impl TriggerInput<'_> {
    fn nonces(&self, kind: SnapshotKind) -> (Option<i64>, Option<i64>) {
        match kind {
            SnapshotKind::Savepoint => (self.job_spec.savepoint_trigger_nonce, self.handled_savepoint_nonce),
            SnapshotKind::Checkpoint => (self.job_spec.checkpoint_trigger_nonce, self.handled_checkpoint_nonce),
        }
    }

    fn in_flight(&self, kind: SnapshotKind) -> bool {
        let trigger_id = match kind {
            SnapshotKind::Savepoint => self.savepoint_info.trigger_id.as_deref(),
            SnapshotKind::Checkpoint => self.checkpoint_info.trigger_id.as_deref(),
        };
        trigger_id.is_some_and(|id| !id.is_empty())
    }

    fn last_periodic(&self, kind: SnapshotKind) -> i64 {
        match kind {
            SnapshotKind::Savepoint => self.last_periodic_savepoint_ms,
            SnapshotKind::Checkpoint => self.last_periodic_checkpoint_ms,
        }
    }
}

/// The last periodic trigger time upstream compares against: the time the operator last issued a periodic trigger
/// (`remembered_ms`, kept in memory by the controller as upstream does), else the status's
/// `lastPeriodic{Savepoint,Checkpoint}Timestamp`, never earlier than the resource's creation.
pub fn last_periodic_trigger_ms(remembered_ms: Option<i64>, recorded_ms: Option<i64>, created_ms: i64) -> i64 {
    remembered_ms.into_iter().chain(recorded_ms).fold(created_ms, i64::max)
}

/// The snapshot to trigger in this loop, if any.
///
/// Nothing while the job is not RUNNING. Savepoints are considered before checkpoints, each on its own: nothing
/// for a kind whose trigger is in flight (`triggerId` set); a non-null nonce that differs from the last handled one
/// is a manual trigger; otherwise a periodic trigger when its schedule [`is_due`]. Checkpoints need
/// [`TriggerConfig::checkpoint_triggering_supported`]. At most one trigger per loop.
pub fn decide_trigger(input: &TriggerInput<'_>, config: &TriggerConfig, now_ms: i64) -> Option<Trigger> {
    if !input.job_running {
        return None;
    }
    [SnapshotKind::Savepoint, SnapshotKind::Checkpoint]
        .into_iter()
        .find_map(|kind| decide_kind(input, config, kind, now_ms))
}

fn decide_kind(input: &TriggerInput<'_>, config: &TriggerConfig, kind: SnapshotKind, now_ms: i64) -> Option<Trigger> {
    if input.in_flight(kind) {
        return None;
    }
    if kind == SnapshotKind::Checkpoint && !config.checkpoint_triggering_supported {
        return None;
    }
    let (nonce, handled) = input.nonces(kind);
    if nonce.is_some() && nonce != handled {
        return Some(Trigger { kind, trigger_type: TriggerType::Manual, nonce });
    }
    is_due(config.schedule(kind), input.last_periodic(kind), now_ms).then_some(Trigger {
        kind,
        trigger_type: TriggerType::Periodic,
        nonce: None,
    })
}

/// When the controller should look again for periodic triggers (the earlier of the two schedules), so it can
/// requeue exactly instead of polling. `None` when no schedule is on.
pub fn next_periodic_check(input: &TriggerInput<'_>, config: &TriggerConfig) -> Option<i64> {
    let savepoint = next_due(&config.savepoint_schedule, input.last_periodic_savepoint_ms);
    let checkpoint = if config.checkpoint_triggering_supported {
        next_due(&config.checkpoint_schedule, input.last_periodic_checkpoint_ms)
    } else {
        None
    };
    savepoint.into_iter().chain(checkpoint).min()
}

/// What the controller must write to the reconciled spec's trigger nonce after a `record_*` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum NonceUpdate {
    /// Leave it: the trigger was periodic, or a failed manual trigger is retried on a later loop.
    Keep,
    /// Set `lastReconciledSpec.job.<kind>TriggerNonce` to this value: the manual request is handled.
    MarkHandled(Option<i64>),
}

/// Records a trigger just issued (`setTrigger` upstream): the trigger id, now, the type and the format.
pub fn record_savepoint_triggered(
    info: &mut SavepointInfo,
    trigger_id: String,
    trigger_type: TriggerType,
    format: SavepointFormatType,
    now_ms: i64,
) {
    info.trigger_id = Some(trigger_id);
    info.trigger_timestamp = Some(now_ms);
    info.trigger_type = Some(trigger_type.into());
    info.format_type = Some(format);
}

/// Records a completed savepoint (upstream's `updateLastSavepoint`): a [`Savepoint`] stamped with the trigger time
/// (`now_ms` only if none was recorded) becomes `lastSavepoint` and is appended to `savepointHistory` unless its
/// location equals the current last one; a periodic one moves `lastPeriodicSavepointTimestamp`; the trigger fields
/// are cleared. `nonce` is the spec's current `savepointTriggerNonce`; it is stored on manual savepoints only.
pub fn record_completed(
    info: &mut SavepointInfo,
    location: String,
    trigger_type: SnapshotTriggerType,
    nonce: Option<i64>,
    format: SavepointFormatType,
    now_ms: i64,
) -> NonceUpdate {
    let manual = trigger_type == SnapshotTriggerType::Manual;
    let savepoint = Savepoint {
        time_stamp: Some(info.trigger_timestamp.unwrap_or(now_ms)),
        location: Some(location),
        trigger_type: Some(trigger_type),
        format_type: Some(format),
        trigger_nonce: if manual { nonce } else { None },
    };
    let is_new = info.last_savepoint.as_ref().is_none_or(|last| last.location != savepoint.location);
    if is_new {
        if trigger_type == SnapshotTriggerType::Periodic {
            info.last_periodic_savepoint_timestamp = savepoint.time_stamp;
        }
        info.savepoint_history.push(savepoint.clone());
        info.last_savepoint = Some(savepoint);
    }
    reset_savepoint_trigger(info);
    if manual { NonceUpdate::MarkHandled(nonce) } else { NonceUpdate::Keep }
}

/// Records a failed savepoint: the trigger fields are cleared (an event `SavepointError` with
/// [`failure_message`] is due). A manual request is retried on later loops while the failed attempt's trigger time
/// plus the grace period has not passed; after that it is marked handled. Periodic failures wait for the next
/// periodic trigger.
pub fn record_failed(info: &mut SavepointInfo, nonce: Option<i64>, grace_period_ms: i64, now_ms: i64) -> NonceUpdate {
    let update = failure_update(info.trigger_type, info.trigger_timestamp, nonce, grace_period_ms, now_ms);
    reset_savepoint_trigger(info);
    update
}

/// Records a completed checkpoint (upstream's `updateLastCheckpoint`): `lastCheckpoint` stamped with the trigger
/// time, `lastPeriodicCheckpointTimestamp` for periodic ones, trigger fields cleared.
pub fn record_checkpoint_completed(
    info: &mut CheckpointInfo,
    trigger_type: SnapshotTriggerType,
    nonce: Option<i64>,
    checkpoint_type: CheckpointType,
    now_ms: i64,
) -> NonceUpdate {
    let manual = trigger_type == SnapshotTriggerType::Manual;
    let checkpoint = Checkpoint {
        time_stamp: Some(info.trigger_timestamp.unwrap_or(now_ms)),
        trigger_type: Some(trigger_type),
        format_type: Some(checkpoint_type),
        trigger_nonce: if manual { nonce } else { None },
    };
    if trigger_type == SnapshotTriggerType::Periodic {
        info.last_periodic_checkpoint_timestamp = checkpoint.time_stamp;
    }
    info.last_checkpoint = Some(checkpoint);
    reset_checkpoint_trigger(info);
    if manual { NonceUpdate::MarkHandled(nonce) } else { NonceUpdate::Keep }
}

/// Records a triggered checkpoint (`setTrigger`).
pub fn record_checkpoint_triggered(
    info: &mut CheckpointInfo,
    trigger_id: String,
    trigger_type: TriggerType,
    checkpoint_type: CheckpointType,
    now_ms: i64,
) {
    info.trigger_id = Some(trigger_id);
    info.trigger_timestamp = Some(now_ms);
    info.trigger_type = Some(trigger_type.into());
    info.format_type = Some(checkpoint_type);
}

/// Records a failed checkpoint; same grace rule as [`record_failed`].
pub fn record_checkpoint_failed(
    info: &mut CheckpointInfo,
    nonce: Option<i64>,
    grace_period_ms: i64,
    now_ms: i64,
) -> NonceUpdate {
    let update = failure_update(info.trigger_type, info.trigger_timestamp, nonce, grace_period_ms, now_ms);
    reset_checkpoint_trigger(info);
    update
}

/// The job stopped running with a trigger in flight (upstream's `resetSnapshotTriggers`): the trigger is dropped
/// and a manual request is marked handled at once (no retry). An event `SavepointError` / `CheckpointError` is due.
pub fn abandon_in_flight(
    savepoint_info: &mut SavepointInfo,
    checkpoint_info: &mut CheckpointInfo,
    savepoint_nonce: Option<i64>,
    checkpoint_nonce: Option<i64>,
) -> (NonceUpdate, NonceUpdate) {
    let handled = |trigger_id: &Option<String>, trigger_type: Option<SnapshotTriggerType>, nonce| match (
        trigger_id.as_deref().is_some_and(|id| !id.is_empty()),
        trigger_type,
    ) {
        (true, Some(SnapshotTriggerType::Manual)) => NonceUpdate::MarkHandled(nonce),
        _ => NonceUpdate::Keep,
    };
    let savepoint = handled(&savepoint_info.trigger_id, savepoint_info.trigger_type, savepoint_nonce);
    let checkpoint = handled(&checkpoint_info.trigger_id, checkpoint_info.trigger_type, checkpoint_nonce);
    if savepoint_info.trigger_id.is_some() {
        reset_savepoint_trigger(savepoint_info);
    }
    if checkpoint_info.trigger_id.is_some() {
        reset_checkpoint_trigger(checkpoint_info);
    }
    (savepoint, checkpoint)
}

/// The event message of a failed trigger, as upstream words it.
pub fn failure_message(kind: SnapshotKind, trigger_type: Option<SnapshotTriggerType>, nonce: Option<i64>) -> String {
    let nonce = nonce.map_or_else(|| "null".to_owned(), |n| n.to_string());
    match (kind, trigger_type) {
        (SnapshotKind::Savepoint, Some(SnapshotTriggerType::Periodic)) => "Periodic savepoint failed".to_owned(),
        (SnapshotKind::Savepoint, _) => format!("Savepoint failed for savepointTriggerNonce: {nonce}"),
        (SnapshotKind::Checkpoint, Some(SnapshotTriggerType::Periodic)) => "Periodic checkpoint failed".to_owned(),
        (SnapshotKind::Checkpoint, _) => format!("Checkpoint failed for checkpointTriggerNonce: {nonce}"),
    }
}

fn failure_update(
    trigger_type: Option<SnapshotTriggerType>,
    trigger_timestamp: Option<i64>,
    nonce: Option<i64>,
    grace_period_ms: i64,
    now_ms: i64,
) -> NonceUpdate {
    if trigger_type != Some(SnapshotTriggerType::Manual) {
        return NonceUpdate::Keep;
    }
    // Upstream: `Instant.ofEpochMilli(triggerTimestamp).plus(gracePeriod).isBefore(now)`.
    let grace_ended = trigger_timestamp.unwrap_or(0).saturating_add(grace_period_ms) < now_ms;
    if grace_ended { NonceUpdate::MarkHandled(nonce) } else { NonceUpdate::Keep }
}

fn reset_savepoint_trigger(info: &mut SavepointInfo) {
    info.trigger_id = None;
    info.trigger_timestamp = None;
    info.trigger_type = None;
    info.format_type = None;
}

fn reset_checkpoint_trigger(info: &mut CheckpointInfo) {
    info.trigger_id = None;
    info.trigger_timestamp = None;
    info.trigger_type = None;
    info.format_type = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const T0: i64 = 1_704_067_200_000;

    struct Case {
        spec: JobSpec,
        savepoint: SavepointInfo,
        checkpoint: CheckpointInfo,
        handled_savepoint: Option<i64>,
        handled_checkpoint: Option<i64>,
        last_periodic: i64,
        running: bool,
        config: TriggerConfig,
    }

    impl Case {
        fn new() -> Self {
            Case {
                spec: JobSpec::default(),
                savepoint: SavepointInfo::default(),
                checkpoint: CheckpointInfo::default(),
                handled_savepoint: None,
                handled_checkpoint: None,
                last_periodic: T0,
                running: true,
                config: TriggerConfig::default(),
            }
        }

        fn decide(&self, now: i64) -> Option<Trigger> {
            let input = TriggerInput {
                job_spec: &self.spec,
                savepoint_info: &self.savepoint,
                checkpoint_info: &self.checkpoint,
                handled_savepoint_nonce: self.handled_savepoint,
                handled_checkpoint_nonce: self.handled_checkpoint,
                last_periodic_savepoint_ms: self.last_periodic,
                last_periodic_checkpoint_ms: self.last_periodic,
                job_running: self.running,
            };
            decide_trigger(&input, &self.config, now)
        }
    }

    fn manual(kind: SnapshotKind, nonce: i64) -> Option<Trigger> {
        Some(Trigger { kind, trigger_type: TriggerType::Manual, nonce: Some(nonce) })
    }

    fn periodic(kind: SnapshotKind) -> Option<Trigger> {
        Some(Trigger { kind, trigger_type: TriggerType::Periodic, nonce: None })
    }

    #[test]
    fn manual_trigger_on_a_changed_non_null_nonce() {
        let mut case = Case::new();
        case.spec.savepoint_trigger_nonce = Some(2);
        case.handled_savepoint = Some(1);
        assert_eq!(case.decide(T0), manual(SnapshotKind::Savepoint, 2));
        case.handled_savepoint = None;
        assert_eq!(case.decide(T0), manual(SnapshotKind::Savepoint, 2), "first nonce ever");
        case.handled_savepoint = Some(2);
        assert_eq!(case.decide(T0), None, "already handled");
    }

    #[test]
    fn nonce_set_back_to_null_triggers_nothing() {
        let mut case = Case::new();
        case.spec.savepoint_trigger_nonce = None;
        case.handled_savepoint = Some(5);
        assert_eq!(case.decide(T0), None);
    }

    #[test]
    fn manual_checkpoint_on_a_changed_nonce() {
        let mut case = Case::new();
        case.spec.checkpoint_trigger_nonce = Some(7);
        assert_eq!(case.decide(T0), manual(SnapshotKind::Checkpoint, 7));
    }

    #[test]
    fn checkpoint_triggers_need_flink_1_17() {
        let mut case = Case::new();
        case.spec.checkpoint_trigger_nonce = Some(7);
        case.config.checkpoint_triggering_supported = false;
        case.config.checkpoint_schedule = Schedule::Interval { interval_ms: MIN };
        assert_eq!(case.decide(T0 + 10 * MIN), None);
    }

    #[test]
    fn only_for_a_running_job() {
        let mut case = Case::new();
        case.spec.savepoint_trigger_nonce = Some(1);
        case.config.savepoint_schedule = Schedule::Interval { interval_ms: MIN };
        case.running = false;
        assert_eq!(case.decide(T0 + 10 * MIN), None);
    }

    #[test]
    fn nothing_while_a_trigger_of_that_kind_is_in_flight() {
        let mut case = Case::new();
        case.spec.savepoint_trigger_nonce = Some(1);
        case.config.savepoint_schedule = Schedule::Interval { interval_ms: MIN };
        case.savepoint.trigger_id = Some("abc".into());
        assert_eq!(case.decide(T0 + 10 * MIN), None);
        // A checkpoint request is independent of an in-flight savepoint.
        case.spec.checkpoint_trigger_nonce = Some(3);
        assert_eq!(case.decide(T0 + 10 * MIN), manual(SnapshotKind::Checkpoint, 3));
        // An empty trigger id is no trigger (upstream's `isNotEmpty`).
        case.savepoint.trigger_id = Some(String::new());
        assert_eq!(case.decide(T0 + 10 * MIN), manual(SnapshotKind::Savepoint, 1));
    }

    #[test]
    fn manual_wins_over_periodic_and_savepoint_over_checkpoint() {
        let mut case = Case::new();
        case.config.savepoint_schedule = Schedule::Interval { interval_ms: MIN };
        case.config.checkpoint_schedule = Schedule::Interval { interval_ms: MIN };
        case.spec.savepoint_trigger_nonce = Some(1);
        case.spec.checkpoint_trigger_nonce = Some(1);
        assert_eq!(case.decide(T0 + 10 * MIN), manual(SnapshotKind::Savepoint, 1));
        case.handled_savepoint = Some(1);
        assert_eq!(case.decide(T0 + 10 * MIN), periodic(SnapshotKind::Savepoint));
        case.config.savepoint_schedule = Schedule::Off;
        assert_eq!(case.decide(T0 + 10 * MIN), manual(SnapshotKind::Checkpoint, 1));
    }

    #[test]
    fn periodic_when_due() {
        let mut case = Case::new();
        case.config.savepoint_schedule = Schedule::Interval { interval_ms: 10 * MIN };
        assert_eq!(case.decide(T0 + 10 * MIN), None);
        assert_eq!(case.decide(T0 + 10 * MIN + 1), periodic(SnapshotKind::Savepoint));
        case.config.savepoint_schedule = Schedule::Off;
        case.config.checkpoint_schedule = Schedule::Interval { interval_ms: 10 * MIN };
        assert_eq!(case.decide(T0 + 11 * MIN), periodic(SnapshotKind::Checkpoint));
    }

    #[test]
    fn next_periodic_check_is_the_earlier_schedule() {
        let case = {
            let mut c = Case::new();
            c.config.savepoint_schedule = Schedule::Interval { interval_ms: 10 * MIN };
            c.config.checkpoint_schedule = Schedule::Interval { interval_ms: 5 * MIN };
            c
        };
        let input = TriggerInput {
            job_spec: &case.spec,
            savepoint_info: &case.savepoint,
            checkpoint_info: &case.checkpoint,
            handled_savepoint_nonce: None,
            handled_checkpoint_nonce: None,
            last_periodic_savepoint_ms: T0,
            last_periodic_checkpoint_ms: T0,
            job_running: true,
        };
        assert_eq!(next_periodic_check(&input, &case.config), Some(T0 + 5 * MIN + 1));
        assert_eq!(next_periodic_check(&input, &TriggerConfig::default()), None);
    }

    #[test]
    fn last_periodic_trigger_prefers_the_latest_known_time() {
        assert_eq!(last_periodic_trigger_ms(None, None, T0), T0, "creation time");
        assert_eq!(last_periodic_trigger_ms(None, Some(T0 + 5), T0), T0 + 5, "status timestamp");
        assert_eq!(last_periodic_trigger_ms(Some(T0 + 9), Some(T0 + 5), T0), T0 + 9, "in memory");
        assert_eq!(last_periodic_trigger_ms(None, Some(0), T0), T0, "never before creation");
    }

    #[test]
    fn completed_savepoint_updates_status_as_upstream() {
        let mut info = SavepointInfo::default();
        record_savepoint_triggered(&mut info, "t1".into(), TriggerType::Periodic, SavepointFormatType::Canonical, T0);
        assert_eq!(info.trigger_id.as_deref(), Some("t1"));
        assert_eq!(info.trigger_type, Some(SnapshotTriggerType::Periodic));
        let update = record_completed(
            &mut info,
            "file:///sp/1".into(),
            SnapshotTriggerType::Periodic,
            Some(4),
            SavepointFormatType::Canonical,
            T0 + MIN,
        );
        assert_eq!(update, NonceUpdate::Keep);
        let expected = Savepoint {
            time_stamp: Some(T0),
            location: Some("file:///sp/1".into()),
            trigger_type: Some(SnapshotTriggerType::Periodic),
            format_type: Some(SavepointFormatType::Canonical),
            trigger_nonce: None,
        };
        assert_eq!(
            info,
            SavepointInfo {
                last_savepoint: Some(expected.clone()),
                savepoint_history: vec![expected],
                last_periodic_savepoint_timestamp: Some(T0),
                ..SavepointInfo::default()
            }
        );
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["lastSavepoint"]["timeStamp"], T0);
        assert_eq!(json["lastPeriodicSavepointTimestamp"], T0);
        assert!(json.get("triggerId").is_none());
    }

    #[test]
    fn completed_manual_savepoint_carries_the_nonce_and_marks_it_handled() {
        let mut info = SavepointInfo::default();
        record_savepoint_triggered(&mut info, "t1".into(), TriggerType::Manual, SavepointFormatType::Native, T0);
        let update = record_completed(
            &mut info,
            "file:///sp/2".into(),
            SnapshotTriggerType::Manual,
            Some(4),
            SavepointFormatType::Native,
            T0 + MIN,
        );
        assert_eq!(update, NonceUpdate::MarkHandled(Some(4)));
        assert_eq!(info.last_savepoint.as_ref().and_then(|s| s.trigger_nonce), Some(4));
        assert_eq!(info.last_periodic_savepoint_timestamp, None, "manual savepoints leave the periodic timestamp");
    }

    #[test]
    fn same_location_is_not_appended_twice() {
        let mut info = SavepointInfo::default();
        for _ in 0..2 {
            record_savepoint_triggered(
                &mut info,
                "t".into(),
                TriggerType::Periodic,
                SavepointFormatType::Canonical,
                T0,
            );
            let _ = record_completed(
                &mut info,
                "file:///sp/1".into(),
                SnapshotTriggerType::Periodic,
                None,
                SavepointFormatType::Canonical,
                T0,
            );
        }
        assert_eq!(info.savepoint_history.len(), 1);
        assert_eq!(info.trigger_id, None, "the trigger is cleared either way");
    }

    #[test]
    fn failed_manual_trigger_is_retried_within_the_grace_period() {
        let mut info = SavepointInfo::default();
        record_savepoint_triggered(&mut info, "t".into(), TriggerType::Manual, SavepointFormatType::Canonical, T0);
        assert_eq!(record_failed(&mut info, Some(3), MIN, T0 + MIN), NonceUpdate::Keep, "at the boundary: retry");
        assert_eq!(info, SavepointInfo::default(), "trigger fields cleared");
        // The nonce stays unhandled, so the next loop triggers it again.
        let mut case = Case::new();
        case.spec.savepoint_trigger_nonce = Some(3);
        case.handled_savepoint = Some(2);
        assert_eq!(case.decide(T0 + MIN), manual(SnapshotKind::Savepoint, 3));
    }

    #[test]
    fn failed_manual_trigger_is_marked_handled_after_the_grace_period() {
        let mut info = SavepointInfo::default();
        record_savepoint_triggered(&mut info, "t".into(), TriggerType::Manual, SavepointFormatType::Canonical, T0);
        assert_eq!(record_failed(&mut info, Some(3), MIN, T0 + MIN + 1), NonceUpdate::MarkHandled(Some(3)));
        let mut checkpoint = CheckpointInfo::default();
        record_checkpoint_triggered(&mut checkpoint, "c".into(), TriggerType::Manual, CheckpointType::Full, T0);
        assert_eq!(
            record_checkpoint_failed(&mut checkpoint, Some(8), MIN, T0 + 2 * MIN),
            NonceUpdate::MarkHandled(Some(8))
        );
        assert_eq!(checkpoint, CheckpointInfo::default());
    }

    #[test]
    fn failed_periodic_trigger_only_clears_the_trigger() {
        let mut info = SavepointInfo { last_periodic_savepoint_timestamp: Some(T0 - MIN), ..SavepointInfo::default() };
        record_savepoint_triggered(&mut info, "t".into(), TriggerType::Periodic, SavepointFormatType::Canonical, T0);
        assert_eq!(record_failed(&mut info, None, MIN, T0 + 5 * MIN), NonceUpdate::Keep);
        assert_eq!(info.last_periodic_savepoint_timestamp, Some(T0 - MIN));
        assert_eq!(info.trigger_id, None);
        assert_eq!(
            failure_message(SnapshotKind::Savepoint, Some(SnapshotTriggerType::Periodic), None),
            "Periodic savepoint failed"
        );
        assert_eq!(
            failure_message(SnapshotKind::Savepoint, Some(SnapshotTriggerType::Manual), Some(3)),
            "Savepoint failed for savepointTriggerNonce: 3"
        );
    }

    #[test]
    fn completed_checkpoint_updates_status_as_upstream() {
        let mut info = CheckpointInfo::default();
        record_checkpoint_triggered(&mut info, "c".into(), TriggerType::Periodic, CheckpointType::Incremental, T0);
        let update = record_checkpoint_completed(
            &mut info,
            SnapshotTriggerType::Periodic,
            None,
            CheckpointType::Incremental,
            T0 + 1,
        );
        assert_eq!(update, NonceUpdate::Keep);
        assert_eq!(info.last_periodic_checkpoint_timestamp, Some(T0));
        assert_eq!(info.last_checkpoint.as_ref().and_then(|c| c.format_type), Some(CheckpointType::Incremental));
        assert_eq!(info.trigger_id, None);
    }

    #[test]
    fn job_stopped_with_a_trigger_in_flight_abandons_it() {
        let mut savepoint = SavepointInfo::default();
        let mut checkpoint = CheckpointInfo::default();
        record_savepoint_triggered(&mut savepoint, "s".into(), TriggerType::Manual, SavepointFormatType::Canonical, T0);
        record_checkpoint_triggered(&mut checkpoint, "c".into(), TriggerType::Periodic, CheckpointType::Full, T0);
        let (s, c) = abandon_in_flight(&mut savepoint, &mut checkpoint, Some(9), None);
        assert_eq!((s, c), (NonceUpdate::MarkHandled(Some(9)), NonceUpdate::Keep));
        assert_eq!((savepoint, checkpoint), (SavepointInfo::default(), CheckpointInfo::default()));
    }

    #[test]
    fn config_keys_with_defaults_and_typed_errors() {
        let config: BTreeMap<String, String> = [
            ("kubernetes.operator.periodic.savepoint.interval", "0 0 * * * ?"),
            ("kubernetes.operator.periodic.checkpoint.interval", "10m"),
            ("kubernetes.operator.savepoint.format.type", "native"),
            ("kubernetes.operator.checkpoint.trigger.grace-period", "5 min"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let parsed = TriggerConfig::from_config(&config, true).unwrap();
        assert!(matches!(parsed.savepoint_schedule, Schedule::Cron(_)));
        assert_eq!(parsed.checkpoint_schedule, Schedule::Interval { interval_ms: 10 * MIN });
        assert_eq!(parsed.savepoint_format, SavepointFormatType::Native);
        assert_eq!(parsed.checkpoint_type, CheckpointType::Full);
        assert_eq!(parsed.savepoint_grace_period_ms, MIN);
        assert_eq!(parsed.checkpoint_grace_period_ms, 5 * MIN);
        assert_eq!(TriggerConfig::from_config(&BTreeMap::new(), true), Ok(TriggerConfig::default()));
        let mut bad = config.clone();
        bad.insert(CHECKPOINT_TYPE.to_owned(), "DELTA".to_owned());
        assert_eq!(TriggerConfig::from_config(&bad, true).unwrap_err().key(), CHECKPOINT_TYPE);
        let mut bad = config;
        bad.insert(PERIODIC_SAVEPOINT_INTERVAL.to_owned(), "0 0 12 L * ?".to_owned());
        assert_eq!(TriggerConfig::from_config(&bad, true).unwrap_err().key(), PERIODIC_SAVEPOINT_INTERVAL);
    }
}
