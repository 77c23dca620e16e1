//! Merging the user's `spec.template` (PodTemplateSpec shape) onto the generated pod.
//!
//! Objects merge key by key; lists of named things (`containers`, `initContainers`,
//! `volumes`, `env`, `imagePullSecrets`, `tolerations` excepted) merge by `name`, and
//! `volumeMounts` by `mountPath`, like a strategic merge patch; every other list and every
//! scalar in the template replaces the generated one. `null` in the template removes a key.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Map, Value};

use super::RenderError;

/// Merges `template` (`{metadata, spec}`) onto `pod`.
pub fn merge_template(pod: Pod, template: &Value) -> Result<Pod, RenderError> {
    let Value::Object(template) = template else {
        return Err(RenderError::Template("must be an object".into()));
    };
    let mut base = serde_json::to_value(&pod).map_err(|e| RenderError::Template(e.to_string()))?;
    for key in template.keys() {
        if key != "metadata" && key != "spec" {
            return Err(RenderError::Template(format!(
                "unknown field {key:?} (expected metadata and spec)"
            )));
        }
    }
    if let Value::Object(base_map) = &mut base {
        for key in ["metadata", "spec"] {
            if let Some(patch) = template.get(key) {
                let slot = base_map
                    .entry(key)
                    .or_insert_with(|| Value::Object(Map::new()));
                merge_value(slot, patch, key);
            }
        }
    }
    serde_json::from_value(base).map_err(|e| RenderError::Template(e.to_string()))
}

/// Merge key of list items under `field`, when the list merges by key.
fn list_key(field: &str) -> Option<&'static str> {
    match field {
        "containers" | "initContainers" | "volumes" | "env" | "imagePullSecrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        _ => None,
    }
}

fn merge_value(base: &mut Value, patch: &Value, field: &str) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    base.remove(key);
                    continue;
                }
                match base.get_mut(key) {
                    Some(existing) => merge_value(existing, value, key),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(base), Value::Array(patch)) if list_key(field).is_some() => {
            let key = list_key(field).unwrap_or("name");
            for item in patch {
                let id = item.get(key);
                match base
                    .iter_mut()
                    .find(|existing| id.is_some() && existing.get(key) == id)
                {
                    Some(existing) => merge_value(existing, item, ""),
                    None => base.push(item.clone()),
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}
