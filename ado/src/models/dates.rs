//! Lenient timestamp parsing: .NET writes 0–7 fraction digits, usually with `Z`, sometimes without an offset.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

/// Parses an Azure DevOps timestamp. Returns `None` for .NET's `DateTime.MinValue` (`0001-01-01T00:00:00`), which the
/// service uses for "not set" in some shapes; treating it as a real date would make unset times look ancient.
pub(crate) fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    let parsed = DateTime::parse_from_rfc3339(raw)
        .map(|dt| dt.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").map(|naive| naive.and_utc())
        })
        .ok()?;
    (parsed.year() > 1).then_some(parsed)
}

/// `serde(deserialize_with)` for `Option<DateTime<Utc>>` fields: absent, `null` and unparsable values become `None`
/// rather than failing the whole response (a timestamp quirk must not stop the operator from scaling).
pub(crate) fn optional<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = Option::<String>::deserialize(deserializer)?;
    Ok(raw.as_deref().and_then(parse_timestamp))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use chrono::Timelike;

    #[test]
    fn accepts_zero_three_and_seven_fraction_digits() {
        let zero = parse_timestamp("2022-09-28T11:20:22Z").unwrap();
        let three = parse_timestamp("2022-09-28T11:20:22.463Z").unwrap();
        let seven = parse_timestamp("2022-09-28T11:20:22.4633333Z").unwrap();
        assert_eq!(zero.nanosecond(), 0);
        assert_eq!(three.nanosecond(), 463_000_000);
        assert_eq!(seven.nanosecond(), 463_333_300);
        assert_eq!(seven.timestamp(), zero.timestamp());
    }

    #[test]
    fn accepts_missing_offset_as_utc_and_converts_offsets() {
        let naive = parse_timestamp("2022-09-28T11:20:22.5").unwrap();
        let offset = parse_timestamp("2022-09-28T13:20:22.5+02:00").unwrap();
        assert_eq!(naive, offset);
    }

    #[test]
    fn dotnet_min_value_and_garbage_mean_unset() {
        assert_eq!(parse_timestamp("0001-01-01T00:00:00"), None);
        assert_eq!(parse_timestamp("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
