//! apimachinery types: `ObjectMeta`, `Time`, `MicroTime`, `Quantity`, `IntOrString`.

use std::collections::BTreeMap;

use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::json::{Out, each, opt};
use crate::error::ApiError;

/// `ObjectMeta`, every field.
pub fn object_meta(meta: Option<meta::ObjectMeta>) -> Result<Value, ApiError> {
    let meta::ObjectMeta {
        name,
        generate_name,
        namespace,
        self_link,
        uid,
        resource_version,
        generation,
        creation_timestamp,
        deletion_timestamp,
        deletion_grace_period_seconds,
        labels,
        annotations,
        owner_references,
        finalizers,
        managed_fields,
    } = meta.unwrap_or_default();
    Ok(Out::new()
        .str("name", name)
        .str("generateName", generate_name)
        .str("namespace", namespace)
        .str("selfLink", self_link)
        .str("uid", uid)
        .str("resourceVersion", resource_version)
        .num("generation", generation)
        .put("creationTimestamp", time(creation_timestamp))
        .put("deletionTimestamp", time(deletion_timestamp))
        .ptr("deletionGracePeriodSeconds", deletion_grace_period_seconds)
        .map("labels", labels)
        .map("annotations", annotations)
        .put("ownerReferences", each(owner_references, owner_reference)?)
        .strs("finalizers", finalizers)
        .put("managedFields", each(managed_fields, managed_field)?)
        .done())
}

fn owner_reference(owner: meta::OwnerReference) -> Result<Value, ApiError> {
    let meta::OwnerReference {
        api_version,
        kind,
        name,
        uid,
        controller,
        block_owner_deletion,
    } = owner;
    Ok(Out::new()
        .str("apiVersion", api_version)
        .str("kind", kind)
        .str("name", name)
        .str("uid", uid)
        .ptr("controller", controller)
        .ptr("blockOwnerDeletion", block_owner_deletion)
        .done())
}

fn managed_field(entry: meta::ManagedFieldsEntry) -> Result<Value, ApiError> {
    let meta::ManagedFieldsEntry {
        manager,
        operation,
        api_version,
        time: at,
        fields_type,
        fields_v1,
        subresource,
    } = entry;
    let fields = opt(fields_v1.and_then(|f| f.raw), |raw| {
        serde_json::from_slice(&raw)
            .map_err(|e| ApiError::bad_request(format!("managedFields fieldsV1: {e}")))
    })?;
    Ok(Out::new()
        .str("manager", manager)
        .str("operation", operation)
        .str("apiVersion", api_version)
        .put("time", time(at))
        .str("fieldsType", fields_type)
        .put("fieldsV1", fields)
        .str("subresource", subresource)
        .done())
}

/// Seconds and nanoseconds since the epoch; `None` for Go's zero time, which the server's
/// protobuf encoding writes as an empty message.
fn instant(seconds: Option<i64>, nanos: Option<i32>) -> Option<chrono::DateTime<chrono::Utc>> {
    let (seconds, nanos) = (seconds.unwrap_or(0), nanos.unwrap_or(0));
    if seconds == 0 && nanos == 0 {
        return None;
    }
    chrono::DateTime::from_timestamp(seconds, u32::try_from(nanos).unwrap_or(0))
}

/// `Time`: RFC 3339 to the second (null when zero).
pub fn time(t: Option<meta::Time>) -> Value {
    t.and_then(|meta::Time { seconds, nanos }| instant(seconds, nanos))
        .map_or(Value::Null, |t| {
            Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
}

/// `MicroTime`: RFC 3339 with six fractional digits (null when zero).
pub fn micro_time(t: Option<meta::MicroTime>) -> Value {
    t.and_then(|meta::MicroTime { seconds, nanos }| instant(seconds, nanos))
        .map_or(Value::Null, |t| {
            Value::from(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        })
}

/// A `Quantity` is its string.
pub fn quantity(q: Option<Quantity>) -> Value {
    q.and_then(|Quantity { string }| string)
        .map_or(Value::Null, Value::from)
}

/// A map of quantities.
pub fn quantities(map: BTreeMap<String, Quantity>) -> Value {
    Value::Object(
        map.into_iter()
            .map(|(k, v)| (k, quantity(Some(v))))
            .collect(),
    )
}

/// `IntOrString`: the JSON number or string its `type` says.
pub fn int_or_string(v: Option<IntOrString>) -> Value {
    match v {
        None => Value::Null,
        Some(IntOrString {
            r#type,
            int_val,
            str_val,
        }) => match r#type.unwrap_or(0) {
            1 => Value::from(str_val.unwrap_or_default()),
            _ => Value::from(int_val.unwrap_or(0)),
        },
    }
}
