//! Durations as compose writes them: Go's `time.ParseDuration` syntax
//! (`1m30s`, `500ms`, `1.5h`) in, Go's `Duration.String()` form out, so that
//! `devrig config` prints what `docker compose config` prints.

use serde::{Serialize, Serializer};
use std::fmt;
use std::time::Duration as StdDuration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    pub nanos: u64,
}

impl Duration {
    pub fn from_secs(secs: u64) -> Self {
        Duration {
            nanos: secs.saturating_mul(1_000_000_000),
        }
    }

    pub fn as_std(self) -> StdDuration {
        StdDuration::from_nanos(self.nanos)
    }

    /// Parses Go duration syntax: a sequence of decimal numbers, each with an
    /// optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`).
    /// A bare `0` is allowed; other unitless numbers are not, as in Go.
    /// Negative durations make no sense for any compose field and are refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid =
            || format!("invalid duration `{text}` (expected e.g. `30s`, `1m30s`, `500ms`)");
        let s = text.strip_prefix('+').unwrap_or(text);
        if s == "0" {
            return Ok(Duration::default());
        }
        if s.is_empty() || s.starts_with('-') {
            return Err(invalid());
        }
        let mut total: f64 = 0.0;
        let mut rest = s;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let number = &rest[..number_len];
            if number.is_empty() || number == "." {
                return Err(invalid());
            }
            let value: f64 = number.parse().map_err(|_| invalid())?;
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let nanos_per_unit = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(invalid()),
            };
            rest = &rest[unit_len..];
            total += value * nanos_per_unit;
        }
        if total > u64::MAX as f64 {
            return Err(invalid());
        }
        Ok(Duration {
            nanos: total.round() as u64,
        })
    }
}

impl fmt::Display for Duration {
    /// Go's `Duration.String()`: `1h0m0s`, `1m30s`, `1.5s`, `500ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n == 0 {
            return f.write_str("0s");
        }
        if n < 1_000_000_000 {
            let (unit, scale) = if n < 1_000 {
                ("ns", 1)
            } else if n < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            return write!(f, "{}{unit}", fraction(n, scale));
        }
        let hours = n / 3_600_000_000_000;
        let minutes = (n / 60_000_000_000) % 60;
        let secs_nanos = n % 60_000_000_000;
        if hours > 0 {
            write!(f, "{hours}h{minutes}m")?;
        } else if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write!(f, "{}s", fraction(secs_nanos, 1_000_000_000))
    }
}

/// `value / scale` with the fraction's trailing zeros dropped, as Go prints it.
fn fraction(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        Duration::parse(text).unwrap().to_string()
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(round_trip("90s"), "1m30s");
        assert_eq!(round_trip("1m30s"), "1m30s");
        assert_eq!(round_trip("1h"), "1h0m0s");
        assert_eq!(round_trip("1.5s"), "1.5s");
        assert_eq!(round_trip("500ms"), "500ms");
        assert_eq!(round_trip("1500ms"), "1.5s");
        assert_eq!(round_trip("10us"), "10µs");
        assert_eq!(round_trip("7ns"), "7ns");
        assert_eq!(round_trip("0"), "0s");
        assert_eq!(round_trip("2h45m"), "2h45m0s");
        assert_eq!(round_trip("1.5h"), "1h30m0s");
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in ["", "10", "s", "1x", "-5s", "1.s5", "ms", "1 s"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn error_says_what_is_expected() {
        let err = Duration::parse("10 seconds").unwrap_err();
        assert!(
            err.contains("`10 seconds`") && err.contains("1m30s"),
            "{err}"
        );
    }
}
