//! Structural (OpenAPI v3) validation of a pruned, defaulted custom resource, with the
//! messages go-openapi produces inside the real kube-apiserver.
//!
//! `pattern` uses the `regex` crate. The real server compiles patterns with Go's RE2
//! `regexp`, which has the same feature set (no look-around, no back-references), so a
//! pattern either behaves the same or fails to compile on both. A pattern that fails to
//! compile here rejects the object (the real server would have refused the CRD).

use serde_json::{Map, Value};

use super::error::{FieldError, FieldErrorKind};
use super::{formats, path, schema};

/// Validates `value` at `at` against `node_schema`, appending every error found.
pub fn validate(at: &str, value: &Value, node_schema: &Value, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        if !schema::is_nullable(node_schema)
            && let Some(expected) = expected_type(node_schema)
        {
            errors.push(type_error(at, &expected, "null"));
        }
        return;
    }
    if let Some(expected) = expected_type(node_schema)
        && !type_matches(&expected, value)
    {
        errors.push(type_error(at, &expected, json_type(value)));
        return;
    }
    validate_combinators(at, value, node_schema, errors);
    if let Value::String(s) = value {
        validate_string(at, s, node_schema, errors);
    }
    validate_format(at, value, node_schema, errors);
    if let Value::Number(_) = value {
        validate_number(at, value, node_schema, errors);
    }
    if let Value::Array(list) = value {
        validate_array(at, list, node_schema, errors);
    }
    validate_enum(at, value, node_schema, errors);
    if let Value::Object(fields) = value {
        validate_object(at, fields, node_schema, errors);
    }
}

/// The subject go-openapi names in its messages: the field path, or `body` at the root.
fn subject(at: &str) -> &str {
    if at.is_empty() { "body" } else { at }
}

fn expected_type(node_schema: &Value) -> Option<String> {
    if schema::is_int_or_string(node_schema) {
        return Some("integer,string".to_owned());
    }
    schema::type_name(node_schema).map(str::to_owned)
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match expected {
        "integer,string" => is_integer(value) || value.is_string(),
        "integer" => is_integer(value),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    }
}

fn is_integer(value: &Value) -> bool {
    value.as_i64().is_some() || value.as_u64().is_some()
}

/// The JSON type name go-openapi reports for a value of the wrong type.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) if is_integer(value) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(at: &str, expected: &str, actual: &str) -> FieldError {
    FieldError::new(
        at,
        FieldErrorKind::TypeInvalid,
        Some(Value::String(actual.to_owned())),
        format!(
            "{} in body must be of type {expected}: {actual:?}",
            subject(at)
        ),
    )
}

fn invalid(at: &str, value: &Value, message: String) -> FieldError {
    FieldError::new(at, FieldErrorKind::Invalid, Some(value.clone()), message)
}

fn validate_combinators(
    at: &str,
    value: &Value,
    node_schema: &Value,
    errors: &mut Vec<FieldError>,
) {
    let passes = |sub: &Value| {
        let mut sub_errors = Vec::new();
        validate(at, value, sub, &mut sub_errors);
        sub_errors
    };
    if let Some(all) = node_schema.get("allOf").and_then(Value::as_array) {
        let failures: Vec<FieldError> = all.iter().flat_map(passes).collect();
        if !failures.is_empty() {
            let message = format!(
                "{} in body must validate all the schemas (allOf)",
                subject(at)
            );
            errors.push(invalid(at, value, message));
            errors.extend(failures);
        }
    }
    if let Some(any) = node_schema.get("anyOf").and_then(Value::as_array)
        && !any.is_empty()
        && !any.iter().any(|s| passes(s).is_empty())
    {
        let message = format!(
            "{} in body must validate at least one schema (anyOf)",
            subject(at)
        );
        errors.push(invalid(at, value, message));
    }
    if let Some(one) = node_schema.get("oneOf").and_then(Value::as_array)
        && !one.is_empty()
        && one.iter().filter(|s| passes(s).is_empty()).count() != 1
    {
        let message = format!(
            "{} in body must validate one and only one schema (oneOf)",
            subject(at)
        );
        errors.push(invalid(at, value, message));
    }
    if let Some(not) = node_schema.get("not").filter(|s| s.is_object())
        && passes(not).is_empty()
    {
        let message = format!("{} in body must not validate the schema (not)", subject(at));
        errors.push(invalid(at, value, message));
    }
}

fn validate_string(at: &str, s: &str, node_schema: &Value, errors: &mut Vec<FieldError>) {
    let length = s.chars().count() as u64;
    let value = Value::String(s.to_owned());
    if let Some(min) = schema::count_keyword(node_schema, "minLength")
        && length < min
    {
        let message = format!(
            "{} in body should be at least {min} chars long",
            subject(at)
        );
        errors.push(invalid(at, &value, message));
    }
    if let Some(max) = schema::count_keyword(node_schema, "maxLength")
        && length > max
    {
        errors.push(FieldError::new(
            at,
            FieldErrorKind::TooLong,
            Some(value.clone()),
            format!("may not be more than {max} bytes"),
        ));
    }
    if let Some(pattern) = schema::str_keyword(node_schema, "pattern") {
        match regex::Regex::new(pattern) {
            Ok(re) if re.is_match(s) => {}
            Ok(_) => {
                let message = format!("{} in body should match '{pattern}'", subject(at));
                errors.push(invalid(at, &value, message));
            }
            Err(e) => {
                let message = format!("pattern '{pattern}' is unsupported in kube-sim: {e}");
                errors.push(invalid(at, &value, message));
            }
        }
    }
}

fn validate_format(at: &str, value: &Value, node_schema: &Value, errors: &mut Vec<FieldError>) {
    let Some(format) = schema::str_keyword(node_schema, "format") else {
        return;
    };
    // Schemas derived from Rust types state integer ranges twice (format and bounds); the
    // bounds already report a violation, in the real server's words.
    let has_bounds = node_schema.get("minimum").is_some() || node_schema.get("maximum").is_some();
    if value.is_number() && has_bounds {
        return;
    }
    if formats::check(format, value) == Some(false) {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        errors.push(FieldError::new(
            at,
            FieldErrorKind::TypeInvalid,
            Some(value.clone()),
            format!(
                "{} in body must be of type {format}: {shown:?}",
                subject(at)
            ),
        ));
    }
}

fn validate_number(at: &str, value: &Value, node_schema: &Value, errors: &mut Vec<FieldError>) {
    let Some(x) = value.as_f64() else {
        return;
    };
    let bound = |key: &str| node_schema.get(key).filter(|b| b.is_number());
    let exclusive = |key: &str| {
        node_schema
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    if let Some(min) = bound("minimum")
        && let Some(m) = min.as_f64()
    {
        if exclusive("exclusiveMinimum") && x <= m {
            let message = format!(
                "{} in body should be greater than {}",
                subject(at),
                go_number(min)
            );
            errors.push(invalid(at, value, message));
        } else if x < m {
            let message = format!(
                "{} in body should be greater than or equal to {}",
                subject(at),
                go_number(min)
            );
            errors.push(invalid(at, value, message));
        }
    }
    if let Some(max) = bound("maximum")
        && let Some(m) = max.as_f64()
    {
        if exclusive("exclusiveMaximum") && x >= m {
            let message = format!(
                "{} in body should be less than {}",
                subject(at),
                go_number(max)
            );
            errors.push(invalid(at, value, message));
        } else if x > m {
            let message = format!(
                "{} in body should be less than or equal to {}",
                subject(at),
                go_number(max)
            );
            errors.push(invalid(at, value, message));
        }
    }
    if let Some(factor) = bound("multipleOf")
        && let Some(f) = factor.as_f64()
        && f > 0.0
        && (x / f).fract() != 0.0
    {
        let message = format!(
            "{} in body should be a multiple of {}",
            subject(at),
            go_number(factor)
        );
        errors.push(invalid(at, value, message));
    }
}

fn validate_array(at: &str, list: &[Value], node_schema: &Value, errors: &mut Vec<FieldError>) {
    let value = Value::Array(list.to_vec());
    let count = list.len() as u64;
    if let Some(min) = schema::count_keyword(node_schema, "minItems")
        && count < min
    {
        let message = format!("{} in body should have at least {min} items", subject(at));
        errors.push(invalid(at, &value, message));
    }
    if let Some(max) = schema::count_keyword(node_schema, "maxItems")
        && count > max
    {
        errors.push(FieldError::new(
            at,
            FieldErrorKind::TooMany,
            Some(Value::from(count)),
            format!("must have at most {max} items"),
        ));
    }
    let unique = node_schema.get("uniqueItems").and_then(Value::as_bool) == Some(true);
    if unique && has_duplicates(list) {
        let message = format!("{} in body shouldn't contain duplicates", subject(at));
        errors.push(invalid(at, &value, message));
    }
    match schema::str_keyword(node_schema, "x-kubernetes-list-type") {
        Some("set") => report_duplicates(at, list, |item| Some(item.clone()), errors),
        Some("map") => {
            let keys: Vec<String> = node_schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|ks| {
                    ks.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            report_duplicates(at, list, |item| map_list_key(item, &keys), errors);
        }
        _ => {}
    }
    if let Some(item_schema) = schema::items(node_schema) {
        for (i, item) in list.iter().enumerate() {
            validate(&path::index(at, i), item, item_schema, errors);
        }
    }
}

fn has_duplicates(list: &[Value]) -> bool {
    list.iter()
        .enumerate()
        .any(|(i, a)| list[..i].iter().any(|b| a == b))
}

/// The identity of a map-list item: the object of its key fields.
pub fn map_list_key(item: &Value, keys: &[String]) -> Option<Value> {
    let fields = item.as_object()?;
    let key: Map<String, Value> = keys
        .iter()
        .filter_map(|k| fields.get(k).map(|v| (k.clone(), v.clone())))
        .collect();
    Some(Value::Object(key))
}

fn report_duplicates(
    at: &str,
    list: &[Value],
    identity: impl Fn(&Value) -> Option<Value>,
    errors: &mut Vec<FieldError>,
) {
    let identities: Vec<Option<Value>> = list.iter().map(identity).collect();
    for (i, id) in identities.iter().enumerate() {
        let Some(id) = id else { continue };
        if identities[..i]
            .iter()
            .any(|earlier| earlier.as_ref() == Some(id))
        {
            errors.push(FieldError::new(
                path::index(at, i),
                FieldErrorKind::Duplicate,
                Some(id.clone()),
                "",
            ));
        }
    }
}

fn validate_enum(at: &str, value: &Value, node_schema: &Value, errors: &mut Vec<FieldError>) {
    let Some(allowed) = node_schema.get("enum").and_then(Value::as_array) else {
        return;
    };
    if allowed.iter().any(|a| a == value) {
        return;
    }
    let supported: Vec<String> = allowed
        .iter()
        .map(|a| match a {
            Value::String(s) => format!("{s:?}"),
            other => format!("{:?}", other.to_string()),
        })
        .collect();
    errors.push(FieldError::new(
        at,
        FieldErrorKind::NotSupported,
        Some(value.clone()),
        format!("supported values: {}", supported.join(", ")),
    ));
}

fn validate_object(
    at: &str,
    fields: &Map<String, Value>,
    node_schema: &Value,
    errors: &mut Vec<FieldError>,
) {
    if let Some(required) = node_schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                errors.push(FieldError::new(
                    path::child(at, name),
                    FieldErrorKind::Required,
                    None,
                    "",
                ));
            }
        }
    }
    let count = fields.len() as u64;
    if let Some(min) = schema::count_keyword(node_schema, "minProperties")
        && count < min
    {
        let message = format!(
            "{} in body should have at least {min} properties",
            subject(at)
        );
        errors.push(invalid(at, &Value::Object(fields.clone()), message));
    }
    if let Some(max) = schema::count_keyword(node_schema, "maxProperties")
        && count > max
    {
        errors.push(FieldError::new(
            at,
            FieldErrorKind::TooMany,
            Some(Value::from(count)),
            format!("must have at most {max} items"),
        ));
    }
    let forbids_additional = node_schema.get("additionalProperties") == Some(&Value::Bool(false));
    for (name, child) in fields {
        let child_at = path::child(at, name);
        match schema::child_schema(node_schema, name) {
            Some(child_schema) => validate(&child_at, child, child_schema, errors),
            None if forbids_additional => errors.push(FieldError::new(
                child_at.clone(),
                FieldErrorKind::Forbidden,
                None,
                format!("{child_at} in body is a forbidden property"),
            )),
            None => {}
        }
    }
}

/// A schema bound printed like Go's `%v` of a float64 (the type the real server keeps
/// bounds in): `1`, `0.5`, `65535`, `1e+06`.
fn go_number(bound: &Value) -> String {
    let Some(x) = bound.as_f64() else {
        return bound.to_string();
    };
    if x == 0.0 {
        return "0".to_owned();
    }
    // Shortest round-trip digits, in scientific form: "6.5535e4".
    let scientific = format!("{x:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return scientific;
    };
    // Go's shortest `%g` uses plain notation for exponents in [-4, 6).
    if (-4..6).contains(&exponent) {
        return format!("{x}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::go_number;
    use serde_json::json;

    #[test]
    fn bounds_print_like_go_floats() {
        assert_eq!(go_number(&json!(65535.0)), "65535");
        assert_eq!(go_number(&json!(1)), "1");
        assert_eq!(go_number(&json!(0.5)), "0.5");
        assert_eq!(go_number(&json!(1_000_000.0)), "1e+06");
        assert_eq!(go_number(&json!(0.00001)), "1e-05");
    }
}
