//! JSON merge patch, JSON patch and (a subset of) strategic merge patch.
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::registry::{builtin_list_map_key, builtin_list_set};

/// The patch flavours of `PATCH`, from the request's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json` (built-in kinds only).
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// Maps a content type to a patch kind; unknown types are 415.
    pub fn from_content_type(content_type: &str) -> Result<Self, ApiError> {
        let base = content_type.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => {
                if base.ends_with("cbor") {
                    Err(ApiError::unsupported_media_type(content_type))
                } else {
                    Ok(Self::Apply)
                }
            }
            _ => Err(ApiError::unsupported_media_type(content_type)),
        }
    }
}

/// Applies an RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "merge patch body must be a JSON object",
        ));
    }
    json_patch::merge(target, patch);
    Ok(())
}

/// Applies an RFC 6902 JSON patch.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    json_patch::patch(target, &ops).map_err(|e| ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("the server rejected our request due to an error in our request: {e}"),
        details: None,
    })
}

/// Applies a strategic merge patch for the list semantics we model (see README):
/// known list-maps merge by key (`containers`/`env`/`volumes` by name, `conditions` by type,
/// `volumeMounts` by mountPath, `ownerReferences` by uid), `finalizers` merge as a set,
/// `$patch: delete` removes a list item or map, `$setElementOrder/*` is accepted and ignored;
/// every other list is replaced. Other `$` directives are rejected with 400.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "strategic merge patch body must be a JSON object",
        ));
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    merge_map(target, patch)
}

fn merge_map(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) else {
        *target = patch.clone();
        return Ok(());
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = p.clone();
        replacement.remove("$patch");
        *t = replacement;
        return Ok(());
    }
    for (key, value) in p {
        if key.starts_with("$setElementOrder/") {
            continue;
        }
        if key.starts_with('$') {
            return Err(ApiError::bad_request(format!(
                "strategic merge patch directive {key:?} is not supported by kube-sim"
            )));
        }
        if value.is_null() {
            t.remove(key);
            continue;
        }
        match (t.get_mut(key), value) {
            (Some(existing @ Value::Object(_)), Value::Object(pm)) => {
                if pm.get("$patch").and_then(Value::as_str) == Some("delete") {
                    t.remove(key);
                } else {
                    merge_map(existing, value)?;
                }
            }
            (Some(Value::Array(existing)), Value::Array(items)) => {
                if let Some(merge_key) = builtin_list_map_key(key) {
                    merge_list_map(existing, items, merge_key)?;
                } else if builtin_list_set(key) {
                    for item in items {
                        if !existing.contains(item) {
                            existing.push(item.clone());
                        }
                    }
                } else {
                    *existing = items.clone();
                }
            }
            _ => {
                let mut v = value.clone();
                strip_directives(&mut v);
                t.insert(key.clone(), v);
            }
        }
    }
    Ok(())
}

fn merge_list_map(
    existing: &mut Vec<Value>,
    items: &[Value],
    merge_key: &str,
) -> Result<(), ApiError> {
    for item in items {
        let Some(k) = item.get(merge_key) else {
            return Err(ApiError::bad_request(format!(
                "map: {item} does not contain declared merge key: {merge_key}"
            )));
        };
        let position = existing.iter().position(|e| e.get(merge_key) == Some(k));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => merge_map(&mut existing[i], item)?,
            (None, false) => {
                let mut v = item.clone();
                strip_directives(&mut v);
                existing.push(v);
            }
        }
    }
    Ok(())
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_patch_merges_containers_by_name_and_conditions_by_type() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]},
                             "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        let patch = json!({"spec": {"containers": [{"name": "b", "image": "z"}]},
                           "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Init", "status": "True"}]}});
        strategic_merge_patch(&mut pod, &patch).unwrap();
        assert_eq!(
            pod["spec"]["containers"],
            json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}])
        );
        assert_eq!(pod["status"]["conditions"][0]["status"], "True");
        assert_eq!(pod["status"]["conditions"][1]["type"], "Init");
    }

    #[test]
    fn strategic_patch_deletes_items_and_unions_finalizers() {
        let mut obj = json!({"metadata": {"finalizers": ["a"]}, "spec": {"env": [{"name": "X"}, {"name": "Y"}]}});
        let patch = json!({"metadata": {"finalizers": ["b"]}, "spec": {"env": [{"name": "X", "$patch": "delete"}]}});
        strategic_merge_patch(&mut obj, &patch).unwrap();
        assert_eq!(obj["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(obj["spec"]["env"], json!([{"name": "Y"}]));
    }

    #[test]
    fn merge_patch_replaces_lists_and_null_removes() {
        let mut obj = json!({"metadata": {"finalizers": ["a"], "labels": {"x": "1"}}});
        merge_patch(
            &mut obj,
            &json!({"metadata": {"finalizers": ["b"], "labels": {"x": null}}}),
        )
        .unwrap();
        assert_eq!(
            obj,
            json!({"metadata": {"finalizers": ["b"], "labels": {}}})
        );
    }

    #[test]
    fn unknown_patch_type_is_415() {
        assert_eq!(
            PatchKind::from_content_type("text/plain").unwrap_err().code,
            415
        );
    }
}
