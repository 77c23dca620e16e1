//! Building the JSON form of a decoded object: the omission rules of the real server's JSON
//! (`omitempty` for strings, slices, maps and non-pointer numbers and booleans; pointers are
//! written whenever set, even as `false` or `0`), and the refusal of fields kube-sim does not
//! convert.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object under construction.
#[derive(Default)]
pub struct Out(Map<String, Value>);

impl Out {
    pub fn new() -> Self {
        Self::default()
    }

    /// Any value, omitted when null or empty (`""`, `[]`, `{}`).
    pub fn put(mut self, key: &str, value: Value) -> Self {
        let empty = match &value {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if !empty {
            self.0.insert(key.to_owned(), value);
        }
        self
    }

    /// A message that is set, written even when all its fields are empty (`emptyDir: {}`);
    /// omitted only when unset (null).
    pub fn keep(mut self, key: &str, value: Value) -> Self {
        if !value.is_null() {
            self.0.insert(key.to_owned(), value);
        }
        self
    }

    /// A string, omitted when unset or empty.
    pub fn str(self, key: &str, value: Option<String>) -> Self {
        self.put(key, value.map_or(Value::Null, Value::from))
    }

    /// A list of strings, omitted when empty.
    pub fn strs(self, key: &str, value: Vec<String>) -> Self {
        self.put(key, Value::from(value))
    }

    /// A string map, omitted when empty.
    pub fn map(self, key: &str, value: BTreeMap<String, String>) -> Self {
        self.put(key, strings(value))
    }

    /// A pointer field (`*bool`, `*int64`): written whenever it is set, even as `false` or `0`.
    pub fn ptr(mut self, key: &str, value: Option<impl Into<Value>>) -> Self {
        if let Some(value) = value {
            self.0.insert(key.to_owned(), value.into());
        }
        self
    }

    /// A non-pointer `bool` with `omitempty`: written only when true.
    pub fn flag(self, key: &str, value: Option<bool>) -> Self {
        self.ptr(key, value.filter(|b| *b))
    }

    /// A non-pointer number with `omitempty`: written only when not zero.
    pub fn num(self, key: &str, value: Option<impl Into<i64>>) -> Self {
        self.ptr(key, value.map(Into::into).filter(|n| *n != 0))
    }

    /// The finished object.
    pub fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// A string map as a JSON object.
pub fn strings(map: BTreeMap<String, String>) -> Value {
    Value::Object(map.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
}

/// A `bytes` map: base64 values, as the API server writes them.
pub fn bytes(map: BTreeMap<String, Vec<u8>>) -> Value {
    let engine = base64::engine::general_purpose::STANDARD;
    Value::Object(
        map.into_iter()
            .map(|(k, v)| (k, Value::from(engine.encode(v))))
            .collect(),
    )
}

/// Converts every item of a repeated field.
pub fn each<T>(
    items: Vec<T>,
    convert: impl Fn(T) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    Ok(Value::Array(
        items.into_iter().map(convert).collect::<Result<_, _>>()?,
    ))
}

/// Converts an optional message (null when unset).
pub fn opt<T>(
    item: Option<T>,
    convert: impl Fn(T) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    item.map_or(Ok(Value::Null), convert)
}

/// Refuses a field kube-sim does not convert when the body sets it, naming it, instead of
/// silently dropping it.
pub fn refuse(field: &str, set: bool) -> Result<(), ApiError> {
    if set {
        return Err(ApiError::unsupported_protobuf(&format!(
            "kube-sim does not decode protobuf field {field}; send it as JSON"
        )));
    }
    Ok(())
}
