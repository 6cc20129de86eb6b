//! Periodic snapshot schedules (`kubernetes.operator.periodic.savepoint.interval` and
//! `kubernetes.operator.periodic.checkpoint.interval`): a Flink duration or a Quartz cron expression, evaluated in
//! UTC, and upstream's trigger rule ([`is_due`]) with the exact instant it becomes true ([`next_due`]).
//!
//! Quartz is translated to the `cron` crate's dialect where the meaning is identical (`?` becomes `*`, `L` alone in
//! day-of-week becomes `7`); the features the crate cannot evaluate (`L`, `W`, `#` otherwise) are errors, never a
//! silently different schedule.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::units::parse_flink_duration;

use super::config::{ConfigError, duration_to_ms, raw};

/// When the operator takes periodic snapshots on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// No periodic snapshots (unset, blank or a zero duration).
    Off,
    /// Every `interval_ms` milliseconds after the last periodic trigger.
    Interval {
        /// The interval, at least 1 ms.
        interval_ms: i64,
    },
    /// At the fire times of a Quartz cron expression, in UTC.
    Cron(CronSchedule),
}

/// A Quartz cron expression, validated and translated for evaluation.
#[derive(Clone)]
pub struct CronSchedule {
    source: String,
    // Boxed: a parsed schedule is large and `Schedule` is passed around by value.
    schedule: Box<cron::Schedule>,
}

impl CronSchedule {
    /// The expression as the user wrote it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The expression as evaluated (the `cron` crate's dialect).
    pub fn translated(&self) -> &str {
        self.schedule.source()
    }

    /// The first fire time strictly after `after_ms`, in epoch milliseconds (always a whole second, as in Quartz);
    /// `None` when the expression never fires again (the `cron` crate stops at the year 2100).
    pub fn first_fire_after(&self, after_ms: i64) -> Option<i64> {
        // Quartz looks from the next whole second after `after`; so does the cron crate given a whole second.
        let after = DateTime::<Utc>::from_timestamp(after_ms.div_euclid(1000), 0)?;
        self.schedule.after(&after).next().map(|fire| fire.timestamp_millis())
    }

    /// Whether the whole second of `time_ms` is one the expression names (Quartz's `isSatisfiedBy`).
    pub fn includes(&self, time_ms: i64) -> bool {
        DateTime::<Utc>::from_timestamp(time_ms.div_euclid(1000), 0).is_some_and(|time| self.schedule.includes(time))
    }
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronSchedule").field("source", &self.source).field("translated", &self.translated()).finish()
    }
}

impl PartialEq for CronSchedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// A Quartz field, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronField {
    /// Seconds (0-59).
    Seconds,
    /// Minutes (0-59).
    Minutes,
    /// Hours (0-23).
    Hours,
    /// Day of month (1-31).
    DayOfMonth,
    /// Month (1-12 or JAN-DEC).
    Month,
    /// Day of week (1-7 = SUN-SAT).
    DayOfWeek,
    /// Year (optional seventh field).
    Year,
}

impl CronField {
    const ALL: [CronField; 7] = [
        CronField::Seconds,
        CronField::Minutes,
        CronField::Hours,
        CronField::DayOfMonth,
        CronField::Month,
        CronField::DayOfWeek,
        CronField::Year,
    ];
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CronField::Seconds => "seconds",
            CronField::Minutes => "minutes",
            CronField::Hours => "hours",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
            CronField::Year => "year",
        })
    }
}

/// A schedule value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// One word that is not a duration.
    #[error(
        "{value:?} is neither a Flink duration (such as 10m or 6h) nor a Quartz cron expression (such as 0 0 * * * ?)"
    )]
    Unrecognized {
        /// The value.
        value: String,
    },
    /// A duration too long to count in milliseconds.
    #[error("{value:?} is too long a duration (it overflows 64-bit milliseconds)")]
    Overflow {
        /// The value.
        value: String,
    },
    /// Not 6 or 7 fields.
    #[error(
        "cron expression {value:?} has {count} fields; Quartz expects 6 or 7: seconds minutes hours day-of-month month day-of-week [year]"
    )]
    FieldCount {
        /// The value.
        value: String,
        /// How many fields it has.
        count: usize,
    },
    /// Quartz needs `?` in exactly one of the two day fields.
    #[error("cron expression {value:?}: put '?' in exactly one of day-of-month and day-of-week (Quartz rule)")]
    DayFields {
        /// The value.
        value: String,
    },
    /// A Quartz feature the evaluator cannot honour.
    #[error("cron expression {value:?}: {feature} in the {field} field is not supported by flinkops")]
    Unsupported {
        /// The value.
        value: String,
        /// The field that uses it.
        field: CronField,
        /// What it is.
        feature: &'static str,
    },
    /// The translated expression does not parse.
    #[error("cron expression {value:?} is invalid: {message}")]
    Invalid {
        /// The value.
        value: String,
        /// The parser's message.
        message: String,
    },
}

/// Parses a periodic schedule value: blank or a zero duration is [`Schedule::Off`], a Flink duration is an
/// interval, anything with several fields is read as a Quartz cron expression.
pub fn parse_schedule(value: &str) -> Result<Schedule, ScheduleError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(Schedule::Off);
    }
    if let Ok(duration) = parse_flink_duration(trimmed) {
        let interval_ms =
            duration_to_ms(duration).ok_or_else(|| ScheduleError::Overflow { value: value.to_owned() })?;
        return Ok(if interval_ms == 0 { Schedule::Off } else { Schedule::Interval { interval_ms } });
    }
    if trimmed.split_whitespace().count() < 2 {
        return Err(ScheduleError::Unrecognized { value: value.to_owned() });
    }
    parse_quartz(trimmed).map(Schedule::Cron)
}

/// Reads and parses the schedule under `key` (one of the two `periodic.*.interval` keys); unset is [`Schedule::Off`].
pub fn schedule_from_config(config: &BTreeMap<String, String>, key: &str) -> Result<Schedule, ConfigError> {
    match raw(config, key) {
        None => Ok(Schedule::Off),
        Some(value) => parse_schedule(value).map_err(|source| ConfigError::Schedule { key: key.to_owned(), source }),
    }
}

/// Validates a Quartz expression and translates it into the `cron` crate's dialect (also used for the autoscaler's
/// `excluded.periods`).
pub fn parse_quartz(value: &str) -> Result<CronSchedule, ScheduleError> {
    // Quartz upper-cases the whole expression before parsing; names are case-insensitive in both dialects.
    let upper = value.to_ascii_uppercase();
    let fields: Vec<&str> = upper.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        return Err(ScheduleError::FieldCount { value: value.to_owned(), count: fields.len() });
    }
    let dom_any = fields[3] == "?";
    let dow_any = fields[5] == "?";
    if dom_any == dow_any {
        return Err(ScheduleError::DayFields { value: value.to_owned() });
    }
    let mut translated = Vec::with_capacity(fields.len());
    for (field, text) in CronField::ALL.iter().copied().zip(fields.iter().copied()) {
        let unsupported = |feature| ScheduleError::Unsupported { value: value.to_owned(), field, feature };
        let out = match field {
            CronField::DayOfMonth | CronField::DayOfWeek if text == "?" => "*",
            CronField::DayOfMonth if text.contains('L') => return Err(unsupported("'L' (last day of the month)")),
            CronField::DayOfMonth if text.contains('W') => return Err(unsupported("'W' (nearest weekday)")),
            // Quartz reads a lone `L` in day-of-week as 7 (Saturday).
            CronField::DayOfWeek if text == "L" => "7",
            CronField::DayOfWeek if text.contains('L') => {
                return Err(unsupported("'L' (last given weekday of the month)"));
            }
            CronField::DayOfWeek if text.contains('#') => return Err(unsupported("'#' (nth weekday of the month)")),
            _ if text.contains('?') => return Err(unsupported("'?' (allowed only in the two day fields)")),
            _ => text,
        };
        translated.push(out);
    }
    let translated = translated.join(" ");
    let schedule = cron::Schedule::from_str(&translated)
        .map_err(|e| ScheduleError::Invalid { value: value.to_owned(), message: e.to_string() })?;
    Ok(CronSchedule { source: value.to_owned(), schedule: Box::new(schedule) })
}

/// Upstream's trigger rule, given the last periodic trigger and now (epoch milliseconds).
///
/// Interval: `last + interval < now`. Cron: the first fire time after `last` is before `now`, so however many fire
/// times were missed, one trigger catches up and the next one waits for a fire time after it (no burst).
pub fn is_due(schedule: &Schedule, last_trigger_ms: i64, now_ms: i64) -> bool {
    match schedule {
        Schedule::Off => false,
        Schedule::Interval { interval_ms } => last_trigger_ms.checked_add(*interval_ms).is_some_and(|due| due < now_ms),
        Schedule::Cron(cron) => cron.first_fire_after(last_trigger_ms).is_some_and(|fire| fire < now_ms),
    }
}

/// The earliest `now_ms` at which [`is_due`] becomes true for this `last_trigger_ms`, so the controller can requeue
/// exactly: `is_due(s, last, now) == next_due(s, last).is_some_and(|t| now >= t)`. `None` when it never becomes due.
pub fn next_due(schedule: &Schedule, last_trigger_ms: i64) -> Option<i64> {
    let boundary = match schedule {
        Schedule::Off => return None,
        Schedule::Interval { interval_ms } => last_trigger_ms.checked_add(*interval_ms)?,
        Schedule::Cron(cron) => cron.first_fire_after(last_trigger_ms)?,
    };
    boundary.checked_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    /// 2024-01-01T00:00:00Z, a Monday.
    const JAN_1_2024: i64 = 1_704_067_200_000;

    fn cron(text: &str) -> Schedule {
        parse_schedule(text).unwrap()
    }

    fn fire_after(schedule: &Schedule, after: i64) -> Option<i64> {
        match schedule {
            Schedule::Cron(c) => c.first_fire_after(after),
            _ => None,
        }
    }

    #[test]
    fn blank_and_zero_durations_are_off() {
        for value in ["", "   ", "0", "0 s", "0ms", "PT0S"] {
            assert_eq!(parse_schedule(value), Ok(Schedule::Off), "{value:?}");
        }
        assert_eq!(schedule_from_config(&BTreeMap::new(), "k"), Ok(Schedule::Off));
    }

    #[test]
    fn flink_durations_are_intervals() {
        assert_eq!(parse_schedule("10m"), Ok(Schedule::Interval { interval_ms: 10 * MIN }));
        assert_eq!(parse_schedule("6h"), Ok(Schedule::Interval { interval_ms: 6 * HOUR }));
        assert_eq!(parse_schedule("5 min"), Ok(Schedule::Interval { interval_ms: 5 * MIN }));
        assert_eq!(parse_schedule("PT1H"), Ok(Schedule::Interval { interval_ms: HOUR }));
        assert_eq!(parse_schedule("1500"), Ok(Schedule::Interval { interval_ms: 1500 }), "a bare number is ms");
    }

    #[test]
    fn a_value_that_is_neither_is_an_error_naming_the_key() {
        assert!(matches!(parse_schedule("soon"), Err(ScheduleError::Unrecognized { .. })));
        assert!(matches!(parse_schedule("@daily"), Err(ScheduleError::Unrecognized { .. })));
        assert!(matches!(parse_schedule("0 0 * * ?"), Err(ScheduleError::FieldCount { count: 5, .. })));
        assert!(matches!(parse_schedule("0 0 0 ? * * 2030 x"), Err(ScheduleError::FieldCount { count: 8, .. })));
        let config: BTreeMap<String, String> =
            [("kubernetes.operator.periodic.savepoint.interval".to_owned(), "often".to_owned())].into();
        let error = schedule_from_config(&config, "kubernetes.operator.periodic.savepoint.interval").unwrap_err();
        assert_eq!(error.key(), "kubernetes.operator.periodic.savepoint.interval");
        assert!(error.to_string().contains("often"), "{error}");
    }

    #[test]
    fn quartz_needs_question_mark_in_exactly_one_day_field() {
        for value in ["0 0 12 * * *", "0 0 12 ? * ?", "0 0 12 1 * MON"] {
            assert!(matches!(parse_schedule(value), Err(ScheduleError::DayFields { .. })), "{value}");
        }
        assert!(parse_schedule("0 0 12 * * ?").is_ok());
        assert!(parse_schedule("0 0 12 ? * MON-FRI").is_ok());
    }

    #[test]
    fn question_mark_is_translated_to_star() {
        let Schedule::Cron(c) = cron("0 0 12 ? * mon-fri") else { panic!("not cron") };
        assert_eq!(c.translated(), "0 0 12 * * MON-FRI");
        assert_eq!(c.source(), "0 0 12 ? * mon-fri");
    }

    #[test]
    fn unsupported_quartz_features_are_errors() {
        for (value, field) in [
            ("0 0 12 L * ?", CronField::DayOfMonth),
            ("0 0 12 L-3 * ?", CronField::DayOfMonth),
            ("0 0 12 15W * ?", CronField::DayOfMonth),
            ("0 0 12 LW * ?", CronField::DayOfMonth),
            ("0 0 12 ? * 6L", CronField::DayOfWeek),
            ("0 0 12 ? * FRIL", CronField::DayOfWeek),
            ("0 0 12 ? * 6#3", CronField::DayOfWeek),
            ("? 0 12 * * ?", CronField::Seconds),
        ] {
            match parse_schedule(value) {
                Err(ScheduleError::Unsupported { field: f, .. }) => assert_eq!(f, field, "{value}"),
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn lone_l_in_day_of_week_is_saturday() {
        let s = cron("0 0 0 ? * L");
        // 2024-01-06 was a Saturday.
        assert_eq!(fire_after(&s, JAN_1_2024), Some(JAN_1_2024 + 5 * 24 * HOUR));
    }

    #[test]
    fn invalid_values_in_fields_are_errors() {
        for value in ["0 0 25 * * ?", "60 0 0 * * ?", "0 0 0 ? * 0", "0 0 0 ? * 8", "0 0 22-2 * * ?", "0 0 0 * FOO ?"] {
            assert!(matches!(parse_schedule(value), Err(ScheduleError::Invalid { .. })), "{value}");
        }
    }

    #[test]
    fn quartz_day_of_week_numbers_start_at_sunday() {
        // 1 = SUN in Quartz and in the cron crate: the first Sunday after Monday 2024-01-01 is 2024-01-07.
        let s = cron("0 0 0 ? * 1");
        assert_eq!(fire_after(&s, JAN_1_2024), Some(JAN_1_2024 + 6 * 24 * HOUR));
    }

    #[test]
    fn seventh_field_is_the_year() {
        let s = cron("0 0 0 1 1 ? 2030");
        assert_eq!(fire_after(&s, JAN_1_2024), Some(1_893_456_000_000)); // 2030-01-01T00:00:00Z
        let past = cron("0 0 0 1 1 ? 2020");
        assert_eq!(fire_after(&past, JAN_1_2024), None);
        assert!(!is_due(&past, JAN_1_2024, i64::MAX));
        assert_eq!(next_due(&past, JAN_1_2024), None);
    }

    #[test]
    fn increments_start_where_quartz_starts_them() {
        let s = cron("5/15 * * * * ?");
        assert_eq!(fire_after(&s, JAN_1_2024), Some(JAN_1_2024 + 5_000));
        assert_eq!(fire_after(&s, JAN_1_2024 + 5_000), Some(JAN_1_2024 + 20_000));
    }

    #[test]
    fn cron_is_evaluated_in_utc() {
        let s = cron("0 30 2 * * ?");
        assert_eq!(fire_after(&s, JAN_1_2024), Some(JAN_1_2024 + 2 * HOUR + 30 * MIN));
    }

    #[test]
    fn first_fire_is_strictly_after_the_last_trigger_second() {
        let s = cron("0 0 * * * ?");
        // Exactly on a fire time, or within its second: the next one is an hour later (Quartz adds one second).
        assert_eq!(fire_after(&s, JAN_1_2024), Some(JAN_1_2024 + HOUR));
        assert_eq!(fire_after(&s, JAN_1_2024 + 999), Some(JAN_1_2024 + HOUR));
        assert_eq!(fire_after(&s, JAN_1_2024 - 1), Some(JAN_1_2024));
    }

    #[test]
    fn interval_is_due_strictly_after_last_plus_interval() {
        let s = Schedule::Interval { interval_ms: 10 * MIN };
        assert!(!is_due(&s, 0, 10 * MIN));
        assert!(is_due(&s, 0, 10 * MIN + 1));
        assert_eq!(next_due(&s, 0), Some(10 * MIN + 1));
        assert!(!is_due(&s, i64::MAX - 1, i64::MAX), "overflow is never due");
        assert_eq!(next_due(&s, i64::MAX - 1), None);
    }

    #[test]
    fn off_is_never_due() {
        assert!(!is_due(&Schedule::Off, 0, i64::MAX));
        assert_eq!(next_due(&Schedule::Off, 0), None);
    }

    #[test]
    fn cron_is_due_once_the_first_fire_after_last_has_passed() {
        let s = cron("0 0 * * * ?");
        let fire = JAN_1_2024 + HOUR;
        assert!(!is_due(&s, JAN_1_2024, fire), "not at the fire time itself (before, not at)");
        assert!(is_due(&s, JAN_1_2024, fire + 1));
        assert_eq!(next_due(&s, JAN_1_2024), Some(fire + 1));
    }

    #[test]
    fn cron_catches_up_once_never_a_burst() {
        let s = cron("0 0 * * * ?");
        // The operator was down for a day: one trigger now, then wait for the next fire time after it.
        let now = JAN_1_2024 + 24 * HOUR + 30 * MIN;
        assert!(is_due(&s, JAN_1_2024, now));
        assert!(!is_due(&s, now, now + 1));
        assert!(!is_due(&s, now, JAN_1_2024 + 25 * HOUR));
        assert!(is_due(&s, now, JAN_1_2024 + 25 * HOUR + 1));
    }

    fn cron_strategy() -> impl Strategy<Value = Schedule> {
        prop::sample::select(vec![
            "0 0 * * * ?",
            "*/10 * * * * ?",
            "0 */7 * * * ?",
            "0 30 2 ? * MON-FRI",
            "0 0 0 1 * ?",
            "0 15 10 ? * L",
            "0 0 12 29 2 ?",
        ])
        .prop_map(cron)
    }

    proptest! {
        #[test]
        fn next_due_is_exactly_when_is_due_turns_true(
            schedule in prop_oneof![cron_strategy(), (1i64..=7 * 24 * HOUR).prop_map(|interval_ms| Schedule::Interval { interval_ms })],
            last in JAN_1_2024..JAN_1_2024 + 400 * 24 * HOUR,
            offset in 0i64..=40 * 24 * HOUR,
        ) {
            let now = last + offset;
            prop_assert_eq!(is_due(&schedule, last, now), next_due(&schedule, last).is_some_and(|t| now >= t));
            if let Some(t) = next_due(&schedule, last) {
                prop_assert!(!is_due(&schedule, last, t - 1));
                prop_assert!(is_due(&schedule, last, t));
            }
        }

        #[test]
        fn is_due_never_fires_twice_for_one_fire_time(
            schedule in cron_strategy(),
            last in JAN_1_2024..JAN_1_2024 + 400 * 24 * HOUR,
            offset in 0i64..=40 * 24 * HOUR,
            later in 0i64..=40 * 24 * HOUR,
        ) {
            let now = last + offset;
            if is_due(&schedule, last, now) {
                // The trigger issued at `now` becomes the new last trigger.
                let fired_for = fire_after(&schedule, last).unwrap();
                let next_fire = fire_after(&schedule, now);
                prop_assert!(next_fire.is_none_or(|f| f > fired_for && f > now));
                // Until that next fire time passes, nothing is due again.
                if let Some(f) = next_fire {
                    let probe = (now + later).min(f);
                    prop_assert!(!is_due(&schedule, now, probe));
                }
            }
        }
    }
}
