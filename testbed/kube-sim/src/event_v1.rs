//! Validation of `events.k8s.io/v1` Events, as kube-apiserver's `ValidateEventCreate` /
//! `ValidateEventUpdate` do for that API version: the legacy check every Event gets (see
//! `event_core.rs`), then the strict one of this version.
//!
//! The server does not aggregate anything itself: the client's event recorder (client-go's,
//! kube-runtime's) keeps a series of isomorphic events by PATCHing `series` of the first one.
//! What the server enforces is what makes such a series honest or not: on update only
//! `series` (and metadata) may change — `note`, `action`, `reason`, `type`, `regarding`,
//! `related`, `reportingController`, `reportingInstance`, `eventTime` and the deprecated
//! fields are immutable, so a series always shows the note of its first event.

use serde_json::Value;

use crate::error::ApiError;
use crate::registry::ResourceType;

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
    "deprecatedSource",
    "deprecatedCount",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
];

/// Deprecated fields a new Event of this version may not set (they are the core API's).
const DEPRECATED: &[&str] = &[
    "deprecatedCount",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedSource",
];

fn is_set(event: &Value, field: &str) -> bool {
    event.get(field).is_some_and(|v| !v.is_null())
}

/// Checks a created or updated Event (`old` is the stored one on update).
pub fn validate(rt: &ResourceType, old: Option<&Value>, new: &Value) -> Result<(), ApiError> {
    let mut causes = crate::event_core::legacy_causes(&crate::event_convert::to_core(new));
    match old {
        None => causes.extend(create_causes(new)),
        Some(old) => causes.extend(update_causes(old, new)),
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

fn create_causes(new: &Value) -> Vec<(String, String)> {
    let mut causes = series_causes(new);
    if !is_set(new, "eventTime") {
        causes.push(("eventTime".into(), "Required value".into()));
    }
    let type_ = new.get("type").and_then(Value::as_str).unwrap_or("");
    if !matches!(type_, "Normal" | "Warning") {
        causes.push((
            "type".into(),
            format!("Unsupported value: {type_:?}: supported values: \"Normal\", \"Warning\""),
        ));
    }
    for deprecated in DEPRECATED {
        if is_set(new, deprecated) {
            causes.push((
                (*deprecated).into(),
                "Invalid value: needs to be unset".into(),
            ));
        }
    }
    causes
}

fn update_causes(old: &Value, new: &Value) -> Vec<(String, String)> {
    // A series is checked when it changes: an Event written through the core API may
    // carry none, or one this version would not accept on create.
    let mut causes = if old.get("series") != new.get("series") {
        series_causes(new)
    } else {
        Vec::new()
    };
    for field in IMMUTABLE {
        if old.get(*field) != new.get(*field) {
            causes.push(((*field).into(), "Invalid value: field is immutable".into()));
        }
    }
    causes
}

fn series_causes(new: &Value) -> Vec<(String, String)> {
    let mut causes = Vec::new();
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
    causes
}
