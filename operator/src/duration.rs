//! Go-style durations (`15s`, `10m`, `1h30m`, `1.5h`) as used in the AgentPool spec.
//!
//! The CRD validates these fields with Kubernetes CEL `duration()`, which parses Go
//! `time.ParseDuration` syntax; this parser implements the same grammar so that the operator
//! accepts exactly what the apiserver let through. Negative durations, which Go accepts, are
//! rejected here because no spec field has a meaning for them (the CEL bounds reject them too).

use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string does not follow Go's duration grammar.
    #[error("invalid duration {0:?}: expected Go syntax such as 15s, 10m or 1h30m")]
    Syntax(String),
    /// A leading `-` (Go allows it; a timeout or interval cannot be negative).
    #[error("invalid duration {0:?}: must not be negative")]
    Negative(String),
    /// Larger than Go's `time.Duration` (about 292 years).
    #[error("invalid duration {0:?}: out of range")]
    Overflow(String),
}

/// Largest value a Go `time.Duration` holds, in nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a Go duration string.
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax(text.to_owned());
    let rest = match text.strip_prefix(['+', '-']) {
        Some(rest) if text.starts_with('-') => {
            // "-0" is zero in Go; anything else negative is meaningless for the spec.
            if rest.chars().all(|c| c == '0') && !rest.is_empty() {
                return Ok(Duration::ZERO);
            }
            return Err(DurationError::Negative(text.to_owned()));
        }
        Some(rest) => rest,
        None => text,
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(syntax());
    }
    let mut total: u128 = 0;
    let mut remaining = rest;
    while !remaining.is_empty() {
        let (integer, after_integer) = split_digits(remaining);
        let (fraction, after_number) = match after_integer.strip_prefix('.') {
            Some(after_dot) => split_digits(after_dot),
            None => ("", after_integer),
        };
        if integer.is_empty() && fraction.is_empty() {
            return Err(syntax());
        }
        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, next) = after_number.split_at(unit_len);
        let nanos_per_unit = unit_nanos(unit).ok_or_else(syntax)?;
        let component = component_nanos(integer, fraction, nanos_per_unit)
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
        total = total
            .checked_add(component)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
        remaining = next;
    }
    let nanos = u64::try_from(total).map_err(|_| DurationError::Overflow(text.to_owned()))?;
    Ok(Duration::from_nanos(nanos))
}

fn split_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        // Go accepts the micro sign (U+00B5) and the Greek mu (U+03BC).
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

/// `integer.fraction` units in nanoseconds, truncating sub-nanosecond digits like Go does.
fn component_nanos(integer: &str, fraction: &str, nanos_per_unit: u128) -> Option<u128> {
    let whole: u128 = if integer.is_empty() {
        0
    } else {
        integer.parse().ok()?
    };
    let mut nanos = whole.checked_mul(nanos_per_unit)?;
    let mut scale = nanos_per_unit;
    for digit in fraction.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        nanos = nanos.checked_add(u128::from(digit - b'0') * scale)?;
    }
    (nanos <= MAX_NANOS).then_some(nanos)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn accepts_go_syntax() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("-0", 0),
            ("15s", 15_000_000_000),
            ("10m", 600_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("1.5h", 5_400_000_000_000),
            (".5s", 500_000_000),
            ("5.s", 5_000_000_000),
            ("+5s", 5_000_000_000),
            ("1h1m1s1ms1us1ns", 3_661_001_001_001),
            ("3\u{b5}s", 3_000),
            ("3\u{3bc}s", 3_000),
            ("0s", 0),
            ("1.0000000001s", 1_000_000_000),
        ];
        for (text, nanos) in cases {
            assert_eq!(
                parse_go_duration(text),
                Ok(Duration::from_nanos(*nanos)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for text in [
            "", "s", "15", "1d", "1 h", "h1", ".s", "1.2.3s", "1S", "5sec", "+", "1m-1s",
        ] {
            assert!(
                matches!(parse_go_duration(text), Err(DurationError::Syntax(_))),
                "{text:?} accepted"
            );
        }
    }

    #[test]
    fn rejects_negative_and_overflowing_values() {
        assert!(matches!(
            parse_go_duration("-5s"),
            Err(DurationError::Negative(_))
        ));
        // Go's limit is 2562047h47m16.854775807s.
        assert!(parse_go_duration("2562047h47m16.854775807s").is_ok());
        assert!(matches!(
            parse_go_duration("2562048h"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_go_duration("99999999999999999999999999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }
}
