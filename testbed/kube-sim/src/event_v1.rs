//! Validation of `events.k8s.io/v1` Events, as kube-apiserver's `ValidateEventCreate` /
//! `ValidateEventUpdate` do for that API version.
//!
//! The server does not aggregate anything itself: the client's event recorder (client-go's,
//! kube-runtime's) keeps a series of isomorphic events by PATCHing `series` of the first one.
//! What the server enforces is what makes such a series honest or not: on update only
//! `series` (and metadata) may change — `note`, `action`, `reason`, `type`, `regarding`,
//! `related`, `reportingController`, `reportingInstance` and `eventTime` are immutable, so a
//! series always shows the note of its first event.

use serde_json::Value;

use crate::error::ApiError;
use crate::registry::ResourceType;

/// `note` limit in bytes.
const NOTE_LIMIT: usize = 1024;
/// Limit of `action`, `reason` and `reportingInstance`.
const FIELD_LIMIT: usize = 128;
/// Fields an update may not change.
const IMMUTABLE: &[&str] = &[
    "note",
    "action",
    "reason",
    "type",
    "regarding",
    "related",
    "reportingController",
    "reportingInstance",
    "eventTime",
];

fn text<'a>(event: &'a Value, field: &str) -> &'a str {
    event.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Checks a created or updated Event (`old` is the stored one on update).
pub fn validate(rt: &ResourceType, old: Option<&Value>, new: &Value) -> Result<(), ApiError> {
    let mut causes: Vec<(String, String)> = Vec::new();
    if new.get("eventTime").is_none_or(Value::is_null) {
        causes.push(("eventTime".into(), "Required value".into()));
    }
    let type_ = text(new, "type");
    if !matches!(type_, "Normal" | "Warning") {
        causes.push((
            "type".into(),
            format!("Unsupported value: {type_:?}: supported values: \"Normal\", \"Warning\""),
        ));
    }
    for field in [
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
    ] {
        let value = text(new, field);
        if value.is_empty() {
            causes.push((field.into(), "Required value".into()));
        } else if field != "reportingController" && value.len() > FIELD_LIMIT {
            causes.push((
                field.into(),
                format!("Too long: may not be more than {FIELD_LIMIT} bytes"),
            ));
        }
    }
    if text(new, "note").len() > NOTE_LIMIT {
        causes.push((
            "note".into(),
            format!("Too long: may not be more than {NOTE_LIMIT} bytes"),
        ));
    }
    for deprecated in [
        "deprecatedCount",
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
    ] {
        if new.get(deprecated).is_some_and(|v| !v.is_null()) {
            causes.push((deprecated.into(), "Invalid value: needs to be unset".into()));
        }
    }
    if let Some(series) = new.get("series").filter(|s| !s.is_null()) {
        if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
            causes.push((
                "series.count".into(),
                "Invalid value: should be at least 2".into(),
            ));
        }
        if series.get("lastObservedTime").is_none_or(Value::is_null) {
            causes.push(("series.lastObservedTime".into(), "Required value".into()));
        }
    }
    let namespace = new
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(regarding_ns) = new
        .pointer("/regarding/namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        && regarding_ns != namespace
    {
        causes.push((
            "regarding.namespace".into(),
            format!("Invalid value: {regarding_ns:?}: does not match event.namespace"),
        ));
    }
    if let Some(old) = old {
        for field in IMMUTABLE {
            if old.get(*field) != new.get(*field) {
                causes.push(((*field).into(), "Invalid value: field is immutable".into()));
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &rt.kind_group(),
            crate::meta::name(new),
            &causes,
        ))
    }
}
