//! kube-apiserver's `legacyValidateEvent`: the only check an Event written through the core
//! `v1` API gets (old clients write Events without `eventTime`, with `count`, `source` and
//! free-form updates), and the first check of one written through `events.k8s.io/v1`.
//!
//! It reads the core form and names fields as the internal type does (`involvedObject`,
//! `message`), as the real server's messages do whichever API was used.

use serde_json::Value;

use crate::error::ApiError;
use crate::registry::ResourceType;

/// Limit of `action`, `reason` and `reportingInstance`.
const FIELD_LIMIT: usize = 128;
/// `message` (`note`) limit in bytes.
const MESSAGE_LIMIT: usize = 1024;

fn text<'a>(event: &'a Value, pointer: &str) -> &'a str {
    event.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Checks an Event written through the core API (create or update alike).
pub fn validate(rt: &ResourceType, core: &Value) -> Result<(), ApiError> {
    let causes = legacy_causes(core);
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        &rt.kind_group(),
        crate::meta::name(core),
        &causes,
    ))
}

/// The legacy causes of a core-form Event.
pub fn legacy_causes(core: &Value) -> Vec<(String, String)> {
    let namespace = text(core, "/metadata/namespace");
    let involved = text(core, "/involvedObject/namespace");
    let mismatch = || {
        (
            "involvedObject.namespace".to_string(),
            format!("Invalid value: {involved:?}: does not match event.namespace"),
        )
    };
    let mut causes = Vec::new();
    if core.get("eventTime").is_none_or(Value::is_null) {
        // An old-style Event: its namespace is its object's ("default" for cluster objects).
        let agrees = if involved.is_empty() {
            matches!(namespace, "" | "default")
        } else {
            namespace == involved
        };
        if !agrees {
            causes.push(mismatch());
        }
        return causes;
    }
    if involved.is_empty() && !matches!(namespace, "default" | "kube-system") {
        causes.push(mismatch());
    }
    let controller = text(core, "/reportingComponent");
    if controller.is_empty() {
        causes.push(("reportingController".into(), "Required value".into()));
    }
    for problem in crate::objectmeta::qualified_name_problems(controller) {
        causes.push((
            "reportingController".into(),
            format!("Invalid value: {controller:?}: {problem}"),
        ));
    }
    for field in ["reportingInstance", "action", "reason"] {
        let value = text(core, &format!("/{field}"));
        if value.is_empty() {
            causes.push((field.into(), "Required value".into()));
        } else if value.len() > FIELD_LIMIT {
            causes.push((field.into(), too_long(FIELD_LIMIT)));
        }
    }
    if text(core, "/message").len() > MESSAGE_LIMIT {
        causes.push(("message".into(), too_long(MESSAGE_LIMIT)));
    }
    causes
}

fn too_long(limit: usize) -> String {
    format!("Invalid value: \"\": can have at most {limit} characters")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn old_style_events_need_only_a_matching_namespace() {
        let old_style = json!({"metadata": {"name": "e", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns"}, "message": "m"});
        assert!(legacy_causes(&old_style).is_empty());
        let elsewhere = json!({"metadata": {"name": "e", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "other"}});
        assert_eq!(legacy_causes(&elsewhere)[0].0, "involvedObject.namespace");
    }

    #[test]
    fn new_style_events_need_the_reporting_fields() {
        let event = json!({"metadata": {"name": "e", "namespace": "ns"},
            "eventTime": "2026-12-03T10:00:00.000000Z",
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns"}});
        let fields: Vec<String> = legacy_causes(&event).into_iter().map(|c| c.0).collect();
        assert!(
            fields.contains(&"reportingController".to_string()),
            "{fields:?}"
        );
        assert!(fields.contains(&"action".to_string()), "{fields:?}");
        assert!(fields.contains(&"reason".to_string()), "{fields:?}");
    }
}
