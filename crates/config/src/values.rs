//! Values written as text in config.toml: durations (`"1m30s"` or seconds) and sizes
//! (`"50MiB"` or bytes).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A Go-style duration (`1s`, `1m30s`, `1h`, `250ms`) or a plain number of seconds.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if v.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = v;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(split);
        let n: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let secs = match unit {
            "h" => n * 3600.0,
            "m" => n * 60.0,
            "s" => n,
            "ms" => n / 1000.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(secs).ok()?;
        rest = next;
    }
    Some(total)
}

/// Parses a size: a plain number of bytes, or a number with a unit (`B`, `KB`, `MB`, `GB` in
/// powers of 1000 as storage-api reads them; `KiB`, `MiB`, `GiB` in powers of 1024 as Supabase's
/// `config.toml` writes them). Case-insensitive; fractions allowed (`"1.5MB"`).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = value * factor;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return None;
    }
    Some(bytes.round() as u64)
}

/// A value written either as a plain number or as text with a unit: `number` reads the first,
/// `text` the second; `what` names the kind in errors ("a duration (e.g. \"30s\") or a number
/// of seconds").
fn number_or_text<'de, D: Deserializer<'de>, T>(
    d: D,
    number: impl FnOnce(u64) -> T,
    text: impl FnOnce(&str) -> Option<T>,
    what: &str,
) -> Result<T, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    match Raw::deserialize(d) {
        Ok(Raw::N(n)) => Ok(number(n)),
        Ok(Raw::S(s)) => text(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid value {s:?}: expected {what}"))
        }),
        Err(_) => Err(serde::de::Error::custom(format!("expected {what}"))),
    }
}

/// A duration in config.toml: `"1m30s"` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seconds(pub Duration);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Seconds, D::Error> {
        number_or_text(
            d,
            |n| Seconds(Duration::from_secs(n)),
            |s| parse_duration(s).map(Seconds),
            "a duration (e.g. \"30s\", \"1m30s\") or a number of seconds",
        )
    }
}

/// A size in config.toml: `"50MiB"` or a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        number_or_text(
            d,
            ByteSize,
            |s| parse_size(s).map(ByteSize),
            "a size (e.g. \"50MiB\") or a number of bytes",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("1e400h"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Some(1048576));
        assert_eq!(parse_size("1MB"), Some(1_000_000));
        assert_eq!(parse_size("50MiB"), Some(50 * 1024 * 1024));
        assert_eq!(parse_size("1.5KB"), Some(1500));
        assert_eq!(parse_size("MB"), None);
        assert_eq!(parse_size("12 parsecs"), None);
    }
}
