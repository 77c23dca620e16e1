//! Structural pruning: fields the schema does not declare are dropped silently, as the real
//! server does for every custom resource write.

use serde_json::Value;

use super::schema;

/// Prunes `value` (the whole object) against the version's root schema. `apiVersion`,
/// `kind` and `metadata` at the root are always kept.
pub fn prune_root(value: &mut Value, root_schema: &Value) {
    prune_object_fields(value, root_schema, true);
}

fn prune(value: &mut Value, node_schema: &Value) {
    match value {
        Value::Object(_) => {
            prune_object_fields(
                value,
                node_schema,
                schema::is_embedded_resource(node_schema),
            );
        }
        Value::Array(list) => {
            if let Some(item_schema) = schema::items(node_schema) {
                for item in list {
                    prune(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

fn prune_object_fields(value: &mut Value, node_schema: &Value, is_resource_root: bool) {
    let Value::Object(fields) = value else {
        return;
    };
    let preserve = schema::preserves_unknown_fields(node_schema);
    fields.retain(|key, _| {
        let keeps_resource_field =
            is_resource_root && matches!(key.as_str(), "apiVersion" | "kind" | "metadata");
        keeps_resource_field || preserve || schema::child_schema(node_schema, key).is_some()
    });
    for (key, child) in fields.iter_mut() {
        if is_resource_root && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(child_schema) = schema::child_schema(node_schema, key) {
            prune(child, child_schema);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_dropped_but_resource_fields_kept() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"a": {"type": "string"}}}}});
        let mut v = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
            "spec": {"a": "1", "b": 2}, "extra": true});
        prune_root(&mut v, &s);
        assert_eq!(
            v,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
            "spec": {"a": "1"}})
        );
    }

    #[test]
    fn preserve_unknown_fields_keeps_undeclared_fields() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"a": {"type": "object", "properties": {}}}}}});
        let mut v = json!({"spec": {"b": 2, "a": {"dropped": 1}}});
        prune_root(&mut v, &s);
        assert_eq!(v, json!({"spec": {"b": 2, "a": {}}}));
    }

    #[test]
    fn array_items_and_additional_properties_are_pruned() {
        let s = json!({"type": "object", "properties": {
            "list": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
            "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "integer"}}}}}});
        let mut v = json!({"list": [{"k": "a", "z": 1}], "map": {"x": {"v": 1, "w": 2}}});
        prune_root(&mut v, &s);
        assert_eq!(v, json!({"list": [{"k": "a"}], "map": {"x": {"v": 1}}}));
    }

    #[test]
    fn embedded_resources_keep_their_type_meta() {
        let s = json!({"type": "object", "properties": {"template": {"type": "object",
            "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}}}});
        let mut v = json!({"template": {"apiVersion": "v1", "kind": "Pod", "spec": {}, "junk": 1}});
        prune_root(&mut v, &s);
        assert_eq!(
            v,
            json!({"template": {"apiVersion": "v1", "kind": "Pod", "spec": {}}})
        );
    }
}
