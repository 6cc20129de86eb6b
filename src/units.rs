//! Parsing of the unit-bearing strings Flink and Kubernetes accept: Flink `MemorySize`, Flink `Duration`, and
//! Kubernetes quantities (memory and cpu), with the same precedence upstream uses; and times printed for people.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

/// A Unix time in milliseconds as RFC 3339 UTC (`2026-11-24T10:00:00.000Z`); out-of-range times print as the
/// epoch, since such times are informational only.
pub fn rfc3339_millis(time_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(time_ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A string that is not a valid size, duration or quantity; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}: {reason}")]
pub struct UnitError {
    /// The text that failed to parse.
    pub value: String,
    /// What it should have been ("memory size", "duration", "cpu quantity").
    pub kind: &'static str,
    /// Why it failed.
    pub reason: String,
}

impl UnitError {
    fn new(value: &str, kind: &'static str, reason: impl Into<String>) -> Self {
        Self { value: value.to_owned(), kind, reason: reason.into() }
    }
}

/// Splits `"  12.5 Gi "` into `("12.5", "Gi")`; the number may carry a sign, a fraction and an exponent.
fn split_number(text: &str) -> (&str, &str) {
    let text = text.trim();
    let bytes = text.as_bytes();
    let mut end = 0;
    while end < bytes.len() {
        let c = bytes[end];
        let is_exponent = (c == b'e' || c == b'E')
            && end > 0
            && bytes[end - 1].is_ascii_digit()
            && bytes.get(end + 1).is_some_and(|n| n.is_ascii_digit() || *n == b'-' || *n == b'+');
        let is_exponent_sign =
            (c == b'-' || c == b'+') && end > 0 && (bytes[end - 1] == b'e' || bytes[end - 1] == b'E');
        if c.is_ascii_digit() || c == b'.' || (end == 0 && (c == b'-' || c == b'+')) || is_exponent || is_exponent_sign
        {
            end += 1;
        } else {
            break;
        }
    }
    (&text[..end], text[end..].trim())
}

/// Parses a Flink `MemorySize` (`1024m`, `2 gb`, `512kibibytes`, `100` bytes), returning bytes.
///
/// Units are binary, as in Flink: `m` is MiB, not milli.
pub fn parse_flink_memory(text: &str) -> Result<u64, UnitError> {
    const KIND: &str = "Flink memory size";
    let (number, unit) = split_number(text);
    if number.is_empty() {
        return Err(UnitError::new(text, KIND, "it must start with a number"));
    }
    let value: u64 =
        number.parse().map_err(|_| UnitError::new(text, KIND, "the number must be a whole, non-negative count"))?;
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        "t" | "tb" | "tebibytes" => 1 << 40,
        other => return Err(UnitError::new(text, KIND, format!("unknown unit {other:?} (use b, k, m, g or t)"))),
    };
    value.checked_mul(multiplier).ok_or_else(|| UnitError::new(text, KIND, "the size overflows 64 bits"))
}

/// Parses a Kubernetes quantity (`1.5Gi`, `500M`, `100m`, `1e3`) into its numeric value (bytes for memory, cores for cpu).
pub fn parse_kubernetes_quantity(text: &str) -> Result<f64, UnitError> {
    const KIND: &str = "Kubernetes quantity";
    let (number, suffix) = split_number(text);
    if number.is_empty() {
        return Err(UnitError::new(text, KIND, "it must start with a number"));
    }
    let value: f64 = number.parse().map_err(|_| UnitError::new(text, KIND, "the number does not parse"))?;
    let multiplier = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        other => {
            return Err(UnitError::new(
                text,
                KIND,
                format!("unknown suffix {other:?} (use Ki, Mi, Gi, Ti, Pi, Ei, m, k, M, G, T, P or E)"),
            ));
        }
    };
    let result = value * multiplier;
    if !result.is_finite() {
        return Err(UnitError::new(text, KIND, "the value is not finite"));
    }
    Ok(result)
}

/// Parses a memory string the way the upstream operator reads `spec.*.resource.memory`: first as a Flink
/// `MemorySize` (so `1024m` is 1024 MiB), then as a Kubernetes quantity (so `2Gi` works too). Returns bytes.
pub fn parse_memory(text: &str) -> Result<u64, UnitError> {
    if let Ok(bytes) = parse_flink_memory(text) {
        return Ok(bytes);
    }
    match parse_kubernetes_quantity(text) {
        Ok(value) if value >= 0.0 && value <= u64::MAX as f64 => Ok(value.ceil() as u64),
        Ok(_) => Err(UnitError::new(text, "memory size", "the size must be non-negative")),
        Err(_) => Err(UnitError::new(
            text,
            "memory size",
            "use a Flink size such as 2048m or 2g, or a Kubernetes quantity such as 2Gi",
        )),
    }
}

/// Parses a cpu amount written as a number (`0.5`, `2`) or a Kubernetes quantity (`500m`), returning cores.
pub fn parse_cpu(text: &str) -> Result<f64, UnitError> {
    let cores = parse_kubernetes_quantity(text).map_err(|e| UnitError { kind: "cpu quantity", ..e })?;
    if cores < 0.0 {
        return Err(UnitError::new(text, "cpu quantity", "cpu must be non-negative"));
    }
    Ok(cores)
}

/// Parses a Flink `Duration` (`30s`, `5 min`, `1h`, `100ms`, `1d`; a bare number is milliseconds) or an
/// ISO-8601 duration (`PT1M30S`), as Flink's `TimeUtils.parseDuration` does.
pub fn parse_flink_duration(text: &str) -> Result<Duration, UnitError> {
    const KIND: &str = "duration";
    let trimmed = text.trim();
    if trimmed.starts_with(['P', 'p']) {
        return parse_iso_duration(trimmed).ok_or_else(|| UnitError::new(text, KIND, "invalid ISO-8601 duration"));
    }
    let (number, unit) = split_number(trimmed);
    if number.is_empty() {
        return Err(UnitError::new(text, KIND, "it must start with a number"));
    }
    let value: u64 =
        number.parse().map_err(|_| UnitError::new(text, KIND, "the number must be a whole, non-negative count"))?;
    let nanos_per_unit: u128 = match unit.to_ascii_lowercase().as_str() {
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => 1,
        "µs" | "us" | "micro" | "micros" | "microsecond" | "microseconds" => 1_000,
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000_000,
        "h" | "hour" | "hours" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        other => return Err(UnitError::new(text, KIND, format!("unknown unit {other:?} (use ms, s, min, h or d)"))),
    };
    let nanos = u128::from(value) * nanos_per_unit;
    let secs =
        u64::try_from(nanos / 1_000_000_000).map_err(|_| UnitError::new(text, KIND, "the duration overflows"))?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// A small ISO-8601 subset (`PnDTnHnMnS`, fractional seconds allowed), as produced by Java's `Duration.toString`.
fn parse_iso_duration(text: &str) -> Option<Duration> {
    let upper = text.to_ascii_uppercase();
    let rest = upper.strip_prefix('P')?;
    let (days_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = 0f64;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == '-' {
                number.push(c);
            } else {
                let factor = units.iter().find(|(u, _)| *u == c)?.1;
                total += number.parse::<f64>().ok()? * factor;
                number.clear();
                any = true;
            }
        }
        number.is_empty().then_some(())
    };
    take(days_part, &[('D', 86_400.0)])?;
    take(time_part, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    (any && total >= 0.0 && total.is_finite()).then(|| Duration::from_secs_f64(total))
}

/// Formats bytes the way Flink prints sizes in configuration (`1024m`, `2g`, `512k`, `100b`), exact and short.
pub fn format_flink_memory(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(1 << 40, "t"), (1 << 30, "g"), (1 << 20, "m"), (1 << 10, "k")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}b")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_memory_units_are_binary() {
        assert_eq!(parse_flink_memory("1024m"), Ok(1024 << 20));
        assert_eq!(parse_flink_memory("2g"), Ok(2 << 30));
        assert_eq!(parse_flink_memory("2 GB"), Ok(2 << 30));
        assert_eq!(parse_flink_memory("512kibibytes"), Ok(512 << 10));
        assert_eq!(parse_flink_memory("100"), Ok(100));
        assert!(parse_flink_memory("2Gi").is_err());
        assert!(parse_flink_memory("-1m").is_err());
    }

    #[test]
    fn memory_reads_flink_first_then_kubernetes() {
        assert_eq!(parse_memory("2048m"), Ok(2 << 30));
        assert_eq!(parse_memory("2g"), Ok(2 << 30));
        assert_eq!(parse_memory("2Gi"), Ok(2 << 30));
        assert_eq!(parse_memory("1G"), Ok(1 << 30), "Flink reads G as GiB before Kubernetes would");
        assert_eq!(parse_memory("1.5Gi"), Ok(3 << 29));
        assert_eq!(parse_memory("1e3"), Ok(1000));
        let error = parse_memory("two gigs").unwrap_err();
        assert!(error.to_string().contains("two gigs"), "{error}");
        assert!(parse_memory("2Gx").is_err());
        assert!(parse_memory("").is_err());
    }

    #[test]
    fn cpu_accepts_numbers_and_millicores() {
        assert_eq!(parse_cpu("0.5"), Ok(0.5));
        assert_eq!(parse_cpu("500m"), Ok(0.5));
        assert_eq!(parse_cpu("2"), Ok(2.0));
        assert!(parse_cpu("-1").is_err());
        assert!(parse_cpu("lots").is_err());
    }

    #[test]
    fn flink_durations_follow_time_utils() {
        assert_eq!(parse_flink_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_flink_duration("5 min"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_flink_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_flink_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_flink_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_flink_duration("250"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_flink_duration("100 ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_flink_duration("PT1M30S"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_flink_duration("P1DT1H"), Ok(Duration::from_secs(90_000)));
        assert!(parse_flink_duration("soon").is_err());
        assert!(parse_flink_duration("5 fortnights").is_err());
        assert!(parse_flink_duration("P").is_err());
    }

    #[test]
    fn flink_memory_formats_round_trip() {
        for text in ["1024m", "2g", "512k", "100b", "1t", "1536m"] {
            let bytes = parse_flink_memory(text).unwrap();
            assert_eq!(parse_flink_memory(&format_flink_memory(bytes)), Ok(bytes));
        }
        assert_eq!(format_flink_memory(2 << 30), "2g");
        assert_eq!(format_flink_memory(1536 << 20), "1536m");
    }
}
