//! One Event storage seen through two API versions, as on kube-apiserver: core `v1` Events
//! (`/api/v1/.../events`) and `events.k8s.io/v1` Events are the same objects, converted field
//! by field (k8s.io/kubernetes `pkg/apis/events/v1/conversion.go`).
//!
//! kube-sim stores the `events.k8s.io/v1` form (what the operator writes); core reads are
//! converted from it and core writes converted into it. The mapping is a bijection, so a
//! round trip loses nothing.

use serde_json::{Map, Value};

use crate::registry::ResourceType;

/// Fields with the same name and meaning in both versions.
const SHARED: &[&str] = &[
    "metadata",
    "eventTime",
    "series",
    "action",
    "reason",
    "related",
    "type",
    "reportingInstance",
];

/// `(events.k8s.io/v1 name, core v1 name)` of the renamed fields.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// The group and resource Events of either API version are stored under.
pub const STORAGE: (&str, &str) = ("events.k8s.io", "events");

/// Whether `rt` is the core `v1` Event API (the converted view).
pub fn is_core_event(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.plural == "events"
}

/// Whether `rt` is either Event API.
pub fn is_event(rt: &ResourceType) -> bool {
    is_core_event(rt) || (rt.group == STORAGE.0 && rt.plural == STORAGE.1)
}

/// An Event in the form a reader of `rt` expects. Idempotent: an object already in that
/// form (a write answered before storing, e.g. a dry run) is left as it is.
pub fn for_reader(rt: &ResourceType, obj: Value) -> Value {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !is_event(rt) || api_version == rt.api_version() {
        return obj;
    }
    if is_core_event(rt) {
        to_core(&obj)
    } else {
        to_events_v1(&obj)
    }
}

/// The stored (`events.k8s.io/v1`) form of an object written through `rt`.
pub fn for_storage(rt: &ResourceType, obj: Value) -> Value {
    if is_core_event(rt) && obj.get("apiVersion").and_then(Value::as_str) == Some("v1") {
        to_events_v1(&obj)
    } else {
        obj
    }
}

/// The core form of an Event in either form.
pub fn as_core(obj: &Value) -> Value {
    if obj.get("apiVersion").and_then(Value::as_str) == Some("v1") {
        obj.clone()
    } else {
        to_core(obj)
    }
}

/// `events.k8s.io/v1` → core `v1`. Fields Go always writes for a core Event (non-pointer
/// structs, strings without `omitempty`) appear as the real server shows them — `source: {}`,
/// `firstTimestamp: null`, `reportingComponent: ""` — so typed clients, whose core Event
/// requires `involvedObject`, decode every Event.
pub fn to_core(v1: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), "v1".into());
    out.insert("kind".into(), "Event".into());
    copy(v1, &mut out, RENAMED.iter().map(|(a, b)| (*a, *b)));
    for (field, zero) in [
        ("involvedObject", Value::Object(Map::new())),
        ("source", Value::Object(Map::new())),
        ("firstTimestamp", Value::Null),
        ("lastTimestamp", Value::Null),
        ("eventTime", Value::Null),
        ("reportingComponent", Value::String(String::new())),
        ("reportingInstance", Value::String(String::new())),
    ] {
        out.entry(field).or_insert(zero);
    }
    Value::Object(out)
}

/// core `v1` → `events.k8s.io/v1`. Unset values (Go's zero values: `null`, `""`, `{}`, a
/// count of 0) are left out, so an Event reads the same whichever API wrote it.
pub fn to_events_v1(core: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), "events.k8s.io/v1".into());
    out.insert("kind".into(), "Event".into());
    copy(core, &mut out, RENAMED.iter().map(|(a, b)| (*b, *a)));
    out.retain(|field, value| field == "metadata" || !is_zero(value));
    Value::Object(out)
}

/// Copies the shared fields, then each `(from, to)` renamed one.
fn copy<'a>(
    from: &Value,
    out: &mut Map<String, Value>,
    renamed: impl Iterator<Item = (&'a str, &'a str)>,
) {
    let shared = SHARED.iter().map(|f| (*f, *f));
    for (source, target) in shared.chain(renamed) {
        if let Some(value) = from.get(source) {
            out.insert(target.into(), value.clone());
        }
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_round_trip_through_core_loses_nothing() {
        let v1 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "ns"},
            "eventTime": "2026-12-03T10:00:00.000000Z", "type": "Warning", "reason": "R",
            "action": "A", "note": "n", "reportingController": "c", "reportingInstance": "i",
            "regarding": {"kind": "Pod", "name": "p"},
            "series": {"count": 2, "lastObservedTime": "2026-12-03T10:00:05.000000Z"}});
        let core = to_core(&v1);
        assert_eq!(core["message"], "n");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["reportingComponent"], "c");
        assert_eq!(core["source"], json!({}));
        assert_eq!(core["firstTimestamp"], Value::Null);
        assert_eq!(to_events_v1(&core), v1);
    }

    #[test]
    fn deprecated_fields_map_to_the_core_ones() {
        let core = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod"}, "message": "m", "count": 3,
            "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": "2026-12-03T10:00:00Z", "lastTimestamp": "2026-12-03T10:01:00Z",
            "reportingComponent": "", "eventTime": null});
        let v1 = to_events_v1(&core);
        assert_eq!(v1["deprecatedCount"], 3);
        assert_eq!(v1["deprecatedSource"]["host"], "n1");
        assert_eq!(v1["deprecatedLastTimestamp"], "2026-12-03T10:01:00Z");
        assert!(v1.get("reportingController").is_none() && v1.get("eventTime").is_none());
    }
}
