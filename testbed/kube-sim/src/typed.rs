//! Decoding built-in kinds through their typed definitions (k8s-openapi), as the real server decodes
//! into Go structs: wrongly typed fields are a 400, unknown fields are dropped (or, with
//! `fieldValidation=Strict`, rejected).
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::registry::ResourceType;

/// `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop unknown fields (the real server also sends a Warning header; kube-sim does not).
    #[default]
    Warn,
    /// Reject unknown fields with 400.
    Strict,
}

impl FieldValidation {
    /// Parses the query value; unknown values are a 400 like the real server's.
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Ignore") => Ok(Self::Ignore),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(
    rt: &ResourceType,
    obj: &Value,
) -> Result<Value, ApiError> {
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {e}",
            rt.kind, rt.version, rt.kind
        ))
    })?;
    serde_json::to_value(typed)
        .map_err(|e| ApiError::internal(format!("re-encoding {}: {e}", rt.kind)))
}

/// Decodes a built-in object through its type; custom resources pass unchanged.
pub fn decode(
    rt: &ResourceType,
    obj: &mut Value,
    validation: FieldValidation,
) -> Result<(), ApiError> {
    use k8s_openapi::api::{coordination, core, events};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let decoded = match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => round_trip::<core::v1::Pod>(rt, obj)?,
        ("", "secrets") => round_trip::<core::v1::Secret>(rt, obj)?,
        ("", "configmaps") => round_trip::<core::v1::ConfigMap>(rt, obj)?,
        ("", "events") => round_trip::<core::v1::Event>(rt, obj)?,
        ("", "serviceaccounts") => round_trip::<core::v1::ServiceAccount>(rt, obj)?,
        ("", "namespaces") => round_trip::<core::v1::Namespace>(rt, obj)?,
        ("events.k8s.io", "events") => round_trip::<events::v1::Event>(rt, obj)?,
        ("coordination.k8s.io", "leases") => round_trip::<coordination::v1::Lease>(rt, obj)?,
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            round_trip::<CustomResourceDefinition>(rt, obj)?
        }
        _ => return Ok(()),
    };
    check_unknown(obj, &decoded, validation)?;
    *obj = decoded;
    Ok(())
}

/// With `Strict`, a 400 naming every field `before` had that `after` (decoded or pruned) lost.
pub fn check_unknown(
    before: &Value,
    after: &Value,
    validation: FieldValidation,
) -> Result<(), ApiError> {
    if validation != FieldValidation::Strict {
        return Ok(());
    }
    let mut lost = Vec::new();
    lost_fields(before, after, "", &mut lost);
    if lost.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = lost
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    Err(ApiError::bad_request(format!(
        "strict decoding error: {}",
        parts.join(", ")
    )))
}

fn lost_fields(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in b {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    Some(av) => lost_fields(v, av, &p, out),
                    // Nulls are "unset", not unknown.
                    None if !v.is_null() => out.push(p),
                    None => {}
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                lost_fields(bv, av, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    fn pods() -> ResourceType {
        Registry::with_builtins()
            .find("", "v1", "pods")
            .cloned()
            .unwrap()
    }

    #[test]
    fn unknown_fields_are_dropped_or_rejected_when_strict() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                         "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicyy": "Always"}]}});
        let mut lenient = pod.clone();
        decode(&pods(), &mut lenient, FieldValidation::Warn).unwrap();
        assert!(
            lenient
                .pointer("/spec/containers/0/imagePullPolicyy")
                .is_none()
        );
        let mut strict = pod.clone();
        let err = decode(&pods(), &mut strict, FieldValidation::Strict).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message.contains("spec.containers[0].imagePullPolicyy"),
            "{}",
            err.message
        );
    }

    #[test]
    fn wrongly_typed_fields_are_a_bad_request() {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                             "spec": {"containers": [{"name": "c", "image": "i"}], "terminationGracePeriodSeconds": "30"}});
        assert_eq!(
            decode(&pods(), &mut pod, FieldValidation::Warn)
                .unwrap_err()
                .code,
            400
        );
    }
}
