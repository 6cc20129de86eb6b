//! Retention of the legacy `jobStatus.savepointInfo.savepointHistory`: which entries to dispose of (count budget,
//! age), which to only forget (cleanup disabled), and the rule that an entry leaves the history only after Flink
//! disposed of its data (FLINK-39439). The controller runs the plan only while the JobManager is READY and the job
//! is found; disposal goes through Flink (`POST /savepoint-disposal`), never through storage credentials.

use std::collections::BTreeMap;

use crate::crd::status::Savepoint;

use super::config::{
    ConfigError, SAVEPOINT_CLEANUP_ENABLED, SAVEPOINT_HISTORY_MAX_AGE, SAVEPOINT_HISTORY_MAX_AGE_THRESHOLD,
    SAVEPOINT_HISTORY_MAX_COUNT, SAVEPOINT_HISTORY_MAX_COUNT_THRESHOLD, boolean, duration_ms, integer,
};

/// Default `kubernetes.operator.savepoint.history.max.count`.
pub const DEFAULT_MAX_COUNT: i64 = 10;
/// Default `kubernetes.operator.savepoint.history.max.age` (24 h).
pub const DEFAULT_MAX_AGE_MS: i64 = 24 * 60 * 60 * 1000;

/// Operator-wide caps (`…max.count.threshold`, `…max.age.threshold`): they clamp the per-resource values down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionThresholds {
    /// Cap on the max count.
    pub max_count: Option<i64>,
    /// Cap on the max age, milliseconds.
    pub max_age_ms: Option<i64>,
}

impl RetentionThresholds {
    /// Reads the caps from the operator's own configuration (not from a resource's `flinkConfiguration`, as
    /// upstream reads them from the operator configuration only).
    ///
    /// # Errors
    /// A value that does not parse, naming its key.
    pub fn from_operator_config(config: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        Ok(Self {
            max_count: integer(config, SAVEPOINT_HISTORY_MAX_COUNT_THRESHOLD)?,
            max_age_ms: duration_ms(config, SAVEPOINT_HISTORY_MAX_AGE_THRESHOLD)?,
        })
    }
}

/// The retention keys of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// `kubernetes.operator.savepoint.history.max.count` as configured.
    pub max_count: i64,
    /// `kubernetes.operator.savepoint.history.max.age` as configured, milliseconds.
    pub max_age_ms: i64,
    /// The operator-wide caps.
    pub thresholds: RetentionThresholds,
    /// `kubernetes.operator.savepoint.cleanup.enabled`: dispose of expired data, or only drop the entries.
    pub cleanup_enabled: bool,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            max_count: DEFAULT_MAX_COUNT,
            max_age_ms: DEFAULT_MAX_AGE_MS,
            thresholds: RetentionThresholds::default(),
            cleanup_enabled: true,
        }
    }
}

impl RetentionPolicy {
    /// Reads the per-resource keys from the flat effective configuration.
    ///
    /// # Errors
    /// A value that does not parse, naming its key.
    pub fn from_config(
        config: &BTreeMap<String, String>,
        thresholds: RetentionThresholds,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            max_count: integer(config, SAVEPOINT_HISTORY_MAX_COUNT)?.unwrap_or(DEFAULT_MAX_COUNT),
            max_age_ms: duration_ms(config, SAVEPOINT_HISTORY_MAX_AGE)?.unwrap_or(DEFAULT_MAX_AGE_MS),
            thresholds,
            cleanup_enabled: boolean(config, SAVEPOINT_CLEANUP_ENABLED)?.unwrap_or(true),
        })
    }

    /// The count in force: clamped down by the threshold, never below 1.
    pub fn effective_max_count(&self) -> i64 {
        self.thresholds.max_count.map_or(self.max_count, |cap| self.max_count.min(cap)).max(1)
    }

    /// The age in force: clamped down by the threshold.
    pub fn effective_max_age_ms(&self) -> i64 {
        self.thresholds.max_age_ms.map_or(self.max_age_ms, |cap| self.max_age_ms.min(cap))
    }
}

/// An entry whose data should be disposed of, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Disposal {
    /// The history entry.
    pub savepoint: Savepoint,
    /// Beyond the count budget (oldest first).
    pub over_count: bool,
    /// Older than the max age.
    pub over_age: bool,
}

/// What became of one planned disposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisposalOutcome {
    /// Flink disposed of the data; the entry may leave the history.
    Disposed,
    /// The disposal failed; the entry stays and is retried on a later pass.
    Failed,
    /// Not attempted (see [`RetentionPlan::should_attempt`]); the entry stays.
    Skipped,
}

/// The result of [`plan_retention`]: a partition of the history, order preserved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RetentionPlan {
    /// Expired entries to dispose of through Flink, oldest first; each leaves the history only once disposed.
    pub dispose: Vec<Disposal>,
    /// Expired entries to drop without disposal (`savepoint.cleanup.enabled=false`, or no location to dispose).
    pub forget: Vec<Savepoint>,
    /// Entries that stay.
    pub keep: Vec<Savepoint>,
}

impl RetentionPlan {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.dispose.is_empty() && self.forget.is_empty()
    }

    /// Whether to attempt `dispose[index]` given the outcomes of the earlier ones: upstream's count pass stops at
    /// the first failed count-based disposal (so it never removes a newer entry while an older one is orphaned),
    /// while age-based disposals are independent of one another.
    pub fn should_attempt(&self, index: usize, earlier: &[DisposalOutcome]) -> bool {
        let Some(disposal) = self.dispose.get(index) else {
            return false;
        };
        let count_pass_stopped = self
            .dispose
            .iter()
            .zip(earlier)
            .take(index)
            .any(|(d, outcome)| d.over_count && *outcome == DisposalOutcome::Failed);
        disposal.over_age || !count_pass_stopped
    }
}

/// Plans one retention pass over the legacy history (oldest first), as upstream's `cleanupSavepointHistoryLegacy`.
///
/// - Count budget: `effective_max_count − completed_savepoint_crs` (not below 0); the oldest entries beyond it
///   expire. `completed_savepoint_crs` is the number of COMPLETED savepoint `FlinkStateSnapshot`s of the resource
///   (0 when flinkops does not use them).
/// - Age: entries whose `timeStamp` is older than `now − effective_max_age` expire; the newest entry is exempt
///   while `completed_savepoint_crs == 0`; an entry without a timestamp never expires by age.
/// - Nothing happens to an empty history, or to a single entry while no completed savepoint CR exists.
/// - Expired entries are disposed of when `cleanup_enabled` and they have a location, else only forgotten.
pub fn plan_retention(
    history: &[Savepoint],
    policy: &RetentionPolicy,
    completed_savepoint_crs: usize,
    now_ms: i64,
) -> RetentionPlan {
    let no_crs = completed_savepoint_crs == 0;
    if history.is_empty() || (history.len() == 1 && no_crs) {
        return RetentionPlan { keep: history.to_vec(), ..RetentionPlan::default() };
    }
    let crs = i64::try_from(completed_savepoint_crs).unwrap_or(i64::MAX);
    let budget = usize::try_from(policy.effective_max_count().saturating_sub(crs).max(0)).unwrap_or(usize::MAX);
    let over_count_len = history.len().saturating_sub(budget);
    let min_timestamp = now_ms.saturating_sub(policy.effective_max_age_ms());
    let newest = history.len() - 1;

    let mut plan = RetentionPlan::default();
    for (index, savepoint) in history.iter().enumerate() {
        let over_count = index < over_count_len;
        let age_exempt = index == newest && no_crs;
        let over_age = !age_exempt && savepoint.time_stamp.is_some_and(|ts| ts < min_timestamp);
        match (over_count || over_age, policy.cleanup_enabled && savepoint.location.is_some()) {
            (false, _) => plan.keep.push(savepoint.clone()),
            (true, true) => plan.dispose.push(Disposal { savepoint: savepoint.clone(), over_count, over_age }),
            (true, false) => plan.forget.push(savepoint.clone()),
        }
    }
    plan
}

/// The history after a pass: entries in `plan.forget` and entries whose disposal is reported
/// [`DisposalOutcome::Disposed`] are removed; everything else stays, including entries added since the plan was
/// made. `outcomes[i]` belongs to `plan.dispose[i]`; a missing outcome counts as not attempted. An entry is never
/// dropped before its data is gone (FLINK-39439).
pub fn remove_disposed(history: &[Savepoint], plan: &RetentionPlan, outcomes: &[DisposalOutcome]) -> Vec<Savepoint> {
    let mut remove: Vec<&Savepoint> = plan.forget.iter().collect();
    remove.extend(
        plan.dispose
            .iter()
            .zip(outcomes)
            .filter(|(_, outcome)| **outcome == DisposalOutcome::Disposed)
            .map(|(disposal, _)| &disposal.savepoint),
    );
    let mut kept = Vec::with_capacity(history.len());
    for entry in history {
        match remove.iter().position(|r| *r == entry) {
            Some(at) => {
                remove.swap_remove(at);
            }
            None => kept.push(entry.clone()),
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 60 * 60 * 1000;
    const NOW: i64 = 1_704_067_200_000;

    fn sp(age_hours: i64) -> Savepoint {
        Savepoint {
            time_stamp: Some(NOW - age_hours * HOUR),
            location: Some(format!("file:///sp/{age_hours}h")),
            ..Savepoint::default()
        }
    }

    fn policy(max_count: i64, max_age_hours: i64) -> RetentionPolicy {
        RetentionPolicy { max_count, max_age_ms: max_age_hours * HOUR, ..RetentionPolicy::default() }
    }

    fn locations(entries: impl IntoIterator<Item = Savepoint>) -> Vec<String> {
        entries.into_iter().filter_map(|s| s.location).collect()
    }

    fn disposed(plan: &RetentionPlan) -> Vec<String> {
        locations(plan.dispose.iter().map(|d| d.savepoint.clone()))
    }

    #[test]
    fn oldest_entries_beyond_max_count_are_disposed() {
        let history = vec![sp(5), sp(4), sp(3), sp(2), sp(1)];
        let plan = plan_retention(&history, &policy(3, 100), 0, NOW);
        assert_eq!(disposed(&plan), ["file:///sp/5h", "file:///sp/4h"]);
        assert!(plan.dispose.iter().all(|d| d.over_count && !d.over_age));
        assert_eq!(locations(plan.keep), ["file:///sp/3h", "file:///sp/2h", "file:///sp/1h"]);
    }

    #[test]
    fn entries_older_than_max_age_are_disposed() {
        let history = vec![sp(30), sp(25), sp(23), sp(1)];
        let plan = plan_retention(&history, &policy(10, 24), 0, NOW);
        assert_eq!(disposed(&plan), ["file:///sp/30h", "file:///sp/25h"]);
        assert!(plan.dispose.iter().all(|d| d.over_age && !d.over_count));
    }

    #[test]
    fn age_boundary_is_strict() {
        let history = vec![sp(24), sp(1)];
        assert!(plan_retention(&history, &policy(10, 24), 0, NOW).is_empty(), "exactly max age old stays");
        assert_eq!(disposed(&plan_retention(&history, &policy(10, 24), 0, NOW + 1)), ["file:///sp/24h"]);
    }

    #[test]
    fn newest_entry_is_exempt_from_age_without_snapshot_resources() {
        let history = vec![sp(50), sp(40)];
        let plan = plan_retention(&history, &policy(10, 24), 0, NOW);
        assert_eq!(disposed(&plan), ["file:///sp/50h"]);
        assert_eq!(locations(plan.keep), ["file:///sp/40h"]);
        // With a completed savepoint CR the newer data lives there, so the newest legacy entry may go.
        let plan = plan_retention(&history, &policy(10, 24), 1, NOW);
        assert_eq!(disposed(&plan), ["file:///sp/50h", "file:///sp/40h"]);
    }

    #[test]
    fn single_entry_is_left_alone_without_snapshot_resources() {
        let history = vec![sp(100)];
        assert!(plan_retention(&history, &policy(1, 1), 0, NOW).is_empty());
        assert!(plan_retention(&[], &policy(1, 1), 3, NOW).is_empty());
    }

    #[test]
    fn completed_snapshot_resources_use_up_the_count_budget() {
        let history = vec![sp(3), sp(2), sp(1)];
        let plan = plan_retention(&history, &policy(4, 100), 2, NOW);
        assert_eq!(disposed(&plan), ["file:///sp/3h"]);
        let plan = plan_retention(&history, &policy(4, 100), 9, NOW);
        assert_eq!(plan.dispose.len(), 3, "budget 0: the whole legacy history goes");
    }

    #[test]
    fn max_count_is_at_least_one() {
        let history = vec![sp(3), sp(2), sp(1)];
        for count in [0, -5] {
            let plan = plan_retention(&history, &policy(count, 100), 0, NOW);
            assert_eq!(locations(plan.keep), ["file:///sp/1h"], "max.count {count}");
        }
    }

    #[test]
    fn thresholds_clamp_the_resource_values_down() {
        let mut p = policy(10, 48);
        p.thresholds = RetentionThresholds { max_count: Some(2), max_age_ms: Some(24 * HOUR) };
        assert_eq!((p.effective_max_count(), p.effective_max_age_ms()), (2, 24 * HOUR));
        p.thresholds = RetentionThresholds { max_count: Some(50), max_age_ms: Some(100 * HOUR) };
        assert_eq!((p.effective_max_count(), p.effective_max_age_ms()), (10, 48 * HOUR), "caps never raise");
        p.thresholds.max_count = Some(0);
        assert_eq!(p.effective_max_count(), 1, "the minimum applies after the cap");
    }

    #[test]
    fn cleanup_disabled_drops_entries_without_disposal() {
        let history = vec![sp(50), sp(3), sp(2), sp(1)];
        let p = RetentionPolicy { cleanup_enabled: false, ..policy(2, 24) };
        let plan = plan_retention(&history, &p, 0, NOW);
        assert!(plan.dispose.is_empty());
        assert_eq!(locations(plan.forget.clone()), ["file:///sp/50h", "file:///sp/3h"]);
        assert_eq!(locations(remove_disposed(&history, &plan, &[])), ["file:///sp/2h", "file:///sp/1h"]);
    }

    #[test]
    fn entries_leave_history_only_after_disposal_succeeded() {
        let history = vec![sp(5), sp(4), sp(3), sp(1)];
        let plan = plan_retention(&history, &policy(1, 100), 0, NOW);
        assert_eq!(plan.dispose.len(), 3);
        let outcomes = [DisposalOutcome::Disposed, DisposalOutcome::Failed, DisposalOutcome::Skipped];
        let after = remove_disposed(&history, &plan, &outcomes);
        assert_eq!(locations(after), ["file:///sp/4h", "file:///sp/3h", "file:///sp/1h"]);
        // Nothing reported: nothing removed.
        assert_eq!(remove_disposed(&history, &plan, &[]), history);
    }

    #[test]
    fn entries_added_after_planning_are_kept() {
        let history = vec![sp(5), sp(4), sp(1)];
        let plan = plan_retention(&history, &policy(2, 100), 0, NOW);
        let mut grown = history.clone();
        grown.push(sp(0));
        let after = remove_disposed(&grown, &plan, &[DisposalOutcome::Disposed]);
        assert_eq!(locations(after), ["file:///sp/4h", "file:///sp/1h", "file:///sp/0h"]);
    }

    #[test]
    fn failed_count_disposal_stops_the_count_pass_but_not_age_disposals() {
        let history = vec![sp(50), sp(10), sp(9), sp(30), sp(1)];
        let plan = plan_retention(&history, &policy(1, 24), 0, NOW);
        // 50h: count+age, 10h: count, 9h: count, 30h: count+age.
        assert_eq!(disposed(&plan), ["file:///sp/50h", "file:///sp/10h", "file:///sp/9h", "file:///sp/30h"]);
        let failed_first = [DisposalOutcome::Failed];
        assert!(!plan.should_attempt(1, &failed_first), "count-only entry after a failed count disposal");
        assert!(!plan.should_attempt(2, &[DisposalOutcome::Failed, DisposalOutcome::Skipped]));
        assert!(plan.should_attempt(3, &[DisposalOutcome::Failed, DisposalOutcome::Skipped, DisposalOutcome::Skipped]));
        assert!(plan.should_attempt(1, &[DisposalOutcome::Disposed]));
        assert!(!plan.should_attempt(9, &[]), "out of range");
    }

    #[test]
    fn entries_without_location_are_forgotten_and_without_timestamp_never_age_out() {
        let no_location = Savepoint { time_stamp: Some(NOW - 100 * HOUR), ..Savepoint::default() };
        let no_timestamp = Savepoint { location: Some("file:///sp/x".into()), ..Savepoint::default() };
        let history = vec![no_location.clone(), no_timestamp.clone(), sp(1)];
        let plan = plan_retention(&history, &policy(10, 24), 0, NOW);
        assert_eq!(plan.forget, vec![no_location]);
        assert!(plan.dispose.is_empty());
        assert_eq!(plan.keep, vec![no_timestamp, sp(1)]);
    }

    #[test]
    fn keys_read_with_defaults_and_typed_errors() {
        let empty = BTreeMap::new();
        let p = RetentionPolicy::from_config(&empty, RetentionThresholds::default()).unwrap();
        assert_eq!(p, RetentionPolicy::default());
        assert_eq!((p.max_count, p.max_age_ms, p.cleanup_enabled), (10, 24 * HOUR, true));
        let config: BTreeMap<String, String> = [
            (SAVEPOINT_HISTORY_MAX_COUNT, "3"),
            (SAVEPOINT_HISTORY_MAX_AGE, "2h"),
            (SAVEPOINT_CLEANUP_ENABLED, "false"),
            (SAVEPOINT_HISTORY_MAX_COUNT_THRESHOLD, "2"),
            (SAVEPOINT_HISTORY_MAX_AGE_THRESHOLD, "1h"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let thresholds = RetentionThresholds::from_operator_config(&config).unwrap();
        assert_eq!(thresholds, RetentionThresholds { max_count: Some(2), max_age_ms: Some(HOUR) });
        let p = RetentionPolicy::from_config(&config, thresholds).unwrap();
        assert_eq!((p.effective_max_count(), p.effective_max_age_ms(), p.cleanup_enabled), (2, HOUR, false));
        for (key, value) in [
            (SAVEPOINT_HISTORY_MAX_COUNT, "ten"),
            (SAVEPOINT_HISTORY_MAX_AGE, "old"),
            (SAVEPOINT_CLEANUP_ENABLED, "yes"),
        ] {
            let bad: BTreeMap<String, String> = [(key.to_owned(), value.to_owned())].into();
            assert_eq!(RetentionPolicy::from_config(&bad, thresholds).unwrap_err().key(), key);
        }
    }

    fn history_strategy() -> impl Strategy<Value = Vec<Savepoint>> {
        prop::collection::vec((0i64..200, any::<bool>()), 0..15).prop_map(|entries| {
            entries
                .into_iter()
                .enumerate()
                .map(|(i, (age, has_location))| Savepoint {
                    time_stamp: Some(NOW - age * HOUR),
                    location: has_location.then(|| format!("file:///sp/{i}")),
                    ..Savepoint::default()
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn retention_never_disposes_the_newest_without_snapshot_resources(
            history in history_strategy(),
            max_count in -2i64..12,
            max_age_hours in 0i64..100,
            cleanup_enabled in any::<bool>(),
        ) {
            let p = RetentionPolicy { cleanup_enabled, ..policy(max_count, max_age_hours) };
            let plan = plan_retention(&history, &p, 0, NOW);
            if let Some(newest) = history.last() {
                prop_assert_eq!(plan.keep.last(), Some(newest));
            }
        }

        #[test]
        fn plan_partitions_the_history_in_order(
            history in history_strategy(),
            max_count in -2i64..12,
            max_age_hours in 0i64..100,
            crs in 0usize..4,
        ) {
            let plan = plan_retention(&history, &policy(max_count, max_age_hours), crs, NOW);
            prop_assert_eq!(plan.dispose.len() + plan.forget.len() + plan.keep.len(), history.len());
            let all_disposed = vec![DisposalOutcome::Disposed; plan.dispose.len()];
            let after = remove_disposed(&history, &plan, &all_disposed);
            prop_assert_eq!(&after, &plan.keep);
            // Never more than the count budget survives a fully successful pass.
            let budget = (max_count.max(1) - crs as i64).max(0) as usize;
            prop_assert!(after.len() <= budget.max(usize::from(history.len() == 1 && crs == 0)));
        }

        #[test]
        fn failed_disposals_never_shrink_the_history(
            history in history_strategy(),
            max_count in -2i64..12,
            fail_mask in prop::collection::vec(any::<bool>(), 15),
        ) {
            let plan = plan_retention(&history, &policy(max_count, 24), 0, NOW);
            let outcomes: Vec<DisposalOutcome> = plan
                .dispose
                .iter()
                .zip(&fail_mask)
                .map(|(_, failed)| if *failed { DisposalOutcome::Failed } else { DisposalOutcome::Disposed })
                .collect();
            let after = remove_disposed(&history, &plan, &outcomes);
            for (disposal, outcome) in plan.dispose.iter().zip(&outcomes) {
                if *outcome == DisposalOutcome::Failed {
                    prop_assert!(after.contains(&disposal.savepoint));
                }
            }
        }
    }
}
