//! `managedFields` bookkeeping and server-side apply (see README for the modelled subset).
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::fields::{
    Elem, FieldSet, Shape, display_path, field_set, from_fields_v1, get_at, merge_applied,
    remove_at, to_fields_v1,
};

/// One `managedFields` entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: String,
    fields: FieldSet,
}

impl Entry {
    fn same_slot(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn read_entries(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| Entry {
            manager: e
                .get("manager")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            operation: e
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            api_version: e
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            time: e
                .get("time")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            subresource: e
                .get("subresource")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
        })
        .collect()
}

fn write_entries(obj: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = Value::String(e.subresource);
            }
            v
        })
        .collect();
    let meta = crate::meta::meta_mut(obj);
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// Who writes and how, for `managedFields`.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// `fieldManager`.
    pub manager: &'a str,
    /// apiVersion the request used.
    pub api_version: &'a str,
    /// `""` or `"status"`.
    pub subresource: &'a str,
}

/// Records a non-apply write (create, update, merge/JSON/strategic patch): the writer takes
/// ownership of every field it changed; fields that disappeared are dropped from every manager.
pub fn record_update(old: Option<&Value>, new: &mut Value, writer: &Writer<'_>, shape: Shape<'_>) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let new_set = field_set(new, shape);
    let old_set = old.map(|o| field_set(o, shape)).unwrap_or_default();
    let changed: FieldSet = new_set
        .iter()
        .filter(|p| match p.last() {
            Some(Elem::Field(_)) => old.is_none_or(|o| get_at(o, p) != get_at(new, p)),
            _ => !old_set.contains(*p),
        })
        .cloned()
        .collect();
    for e in entries.iter_mut() {
        e.fields
            .retain(|p| new_set.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.same_slot(writer.manager, "Update", writer.subresource))
        {
            Some(e) => {
                e.fields.extend(changed);
                e.time = now();
                e.api_version = writer.api_version.into();
            }
            None => entries.push(Entry {
                manager: writer.manager.into(),
                operation: "Update".into(),
                api_version: writer.api_version.into(),
                time: now(),
                subresource: writer.subresource.into(),
                fields: changed,
            }),
        }
    }
    write_entries(new, entries);
}

/// Server-side apply of `applied` onto `live` (None: the object does not exist yet).
/// Returns the merged object with updated `managedFields`, or a 409 naming the conflicting managers.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    writer: &Writer<'_>,
    force: bool,
    shape: Shape<'_>,
) -> Result<Value, ApiError> {
    let applied_set = field_set(applied, shape);
    let mut entries = live.map(read_entries).unwrap_or_default();
    let mut merged = live.cloned().unwrap_or_else(|| json!({}));

    let mut conflicts: Vec<(String, crate::fields::Path)> = Vec::new();
    if let Some(live) = live {
        for path in applied_set
            .iter()
            .filter(|p| matches!(p.last(), Some(Elem::Field(_))))
        {
            let live_value = get_at(live, path);
            if live_value.is_none() || live_value == get_at(applied, path) {
                continue;
            }
            for e in entries
                .iter()
                .filter(|e| e.manager != writer.manager && e.fields.contains(path))
            {
                conflicts.push((e.manager.clone(), path.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflict_error(&conflicts, writer.api_version));
        }
        for (manager, path) in &conflicts {
            for e in entries.iter_mut().filter(|e| &e.manager == manager) {
                e.fields.remove(path);
            }
        }
    }

    merge_applied(&mut merged, applied, shape, true);

    let previous = entries
        .iter()
        .find(|e| e.same_slot(writer.manager, "Apply", writer.subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for path in previous.difference(&applied_set) {
        let owned_by_others = entries
            .iter()
            .filter(|e| !e.same_slot(writer.manager, "Apply", writer.subresource))
            .any(|e| e.fields.iter().any(|p| p.starts_with(path)));
        if !owned_by_others {
            remove_at(&mut merged, path);
            prune_emptied_parents(&mut merged, path, &applied_set);
        }
    }

    match entries
        .iter_mut()
        .find(|e| e.same_slot(writer.manager, "Apply", writer.subresource))
    {
        Some(e) => {
            e.fields = applied_set;
            e.time = now();
            e.api_version = writer.api_version.into();
        }
        None => entries.push(Entry {
            manager: writer.manager.into(),
            operation: "Apply".into(),
            api_version: writer.api_version.into(),
            time: now(),
            subresource: writer.subresource.into(),
            fields: applied_set,
        }),
    }
    write_entries(&mut merged, entries);
    Ok(merged)
}

/// After a manager's field was removed, the objects around it that are now empty and that
/// nobody applies go too: leaving a whole struct out of an apply removes the struct, as
/// kube-apiserver does (an empty `{}` left behind would fail its required fields).
fn prune_emptied_parents(merged: &mut Value, path: &[Elem], applied: &FieldSet) {
    for end in (1..path.len()).rev() {
        let prefix = &path[..end];
        if !matches!(prefix.last(), Some(Elem::Field(_))) {
            return;
        }
        let emptied = matches!(get_at(merged, prefix), Some(Value::Object(m)) if m.is_empty());
        if !emptied || applied.iter().any(|p| p.starts_with(prefix)) {
            return;
        }
        remove_at(merged, prefix);
    }
}

fn conflict_error(conflicts: &[(String, crate::fields::Path)], api_version: &str) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\" using {api_version}"), "field": display_path(p)})
        })
        .collect();
    let n = conflicts.len();
    let message = if n == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with \"{}\" using {api_version}: {}",
            conflicts[0].0,
            display_path(&conflicts[0].1)
        )
    } else {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, p)| {
                format!(
                    "conflict with \"{m}\" using {api_version}: {}",
                    display_path(p)
                )
            })
            .collect();
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    };
    ApiError::apply_conflict(message, causes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "v1",
            subresource: "",
        }
    }

    #[test]
    fn two_managers_merge_conflict_and_force() {
        let shape = Shape::root(None);
        let a = json!({"metadata": {"labels": {"a": "1"}}, "data": {"x": "1"}});
        let obj = apply(None, &a, &w("alice"), false, shape).unwrap();
        let b = json!({"metadata": {"labels": {"b": "2"}}});
        let obj = apply(Some(&obj), &b, &w("bob"), false, shape).unwrap();
        assert_eq!(obj["metadata"]["labels"], json!({"a": "1", "b": "2"}));

        let clash = json!({"metadata": {"labels": {"b": "2"}}, "data": {"x": "2"}});
        let err = apply(Some(&obj), &clash, &w("bob"), false, shape).unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains("\"alice\"") && err.message.contains(".data.x"),
            "{}",
            err.message
        );
        let obj = apply(Some(&obj), &clash, &w("bob"), true, shape).unwrap();
        assert_eq!(obj["data"]["x"], "2");

        // alice stops applying her label: it goes; bob's stays.
        let obj = apply(Some(&obj), &json!({"data": {}}), &w("alice"), false, shape).unwrap();
        assert_eq!(obj["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(obj["data"]["x"], "2");
    }

    #[test]
    fn update_takes_ownership_from_appliers() {
        let shape = Shape::root(None);
        let obj = apply(
            None,
            &json!({"data": {"x": "1"}}),
            &w("alice"),
            false,
            shape,
        )
        .unwrap();
        let mut updated = obj.clone();
        updated["data"]["x"] = json!("9");
        record_update(Some(&obj), &mut updated, &w("editor"), shape);
        let err = apply(
            Some(&updated),
            &json!({"data": {"x": "1"}}),
            &w("alice"),
            false,
            shape,
        )
        .unwrap_err();
        assert!(err.message.contains("\"editor\""), "{}", err.message);
    }

    #[test]
    fn list_map_items_a_manager_stops_applying_are_removed() {
        let shape = Shape::root(None);
        let pod = |envs: Value| json!({"spec": {"containers": [{"name": "agent", "image": "a:1", "env": envs}]}});
        let obj = apply(
            None,
            &pod(json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])),
            &w("op"),
            false,
            shape,
        )
        .unwrap();
        // Another manager adds its own variable to the same container.
        let other = json!({"spec": {"containers": [{"name": "agent", "env": [{"name": "C", "value": "3"}]}]}});
        let obj = apply(Some(&obj), &other, &w("user"), false, shape).unwrap();
        let names = |o: &Value| -> Vec<String> {
            o["spec"]["containers"][0]["env"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(&obj), ["A", "B", "C"]);
        let obj = apply(
            Some(&obj),
            &pod(json!([{"name": "A", "value": "1"}])),
            &w("op"),
            false,
            shape,
        )
        .unwrap();
        assert_eq!(names(&obj), ["A", "C"]);
        assert_eq!(obj["spec"]["containers"][0]["image"], "a:1");
    }
}
