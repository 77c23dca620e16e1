//! Defaulting: `default` values fill missing properties, recursively, and `null` in a
//! non-nullable field is dropped (or replaced by its default), as the real server does when
//! it decodes a custom resource.

use serde_json::Value;

use super::schema;

/// Applies defaults below `value` for `node_schema`.
pub fn apply_defaults(value: &mut Value, node_schema: &Value) {
    match value {
        Value::Object(fields) => {
            if let Some(props) = schema::properties(node_schema) {
                for (name, prop_schema) in props {
                    let current = fields.get(name);
                    let is_disallowed_null =
                        matches!(current, Some(Value::Null)) && !schema::is_nullable(prop_schema);
                    if current.is_none() || is_disallowed_null {
                        match prop_schema.get("default") {
                            Some(default) => {
                                fields.insert(name.clone(), default.clone());
                            }
                            None if is_disallowed_null => {
                                fields.remove(name);
                            }
                            None => {}
                        }
                    }
                }
            }
            for (name, child) in fields.iter_mut() {
                if let Some(child_schema) = schema::child_schema(node_schema, name) {
                    apply_defaults(child, child_schema);
                }
            }
        }
        Value::Array(list) => {
            if let Some(item_schema) = schema::items(node_schema) {
                for item in list {
                    apply_defaults(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_properties_get_defaults_recursively() {
        let s = json!({"type": "object", "properties": {"scaling": {"type": "object", "default": {},
            "properties": {"minIdle": {"type": "integer", "default": 0},
                           "maxAgents": {"type": "integer", "default": 10}}}}});
        let mut v = json!({});
        apply_defaults(&mut v, &s);
        assert_eq!(v, json!({"scaling": {"minIdle": 0, "maxAgents": 10}}));
        let mut v = json!({"scaling": {"maxAgents": 3}});
        apply_defaults(&mut v, &s);
        assert_eq!(v, json!({"scaling": {"minIdle": 0, "maxAgents": 3}}));
    }

    #[test]
    fn null_is_dropped_or_defaulted_unless_nullable() {
        let s = json!({"type": "object", "properties": {
            "a": {"type": "string", "default": "x"},
            "b": {"type": "string"},
            "c": {"type": "string", "nullable": true, "default": "y"}}});
        let mut v = json!({"a": null, "b": null, "c": null});
        apply_defaults(&mut v, &s);
        assert_eq!(v, json!({"a": "x", "c": null}));
    }

    #[test]
    fn list_items_are_defaulted() {
        let s = json!({"type": "array", "items": {"type": "object",
            "properties": {"p": {"type": "string", "default": "TCP"}}}});
        let mut v = json!([{}, {"p": "UDP"}]);
        apply_defaults(&mut v, &s);
        assert_eq!(v, json!([{"p": "TCP"}, {"p": "UDP"}]));
    }
}
