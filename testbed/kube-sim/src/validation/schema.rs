//! Read-only accessors over an `openAPIV3Schema` node (a `serde_json::Value`), so the
//! passes below read like the apiextensions code they imitate.

use serde_json::{Map, Value};

/// Schema node of property `name`, if the node declares it.
pub fn property<'s>(schema: &'s Value, name: &str) -> Option<&'s Value> {
    schema.get("properties")?.get(name)
}

/// The declared `properties` of a node.
pub fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties")?.as_object()
}

/// The schema every unlisted property must satisfy (`additionalProperties: {schema}`).
pub fn additional_properties_schema(schema: &Value) -> Option<&Value> {
    schema.get("additionalProperties").filter(|s| s.is_object())
}

/// The schema of array items.
pub fn items(schema: &Value) -> Option<&Value> {
    schema.get("items").filter(|s| s.is_object())
}

/// The schema that applies to `key` of an object: a declared property, else
/// `additionalProperties`.
pub fn child_schema<'s>(schema: &'s Value, key: &str) -> Option<&'s Value> {
    property(schema, key).or_else(|| additional_properties_schema(schema))
}

/// `x-kubernetes-preserve-unknown-fields: true`.
pub fn preserves_unknown_fields(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-preserve-unknown-fields")
}

/// `x-kubernetes-embedded-resource: true` (the node is a whole object with its own
/// `apiVersion`, `kind` and `metadata`).
pub fn is_embedded_resource(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-embedded-resource")
}

/// `x-kubernetes-int-or-string: true`.
pub fn is_int_or_string(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-int-or-string")
}

/// `nullable: true`.
pub fn is_nullable(schema: &Value) -> bool {
    flag(schema, "nullable")
}

/// The declared `type`, if any.
pub fn type_name(schema: &Value) -> Option<&str> {
    schema.get("type")?.as_str()
}

/// A string-valued keyword.
pub fn str_keyword<'s>(schema: &'s Value, key: &str) -> Option<&'s str> {
    schema.get(key)?.as_str()
}

/// A non-negative integer keyword such as `maxLength`.
pub fn count_keyword(schema: &Value, key: &str) -> Option<u64> {
    schema.get(key)?.as_u64()
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The type name CEL errors print as the bad value (`"object"`, `"string"`, ...); the real
/// server prints the schema's type, empty when the schema has none.
pub fn cel_type_label(schema: &Value) -> String {
    type_name(schema).unwrap_or_default().to_owned()
}
