//! Decoding of the simple kinds: v1 `Secret`, `ConfigMap` and `Namespace`.

use k8s_pb::api::core::v1 as core;
use serde_json::Value;

use super::json::{Out, bytes, each, opt, strings};
use super::meta::{object_meta, time};
use crate::error::ApiError;

pub fn secret(secret: core::Secret) -> Result<Value, ApiError> {
    let core::Secret {
        metadata,
        immutable,
        data,
        string_data,
        r#type,
    } = secret;
    Ok(Out::new()
        .put("metadata", object_meta(metadata)?)
        .ptr("immutable", immutable)
        .put("data", bytes(data))
        .put("stringData", strings(string_data))
        .str("type", r#type)
        .done())
}

pub fn config_map(config_map: core::ConfigMap) -> Result<Value, ApiError> {
    let core::ConfigMap {
        metadata,
        immutable,
        data,
        binary_data,
    } = config_map;
    Ok(Out::new()
        .put("metadata", object_meta(metadata)?)
        .ptr("immutable", immutable)
        .map("data", data)
        .put("binaryData", bytes(binary_data))
        .done())
}

pub fn namespace(namespace: core::Namespace) -> Result<Value, ApiError> {
    let core::Namespace {
        metadata,
        spec,
        status,
    } = namespace;
    let spec = opt(spec, |core::NamespaceSpec { finalizers }| {
        Ok(Out::new().strs("finalizers", finalizers).done())
    })?;
    let status = opt(status, |core::NamespaceStatus { phase, conditions }| {
        Ok(Out::new()
            .str("phase", phase)
            .put("conditions", each(conditions, namespace_condition)?)
            .done())
    })?;
    Ok(Out::new()
        .put("metadata", object_meta(metadata)?)
        .put("spec", spec)
        .put("status", status)
        .done())
}

fn namespace_condition(condition: core::NamespaceCondition) -> Result<Value, ApiError> {
    let core::NamespaceCondition {
        r#type,
        status,
        last_transition_time,
        reason,
        message,
    } = condition;
    Ok(Out::new()
        .str("type", r#type)
        .str("status", status)
        .put("lastTransitionTime", time(last_transition_time))
        .str("reason", reason)
        .str("message", message)
        .done())
}
