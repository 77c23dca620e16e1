//! CustomResourceDefinitions: checking them, turning them into served types, loading `--crds DIR`.
use std::path::Path;

use serde_json::{Value, json};

use crate::error::{ApiError, KubeSimError};
use crate::registry::ResourceType;

/// Checks a CRD the way the real server does for the fields we rely on, returning `(field, message)` causes.
pub fn check(crd: &Value) -> Vec<(String, String)> {
    let mut causes = Vec::new();
    let s = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or("");
    let (group, plural, kind) = (
        s("/spec/group"),
        s("/spec/names/plural"),
        s("/spec/names/kind"),
    );
    if group.is_empty() {
        causes.push(("spec.group".into(), "Required value".into()));
    } else if !group.contains('.') {
        causes.push((
            "spec.group".into(),
            format!("Invalid value: {group:?}: should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        causes.push(("spec.names.plural".into(), "Required value".into()));
    }
    if kind.is_empty() {
        causes.push(("spec.names.kind".into(), "Required value".into()));
    }
    let name = s("/metadata/name");
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if !matches!(s("/spec/scope"), "Namespaced" | "Cluster") {
        causes.push((
            "spec.scope".into(),
            "Unsupported value: must be Namespaced or Cluster".into(),
        ));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push((
            "spec.versions".into(),
            "Invalid value: must have exactly one version marked as storage version".into(),
        ));
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if !versions.is_empty() && storage != 1 {
        causes.push((
            "spec.versions".into(),
            format!("Invalid value: must have exactly one version marked as storage version (found {storage})"),
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v.pointer("/schema/openAPIV3Schema").is_none() {
            causes.push((
                format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "Required value: schemas are required".into(),
            ));
        }
    }
    causes
}

/// The served types of a (checked) CRD: one per served version.
pub fn resource_types(crd: &Value) -> Vec<ResourceType> {
    let s = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let strings = |p: &str| -> Vec<String> {
        crd.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .map(|v| {
            let kind = s("/spec/names/kind");
            let singular = s("/spec/names/singular");
            ResourceType {
                group: s("/spec/group"),
                version: v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                singular: if singular.is_empty() {
                    kind.to_lowercase()
                } else {
                    singular
                },
                kind,
                plural: s("/spec/names/plural"),
                namespaced: s("/spec/scope") == "Namespaced",
                short_names: strings("/spec/names/shortNames"),
                has_status: v.pointer("/subresources/status").is_some(),
                bumps_generation: true,
                schema: Some(
                    v.pointer("/schema/openAPIV3Schema")
                        .cloned()
                        .unwrap_or_else(|| json!({})),
                ),
                categories: strings("/spec/names/categories"),
                printer_columns: v
                    .get("additionalPrinterColumns")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The status the real server reports once a CRD is established.
pub fn established_status(crd: &Value) -> Value {
    let now = crate::meta::timestamp(chrono::Utc::now());
    let storage: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let condition = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({})),
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found for the names"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": storage,
    })
}

/// Reads every `*.yaml`/`*.yml`/`*.json` file of `dir` (multi-document YAML allowed) and returns the CRDs in it.
pub fn load_dir(dir: &Path) -> Result<Vec<Value>, KubeSimError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let err = |message: String| KubeSimError::Crd {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(&path)?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: Value =
                serde::Deserialize::deserialize(doc).map_err(|e| err(e.to_string()))?;
            if value.is_null() {
                continue;
            }
            if value.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
                return Err(err("not a CustomResourceDefinition".into()));
            }
            let causes = check(&value);
            if !causes.is_empty() {
                let e = ApiError::invalid(
                    "CustomResourceDefinition.apiextensions.k8s.io",
                    crate::meta::name(&value),
                    &causes,
                );
                return Err(err(e.message));
            }
            out.push(value);
        }
    }
    Ok(out)
}
