//! `format` checks for the formats kube-derived schemas emit and the string formats the
//! real server validates. Unknown formats pass, as on the real server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use serde_json::{Number, Value};

/// Whether `value` satisfies `format`; `None` when the format does not apply to the value's
/// type or is unknown (then nothing is checked).
pub fn check(format: &str, value: &Value) -> Option<bool> {
    match value {
        Value::String(s) => check_string(format, s),
        Value::Number(n) => check_integer_range(format, n),
        _ => None,
    }
}

fn check_integer_range(format: &str, n: &Number) -> Option<bool> {
    // The real server ignores integer formats; we enforce them because a value out of
    // range would make the operator's typed client fail to decode the object anyway.
    let (min, max): (i128, i128) = match format {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "int64" => (i64::MIN.into(), i64::MAX.into()),
        "uint8" => (0, u8::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "uint32" => (0, u32::MAX.into()),
        "uint64" => (0, u64::MAX.into()),
        _ => return None,
    };
    let value: i128 = if let Some(i) = n.as_i64() {
        i.into()
    } else if let Some(u) = n.as_u64() {
        u.into()
    } else {
        return None;
    };
    Some((min..=max).contains(&value))
}

fn check_string(format: &str, s: &str) -> Option<bool> {
    Some(match format {
        "date-time" | "datetime" => is_date_time(s),
        "date" => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        "uri" => is_request_uri(s),
        "uuid" => uuid::Uuid::try_parse(s).is_ok(),
        "byte" => base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "ipv4" => s.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(s),
        "hostname" => is_hostname(s),
        "email" => is_email(s),
        _ => return None,
    })
}

/// RFC 3339 date-time, also without seconds fraction or with a lowercase `t`/`z`, like
/// go-openapi's `strfmt.ParseDateTime`.
fn is_date_time(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::DateTime::parse_from_rfc3339(&s.to_ascii_uppercase()).is_ok()
}

/// Go's `url.ParseRequestURI`: an absolute URI or an absolute path.
fn is_request_uri(s: &str) -> bool {
    if s.starts_with('/') {
        return !s.contains(char::is_whitespace);
    }
    url::Url::parse(s).is_ok_and(|u| !u.cannot_be_a_base() || s.contains(':'))
}

fn is_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => prefix <= 32,
        Ok(IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_email(s: &str) -> bool {
    s.split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && is_hostname(domain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integer_formats_check_ranges() {
        assert_eq!(check("int32", &json!(2147483647)), Some(true));
        assert_eq!(check("int32", &json!(2147483648u64)), Some(false));
        assert_eq!(check("uint16", &json!(-1)), Some(false));
        assert_eq!(check("uint16", &json!(65535)), Some(true));
        assert_eq!(check("double", &json!(1.5)), None);
    }

    #[test]
    fn string_formats() {
        assert_eq!(
            check("date-time", &json!("2024-01-02T03:04:05Z")),
            Some(true)
        );
        assert_eq!(check("date-time", &json!("2024-01-02 03:04")), Some(false));
        assert_eq!(check("uri", &json!("https://dev.azure.com/x")), Some(true));
        assert_eq!(check("uri", &json!("not a uri")), Some(false));
        assert_eq!(check("uuid", &json!("nope")), Some(false));
        assert_eq!(check("cidr", &json!("10.0.0.0/8")), Some(true));
        assert_eq!(check("cidr", &json!("10.0.0.0/33")), Some(false));
        assert_eq!(check("made-up", &json!("anything")), None);
    }
}
