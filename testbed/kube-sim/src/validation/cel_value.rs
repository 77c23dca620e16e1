//! JSON → CEL value conversion driven by the schema, as the real server does: `number`
//! fields are doubles even when written as `1`, `date-time` strings are timestamps and
//! `duration` strings are durations.

use std::collections::HashMap;
use std::sync::Arc;

use cel::Value as CelValue;
use cel::objects::{Key, Map as CelMap};
use serde_json::Value;

use super::schema;

/// Converts `value` for CEL; `node_schema` is `None` below preserved unknown fields.
pub fn to_cel(value: &Value, node_schema: Option<&Value>) -> CelValue {
    let declared = node_schema.and_then(schema::type_name);
    let format = node_schema.and_then(|s| schema::str_keyword(s, "format"));
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => {
            if declared == Some("number") {
                CelValue::Float(n.as_f64().unwrap_or(f64::NAN))
            } else if let Some(i) = n.as_i64() {
                CelValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                CelValue::UInt(u)
            } else {
                CelValue::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => string_to_cel(s, declared, format),
        Value::Array(list) => {
            let item_schema = node_schema.and_then(schema::items);
            CelValue::List(Arc::new(
                list.iter().map(|item| to_cel(item, item_schema)).collect(),
            ))
        }
        Value::Object(fields) => {
            let map: HashMap<Key, CelValue> = fields
                .iter()
                .map(|(k, v)| {
                    let declared = node_schema.and_then(|s| schema::property(s, k));
                    let child = node_schema.and_then(|s| schema::child_schema(s, k));
                    // Declared properties are CEL fields and get the real server's escaping;
                    // map entries (additionalProperties) keep their keys.
                    let name = if declared.is_some() {
                        escape_property_name(k)
                    } else {
                        k.clone()
                    };
                    (Key::String(Arc::new(name)), to_cel(v, child))
                })
                .collect();
            CelValue::Map(CelMap { map: Arc::new(map) })
        }
    }
}

/// CEL keywords a property name may not be used as; the real server exposes such a
/// property as `__{name}__`.
const CEL_RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// How the real server names a property inside CEL: `x-y` → `x__dash__y`, `a.b` →
/// `a__dot__b`, `a/b` → `a__slash__b`, `__` → `__underscores__`, keywords → `__if__`.
pub fn escape_property_name(name: &str) -> String {
    if CEL_RESERVED.contains(&name) {
        return format!("__{name}__");
    }
    name.replace("__", "__underscores__")
        .replace('.', "__dot__")
        .replace('-', "__dash__")
        .replace('/', "__slash__")
}

fn string_to_cel(s: &str, declared: Option<&str>, format: Option<&str>) -> CelValue {
    if declared == Some("string") {
        match format {
            Some("date-time") => {
                if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                    return CelValue::Timestamp(t);
                }
            }
            Some("duration") => {
                if let Some(d) = parse_go_duration(s) {
                    return CelValue::Duration(d);
                }
            }
            _ => {}
        }
    }
    CelValue::String(Arc::new(s.to_owned()))
}

/// Parses a Go duration string (`1h30m`, `15s`, `250ms`) for `format: duration` fields.
pub fn parse_go_duration(s: &str) -> Option<chrono::Duration> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(chrono::Duration::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total_nanos += number * nanos_per_unit;
    }
    let nanos = if negative { -total_nanos } else { total_nanos };
    Some(chrono::Duration::nanoseconds(nanos as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_follow_the_schema_type() {
        assert_eq!(
            to_cel(&json!(1), Some(&json!({"type": "number"}))),
            CelValue::Float(1.0)
        );
        assert_eq!(
            to_cel(&json!(1), Some(&json!({"type": "integer"}))),
            CelValue::Int(1)
        );
    }

    #[test]
    fn property_names_are_escaped_like_the_real_server() {
        assert_eq!(escape_property_name("x-y"), "x__dash__y");
        assert_eq!(escape_property_name("a.b/c"), "a__dot__b__slash__c");
        assert_eq!(escape_property_name("a__b"), "a__underscores__b");
        assert_eq!(escape_property_name("namespace"), "__namespace__");
        assert_eq!(escape_property_name("minIdle"), "minIdle");
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(
            parse_go_duration("1h30m"),
            Some(chrono::Duration::minutes(90))
        );
        assert_eq!(
            parse_go_duration("250ms"),
            Some(chrono::Duration::milliseconds(250))
        );
        assert_eq!(parse_go_duration("10 minutes"), None);
    }
}
