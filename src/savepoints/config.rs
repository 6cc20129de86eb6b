//! Typed reads of the `kubernetes.operator.*` keys the snapshot and health logic needs, from the flat effective
//! configuration (`BTreeMap<String, String>`, layering already applied). Every error names the key and the value.

use std::collections::BTreeMap;

use crate::units::{UnitError, parse_flink_duration};

use super::schedule::ScheduleError;

/// `kubernetes.operator.savepoint.history.max.count` (default 10, effective minimum 1).
pub const SAVEPOINT_HISTORY_MAX_COUNT: &str = "kubernetes.operator.savepoint.history.max.count";
/// `kubernetes.operator.savepoint.history.max.age` (default 24 h).
pub const SAVEPOINT_HISTORY_MAX_AGE: &str = "kubernetes.operator.savepoint.history.max.age";
/// Operator-wide cap on the per-resource max count (no default).
pub const SAVEPOINT_HISTORY_MAX_COUNT_THRESHOLD: &str = "kubernetes.operator.savepoint.history.max.count.threshold";
/// Operator-wide cap on the per-resource max age (no default).
pub const SAVEPOINT_HISTORY_MAX_AGE_THRESHOLD: &str = "kubernetes.operator.savepoint.history.max.age.threshold";
/// `kubernetes.operator.savepoint.cleanup.enabled` (default true): whether expired savepoints are disposed.
pub const SAVEPOINT_CLEANUP_ENABLED: &str = "kubernetes.operator.savepoint.cleanup.enabled";
/// `kubernetes.operator.savepoint.trigger.grace-period` (default 1 min).
pub const SAVEPOINT_TRIGGER_GRACE_PERIOD: &str = "kubernetes.operator.savepoint.trigger.grace-period";
/// `kubernetes.operator.checkpoint.trigger.grace-period` (default 1 min).
pub const CHECKPOINT_TRIGGER_GRACE_PERIOD: &str = "kubernetes.operator.checkpoint.trigger.grace-period";
/// `kubernetes.operator.savepoint.format.type` (CANONICAL | NATIVE, default CANONICAL).
pub const SAVEPOINT_FORMAT_TYPE: &str = "kubernetes.operator.savepoint.format.type";
/// `kubernetes.operator.checkpoint.type` (FULL | INCREMENTAL, default FULL).
pub const CHECKPOINT_TYPE: &str = "kubernetes.operator.checkpoint.type";

/// A configuration value that does not parse; every variant names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not a Flink duration.
    #[error("{key}: {source}")]
    Duration {
        /// The key.
        key: String,
        /// Why the value is not a duration.
        #[source]
        source: UnitError,
    },
    /// A duration too long to count in milliseconds.
    #[error("{key}: {value:?} is too long (it overflows 64-bit milliseconds)")]
    DurationOverflow {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Not `true` or `false`.
    #[error("{key}: {value:?} is not a boolean (use true or false)")]
    Boolean {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Not a whole number.
    #[error("{key}: {value:?} is not a whole number")]
    Integer {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Not one of the allowed words.
    #[error("{key}: {value:?} is not one of {allowed}")]
    Enum {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The allowed values, comma-separated.
        allowed: &'static str,
    },
    /// A periodic snapshot schedule that is neither a duration nor a supported Quartz cron expression.
    #[error("{key}: {source}")]
    Schedule {
        /// The key.
        key: String,
        /// Why the value is not a schedule.
        #[source]
        source: ScheduleError,
    },
}

impl ConfigError {
    /// The key whose value is wrong.
    pub fn key(&self) -> &str {
        match self {
            ConfigError::Duration { key, .. }
            | ConfigError::DurationOverflow { key, .. }
            | ConfigError::Boolean { key, .. }
            | ConfigError::Integer { key, .. }
            | ConfigError::Enum { key, .. }
            | ConfigError::Schedule { key, .. } => key,
        }
    }
}

/// The value of `key`, `None` when unset or blank (Flink treats a blank value as unset).
pub fn raw<'c>(config: &'c BTreeMap<String, String>, key: &str) -> Option<&'c str> {
    config.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// A Flink duration in milliseconds (rounded up to whole milliseconds), `None` when unset.
pub fn duration_ms(config: &BTreeMap<String, String>, key: &str) -> Result<Option<i64>, ConfigError> {
    let Some(value) = raw(config, key) else {
        return Ok(None);
    };
    let duration =
        parse_flink_duration(value).map_err(|source| ConfigError::Duration { key: key.to_owned(), source })?;
    duration_to_ms(duration)
        .map(Some)
        .ok_or_else(|| ConfigError::DurationOverflow { key: key.to_owned(), value: value.to_owned() })
}

/// Milliseconds in `duration`, rounded up so that a non-zero duration never becomes zero; `None` on overflow.
pub(crate) fn duration_to_ms(duration: std::time::Duration) -> Option<i64> {
    i64::try_from(duration.as_nanos().div_ceil(1_000_000)).ok()
}

/// A boolean (`true`/`false`, any case), `None` when unset.
pub fn boolean(config: &BTreeMap<String, String>, key: &str) -> Result<Option<bool>, ConfigError> {
    let Some(value) = raw(config, key) else {
        return Ok(None);
    };
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        _ => Err(ConfigError::Boolean { key: key.to_owned(), value: value.to_owned() }),
    }
}

/// A whole number, `None` when unset.
pub fn integer(config: &BTreeMap<String, String>, key: &str) -> Result<Option<i64>, ConfigError> {
    let Some(value) = raw(config, key) else {
        return Ok(None);
    };
    value.parse::<i64>().map(Some).map_err(|_| ConfigError::Integer { key: key.to_owned(), value: value.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn errors_name_the_key() {
        let c = config(&[("a", "soon"), ("b", "maybe"), ("c", "1.5")]);
        let error = duration_ms(&c, "a").unwrap_err();
        assert_eq!(error.key(), "a");
        assert!(error.to_string().starts_with("a: "), "{error}");
        assert_eq!(boolean(&c, "b").unwrap_err().key(), "b");
        assert_eq!(integer(&c, "c").unwrap_err().key(), "c");
    }

    #[test]
    fn blank_values_are_unset() {
        let c = config(&[("a", "  ")]);
        assert_eq!(duration_ms(&c, "a"), Ok(None));
        assert_eq!(boolean(&c, "a"), Ok(None));
        assert_eq!(integer(&c, "missing"), Ok(None));
    }

    #[test]
    fn durations_round_up_to_whole_milliseconds() {
        let c = config(&[("a", "1ns"), ("b", "2 min"), ("c", "0")]);
        assert_eq!(duration_ms(&c, "a"), Ok(Some(1)));
        assert_eq!(duration_ms(&c, "b"), Ok(Some(120_000)));
        assert_eq!(duration_ms(&c, "c"), Ok(Some(0)));
        assert_eq!(boolean(&config(&[("x", "TRUE")]), "x"), Ok(Some(true)));
    }
}
