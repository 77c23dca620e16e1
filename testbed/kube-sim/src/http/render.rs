//! Alternative representations a client can ask for in `Accept`: `Table` (kubectl get) and
//! `PartialObjectMetadata` (kube-rs metadata watchers).
use serde_json::{Value, json};

use crate::registry::ResourceType;

/// What the client asked to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The objects themselves.
    Full,
    /// `meta.k8s.io/v1` `PartialObjectMetadata(List)`.
    Metadata,
    /// `meta.k8s.io/v1` `Table`; rows carry the object as asked by `includeObject`.
    Table(IncludeObject),
}

/// `includeObject` of a Table request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object in rows.
    None,
    /// `PartialObjectMetadata` in rows (the default).
    Metadata,
    /// The full object in rows.
    Object,
}

/// Picks the first JSON media type of `Accept` that kube-sim can produce. (An `Accept` without
/// any JSON alternative is negotiated by `protobuf::negotiate` before this is asked.)
pub fn view_from(accept: &str, include_object: Option<&str>) -> View {
    for media in accept.split(',') {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        let base = params.first().copied().unwrap_or("");
        if !matches!(base, "application/json" | "*/*" | "application/*") {
            continue;
        }
        let as_ = params.iter().find_map(|p| p.strip_prefix("as="));
        let group = params
            .iter()
            .find_map(|p| p.strip_prefix("g="))
            .unwrap_or("meta.k8s.io");
        let version = params
            .iter()
            .find_map(|p| p.strip_prefix("v="))
            .unwrap_or("v1");
        let meta_v1 = group == "meta.k8s.io" && version == "v1";
        match as_ {
            None => return View::Full,
            Some("Table") if meta_v1 => {
                let include = match include_object {
                    Some("None") => IncludeObject::None,
                    Some("Object") => IncludeObject::Object,
                    _ => IncludeObject::Metadata,
                };
                return View::Table(include);
            }
            Some("PartialObjectMetadata" | "PartialObjectMetadataList") if meta_v1 => {
                return View::Metadata;
            }
            _ => continue,
        }
    }
    View::Full
}

fn partial(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or_default()})
}

/// Renders one object (GET, write responses, watch events).
pub fn object(view: View, rt: &ResourceType, obj: Value) -> Value {
    match view {
        View::Full => obj,
        View::Metadata => partial(&obj),
        View::Table(include) => table(rt, std::slice::from_ref(&obj), include, json!({})),
    }
}

/// Renders a list response.
pub fn list(view: View, rt: &ResourceType, list: Value) -> Value {
    let items = list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let list_meta = list.get("metadata").cloned().unwrap_or_default();
    match view {
        View::Full => list,
        View::Metadata => {
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                  "metadata": list_meta, "items": items.iter().map(partial).collect::<Vec<_>>()})
        }
        View::Table(include) => table(rt, &items, include, list_meta),
    }
}

fn column(name: &str, type_: &str, format: &str, priority: i64, description: &str) -> Value {
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

fn table(rt: &ResourceType, items: &[Value], include: IncludeObject, list_meta: Value) -> Value {
    let (columns, cells) = columns_for(rt);
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(o)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => row["object"] = partial(o),
                IncludeObject::Object => row["object"] = o.clone(),
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": columns, "rows": rows})
}

fn name_of(o: &Value) -> Value {
    o.pointer("/metadata/name")
        .cloned()
        .unwrap_or(Value::String(String::new()))
}

fn age_of(o: &Value) -> Value {
    Value::String(
        o.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .map(human_age)
            .unwrap_or_else(|| "<unknown>".into()),
    )
}

type CellFn = Box<dyn Fn(&Value) -> Vec<Value>>;

fn columns_for(rt: &ResourceType) -> (Vec<Value>, CellFn) {
    let name_col = column(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace.",
    );
    let age_col = column("Age", "string", "", 0, "CreationTimestamp of the object.");
    if !rt.printer_columns.is_empty() {
        let defs = rt.printer_columns.clone();
        let mut cols = vec![name_col];
        for c in &defs {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            cols.push(column(
                &s("name"),
                &s("type"),
                &s("format"),
                c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                &s("description"),
            ));
        }
        return (
            cols,
            Box::new(move |o| {
                let mut cells = vec![name_of(o)];
                for c in &defs {
                    let path = c.get("jsonPath").and_then(Value::as_str).unwrap_or("");
                    let value = json_path(o, path).unwrap_or(Value::Null);
                    let cell = match (c.get("type").and_then(Value::as_str), &value) {
                        (Some("date"), Value::String(ts)) => Value::String(human_age(ts)),
                        _ => value,
                    };
                    cells.push(cell);
                }
                cells
            }),
        );
    }
    if crate::event_convert::is_event(rt) {
        // One printer for both Event APIs, over the core form (as the real server's
        // internal type).
        return (
            super::event_table::columns(),
            Box::new(|o| super::event_table::cells(&crate::event_convert::as_core(o))),
        );
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => (
            vec![
                name_col,
                column(
                    "Ready",
                    "string",
                    "",
                    0,
                    "The aggregate readiness state of this pod for accepting traffic.",
                ),
                column(
                    "Status",
                    "string",
                    "",
                    0,
                    "The aggregate status of the containers in this pod.",
                ),
                column(
                    "Restarts",
                    "string",
                    "",
                    0,
                    "The number of times the containers in this pod have been restarted.",
                ),
                age_col,
                column("IP", "string", "", 1, "IP address allocated to the pod."),
                column(
                    "Node",
                    "string",
                    "",
                    1,
                    "Name of the Node this pod is running on.",
                ),
            ],
            Box::new(|o| {
                let statuses = o
                    .pointer("/status/containerStatuses")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let total = o
                    .pointer("/spec/containers")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let ready = statuses
                    .iter()
                    .filter(|s| s.get("ready").and_then(Value::as_bool) == Some(true))
                    .count();
                let restarts: i64 = statuses
                    .iter()
                    .filter_map(|s| s.get("restartCount").and_then(Value::as_i64))
                    .sum();
                let waiting = statuses
                    .iter()
                    .find_map(|s| s.pointer("/state/waiting/reason").and_then(Value::as_str));
                let terminated = statuses.iter().find_map(|s| {
                    s.pointer("/state/terminated/reason")
                        .and_then(Value::as_str)
                });
                let phase = o
                    .pointer("/status/phase")
                    .and_then(Value::as_str)
                    .unwrap_or("Unknown");
                let status = if crate::meta::is_deleting(o) {
                    "Terminating"
                } else {
                    waiting.or(terminated).unwrap_or(phase)
                };
                let s = |p: &str| {
                    Value::String(
                        o.pointer(p)
                            .and_then(Value::as_str)
                            .unwrap_or("<none>")
                            .to_string(),
                    )
                };
                vec![
                    name_of(o),
                    json!(format!("{ready}/{total}")),
                    json!(status),
                    json!(restarts.to_string()),
                    age_of(o),
                    s("/status/podIP"),
                    s("/spec/nodeName"),
                ]
            }),
        ),
        ("", "namespaces") => (
            vec![
                name_col,
                column("Status", "string", "", 0, "The status of the namespace"),
                age_col,
            ],
            Box::new(|o| {
                vec![
                    name_of(o),
                    o.pointer("/status/phase").cloned().unwrap_or_default(),
                    age_of(o),
                ]
            }),
        ),
        ("", "configmaps") | ("", "secrets") => {
            let secret = rt.plural == "secrets";
            let mut cols = vec![name_col];
            if secret {
                cols.push(column("Type", "string", "", 0, "The type of the secret"));
            }
            cols.push(column(
                "Data",
                "string",
                "",
                0,
                "Number of items in the data",
            ));
            cols.push(age_col);
            (
                cols,
                Box::new(move |o| {
                    let n = o
                        .get("data")
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                        + o.get("binaryData")
                            .and_then(Value::as_object)
                            .map_or(0, |m| m.len());
                    let mut cells = vec![name_of(o)];
                    if secret {
                        cells.push(o.get("type").cloned().unwrap_or_default());
                    }
                    cells.push(json!(n));
                    cells.push(age_of(o));
                    cells
                }),
            )
        }
        _ => (
            vec![name_col, age_col],
            Box::new(|o| vec![name_of(o), age_of(o)]),
        ),
    }
}

/// Evaluates the JSONPath subset printer columns use: `.a.b`, `.a[0]`, `.a[?(@.k=="v")].b`.
pub fn json_path(obj: &Value, path: &str) -> Option<Value> {
    let mut cur = obj.clone();
    let mut rest = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?.clone();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Ok(i) = inner.parse::<usize>() {
                cur = cur.get(i)?.clone();
            } else if let Some(filter) =
                inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
            {
                let (key, want) = filter.split_once("==")?;
                let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
                cur = cur
                    .as_array()?
                    .iter()
                    .find(|item| item.get(key.trim()).and_then(Value::as_str) == Some(want))?
                    .clone();
            } else {
                return None;
            }
        } else {
            return None;
        }
    }
    Some(cur)
}

/// Like Kubernetes' `duration.HumanDuration` of the time since `ts`.
pub fn human_age(ts: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<invalid>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => {
            if s % 60 == 0 {
                format!("{m}m")
            } else {
                format!("{m}m{}s", s % 60)
            }
        }
        s if s < 3 * 3600 => format!("{m}m"),
        s if s < 8 * 3600 => {
            if m % 60 == 0 {
                format!("{h}h")
            } else {
                format!("{h}h{}m", m % 60)
            }
        }
        s if s < 48 * 3600 => format!("{h}h"),
        s if s < 8 * 86400 => {
            if h % 24 == 0 {
                format!("{d}d")
            } else {
                format!("{d}d{}h", h % 24)
            }
        }
        s if s < 2 * 365 * 86400 => format!("{d}d"),
        _ => format!("{}y", d / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_pick_the_first_supported_view() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            view_from(kubectl, None),
            View::Table(IncludeObject::Metadata)
        );
        assert_eq!(
            view_from(
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
                None
            ),
            View::Full
        );
        assert_eq!(
            view_from(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
                None
            ),
            View::Metadata
        );
        assert_eq!(
            view_from("application/vnd.kubernetes.protobuf,application/json", None),
            View::Full
        );
    }

    #[test]
    fn json_path_handles_filters_and_indexes() {
        let o = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("True"))
        );
        assert_eq!(
            json_path(&o, ".status.conditions[0].type"),
            Some(json!("A"))
        );
        assert_eq!(json_path(&o, ".status.missing"), None);
    }
}
