//! Autoscaler configuration: every `job.autoscaler.*` key with upstream's default, read from a Flink configuration map
//! (legacy `kubernetes.operator.job.autoscaler.*` prefix and old key names too), plus the §5.8 range checks.
//! Evaluation and scaling read only the typed [`AutoscalerConfig`]; nothing here looks at metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::units::{parse_flink_duration, parse_flink_memory};

/// Current prefix of the autoscaler keys (since operator 1.7.0).
pub const KEY_PREFIX: &str = "job.autoscaler.";
/// Prefix used before 1.7.0; still read when the current key is absent.
pub const LEGACY_KEY_PREFIX: &str = "kubernetes.operator.job.autoscaler.";
/// flinkops' own tuning key (not an upstream key): how long a scale-up must stay recommended before it executes, and
/// the trailing span over which the "recent" target rate is measured. `0` restores upstream's behaviour exactly.
pub const SCALE_UP_CONFIRMATION_KEY: &str = "flinkops.autoscaler.scale-up.confirmation";

/// A key whose value does not parse; names the key as written and the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {key}: {reason}")]
pub struct ConfigError {
    /// The key exactly as found in the configuration (prefix included).
    pub key: String,
    /// The raw value.
    pub value: String,
    /// What was expected.
    pub reason: String,
}

/// One failed range check of [`AutoscalerConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigViolation {
    /// The key (current name, with `job.autoscaler.` prefix).
    pub key: String,
    /// Why the value is out of range.
    pub message: String,
}

/// `metrics.busy-time.aggregator`: how subtask busy times are combined into the vertex LOAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BusyTimeAggregator {
    /// Busiest subtask (default): conservative under skew.
    Max,
    /// Mean over subtasks; busy time then comes from the accumulated busy-time counter.
    Avg,
    /// Least busy subtask.
    Min,
}

/// The 1.15.0 `scaling.key-group.partitions.adjust.mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LegacyAdjustMode {
    /// Divisors of the key-group/partition count only.
    EvenlySpread,
    /// Divisors, or any p that lowers the per-subtask share.
    MaximizeUtilisation,
}

/// Effective parallelism alignment, after resolving the new and the deprecated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "mode")]
pub enum AlignmentMode {
    /// `scaling.parallelism-alignment.mode=BALANCED` (default on `main`): a divisor, or any p that lowers `N / p`.
    Balanced,
    /// `scaling.parallelism-alignment.mode=EVENLY_SPREAD`: divisors only, no match keeps the computed value.
    EvenlySpread,
    /// `scaling.parallelism-alignment.mode=OFF`: no alignment.
    Off,
    /// Only the deprecated `scaling.key-group.partitions.adjust.mode` is set: 1.15.0 algorithm incl. downward fallback.
    Legacy {
        /// The deprecated key's value.
        adjust: LegacyAdjustMode,
    },
}

/// Every autoscaler setting, typed, with upstream defaults (§5.8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoscalerConfig {
    /// `enabled`
    pub enabled: bool,
    /// `scaling.enabled`: false ⇒ recommend only.
    pub scaling_enabled: bool,
    /// `metrics.window`
    pub metrics_window: Duration,
    /// `stabilization.interval`
    pub stabilization_interval: Duration,
    /// `utilization.target` (old `target.utilization`)
    pub utilization_target: f64,
    /// `target.utilization.boundary` (deprecated)
    pub utilization_boundary: f64,
    /// `utilization.max`
    pub utilization_max: Option<f64>,
    /// `utilization.min`
    pub utilization_min: Option<f64>,
    /// `scale-down.interval` (old `scale-up.grace-period`); zero disables the delay.
    pub scale_down_interval: Duration,
    /// `scale-down.max-factor`
    pub scale_down_max_factor: f64,
    /// `scale-up.max-factor`
    pub scale_up_max_factor: f64,
    /// `vertex.min-parallelism`
    pub vertex_min_parallelism: u32,
    /// `vertex.max-parallelism`
    pub vertex_max_parallelism: u32,
    /// `catch-up.duration`; zero means no backlog scaling.
    pub catch_up_duration: Duration,
    /// `restart.time`
    pub restart_time: Duration,
    /// `restart.time-tracking.enabled`
    pub restart_time_tracking_enabled: bool,
    /// `restart.time-tracking.limit`
    pub restart_time_tracking_limit: Duration,
    /// `backlog-processing.lag-threshold`
    pub backlog_lag_threshold: Duration,
    /// `observed-true-processing-rate.lag-threshold`
    pub observed_tpr_lag_threshold: Duration,
    /// `observed-true-processing-rate.switch-threshold`
    pub observed_tpr_switch_threshold: f64,
    /// `observed-true-processing-rate.min-observations`
    pub observed_tpr_min_observations: u32,
    /// `scaling.effectiveness.detection.enabled`
    pub effectiveness_detection_enabled: bool,
    /// `scaling.effectiveness.threshold`
    pub effectiveness_threshold: f64,
    /// `memory.gc-pressure.threshold`
    pub gc_pressure_threshold: f64,
    /// `memory.heap-usage.threshold`
    pub heap_usage_threshold: f64,
    /// `memory.tuning.enabled` (read and validated; tuning itself lives outside this module)
    pub memory_tuning_enabled: bool,
    /// `memory.tuning.overhead`
    pub memory_tuning_overhead: f64,
    /// `memory.tuning.maximize-managed-memory`
    pub memory_tuning_maximize_managed_memory: bool,
    /// `memory.tuning.scale-down-compensation.enabled`
    pub memory_tuning_scale_down_compensation: bool,
    /// `history.max.count`
    pub history_max_count: usize,
    /// `history.max.age`
    pub history_max_age: Duration,
    /// `metrics.busy-time.aggregator`
    pub busy_time_aggregator: BusyTimeAggregator,
    /// `vertex.exclude.ids`
    pub vertex_exclude_ids: Vec<String>,
    /// `scaling.event.interval`
    pub scaling_event_interval: Duration,
    /// `flink.rest-client.timeout`
    pub rest_client_timeout: Duration,
    /// `quota.cpu`
    pub quota_cpu: Option<f64>,
    /// `quota.memory`, bytes
    pub quota_memory_bytes: Option<u64>,
    /// `excluded.periods`, raw entries (evaluated by the caller that knows the JVM time zone).
    pub excluded_periods: Vec<String>,
    /// Resolved from `scaling.parallelism-alignment.mode` and the deprecated `scaling.key-group.partitions.adjust.mode`.
    pub alignment: AlignmentMode,
    /// `observed-scalability.enabled`
    pub observed_scalability_enabled: bool,
    /// `observed-scalability.min-observations`
    pub observed_scalability_min_observations: usize,
    /// `observed-scalability.coefficient-min`
    pub observed_scalability_coefficient_min: f64,
    /// flinkops extension ([`SCALE_UP_CONFIRMATION_KEY`]); zero = upstream behaviour.
    pub scale_up_confirmation: Duration,
}

impl Default for AutoscalerConfig {
    fn default() -> Self {
        const MINUTE: u64 = 60;
        Self {
            enabled: false,
            scaling_enabled: true,
            metrics_window: Duration::from_secs(15 * MINUTE),
            stabilization_interval: Duration::from_secs(5 * MINUTE),
            utilization_target: 0.7,
            utilization_boundary: 0.3,
            utilization_max: None,
            utilization_min: None,
            scale_down_interval: Duration::from_secs(60 * MINUTE),
            scale_down_max_factor: 0.6,
            scale_up_max_factor: 100_000.0,
            vertex_min_parallelism: 1,
            vertex_max_parallelism: 200,
            catch_up_duration: Duration::from_secs(30 * MINUTE),
            restart_time: Duration::from_secs(5 * MINUTE),
            restart_time_tracking_enabled: false,
            restart_time_tracking_limit: Duration::from_secs(15 * MINUTE),
            backlog_lag_threshold: Duration::from_secs(5 * MINUTE),
            observed_tpr_lag_threshold: Duration::from_secs(30),
            observed_tpr_switch_threshold: 0.15,
            observed_tpr_min_observations: 2,
            effectiveness_detection_enabled: false,
            effectiveness_threshold: 0.1,
            gc_pressure_threshold: 1.0,
            heap_usage_threshold: 1.0,
            memory_tuning_enabled: false,
            memory_tuning_overhead: 0.2,
            memory_tuning_maximize_managed_memory: false,
            memory_tuning_scale_down_compensation: true,
            history_max_count: 3,
            history_max_age: Duration::from_secs(24 * 60 * MINUTE),
            busy_time_aggregator: BusyTimeAggregator::Max,
            vertex_exclude_ids: Vec::new(),
            scaling_event_interval: Duration::from_secs(30 * MINUTE),
            rest_client_timeout: Duration::from_secs(10),
            quota_cpu: None,
            quota_memory_bytes: None,
            excluded_periods: Vec::new(),
            alignment: AlignmentMode::Balanced,
            observed_scalability_enabled: false,
            observed_scalability_min_observations: 3,
            observed_scalability_coefficient_min: 0.5,
            scale_up_confirmation: Duration::from_secs(2 * MINUTE),
        }
    }
}

/// Finds a key under its current name, its old names, then the legacy prefix; returns the key as written and its value.
struct KeyLookup<'a> {
    conf: &'a BTreeMap<String, String>,
}

impl<'a> KeyLookup<'a> {
    fn find(&self, name: &str, old_names: &[&str]) -> Option<(String, &'a str)> {
        for prefix in [KEY_PREFIX, LEGACY_KEY_PREFIX] {
            for candidate in std::iter::once(name).chain(old_names.iter().copied()) {
                let key = format!("{prefix}{candidate}");
                if let Some(value) = self.conf.get(&key) {
                    return Some((key, value.as_str()));
                }
            }
        }
        None
    }

    fn parsed<T>(
        &self,
        name: &str,
        old_names: &[&str],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.find(name, old_names) {
            None => Ok(None),
            Some((key, value)) => {
                parse(value.trim()).map(Some).map_err(|reason| ConfigError { key, value: value.to_owned(), reason })
            }
        }
    }

    fn bool(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        Ok(self.parsed(name, &[], parse_bool)?.unwrap_or(default))
    }

    fn f64(&self, name: &str, old_names: &[&str], default: f64) -> Result<f64, ConfigError> {
        Ok(self.parsed(name, old_names, parse_f64)?.unwrap_or(default))
    }

    fn duration(&self, name: &str, old_names: &[&str], default: Duration) -> Result<Duration, ConfigError> {
        Ok(self.parsed(name, old_names, parse_duration)?.unwrap_or(default))
    }

    fn u32(&self, name: &str, default: u32) -> Result<u32, ConfigError> {
        Ok(self
            .parsed(name, &[], |v| v.parse::<u32>().map_err(|_| "expected a non-negative integer".to_owned()))?
            .unwrap_or(default))
    }

    fn list(&self, name: &str) -> Vec<String> {
        // Flink's list syntax separates entries with ';'.
        self.find(name, &[])
            .map(|(_, value)| {
                value.split(';').map(str::trim).filter(|entry| !entry.is_empty()).map(str::to_owned).collect()
            })
            .unwrap_or_default()
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

fn parse_f64(value: &str) -> Result<f64, String> {
    value.parse::<f64>().map_err(|_| "expected a number".to_owned())
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    parse_flink_duration(value).map_err(|error| error.to_string())
}

fn parse_enum<T: Copy>(value: &str, choices: &[(&str, T)]) -> Result<T, String> {
    choices.iter().find(|(name, _)| name.eq_ignore_ascii_case(value)).map(|(_, variant)| *variant).ok_or_else(|| {
        let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
        format!("expected one of {}", names.join(", "))
    })
}

impl AutoscalerConfig {
    /// Reads the typed configuration from a Flink configuration map; absent keys take upstream defaults.
    ///
    /// # Errors
    /// The first key whose value does not parse, with the key as written and the value.
    pub fn from_flink_config(conf: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let keys = KeyLookup { conf };
        let d = Self::default();
        let optional_f64 = |name: &str| keys.parsed(name, &[], parse_f64);
        let alignment = resolve_alignment(&keys)?;
        let scale_up_confirmation = match conf.get(SCALE_UP_CONFIRMATION_KEY) {
            None => d.scale_up_confirmation,
            Some(value) => parse_duration(value.trim()).map_err(|reason| ConfigError {
                key: SCALE_UP_CONFIRMATION_KEY.to_owned(),
                value: value.clone(),
                reason,
            })?,
        };
        Ok(Self {
            enabled: keys.bool("enabled", d.enabled)?,
            scaling_enabled: keys.bool("scaling.enabled", d.scaling_enabled)?,
            metrics_window: keys.duration("metrics.window", &[], d.metrics_window)?,
            stabilization_interval: keys.duration("stabilization.interval", &[], d.stabilization_interval)?,
            utilization_target: keys.f64("utilization.target", &["target.utilization"], d.utilization_target)?,
            utilization_boundary: keys.f64("target.utilization.boundary", &[], d.utilization_boundary)?,
            utilization_max: optional_f64("utilization.max")?,
            utilization_min: optional_f64("utilization.min")?,
            scale_down_interval: keys.duration(
                "scale-down.interval",
                &["scale-up.grace-period"],
                d.scale_down_interval,
            )?,
            scale_down_max_factor: keys.f64("scale-down.max-factor", &[], d.scale_down_max_factor)?,
            scale_up_max_factor: keys.f64("scale-up.max-factor", &[], d.scale_up_max_factor)?,
            vertex_min_parallelism: keys.u32("vertex.min-parallelism", d.vertex_min_parallelism)?,
            vertex_max_parallelism: keys.u32("vertex.max-parallelism", d.vertex_max_parallelism)?,
            catch_up_duration: keys.duration("catch-up.duration", &[], d.catch_up_duration)?,
            restart_time: keys.duration("restart.time", &[], d.restart_time)?,
            restart_time_tracking_enabled: keys
                .bool("restart.time-tracking.enabled", d.restart_time_tracking_enabled)?,
            restart_time_tracking_limit: keys.duration(
                "restart.time-tracking.limit",
                &[],
                d.restart_time_tracking_limit,
            )?,
            backlog_lag_threshold: keys.duration("backlog-processing.lag-threshold", &[], d.backlog_lag_threshold)?,
            observed_tpr_lag_threshold: keys.duration(
                "observed-true-processing-rate.lag-threshold",
                &[],
                d.observed_tpr_lag_threshold,
            )?,
            observed_tpr_switch_threshold: keys.f64(
                "observed-true-processing-rate.switch-threshold",
                &[],
                d.observed_tpr_switch_threshold,
            )?,
            observed_tpr_min_observations: keys
                .u32("observed-true-processing-rate.min-observations", d.observed_tpr_min_observations)?,
            effectiveness_detection_enabled: keys
                .bool("scaling.effectiveness.detection.enabled", d.effectiveness_detection_enabled)?,
            effectiveness_threshold: keys.f64("scaling.effectiveness.threshold", &[], d.effectiveness_threshold)?,
            gc_pressure_threshold: keys.f64("memory.gc-pressure.threshold", &[], d.gc_pressure_threshold)?,
            heap_usage_threshold: keys.f64("memory.heap-usage.threshold", &[], d.heap_usage_threshold)?,
            memory_tuning_enabled: keys.bool("memory.tuning.enabled", d.memory_tuning_enabled)?,
            memory_tuning_overhead: keys.f64("memory.tuning.overhead", &[], d.memory_tuning_overhead)?,
            memory_tuning_maximize_managed_memory: keys
                .bool("memory.tuning.maximize-managed-memory", d.memory_tuning_maximize_managed_memory)?,
            memory_tuning_scale_down_compensation: keys
                .bool("memory.tuning.scale-down-compensation.enabled", d.memory_tuning_scale_down_compensation)?,
            history_max_count: keys.u32("history.max.count", 3)? as usize,
            history_max_age: keys.duration("history.max.age", &[], d.history_max_age)?,
            busy_time_aggregator: keys
                .parsed("metrics.busy-time.aggregator", &[], |v| {
                    parse_enum(
                        v,
                        &[
                            ("MAX", BusyTimeAggregator::Max),
                            ("AVG", BusyTimeAggregator::Avg),
                            ("MIN", BusyTimeAggregator::Min),
                        ],
                    )
                })?
                .unwrap_or(d.busy_time_aggregator),
            vertex_exclude_ids: keys.list("vertex.exclude.ids"),
            scaling_event_interval: keys.duration("scaling.event.interval", &[], d.scaling_event_interval)?,
            rest_client_timeout: keys.duration("flink.rest-client.timeout", &[], d.rest_client_timeout)?,
            quota_cpu: optional_f64("quota.cpu")?,
            quota_memory_bytes: keys
                .parsed("quota.memory", &[], |v| parse_flink_memory(v).map_err(|error| error.to_string()))?,
            excluded_periods: keys.list("excluded.periods"),
            alignment,
            observed_scalability_enabled: keys.bool("observed-scalability.enabled", d.observed_scalability_enabled)?,
            observed_scalability_min_observations: keys.u32("observed-scalability.min-observations", 3)? as usize,
            observed_scalability_coefficient_min: keys.f64(
                "observed-scalability.coefficient-min",
                &[],
                d.observed_scalability_coefficient_min,
            )?,
            scale_up_confirmation,
        })
    }

    /// Upper utilization bound: `utilization.max`, else target + boundary; 1.0 while processing a backlog.
    pub fn utilization_upper(&self, backlog: bool) -> f64 {
        if backlog { 1.0 } else { self.utilization_max.unwrap_or(self.utilization_target + self.utilization_boundary) }
    }

    /// Lower utilization bound: `utilization.min`, else target − boundary; 0.0 while processing a backlog.
    pub fn utilization_lower(&self, backlog: bool) -> f64 {
        if backlog { 0.0 } else { self.utilization_min.unwrap_or(self.utilization_target - self.utilization_boundary) }
    }

    /// Restart time to plan for: `restart.time`, or with tracking the largest observed restart capped by the limit.
    pub fn effective_restart_time(&self, max_observed_restart: Option<Duration>) -> Duration {
        match (self.restart_time_tracking_enabled, max_observed_restart) {
            (true, Some(observed)) => observed.min(self.restart_time_tracking_limit),
            _ => self.restart_time,
        }
    }

    /// The §5.8 range checks (only meaningful with `enabled`; returns nothing when disabled, like upstream).
    pub fn validate(&self) -> Vec<ConfigViolation> {
        let mut violations = Vec::new();
        if !self.enabled {
            return violations;
        }
        let mut check = |ok: bool, key: &str, message: String| {
            if !ok {
                violations.push(ConfigViolation { key: format!("{KEY_PREFIX}{key}"), message });
            }
        };
        let in_unit = |v: f64| (0.0..=1.0).contains(&v);
        check(
            self.scale_down_max_factor >= 0.0,
            "scale-down.max-factor",
            format!("must be >= 0, got {}", self.scale_down_max_factor),
        );
        check(
            self.scale_up_max_factor >= 0.0,
            "scale-up.max-factor",
            format!("must be >= 0, got {}", self.scale_up_max_factor),
        );
        check(
            in_unit(self.utilization_target),
            "utilization.target",
            format!("must be in [0, 1], got {}", self.utilization_target),
        );
        check(
            self.utilization_boundary >= 0.0,
            "target.utilization.boundary",
            format!("must be >= 0, got {}", self.utilization_boundary),
        );
        if let Some(max) = self.utilization_max {
            check(
                max >= self.utilization_target && max <= 1.0,
                "utilization.max",
                format!("must be in [utilization.target {}, 1], got {max}", self.utilization_target),
            );
        }
        if let Some(min) = self.utilization_min {
            check(
                min >= 0.0 && min <= self.utilization_target,
                "utilization.min",
                format!("must be in [0, utilization.target {}], got {min}", self.utilization_target),
            );
        }
        check(
            in_unit(self.gc_pressure_threshold),
            "memory.gc-pressure.threshold",
            format!("must be in [0, 1], got {}", self.gc_pressure_threshold),
        );
        check(
            in_unit(self.heap_usage_threshold),
            "memory.heap-usage.threshold",
            format!("must be in [0, 1], got {}", self.heap_usage_threshold),
        );
        if self.effectiveness_detection_enabled {
            check(
                in_unit(self.effectiveness_threshold),
                "scaling.effectiveness.threshold",
                format!("must be in [0, 1], got {}", self.effectiveness_threshold),
            );
        }
        if self.memory_tuning_enabled {
            check(
                in_unit(self.memory_tuning_overhead),
                "memory.tuning.overhead",
                format!("must be in [0, 1], got {}", self.memory_tuning_overhead),
            );
        }
        if self.observed_scalability_enabled {
            check(
                (0.01..=1.0).contains(&self.observed_scalability_coefficient_min),
                "observed-scalability.coefficient-min",
                format!("must be in [0.01, 1], got {}", self.observed_scalability_coefficient_min),
            );
        }
        for entry in &self.excluded_periods {
            if let Err(message) = check_excluded_period(entry) {
                check(false, "excluded.periods", format!("{entry:?}: {message}"));
            }
        }
        violations
    }
}

fn resolve_alignment(keys: &KeyLookup<'_>) -> Result<AlignmentMode, ConfigError> {
    if let Some((key, value)) = keys.find("scaling.parallelism-alignment.mode", &[]) {
        let mode = value.trim();
        return Ok(match mode.to_ascii_uppercase().as_str() {
            "BALANCED" => AlignmentMode::Balanced,
            "EVENLY_SPREAD" => AlignmentMode::EvenlySpread,
            "OFF" => AlignmentMode::Off,
            "" => return Err(ConfigError { key, value: value.to_owned(), reason: "empty alignment mode".to_owned() }),
            // A plugin name (`<key>.<name>.class`): plugins cannot run in this pure core, and upstream falls back to
            // BALANCED for names it cannot load.
            _ => AlignmentMode::Balanced,
        });
    }
    let legacy = keys.parsed("scaling.key-group.partitions.adjust.mode", &[], |v| {
        parse_enum(
            v,
            &[
                ("EVENLY_SPREAD", LegacyAdjustMode::EvenlySpread),
                ("MAXIMIZE_UTILISATION", LegacyAdjustMode::MaximizeUtilisation),
            ],
        )
    })?;
    Ok(legacy.map_or(AlignmentMode::Balanced, |adjust| AlignmentMode::Legacy { adjust }))
}

/// Syntax check of one `excluded.periods` entry: at most two parts joined by `&&`, each a daily `HH:mm:ss-HH:mm:ss`
/// window or a Quartz cron expression (6 or 7 fields).
pub fn check_excluded_period(entry: &str) -> Result<(), String> {
    let parts: Vec<&str> = entry.split("&&").map(str::trim).collect();
    if parts.len() > 2 {
        return Err("at most two parts joined with && are allowed".to_owned());
    }
    let daily_windows = parts.iter().filter(|part| parse_daily_window(part).is_some()).count();
    if daily_windows > 1 {
        return Err("at most one daily window per entry".to_owned());
    }
    for part in &parts {
        let fields = part.split_whitespace().count();
        if parse_daily_window(part).is_some() {
            continue;
        }
        if !(6..=7).contains(&fields) {
            return Err(format!("{part:?} is neither HH:mm:ss-HH:mm:ss nor a 6/7-field cron expression"));
        }
        crate::savepoints::schedule::parse_quartz(part).map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// Parses `HH:mm:ss-HH:mm:ss` into seconds of the day (start, end).
pub fn parse_daily_window(part: &str) -> Option<(u32, u32)> {
    let (start, end) = part.trim().split_once('-')?;
    Some((parse_time_of_day(start)?, parse_time_of_day(end)?))
}

fn parse_time_of_day(text: &str) -> Option<u32> {
    let mut fields = text.trim().split(':').map(|field| field.parse::<u32>().ok());
    let (hours, minutes, seconds) = (fields.next()??, fields.next()??, fields.next()??);
    (fields.next().is_none() && hours < 24 && minutes < 60 && seconds < 60)
        .then_some(hours * 3600 + minutes * 60 + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flink configuration entries of one table row.
    type Pairs = &'static [(&'static str, &'static str)];

    fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn absent_keys_take_upstream_defaults() {
        let parsed = AutoscalerConfig::from_flink_config(&BTreeMap::new());
        assert_eq!(parsed, Ok(AutoscalerConfig::default()));
        let d = AutoscalerConfig::default();
        assert_eq!(d.utilization_upper(false), 1.0);
        assert!((d.utilization_lower(false) - 0.4).abs() < 1e-12);
    }

    #[test]
    fn key_resolution_order() {
        // (case, configuration, expected utilization target)
        let cases: &[(&str, Pairs, f64)] = &[
            ("current key", &[("job.autoscaler.utilization.target", "0.5")], 0.5),
            ("old name under current prefix", &[("job.autoscaler.target.utilization", "0.6")], 0.6),
            (
                "current name under legacy prefix",
                &[("kubernetes.operator.job.autoscaler.utilization.target", "0.8")],
                0.8,
            ),
            ("old name under legacy prefix", &[("kubernetes.operator.job.autoscaler.target.utilization", "0.9")], 0.9),
            (
                "current key wins over legacy",
                &[
                    ("job.autoscaler.utilization.target", "0.5"),
                    ("kubernetes.operator.job.autoscaler.utilization.target", "0.8"),
                ],
                0.5,
            ),
        ];
        for (case, pairs, expected) in cases {
            let parsed = AutoscalerConfig::from_flink_config(&conf(pairs)).map(|c| c.utilization_target);
            assert_eq!(parsed, Ok(*expected), "{case}");
        }
    }

    #[test]
    fn old_grace_period_name_sets_scale_down_interval() {
        let parsed = AutoscalerConfig::from_flink_config(&conf(&[("job.autoscaler.scale-up.grace-period", "10 min")]));
        assert_eq!(parsed.map(|c| c.scale_down_interval), Ok(Duration::from_secs(600)));
    }

    #[test]
    fn bad_values_name_key_and_value() {
        let cases: &[(&str, &str)] = &[
            ("job.autoscaler.enabled", "yes"),
            ("job.autoscaler.metrics.window", "ten minutes"),
            ("job.autoscaler.utilization.target", "high"),
            ("kubernetes.operator.job.autoscaler.vertex.max-parallelism", "-3"),
            ("job.autoscaler.metrics.busy-time.aggregator", "MEDIAN"),
            ("job.autoscaler.scaling.key-group.partitions.adjust.mode", "RANDOM"),
            ("job.autoscaler.quota.memory", "lots"),
        ];
        for (key, value) in cases {
            let error = AutoscalerConfig::from_flink_config(&conf(&[(key, value)])).err();
            assert_eq!(error.as_ref().map(|e| (e.key.as_str(), e.value.as_str())), Some((*key, *value)), "{key}");
        }
    }

    #[test]
    fn alignment_key_precedence() {
        let cases: &[(&str, Pairs, AlignmentMode)] = &[
            ("neither key: BALANCED", &[], AlignmentMode::Balanced),
            (
                "deprecated key alone: 1.15.0 algorithm",
                &[("job.autoscaler.scaling.key-group.partitions.adjust.mode", "maximize_utilisation")],
                AlignmentMode::Legacy { adjust: LegacyAdjustMode::MaximizeUtilisation },
            ),
            (
                "new key wins",
                &[
                    ("job.autoscaler.scaling.parallelism-alignment.mode", "OFF"),
                    ("job.autoscaler.scaling.key-group.partitions.adjust.mode", "EVENLY_SPREAD"),
                ],
                AlignmentMode::Off,
            ),
            (
                "new EVENLY_SPREAD is divisor-only",
                &[("job.autoscaler.scaling.parallelism-alignment.mode", "EVENLY_SPREAD")],
                AlignmentMode::EvenlySpread,
            ),
            (
                "unknown plugin name falls back to BALANCED",
                &[("job.autoscaler.scaling.parallelism-alignment.mode", "custom")],
                AlignmentMode::Balanced,
            ),
        ];
        for (case, pairs, expected) in cases {
            assert_eq!(AutoscalerConfig::from_flink_config(&conf(pairs)).map(|c| c.alignment), Ok(*expected), "{case}");
        }
    }

    #[test]
    fn list_keys_split_on_semicolons() {
        let parsed = AutoscalerConfig::from_flink_config(&conf(&[("job.autoscaler.vertex.exclude.ids", "a; b;;c")]));
        assert_eq!(parsed.map(|c| c.vertex_exclude_ids), Ok(vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]));
    }

    #[test]
    fn range_checks_of_section_5_8() {
        let enabled = AutoscalerConfig { enabled: true, ..AutoscalerConfig::default() };
        let cases: Vec<(&str, AutoscalerConfig, Vec<&str>)> = vec![
            ("defaults pass", enabled.clone(), vec![]),
            (
                "checks only run when enabled",
                AutoscalerConfig { utilization_target: 2.0, ..AutoscalerConfig::default() },
                vec![],
            ),
            (
                "negative max factors",
                AutoscalerConfig { scale_down_max_factor: -0.1, scale_up_max_factor: -1.0, ..enabled.clone() },
                vec!["job.autoscaler.scale-down.max-factor", "job.autoscaler.scale-up.max-factor"],
            ),
            (
                "target outside [0,1]",
                AutoscalerConfig { utilization_target: 1.2, ..enabled.clone() },
                vec!["job.autoscaler.utilization.target"],
            ),
            (
                "max below target, min above target",
                AutoscalerConfig { utilization_max: Some(0.5), utilization_min: Some(0.8), ..enabled.clone() },
                vec!["job.autoscaler.utilization.max", "job.autoscaler.utilization.min"],
            ),
            (
                "negative boundary",
                AutoscalerConfig { utilization_boundary: -0.1, ..enabled.clone() },
                vec!["job.autoscaler.target.utilization.boundary"],
            ),
            (
                "effectiveness threshold only checked when detection is on",
                AutoscalerConfig { effectiveness_threshold: 3.0, ..enabled.clone() },
                vec![],
            ),
            (
                "coefficient-min checked when observed scalability is on",
                AutoscalerConfig {
                    observed_scalability_enabled: true,
                    observed_scalability_coefficient_min: 0.0,
                    ..enabled.clone()
                },
                vec!["job.autoscaler.observed-scalability.coefficient-min"],
            ),
            (
                "unparseable excluded period",
                AutoscalerConfig { excluded_periods: vec!["25:00:00-26:00:00".to_owned()], ..enabled.clone() },
                vec!["job.autoscaler.excluded.periods"],
            ),
        ];
        for (case, config, expected) in cases {
            let keys: Vec<String> = config.validate().into_iter().map(|v| v.key).collect();
            assert_eq!(keys, expected, "{case}");
        }
    }

    #[test]
    fn excluded_period_syntax() {
        assert_eq!(check_excluded_period("22:00:00-06:00:00"), Ok(()));
        assert_eq!(check_excluded_period("* * 9-17 ? * MON-FRI"), Ok(()));
        assert_eq!(check_excluded_period("09:00:00-10:00:00 && * * * ? * MON"), Ok(()));
        assert!(check_excluded_period("a && b && c").is_err());
        assert!(check_excluded_period("9am-10am").is_err());
    }
}
