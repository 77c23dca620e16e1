//! Encoding of stored objects as protobuf answers, for clients whose `Accept` names only
//! `application/vnd.kubernetes.protobuf`: v1 `Secret`, `ConfigMap` and `Namespace`.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use prost::Message as _;
use serde_json::Value;

use crate::error::ApiError;

/// Kinds this module encodes (`apiVersion`, `kind`).
pub const ENCODED: &[(&str, &str)] = &[("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "Namespace")];

/// Whether objects of this type can be answered in protobuf.
pub fn encodable(api_version: &str, kind: &str) -> bool {
    ENCODED.contains(&(api_version, kind))
}

/// The protobuf bytes of one object (without the envelope), or an error for another kind.
pub fn object(value: &Value) -> Result<Vec<u8>, ApiError> {
    let metadata = Some(object_meta(value.get("metadata").unwrap_or(&Value::Null))?);
    let bytes = match (text(value, "apiVersion"), text(value, "kind")) {
        (Some("v1"), Some("Secret")) => core::Secret {
            metadata,
            immutable: value.get("immutable").and_then(Value::as_bool),
            data: base64_map(value, "data")?,
            string_data: string_map(value, "stringData"),
            r#type: string(value, "type"),
        }
        .encode_to_vec(),
        (Some("v1"), Some("ConfigMap")) => core::ConfigMap {
            metadata,
            immutable: value.get("immutable").and_then(Value::as_bool),
            data: string_map(value, "data"),
            binary_data: base64_map(value, "binaryData")?,
        }
        .encode_to_vec(),
        (Some("v1"), Some("Namespace")) => namespace(value, metadata)?.encode_to_vec(),
        (api_version, kind) => {
            return Err(ApiError::internal(format!(
                "kube-sim cannot encode {api_version:?} {kind:?} as protobuf"
            )));
        }
    };
    Ok(bytes)
}

fn namespace(
    value: &Value,
    metadata: Option<meta::ObjectMeta>,
) -> Result<core::Namespace, ApiError> {
    let spec = value.get("spec").map(|spec| core::NamespaceSpec {
        finalizers: string_list(spec, "finalizers"),
    });
    let status = match value.get("status") {
        None => None,
        Some(status) => Some(core::NamespaceStatus {
            phase: string(status, "phase"),
            conditions: list(status, "conditions")
                .iter()
                .map(|c| {
                    Ok(core::NamespaceCondition {
                        r#type: string(c, "type"),
                        status: string(c, "status"),
                        last_transition_time: time(c, "lastTransitionTime")?,
                        reason: string(c, "reason"),
                        message: string(c, "message"),
                    })
                })
                .collect::<Result<_, ApiError>>()?,
        }),
    };
    Ok(core::Namespace {
        metadata,
        spec,
        status,
    })
}

fn object_meta(m: &Value) -> Result<meta::ObjectMeta, ApiError> {
    let owner_references = list(m, "ownerReferences")
        .iter()
        .map(|o| meta::OwnerReference {
            api_version: string(o, "apiVersion"),
            kind: string(o, "kind"),
            name: string(o, "name"),
            uid: string(o, "uid"),
            controller: o.get("controller").and_then(Value::as_bool),
            block_owner_deletion: o.get("blockOwnerDeletion").and_then(Value::as_bool),
        })
        .collect();
    let managed_fields = list(m, "managedFields")
        .iter()
        .map(|f| {
            Ok(meta::ManagedFieldsEntry {
                manager: string(f, "manager"),
                operation: string(f, "operation"),
                api_version: string(f, "apiVersion"),
                time: time(f, "time")?,
                fields_type: string(f, "fieldsType"),
                fields_v1: f.get("fieldsV1").map(|v| meta::FieldsV1 {
                    raw: Some(v.to_string().into_bytes()),
                }),
                subresource: string(f, "subresource"),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(meta::ObjectMeta {
        name: string(m, "name"),
        generate_name: string(m, "generateName"),
        namespace: string(m, "namespace"),
        self_link: string(m, "selfLink"),
        uid: string(m, "uid"),
        resource_version: string(m, "resourceVersion"),
        generation: m.get("generation").and_then(Value::as_i64),
        creation_timestamp: time(m, "creationTimestamp")?,
        deletion_timestamp: time(m, "deletionTimestamp")?,
        deletion_grace_period_seconds: m.get("deletionGracePeriodSeconds").and_then(Value::as_i64),
        labels: string_map(m, "labels"),
        annotations: string_map(m, "annotations"),
        owner_references,
        finalizers: string_list(m, "finalizers"),
        managed_fields,
    })
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn string(v: &Value, key: &str) -> Option<String> {
    text(v, key).map(String::from)
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn string_list(v: &Value, key: &str) -> Vec<String> {
    list(v, key)
        .iter()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect()
}

fn string_map(v: &Value, key: &str) -> BTreeMap<String, String> {
    v.get(key)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn base64_map(v: &Value, key: &str) -> Result<BTreeMap<String, Vec<u8>>, ApiError> {
    let engine = base64::engine::general_purpose::STANDARD;
    string_map(v, key)
        .into_iter()
        .map(|(k, b64)| {
            let bytes = engine
                .decode(b64)
                .map_err(|e| ApiError::internal(format!("stored {key}.{k} is not base64: {e}")))?;
            Ok((k, bytes))
        })
        .collect()
}

fn time(v: &Value, key: &str) -> Result<Option<meta::Time>, ApiError> {
    let Some(stamp) = text(v, key) else {
        return Ok(None);
    };
    let t = chrono::DateTime::parse_from_rfc3339(stamp)
        .map_err(|e| ApiError::internal(format!("stored {key} {stamp:?}: {e}")))?;
    Ok(Some(meta::Time {
        seconds: Some(t.timestamp()),
        nanos: Some(i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0)),
    }))
}
