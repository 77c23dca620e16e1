//! Field sets, as server-side apply tracks them in `managedFields` (`fieldsV1`).
//!
//! A path is a list of elements: `f:<field>`, `k:<json of the list-map key>` and `v:<json of a set item>`.
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::registry::{builtin_list_map_key, builtin_list_set};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Elem {
    /// A map field.
    Field(String),
    /// A list-map item, identified by its key fields (JSON object text).
    Key(String),
    /// A set item (JSON text of the value).
    Value(String),
}

/// A path from the object root.
pub type Path = Vec<Elem>;

/// A set of owned paths.
pub type FieldSet = BTreeSet<Path>;

/// How a list is merged.
#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    /// Items are identified by these key fields.
    Map(Vec<String>),
    /// Scalar items with set semantics.
    Set,
    /// Replaced as a whole.
    Atomic,
}

/// The schema context of a value: the CRD's openAPIV3Schema node, or the built-in rules.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    schema: Option<&'a Value>,
    builtin: bool,
}

impl<'a> Shape<'a> {
    /// The root shape of an object: built-in rules, or a CRD's schema.
    pub fn root(schema: Option<&'a Value>) -> Self {
        Self {
            schema,
            builtin: schema.is_none(),
        }
    }

    fn child(&self, field: &str, at_root: bool) -> Shape<'a> {
        if at_root && field == "metadata" {
            return Shape {
                schema: None,
                builtin: true,
            };
        }
        let schema = self.schema.and_then(|s| {
            s.get("properties")
                .and_then(|p| p.get(field))
                .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
        });
        Shape {
            schema,
            builtin: self.builtin,
        }
    }

    fn item(&self) -> Shape<'a> {
        Shape {
            schema: self.schema.and_then(|s| s.get("items")),
            builtin: self.builtin,
        }
    }

    fn list_kind(&self, field: &str) -> ListKind {
        if self.builtin {
            if let Some(k) = builtin_list_map_key(field) {
                return ListKind::Map(vec![k.to_string()]);
            }
            return if builtin_list_set(field) {
                ListKind::Set
            } else {
                ListKind::Atomic
            };
        }
        match self
            .schema
            .and_then(|s| s.get("x-kubernetes-list-type"))
            .and_then(Value::as_str)
        {
            Some("map") => {
                let keys = self
                    .schema
                    .and_then(|s| s.get("x-kubernetes-list-map-keys"))
                    .and_then(Value::as_array)
                    .map(|ks| {
                        ks.iter()
                            .filter_map(Value::as_str)
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default();
                ListKind::Map(keys)
            }
            Some("set") => ListKind::Set,
            _ => ListKind::Atomic,
        }
    }

    fn map_is_atomic(&self) -> bool {
        self.schema
            .and_then(|s| s.get("x-kubernetes-map-type"))
            .and_then(Value::as_str)
            == Some("atomic")
    }
}

/// Top-level and metadata fields that are never owned by a manager.
fn ignored(path: &[Elem], field: &str) -> bool {
    match path {
        [] => matches!(field, "apiVersion" | "kind"),
        [Elem::Field(m)] if m == "metadata" => matches!(
            field,
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
                | "managedFields"
                | "selfLink"
                | "generateName"
        ),
        _ => false,
    }
}

fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let mut m = Map::new();
    for k in keys {
        m.insert(k.clone(), item.get(k)?.clone());
    }
    Some(Value::Object(m).to_string())
}

/// Every owned path of `value`: leaves, list-map items and set items.
pub fn field_set(value: &Value, shape: Shape<'_>) -> FieldSet {
    let mut out = FieldSet::new();
    collect(value, shape, &mut Vec::new(), &mut out);
    out
}

fn collect(value: &Value, shape: Shape<'_>, path: &mut Path, out: &mut FieldSet) {
    let Some(map) = value.as_object() else { return };
    for (field, v) in map {
        if ignored(path, field) {
            continue;
        }
        let child = shape.child(field, path.is_empty());
        path.push(Elem::Field(field.clone()));
        match v {
            Value::Object(m) if !m.is_empty() && !child.map_is_atomic() => {
                collect(v, child, path, out)
            }
            Value::Array(items) => match child.list_kind(field) {
                ListKind::Map(keys) if !keys.is_empty() => {
                    for item in items {
                        if let Some(k) = item_key(item, &keys) {
                            path.push(Elem::Key(k));
                            out.insert(path.clone());
                            collect(item, child.item(), path, out);
                            path.pop();
                        }
                    }
                }
                ListKind::Set => {
                    for item in items {
                        path.push(Elem::Value(item.to_string()));
                        out.insert(path.clone());
                        path.pop();
                    }
                }
                _ => {
                    out.insert(path.clone());
                }
            },
            _ => {
                out.insert(path.clone());
            }
        }
        path.pop();
    }
}

fn key_matches(item: &Value, key: &str) -> bool {
    match serde_json::from_str::<Value>(key) {
        Ok(Value::Object(k)) => k.iter().all(|(f, v)| item.get(f) == Some(v)),
        _ => false,
    }
}

fn is_set_item(item: &Value, text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|v| v == *item)
}

/// The value at `path`, if present.
pub fn get_at<'v>(value: &'v Value, path: &[Elem]) -> Option<&'v Value> {
    let mut cur = value;
    for e in path {
        cur = match e {
            Elem::Field(f) => cur.get(f)?,
            Elem::Key(k) => cur.as_array()?.iter().find(|i| key_matches(i, k))?,
            Elem::Value(v) => cur.as_array()?.iter().find(|i| is_set_item(i, v))?,
        };
    }
    Some(cur)
}

/// Removes the value at `path` (a field, a list-map item or a set item).
pub fn remove_at(value: &mut Value, path: &[Elem]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = value;
    for e in parent_path {
        let next = match e {
            Elem::Field(f) => cur.get_mut(f),
            Elem::Key(k) => cur
                .as_array_mut()
                .and_then(|a| a.iter_mut().find(|i| key_matches(i, k))),
            Elem::Value(v) => cur
                .as_array_mut()
                .and_then(|a| a.iter_mut().find(|i| is_set_item(i, v))),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Elem::Field(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        Elem::Key(k) => {
            if let Some(a) = cur.as_array_mut() {
                a.retain(|i| !key_matches(i, k));
            }
        }
        Elem::Value(v) => {
            if let Some(a) = cur.as_array_mut() {
                a.retain(|i| !is_set_item(i, v));
            }
        }
    }
}

/// Merges an applied configuration into the live object, honouring list semantics.
pub fn merge_applied(live: &mut Value, applied: &Value, shape: Shape<'_>, at_root: bool) {
    let (Some(l), Some(a)) = (live.as_object_mut(), applied.as_object()) else {
        *live = applied.clone();
        return;
    };
    for (field, v) in a {
        let child = shape.child(field, at_root);
        match (l.get_mut(field), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) if !child.map_is_atomic() => {
                merge_applied(existing, v, child, false)
            }
            (Some(Value::Array(existing)), Value::Array(items)) => match child.list_kind(field) {
                ListKind::Map(keys) if !keys.is_empty() => {
                    for item in items {
                        let pos = item_key(item, &keys).and_then(|k| {
                            existing
                                .iter()
                                .position(|e| item_key(e, &keys).as_deref() == Some(k.as_str()))
                        });
                        match pos {
                            Some(i) => merge_applied(&mut existing[i], item, child.item(), false),
                            None => existing.push(item.clone()),
                        }
                    }
                }
                ListKind::Set => {
                    for item in items {
                        if !existing.contains(item) {
                            existing.push(item.clone());
                        }
                    }
                }
                _ => *existing = items.clone(),
            },
            _ => {
                l.insert(field.clone(), v.clone());
            }
        }
    }
}

/// Renders a field set as `fieldsV1` JSON.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for e in path {
            let key = match e {
                Elem::Field(f) => format!("f:{f}"),
                Elem::Key(k) => format!("k:{k}"),
                Elem::Value(v) => format!("v:{v}"),
            };
            let entry = cur.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(next) = entry else { break };
            cur = next;
        }
    }
    mark_owned_interiors(&mut root, set, &mut Vec::new());
    Value::Object(root)
}

fn mark_owned_interiors(node: &mut Map<String, Value>, set: &FieldSet, path: &mut Path) {
    for (k, v) in node.iter_mut() {
        let Some(elem) = parse_elem(k) else { continue };
        path.push(elem);
        if let Value::Object(child) = v {
            if !child.is_empty() && set.contains(path) && !child.contains_key(".") {
                child.insert(".".into(), Value::Object(Map::new()));
            }
            mark_owned_interiors(child, set, path);
        }
        path.pop();
    }
}

fn parse_elem(k: &str) -> Option<Elem> {
    if let Some(f) = k.strip_prefix("f:") {
        Some(Elem::Field(f.into()))
    } else if let Some(x) = k.strip_prefix("k:") {
        Some(Elem::Key(x.into()))
    } else {
        k.strip_prefix("v:").map(|x| Elem::Value(x.into()))
    }
}

/// Parses `fieldsV1` JSON back into a field set.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    if let Some(m) = v.as_object() {
        parse_node(m, &mut Vec::new(), &mut out);
    }
    out
}

fn parse_node(node: &Map<String, Value>, path: &mut Path, out: &mut FieldSet) {
    for (k, v) in node {
        if k == "." {
            out.insert(path.clone());
            continue;
        }
        let Some(elem) = parse_elem(k) else { continue };
        path.push(elem);
        match v.as_object() {
            Some(child) if !child.is_empty() => parse_node(child, path, out),
            _ => {
                out.insert(path.clone());
            }
        }
        path.pop();
    }
}

/// `.spec.containers[name="agent"].image`-style text of a path, for conflict messages.
pub fn display_path(path: &[Elem]) -> String {
    let mut s = String::new();
    for e in path {
        match e {
            Elem::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Elem::Key(k) => {
                let inner = match serde_json::from_str::<Value>(k) {
                    Ok(Value::Object(m)) => m
                        .iter()
                        .map(|(f, v)| format!("{f}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => k.clone(),
                };
                s.push_str(&format!("[{inner}]"));
            }
            Elem::Value(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_set_round_trips_through_fields_v1() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1"}, "finalizers": ["x"]},
                         "spec": {"containers": [{"name": "agent", "image": "i"}]}});
        let set = field_set(&obj, Shape::root(None));
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1["f:spec"]["f:containers"]["k:{\"name\":\"agent\"}"]["f:image"],
            json!({})
        );
        assert!(v1["f:metadata"].get("f:name").is_none());
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn crd_list_types_come_from_the_schema() {
        let schema = json!({"properties": {"spec": {"properties": {"items": {"type": "array", "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["id"], "items": {"type": "object"}}}}}});
        let mut live = json!({"spec": {"items": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]}});
        merge_applied(
            &mut live,
            &json!({"spec": {"items": [{"id": 2, "v": "c"}]}}),
            Shape::root(Some(&schema)),
            true,
        );
        assert_eq!(
            live["spec"]["items"],
            json!([{"id": 1, "v": "a"}, {"id": 2, "v": "c"}])
        );
        let mut atomic = json!({"spec": {"other": [1, 2]}});
        merge_applied(
            &mut atomic,
            &json!({"spec": {"other": [3]}}),
            Shape::root(Some(&schema)),
            true,
        );
        assert_eq!(atomic["spec"]["other"], json!([3]));
    }
}
