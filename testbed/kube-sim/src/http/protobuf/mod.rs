//! Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which kubectl uses
//! for built-in types: request bodies of `kubectl create secret generic|configmap|namespace`
//! and `kubectl run`, and answers for clients that accept nothing else.
//!
//! The envelope is the 4-byte magic `k8s\0` followed by a `runtime.Unknown` holding the type
//! (`apiVersion`, `kind`) and the object's own protobuf bytes. Bodies are decoded with `k8s-pb`
//! (kube-rs' generated prost types) into exactly the JSON the real server would accept for the
//! same object: v1 Secret, ConfigMap, Namespace, Pod, Event and `events.k8s.io/v1` Event. Each
//! prost struct is destructured exhaustively, so a field added to `k8s-pb` does not compile
//! until it is converted or refused; a field kube-sim does not convert (pod affinity,
//! ephemeral containers, cloud volume sources, ...) is answered 415 naming it, never dropped.
//! Other kinds are answered 415 naming the decoded ones. Answers in protobuf (see `encode`) are
//! given for single Secrets, ConfigMaps and Namespaces; anything else asked only in protobuf is
//! answered 406.

mod container;
pub mod encode;
mod event;
mod json;
mod meta;
mod pod;
mod probe;
mod security;
mod simple;
mod volume;

use k8s_pb::api::core::v1 as core_v1;
use k8s_pb::api::events::v1 as events_v1;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::Value;

use crate::error::ApiError;

pub use encode::encodable;

/// The prefix of every protobuf-encoded Kubernetes object.
const MAGIC: &[u8] = b"k8s\0";

/// The media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Kinds this module decodes (`apiVersion`, `kind`).
pub const DECODED: &[(&str, &str)] = &[
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("v1", "Namespace"),
    ("v1", "Pod"),
    ("v1", "Event"),
    ("events.k8s.io/v1", "Event"),
];

/// Decodes a protobuf request body into the object's JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let raw = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ApiError::bad_request("protobuf body without the k8s\\0 prefix"))?;
    let Unknown {
        type_meta,
        raw: object,
        content_encoding,
        content_type: _,
    } = Unknown::decode(raw).map_err(|e| bad(&e))?;
    let TypeMeta { api_version, kind } = type_meta.unwrap_or_default();
    let (api_version, kind) = (api_version.unwrap_or_default(), kind.unwrap_or_default());
    if content_encoding.as_deref().is_some_and(|e| !e.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "protobuf body with contentEncoding {content_encoding:?} is not supported"
        )));
    }
    let object = object.unwrap_or_default();
    let mut value = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => simple::secret(parse(&object)?)?,
        ("v1", "ConfigMap") => simple::config_map(parse(&object)?)?,
        ("v1", "Namespace") => simple::namespace(parse(&object)?)?,
        ("v1", "Pod") => pod::pod(parse::<core_v1::Pod>(&object)?)?,
        ("v1", "Event") => event::core_event(parse::<core_v1::Event>(&object)?)?,
        ("events.k8s.io/v1", "Event") => event::events_event(parse::<events_v1::Event>(&object)?)?,
        _ => {
            return Err(ApiError::unsupported_protobuf(&format!(
                "{MEDIA_TYPE} for {api_version} {kind}; kube-sim decodes protobuf only for {}",
                names(DECODED)
            )));
        }
    };
    value["apiVersion"] = Value::from(api_version);
    value["kind"] = Value::from(kind);
    Ok(value)
}

fn parse<T: Message + Default>(object: &[u8]) -> Result<T, ApiError> {
    T::decode(object).map_err(|e| bad(&e))
}

fn bad(error: &prost::DecodeError) -> ApiError {
    ApiError::bad_request(format!("error decoding protobuf request body: {error}"))
}

/// `v1 Secret, v1 ConfigMap, ...`
pub fn names(kinds: &[(&str, &str)]) -> String {
    let names: Vec<String> = kinds.iter().map(|(v, k)| format!("{v} {k}")).collect();
    names.join(", ")
}

/// Encodes one stored object (JSON) as a protobuf answer body, envelope included.
pub fn encode(value: &Value) -> Result<Vec<u8>, ApiError> {
    let raw = encode::object(value)?;
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(String::from);
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: text("apiVersion"),
            kind: text("kind"),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    Ok([MAGIC.to_vec(), unknown.encode_to_vec()].concat())
}

/// What an `Accept` header lets kube-sim answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    /// JSON is acceptable (`application/json`, `*/*`, `application/*`, no header), or nothing
    /// kube-sim knows is named: answer JSON as always.
    Json,
    /// Only plain protobuf is acceptable.
    Protobuf,
    /// Only protobuf renderings (`as=Table`, ...) kube-sim does not produce.
    NotAcceptable,
}

/// Reads `Accept` the way the real server's negotiation does, for the media types kube-sim has.
pub fn negotiate(accept: &str) -> Negotiated {
    let mut protobuf = None;
    for media in accept.split(',') {
        let mut params = media.split(';').map(str::trim);
        let base = params.next().unwrap_or("");
        if matches!(base, "application/json" | "*/*" | "application/*") || base.is_empty() {
            return Negotiated::Json;
        }
        if base == MEDIA_TYPE {
            let rendering = params.any(|p| p.starts_with("as="));
            if !rendering || protobuf.is_none() {
                protobuf = Some(if rendering {
                    Negotiated::NotAcceptable
                } else {
                    Negotiated::Protobuf
                });
            }
        }
    }
    protobuf.unwrap_or(Negotiated::Json)
}

#[cfg(test)]
mod tests;
