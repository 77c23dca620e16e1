//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which
//! kubectl sends for built-in types (`kubectl create secret generic`, `create configmap`,
//! `create namespace`). The envelope is the 4-byte magic `k8s\0` followed by a `runtime.Unknown`
//! holding the type (`apiVersion`, `kind`) and the object's own protobuf bytes; the types are
//! decoded with `k8s-pb` (kube-rs' generated prost types) and turned into the JSON the rest of
//! kube-sim stores. Kinds without a conversion here are answered 415, naming the ones that have one.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message as _;
use serde_json::{Map, Value, json};

use crate::error::ApiError;

/// The prefix of every protobuf-encoded Kubernetes object.
const MAGIC: &[u8] = b"k8s\0";

/// The media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Kinds this module decodes (`apiVersion`, `kind`).
const DECODED: &[(&str, &str)] = &[("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "Namespace")];

/// Decodes a protobuf request body into the object's JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let raw = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ApiError::bad_request("protobuf body without the k8s\\0 prefix"))?;
    let unknown = Unknown::decode(raw).map_err(|e| bad(&e))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    if unknown
        .content_encoding
        .as_deref()
        .is_some_and(|e| !e.is_empty())
    {
        return Err(ApiError::bad_request(format!(
            "protobuf body with contentEncoding {:?} is not supported",
            unknown.content_encoding
        )));
    }
    let object = unknown.raw.unwrap_or_default();
    let mut value = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => secret(core::Secret::decode(object.as_slice()).map_err(|e| bad(&e))?),
        ("v1", "ConfigMap") => {
            config_map(core::ConfigMap::decode(object.as_slice()).map_err(|e| bad(&e))?)
        }
        ("v1", "Namespace") => {
            namespace(core::Namespace::decode(object.as_slice()).map_err(|e| bad(&e))?)
        }
        _ => {
            let known: Vec<String> = DECODED.iter().map(|(v, k)| format!("{v} {k}")).collect();
            return Err(ApiError::unsupported_body_type(&format!(
                "{MEDIA_TYPE} for {api_version} {kind}; kube-sim decodes protobuf only for {}",
                known.join(", ")
            )));
        }
    };
    value["apiVersion"] = Value::from(api_version);
    value["kind"] = Value::from(kind);
    Ok(value)
}

fn bad(error: &prost::DecodeError) -> ApiError {
    ApiError::bad_request(format!("error decoding protobuf request body: {error}"))
}

/// Inserts `value` under `key` unless it is empty (the JSON form omits empty fields).
fn put(object: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty {
        object.insert(key.to_owned(), value);
    }
}

fn strings(map: BTreeMap<String, String>) -> Value {
    Value::Object(map.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
}

/// `bytes` maps are base64 in JSON, as the API server writes them.
fn bytes(map: BTreeMap<String, Vec<u8>>) -> Value {
    let engine = base64::engine::general_purpose::STANDARD;
    Value::Object(
        map.into_iter()
            .map(|(k, v)| (k, Value::from(engine.encode(v))))
            .collect(),
    )
}

fn object_meta(meta: Option<meta::ObjectMeta>) -> Value {
    let meta = meta.unwrap_or_default();
    let mut out = Map::new();
    put(&mut out, "name", json!(meta.name));
    put(&mut out, "generateName", json!(meta.generate_name));
    put(&mut out, "namespace", json!(meta.namespace));
    put(&mut out, "uid", json!(meta.uid));
    put(&mut out, "resourceVersion", json!(meta.resource_version));
    put(&mut out, "labels", strings(meta.labels));
    put(&mut out, "annotations", strings(meta.annotations));
    put(&mut out, "finalizers", json!(meta.finalizers));
    let owners: Vec<Value> = meta
        .owner_references
        .into_iter()
        .map(|owner| {
            let mut o = Map::new();
            put(&mut o, "apiVersion", json!(owner.api_version));
            put(&mut o, "kind", json!(owner.kind));
            put(&mut o, "name", json!(owner.name));
            put(&mut o, "uid", json!(owner.uid));
            if let Some(controller) = owner.controller {
                o.insert("controller".into(), json!(controller));
            }
            if let Some(block) = owner.block_owner_deletion {
                o.insert("blockOwnerDeletion".into(), json!(block));
            }
            Value::Object(o)
        })
        .collect();
    put(&mut out, "ownerReferences", Value::Array(owners));
    Value::Object(out)
}

fn secret(secret: core::Secret) -> Value {
    let mut out = Map::new();
    out.insert("metadata".into(), object_meta(secret.metadata));
    put(&mut out, "data", bytes(secret.data));
    put(&mut out, "stringData", strings(secret.string_data));
    put(&mut out, "type", json!(secret.r#type));
    if let Some(immutable) = secret.immutable {
        out.insert("immutable".into(), json!(immutable));
    }
    Value::Object(out)
}

fn config_map(config_map: core::ConfigMap) -> Value {
    let mut out = Map::new();
    out.insert("metadata".into(), object_meta(config_map.metadata));
    put(&mut out, "data", strings(config_map.data));
    put(&mut out, "binaryData", bytes(config_map.binary_data));
    if let Some(immutable) = config_map.immutable {
        out.insert("immutable".into(), json!(immutable));
    }
    Value::Object(out)
}

fn namespace(namespace: core::Namespace) -> Value {
    let mut out = Map::new();
    out.insert("metadata".into(), object_meta(namespace.metadata));
    let finalizers = namespace
        .spec
        .map(|spec| spec.finalizers)
        .unwrap_or_default();
    if !finalizers.is_empty() {
        out.insert("spec".into(), json!({ "finalizers": finalizers }));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(api_version: &str, kind: &str, object: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(object),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        [MAGIC.to_vec(), unknown.encode_to_vec()].concat()
    }

    #[test]
    fn a_secret_as_kubectl_sends_it_becomes_its_json_form() {
        let secret = core::Secret {
            metadata: Some(meta::ObjectMeta {
                name: Some("azp-pat".into()),
                namespace: Some("azp".into()),
                labels: BTreeMap::from([("team".into(), "ci".into())]),
                ..Default::default()
            }),
            data: BTreeMap::from([("token".into(), b"s3cr\xffet".to_vec())]),
            r#type: Some("Opaque".into()),
            ..Default::default()
        };
        let value = decode(&envelope("v1", "Secret", secret.encode_to_vec())).expect("decoded");
        assert_eq!(
            value,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "azp-pat", "namespace": "azp", "labels": {"team": "ci"}},
                "data": {"token": "czNjcv9ldA=="},
                "type": "Opaque",
            })
        );
    }

    #[test]
    fn a_config_map_and_a_namespace_are_decoded() {
        let config_map = core::ConfigMap {
            metadata: Some(meta::ObjectMeta {
                name: Some("settings".into()),
                ..Default::default()
            }),
            data: BTreeMap::from([("level".into(), "debug".into())]),
            ..Default::default()
        };
        let value = decode(&envelope("v1", "ConfigMap", config_map.encode_to_vec())).expect("cm");
        assert_eq!(value["data"], json!({"level": "debug"}));
        assert_eq!(value["metadata"], json!({"name": "settings"}));
        let namespace = core::Namespace {
            metadata: Some(meta::ObjectMeta {
                name: Some("azp".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let value = decode(&envelope("v1", "Namespace", namespace.encode_to_vec())).expect("ns");
        assert_eq!(
            value,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "azp"}})
        );
    }

    #[test]
    fn another_kind_is_415_naming_what_is_decoded_and_garbage_is_400() {
        let error = decode(&envelope("v1", "Pod", Vec::new())).expect_err("pod");
        let text = format!("{error:?}");
        assert!(text.contains("415"), "{text}");
        assert!(
            text.contains(
                "kube-sim decodes protobuf only for v1 Secret, v1 ConfigMap, v1 Namespace"
            ),
            "{text}"
        );
        let error = decode(b"{\"kind\":\"Secret\"}").expect_err("json");
        assert!(format!("{error:?}").contains("400"), "{error:?}");
        let error = decode(b"k8s\0\xff\xff\xff").expect_err("garbage");
        assert!(format!("{error:?}").contains("400"), "{error:?}");
    }
}
