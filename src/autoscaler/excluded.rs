//! `job.autoscaler.excluded.periods`: whether a time falls in one of the configured periods, during which the
//! autoscaler recommends but does not scale. Evaluated in UTC (upstream uses the JVM's time zone, which is UTC in
//! the usual operator image). Pure: the time is an argument.

use chrono::{DateTime, Timelike, Utc};

use super::config::parse_daily_window;
use crate::savepoints::schedule::parse_quartz;

/// The first entry of `periods` that `now_ms` falls in, as written. An entry is a daily `HH:mm:ss-HH:mm:ss` window
/// (both ends included; a start after the end wraps over midnight), a Quartz cron expression naming the seconds it
/// covers, or two of those joined by `&&` (both must match). An entry that does not parse never matches; the
/// configuration check reports it.
pub fn active_period(periods: &[String], now_ms: i64) -> Option<String> {
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms)?;
    periods.iter().find(|entry| entry.split("&&").map(str::trim).all(|part| part_matches(part, now, now_ms))).cloned()
}

fn part_matches(part: &str, now: DateTime<Utc>, now_ms: i64) -> bool {
    if let Some((start, end)) = parse_daily_window(part) {
        let second = now.num_seconds_from_midnight();
        return if start <= end { (start..=end).contains(&second) } else { second >= start || second <= end };
    }
    parse_quartz(part).is_ok_and(|cron| cron.includes(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Epoch milliseconds of a UTC time on Monday 2026-11-30.
    fn monday(hours: u32, minutes: u32, seconds: u32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
            .and_then(|day| day.and_hms_opt(hours, minutes, seconds))
            .map(|time| time.and_utc().timestamp_millis())
            .unwrap()
    }

    fn periods(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|entry| (*entry).to_owned()).collect()
    }

    #[test]
    fn daily_windows_include_both_ends_and_may_wrap_over_midnight() {
        let office = periods(&["09:00:00-17:00:00"]);
        let cases =
            [((8, 59, 59), false), ((9, 0, 0), true), ((12, 0, 0), true), ((17, 0, 0), true), ((17, 0, 1), false)];
        for ((h, m, s), expected) in cases {
            assert_eq!(active_period(&office, monday(h, m, s)).is_some(), expected, "{h}:{m}:{s}");
        }
        let night = periods(&["22:00:00-06:00:00"]);
        for ((h, m, s), expected) in [((23, 0, 0), true), ((3, 0, 0), true), ((6, 0, 0), true), ((12, 0, 0), false)] {
            assert_eq!(active_period(&night, monday(h, m, s)).is_some(), expected, "{h}:{m}:{s}");
        }
    }

    #[test]
    fn cron_entries_and_conjunctions_match_as_quartz_does() {
        let weekdays_office_hours = periods(&["* * 9-17 ? * MON-FRI"]);
        assert_eq!(active_period(&weekdays_office_hours, monday(10, 30, 0)).as_deref(), Some("* * 9-17 ? * MON-FRI"));
        assert_eq!(active_period(&weekdays_office_hours, monday(18, 0, 0)), None);
        let sunday = monday(10, 30, 0) - 86_400_000;
        assert_eq!(active_period(&weekdays_office_hours, sunday), None);

        let monday_morning = periods(&["08:00:00-12:00:00 && * * * ? * MON"]);
        assert!(active_period(&monday_morning, monday(9, 0, 0)).is_some());
        assert!(active_period(&monday_morning, monday(13, 0, 0)).is_none());
        assert!(active_period(&monday_morning, sunday).is_none());
    }

    #[test]
    fn the_first_matching_entry_is_reported_and_broken_ones_never_match() {
        let entries = periods(&["25:00:00-26:00:00", "not a period at all", "00:00:00-23:59:59", "* * * ? * *"]);
        assert_eq!(active_period(&entries, monday(12, 0, 0)).as_deref(), Some("00:00:00-23:59:59"));
        assert_eq!(active_period(&[], monday(12, 0, 0)), None);
    }
}
