//! One test per keyword and CEL feature, asserting the exact messages a client sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::validate_custom_resource;

/// A resource with `spec` validated by `spec_schema`.
fn schema_with_spec(spec_schema: Value) -> Value {
    json!({"type": "object", "properties": {"spec": spec_schema}})
}

fn object(spec: Value) -> Value {
    json!({"apiVersion": "test.azp.dev/v1", "kind": "Thing", "metadata": {"name": "thing"}, "spec": spec})
}

/// Validates `spec` under `spec_schema` on create and returns the error text, if any.
fn create_error(spec_schema: Value, spec: Value) -> Option<String> {
    let schema = schema_with_spec(spec_schema);
    let mut obj = object(spec);
    validate_custom_resource(&schema, &mut obj, None)
        .err()
        .map(|e| e.to_string())
}

fn field(schema: Value) -> Value {
    json!({"type": "object", "properties": {"x": schema}})
}

#[test]
fn valid_object_passes_and_is_pruned_and_defaulted() {
    let schema = schema_with_spec(json!({"type": "object", "properties": {
        "pool": {"type": "string"}, "max": {"type": "integer", "default": 5}}}));
    let mut obj = object(json!({"pool": "p", "unknown": 1}));
    validate_custom_resource(&schema, &mut obj, None).unwrap();
    assert_eq!(obj["spec"], json!({"pool": "p", "max": 5}));
    assert_eq!(obj["metadata"]["name"], "thing");
}

#[test]
fn minimum_names_field_and_bound() {
    let s = json!({"type": "object", "properties": {"scaling": {"type": "object", "properties": {
        "maxAgents": {"type": "integer", "minimum": 1}}}}});
    assert_eq!(
        create_error(s, json!({"scaling": {"maxAgents": 0}})).unwrap(),
        "spec.scaling.maxAgents: Invalid value: 0: spec.scaling.maxAgents in body should be greater than or equal to 1"
    );
}

#[test]
fn maximum_and_exclusive_bounds() {
    let s = field(
        json!({"type": "number", "maximum": 10, "exclusiveMaximum": true, "minimum": 0, "exclusiveMinimum": true}),
    );
    assert_eq!(
        create_error(s.clone(), json!({"x": 10})).unwrap(),
        "spec.x: Invalid value: 10: spec.x in body should be less than 10"
    );
    assert_eq!(
        create_error(s.clone(), json!({"x": 0})).unwrap(),
        "spec.x: Invalid value: 0: spec.x in body should be greater than 0"
    );
    assert_eq!(create_error(s, json!({"x": 9.5})), None);
    let inclusive = field(json!({"type": "integer", "maximum": 3}));
    assert_eq!(
        create_error(inclusive, json!({"x": 4})).unwrap(),
        "spec.x: Invalid value: 4: spec.x in body should be less than or equal to 3"
    );
}

#[test]
fn multiple_of() {
    let s = field(json!({"type": "integer", "multipleOf": 5}));
    assert_eq!(
        create_error(s.clone(), json!({"x": 7})).unwrap(),
        "spec.x: Invalid value: 7: spec.x in body should be a multiple of 5"
    );
    assert_eq!(create_error(s, json!({"x": 10})), None);
}

#[test]
fn integer_rejects_fractions_but_number_accepts_integers() {
    assert_eq!(
        create_error(field(json!({"type": "integer"})), json!({"x": 1.5})).unwrap(),
        "spec.x: Invalid value: \"number\": spec.x in body must be of type integer: \"number\""
    );
    assert_eq!(
        create_error(field(json!({"type": "number"})), json!({"x": 1})),
        None
    );
    assert_eq!(
        create_error(field(json!({"type": "string"})), json!({"x": 1})).unwrap(),
        "spec.x: Invalid value: \"integer\": spec.x in body must be of type string: \"integer\""
    );
    assert_eq!(
        create_error(field(json!({"type": "boolean"})), json!({"x": "true"})).unwrap(),
        "spec.x: Invalid value: \"string\": spec.x in body must be of type boolean: \"string\""
    );
}

#[test]
fn null_is_rejected_only_where_nullable_is_false_and_it_was_not_pruned() {
    // A non-nullable null inside an object is dropped (the real server prunes it).
    let s = json!({"type": "object", "properties": {"x": {"type": "string"}}});
    let schema = schema_with_spec(s);
    let mut obj = object(json!({"x": null}));
    validate_custom_resource(&schema, &mut obj, None).unwrap();
    assert_eq!(obj["spec"], json!({}));
    // In a list it stays and is a type error.
    let list = field(json!({"type": "array", "items": {"type": "string"}}));
    assert_eq!(
        create_error(list, json!({"x": ["a", null]})).unwrap(),
        "spec.x[1]: Invalid value: \"null\": spec.x[1] in body must be of type string: \"null\""
    );
    let nullable = field(json!({"type": "array", "items": {"type": "string", "nullable": true}}));
    assert_eq!(create_error(nullable, json!({"x": ["a", null]})), None);
}

#[test]
fn required_fields() {
    let s =
        json!({"type": "object", "required": ["pool"], "properties": {"pool": {"type": "string"}}});
    assert_eq!(
        create_error(s, json!({})).unwrap(),
        "spec.pool: Required value"
    );
    let root =
        json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object"}}});
    let mut obj = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n"}});
    let err = validate_custom_resource(&root, &mut obj, None).unwrap_err();
    assert_eq!(err.to_string(), "spec: Required value");
}

#[test]
fn enum_lists_supported_values() {
    let s = field(json!({"type": "string", "enum": ["Always", "Never"]}));
    assert_eq!(
        create_error(s.clone(), json!({"x": "Sometimes"})).unwrap(),
        "spec.x: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\""
    );
    assert_eq!(create_error(s, json!({"x": "Never"})), None);
}

#[test]
fn string_lengths() {
    let s = field(json!({"type": "string", "minLength": 2, "maxLength": 3}));
    assert_eq!(
        create_error(s.clone(), json!({"x": "a"})).unwrap(),
        "spec.x: Invalid value: \"a\": spec.x in body should be at least 2 chars long"
    );
    assert_eq!(
        create_error(s.clone(), json!({"x": "abcd"})).unwrap(),
        "spec.x: Too long: may not be more than 3 bytes"
    );
    // Lengths count characters, not bytes.
    assert_eq!(create_error(s, json!({"x": "äöü"})), None);
}

#[test]
fn pattern_is_matched() {
    let s = field(json!({"type": "string", "pattern": "^[a-z]+$"}));
    assert_eq!(
        create_error(s.clone(), json!({"x": "Abc"})).unwrap(),
        "spec.x: Invalid value: \"Abc\": spec.x in body should match '^[a-z]+$'"
    );
    assert_eq!(create_error(s, json!({"x": "abc"})), None);
}

#[test]
fn pattern_that_cannot_compile_is_rejected_not_ignored() {
    let s = field(json!({"type": "string", "pattern": "^(?=a)"}));
    let err = create_error(s, json!({"x": "a"})).unwrap();
    assert!(err.contains("unsupported in kube-sim"), "{err}");
}

#[test]
fn formats() {
    let date = field(json!({"type": "string", "format": "date-time"}));
    assert_eq!(
        create_error(date.clone(), json!({"x": "yesterday"})).unwrap(),
        "spec.x: Invalid value: \"yesterday\": spec.x in body must be of type date-time: \"yesterday\""
    );
    assert_eq!(
        create_error(date, json!({"x": "2026-01-01T00:00:00Z"})),
        None
    );
    let int32 = field(json!({"type": "integer", "format": "int32"}));
    assert_eq!(
        create_error(int32, json!({"x": 2147483648u64})).unwrap(),
        "spec.x: Invalid value: 2147483648: spec.x in body must be of type int32: \"2147483648\""
    );
    let uri = field(json!({"type": "string", "format": "uri"}));
    assert!(create_error(uri, json!({"x": "no uri"})).is_some());
}

#[test]
fn item_counts_and_uniqueness() {
    let s = field(
        json!({"type": "array", "minItems": 1, "maxItems": 2, "uniqueItems": true, "items": {"type": "integer"}}),
    );
    assert_eq!(
        create_error(s.clone(), json!({"x": []})).unwrap(),
        "spec.x: Invalid value: []: spec.x in body should have at least 1 items"
    );
    assert_eq!(
        create_error(s.clone(), json!({"x": [1, 2, 3]})).unwrap(),
        "spec.x: Too many: 3: must have at most 2 items"
    );
    assert_eq!(
        create_error(s, json!({"x": [1, 1]})).unwrap(),
        "spec.x: Invalid value: [1,1]: spec.x in body shouldn't contain duplicates"
    );
}

#[test]
fn list_items_are_validated_with_indexed_paths() {
    let s = field(
        json!({"type": "array", "items": {"type": "object", "required": ["name"],
        "properties": {"name": {"type": "string"}}}}),
    );
    assert_eq!(
        create_error(s, json!({"x": [{"name": "a"}, {}]})).unwrap(),
        "spec.x[1].name: Required value"
    );
}

#[test]
fn property_counts() {
    let s = field(
        json!({"type": "object", "minProperties": 1, "maxProperties": 2,
        "additionalProperties": {"type": "string"}}),
    );
    assert_eq!(
        create_error(s.clone(), json!({"x": {}})).unwrap(),
        "spec.x: Invalid value: {}: spec.x in body should have at least 1 properties"
    );
    assert_eq!(
        create_error(s, json!({"x": {"a": "1", "b": "2", "c": "3"}})).unwrap(),
        "spec.x: Too many: 3: must have at most 2 items"
    );
}

#[test]
fn additional_properties_schema_validates_values() {
    let s = field(json!({"type": "object", "additionalProperties": {"type": "string"}}));
    assert_eq!(
        create_error(s, json!({"x": {"buildkit": true}})).unwrap(),
        "spec.x.buildkit: Invalid value: \"boolean\": spec.x.buildkit in body must be of type string: \"boolean\""
    );
}

#[test]
fn additional_properties_false_forbids_preserved_unknown_fields() {
    let s = field(
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
        "additionalProperties": false, "properties": {"a": {"type": "string"}}}),
    );
    assert_eq!(
        create_error(s, json!({"x": {"a": "1", "b": 2}})).unwrap(),
        "spec.x.b: Forbidden: spec.x.b in body is a forbidden property"
    );
}

#[test]
fn any_of_one_of_all_of_not() {
    let any = field(json!({"type": "string", "anyOf": [{"pattern": "^a"}, {"pattern": "^b"}]}));
    assert_eq!(create_error(any.clone(), json!({"x": "bee"})), None);
    assert_eq!(
        create_error(any, json!({"x": "cat"})).unwrap(),
        "spec.x: Invalid value: \"cat\": spec.x in body must validate at least one schema (anyOf)"
    );
    let one = field(json!({"type": "string", "oneOf": [{"pattern": "a"}, {"pattern": "b"}]}));
    assert_eq!(create_error(one.clone(), json!({"x": "a"})), None);
    assert_eq!(
        create_error(one, json!({"x": "ab"})).unwrap(),
        "spec.x: Invalid value: \"ab\": spec.x in body must validate one and only one schema (oneOf)"
    );
    let all = field(json!({"type": "string", "allOf": [{"minLength": 2}]}));
    assert_eq!(
        create_error(all, json!({"x": "a"})).unwrap(),
        "[spec.x: Invalid value: \"a\": spec.x in body must validate all the schemas (allOf), \
         spec.x: Invalid value: \"a\": spec.x in body should be at least 2 chars long]"
    );
    let not = field(json!({"type": "string", "not": {"enum": ["root"]}}));
    assert_eq!(
        create_error(not, json!({"x": "root"})).unwrap(),
        "spec.x: Invalid value: \"root\": spec.x in body must not validate the schema (not)"
    );
}

#[test]
fn int_or_string() {
    let s = field(json!({"x-kubernetes-int-or-string": true,
        "anyOf": [{"type": "integer"}, {"type": "string"}]}));
    assert_eq!(create_error(s.clone(), json!({"x": 3})), None);
    assert_eq!(create_error(s.clone(), json!({"x": "50%"})), None);
    assert_eq!(
        create_error(s, json!({"x": true})).unwrap(),
        "spec.x: Invalid value: \"boolean\": spec.x in body must be of type integer,string: \"boolean\""
    );
}

#[test]
fn list_type_set_and_map_reject_duplicates() {
    let set = field(
        json!({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}),
    );
    assert_eq!(
        create_error(set, json!({"x": ["a", "b", "a"]})).unwrap(),
        "spec.x[2]: Duplicate value: \"a\""
    );
    let map = field(json!({"type": "array", "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}}));
    assert_eq!(
        create_error(
            map.clone(),
            json!({"x": [{"name": "a", "v": 1}, {"name": "a", "v": 2}]})
        )
        .unwrap(),
        "spec.x[1]: Duplicate value: {\"name\":\"a\"}"
    );
    assert_eq!(
        create_error(map, json!({"x": [{"name": "a"}, {"name": "b"}]})),
        None
    );
}

#[test]
fn metadata_name_must_be_a_dns_subdomain() {
    let schema = schema_with_spec(json!({"type": "object"}));
    let mut obj = object(json!({}));
    obj["metadata"]["name"] = json!("Bad_Name");
    let err = validate_custom_resource(&schema, &mut obj, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        ),
        "{err}"
    );
    let mut unnamed = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {}, "spec": {}});
    assert_eq!(
        validate_custom_resource(&schema, &mut unnamed, None)
            .unwrap_err()
            .to_string(),
        "metadata.name: Required value: name or generateName is required"
    );
}

#[test]
fn several_errors_are_all_reported() {
    let s = json!({"type": "object", "required": ["a", "b"], "properties": {
        "a": {"type": "string"}, "b": {"type": "string"}}});
    assert_eq!(
        create_error(s, json!({})).unwrap(),
        "[spec.a: Required value, spec.b: Required value]"
    );
}

// ---- CEL ----

fn scaling_with_rule(rule: Value) -> Value {
    json!({"type": "object", "properties": {"scaling": {"type": "object",
        "x-kubernetes-validations": [rule],
        "properties": {"minIdle": {"type": "integer"}, "maxAgents": {"type": "integer"}}}}})
}

#[test]
fn cel_rule_with_message() {
    let spec = json!({"type": "object", "x-kubernetes-validations": [
        {"rule": "self.minIdle <= self.maxAgents", "message": "minIdle must be less than or equal to maxAgents"}],
        "properties": {"minIdle": {"type": "integer"}, "maxAgents": {"type": "integer"}}});
    assert_eq!(
        create_error(spec.clone(), json!({"minIdle": 5, "maxAgents": 2})).unwrap(),
        "spec: Invalid value: \"object\": minIdle must be less than or equal to maxAgents"
    );
    assert_eq!(
        create_error(spec, json!({"minIdle": 1, "maxAgents": 2})),
        None
    );
}

#[test]
fn cel_rule_without_message_quotes_the_rule() {
    let s = scaling_with_rule(json!({"rule": "self.minIdle <= self.maxAgents"}));
    assert_eq!(
        create_error(s, json!({"scaling": {"minIdle": 3, "maxAgents": 1}})).unwrap(),
        "spec.scaling: Invalid value: \"object\": failed rule: self.minIdle <= self.maxAgents"
    );
}

#[test]
fn cel_message_expression() {
    let s = scaling_with_rule(json!({"rule": "self.minIdle <= self.maxAgents",
        "messageExpression": "'minIdle ' + string(self.minIdle) + ' exceeds maxAgents ' + string(self.maxAgents)"}));
    assert_eq!(
        create_error(s, json!({"scaling": {"minIdle": 3, "maxAgents": 1}})).unwrap(),
        "spec.scaling: Invalid value: \"object\": minIdle 3 exceeds maxAgents 1"
    );
}

#[test]
fn cel_field_path_and_reason() {
    let s = scaling_with_rule(json!({"rule": "self.minIdle <= self.maxAgents",
        "message": "too many idle", "fieldPath": ".minIdle", "reason": "FieldValueForbidden"}));
    assert_eq!(
        create_error(s, json!({"scaling": {"minIdle": 3, "maxAgents": 1}})).unwrap(),
        "spec.scaling.minIdle: Forbidden: too many idle"
    );
}

#[test]
fn cel_transition_rule_runs_only_on_update() {
    let schema = schema_with_spec(
        json!({"type": "object", "properties": {"pool": {"type": "string",
        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "pool is immutable"}]}}}),
    );
    let mut created = object(json!({"pool": "a"}));
    validate_custom_resource(&schema, &mut created, None).unwrap();
    let mut same = object(json!({"pool": "a"}));
    validate_custom_resource(&schema, &mut same, Some(&created)).unwrap();
    let mut changed = object(json!({"pool": "b"}));
    let err = validate_custom_resource(&schema, &mut changed, Some(&created)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.pool: Invalid value: \"string\": pool is immutable"
    );
    // The old object lacks the field: no oldSelf, so the rule is skipped.
    let mut without_pool = object(json!({}));
    validate_custom_resource(&schema, &mut without_pool, None).unwrap();
    let mut added = object(json!({"pool": "c"}));
    validate_custom_resource(&schema, &mut added, Some(&without_pool)).unwrap();
}

#[test]
fn cel_transition_rule_correlates_map_list_items_by_key() {
    let schema = schema_with_spec(
        json!({"type": "object", "properties": {"x": {"type": "array",
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "x-kubernetes-validations": [{"rule": "self.v >= oldSelf.v", "message": "v may not decrease"}],
            "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}}}}}),
    );
    let mut old = object(json!({"x": [{"name": "a", "v": 2}, {"name": "b", "v": 5}]}));
    validate_custom_resource(&schema, &mut old, None).unwrap();
    let mut reordered =
        object(json!({"x": [{"name": "b", "v": 5}, {"name": "a", "v": 3}, {"name": "c", "v": 0}]}));
    validate_custom_resource(&schema, &mut reordered, Some(&old)).unwrap();
    let mut decreased = object(json!({"x": [{"name": "b", "v": 4}]}));
    assert_eq!(
        validate_custom_resource(&schema, &mut decreased, Some(&old))
            .unwrap_err()
            .to_string(),
        "spec.x[0]: Invalid value: \"object\": v may not decrease"
    );
}

#[test]
fn cel_has_macro_for_optional_fields() {
    let s = json!({"type": "object", "x-kubernetes-validations": [
        {"rule": "!has(self.apiEndpoint) || self.apiEndpoint.startsWith('https://')", "message": "apiEndpoint must be https"}],
        "properties": {"apiEndpoint": {"type": "string"}}});
    assert_eq!(create_error(s.clone(), json!({})), None);
    assert_eq!(
        create_error(s.clone(), json!({"apiEndpoint": "https://x"})),
        None
    );
    assert_eq!(
        create_error(s, json!({"apiEndpoint": "http://x"})).unwrap(),
        "spec: Invalid value: \"object\": apiEndpoint must be https"
    );
}

#[test]
fn cel_duration() {
    let s = field(json!({"type": "string", "x-kubernetes-validations": [
        {"rule": "duration(self) >= duration('5s')", "message": "must be at least 5s"}]}));
    assert_eq!(create_error(s.clone(), json!({"x": "1m"})), None);
    assert_eq!(
        create_error(s.clone(), json!({"x": "2s"})).unwrap(),
        "spec.x: Invalid value: \"string\": must be at least 5s"
    );
    let err = create_error(s, json!({"x": "soon"})).unwrap();
    assert!(
        err.starts_with("spec.x: Invalid value: \"string\": ")
            && err.ends_with("evaluating rule: duration(self) >= duration('5s')"),
        "{err}"
    );
}

#[test]
fn cel_duration_format_fields_are_durations() {
    let s = field(
        json!({"type": "string", "format": "duration", "x-kubernetes-validations": [
        {"rule": "self <= duration('1h')", "message": "at most an hour"}]}),
    );
    assert_eq!(create_error(s.clone(), json!({"x": "10m"})), None);
    assert_eq!(
        create_error(s, json!({"x": "2h"})).unwrap(),
        "spec.x: Invalid value: \"string\": at most an hour"
    );
}

#[test]
fn cel_url_library() {
    let s = field(json!({"type": "string", "x-kubernetes-validations": [
        {"rule": "isURL(self) && url(self).getScheme() in ['https', 'http']", "message": "must be an http(s) URL"},
        {"rule": "!isURL(self) || url(self).getHost() != ''", "message": "must have a host"}]}));
    assert_eq!(
        create_error(s.clone(), json!({"x": "https://dev.azure.com/contoso"})),
        None
    );
    assert_eq!(
        create_error(s.clone(), json!({"x": "ftp://example.com"})).unwrap(),
        "spec.x: Invalid value: \"string\": must be an http(s) URL"
    );
    assert_eq!(
        create_error(s, json!({"x": "not a url"})).unwrap(),
        "spec.x: Invalid value: \"string\": must be an http(s) URL"
    );
}

#[test]
fn cel_url_getters() {
    let rule = "url(self).getHostname() == 'example.com' && url(self).getPort() == '8443' \
                && url(self).getEscapedPath() == '/a/b' && url(self).getQuery()['q'] == ['1']";
    let s = field(json!({"type": "string", "x-kubernetes-validations": [{"rule": rule}]}));
    assert_eq!(
        create_error(s.clone(), json!({"x": "https://example.com:8443/a/b?q=1"})),
        None
    );
    assert!(create_error(s, json!({"x": "https://example.com/a/b?q=1"})).is_some());
}

#[test]
fn cel_string_functions() {
    let s = field(json!({"type": "string", "x-kubernetes-validations": [
        {"rule": "self.startsWith('eks-')", "message": "prefix"},
        {"rule": "self.endsWith('-linux')", "message": "suffix"},
        {"rule": "self.matches('^[a-z-]+$')", "message": "charset"},
        {"rule": "size(self) <= 12", "message": "length"},
        {"rule": "self.lowerAscii() == self", "message": "lowercase"}]}));
    assert_eq!(create_error(s.clone(), json!({"x": "eks-linux"})), None);
    assert_eq!(
        create_error(s, json!({"x": "aks-Windows-2022"})).unwrap(),
        "[spec.x: Invalid value: \"string\": prefix, spec.x: Invalid value: \"string\": suffix, \
         spec.x: Invalid value: \"string\": charset, spec.x: Invalid value: \"string\": length, \
         spec.x: Invalid value: \"string\": lowercase]"
    );
}

#[test]
fn cel_list_macros_and_item_rules() {
    let s = field(json!({"type": "array", "x-kubernetes-validations": [
        {"rule": "self.all(i, i.size() > 0)", "message": "no empty entries"}],
        "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self != 'root'", "message": "no root"}]}}));
    assert_eq!(create_error(s.clone(), json!({"x": ["a", "b"]})), None);
    assert_eq!(
        create_error(s, json!({"x": ["a", "root", ""]})).unwrap(),
        "[spec.x: Invalid value: \"array\": no empty entries, spec.x[1]: Invalid value: \"string\": no root]"
    );
}

#[test]
fn cel_regex_find() {
    let s = field(json!({"type": "string", "x-kubernetes-validations": [
        {"rule": "self.find('[0-9]+') == '42' && size(self.findAll('[a-z]')) == 2"}]}));
    assert_eq!(create_error(s.clone(), json!({"x": "ab42"})), None);
    assert!(create_error(s, json!({"x": "ab43"})).is_some());
}

#[test]
fn cel_sees_escaped_property_names_but_raw_map_keys() {
    let s = json!({"type": "object", "x-kubernetes-validations": [
        {"rule": "self.x__dash__y == 1 && self.__if__ == 2 && self.labels['a-b'] == 'c'"}],
        "properties": {"x-y": {"type": "integer"}, "if": {"type": "integer"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}});
    assert_eq!(
        create_error(
            s.clone(),
            json!({"x-y": 1, "if": 2, "labels": {"a-b": "c"}})
        ),
        None
    );
    assert!(create_error(s, json!({"x-y": 0, "if": 2, "labels": {"a-b": "c"}})).is_some());
}

#[test]
fn cel_number_fields_are_doubles() {
    let s = field(json!({"type": "number", "x-kubernetes-validations": [{"rule": "self > 0.5"}]}));
    assert_eq!(create_error(s.clone(), json!({"x": 1})), None);
    assert!(create_error(s, json!({"x": 0})).is_some());
}

#[test]
fn cel_root_rules_see_metadata_name() {
    let schema = json!({"type": "object", "x-kubernetes-validations": [
        {"rule": "self.metadata.name.startsWith('azp-')", "message": "name must start with azp-"},
        {"rule": "!has(self.metadata.labels)", "message": "labels are hidden from rules"}],
        "properties": {"spec": {"type": "object"}}});
    let mut good = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "azp-x", "labels": {"a": "b"}}, "spec": {}});
    validate_custom_resource(&schema, &mut good, None).unwrap();
    assert_eq!(
        good["metadata"]["labels"]["a"], "b",
        "stored metadata is untouched"
    );
    let mut bad = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {}});
    assert_eq!(
        validate_custom_resource(&schema, &mut bad, None)
            .unwrap_err()
            .to_string(),
        "<nil>: Invalid value: \"object\": name must start with azp-"
    );
}

#[test]
fn cel_unsupported_function_is_rejected_never_ignored() {
    let s = field(json!({"type": "string", "x-kubernetes-validations": [
        {"rule": "self == '' || isQuantity(self)"}]}));
    // Even though the short-circuit would never call it, the rule is refused.
    assert_eq!(
        create_error(s, json!({"x": ""})).unwrap(),
        "spec.x: Invalid value: \"string\": rule \"self == '' || isQuantity(self)\" is unsupported in kube-sim: function isQuantity is not implemented"
    );
}

#[test]
fn cel_rule_that_does_not_compile_is_rejected() {
    let s = field(json!({"type": "string", "x-kubernetes-validations": [{"rule": "self ==="}]}));
    let err = create_error(s, json!({"x": "a"})).unwrap();
    assert!(
        err.starts_with("spec.x: Invalid value: \"string\": rule \"self ===\" is unsupported in kube-sim: compilation failed"),
        "{err}"
    );
}

#[test]
fn cel_missing_field_is_an_evaluation_error() {
    let s = scaling_with_rule(json!({"rule": "self.minIdle <= self.maxAgents"}));
    assert_eq!(
        create_error(s, json!({"scaling": {"maxAgents": 1}})).unwrap(),
        "spec.scaling: Invalid value: \"object\": No such key: minIdle evaluating rule: self.minIdle <= self.maxAgents"
    );
}

#[test]
fn cel_runs_after_schema_errors_are_fixed() {
    let s = json!({"type": "object", "required": ["pool"], "x-kubernetes-validations": [{"rule": "false", "message": "never"}],
        "properties": {"pool": {"type": "string"}}});
    assert_eq!(
        create_error(s.clone(), json!({})).unwrap(),
        "spec.pool: Required value"
    );
    assert_eq!(
        create_error(s, json!({"pool": "p"})).unwrap(),
        "spec: Invalid value: \"object\": never"
    );
}

// ---- a schema generated by kube's derive, as the operator's CRD is ----

mod kube_derived {
    use super::*;
    use kube::CustomResourceExt;
    use kube::{CustomResource, KubeSchema};
    use serde::{Deserialize, Serialize};

    #[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug)]
    #[kube(group = "test.azp.dev", version = "v1", kind = "Pool", namespaced)]
    #[x_kube(validation = Rule::new("self.scaling.minIdle <= self.scaling.maxAgents").message("minIdle must be less than or equal to maxAgents"))]
    pub struct PoolSpec {
        pub pool: String,
        #[serde(default)]
        pub scaling: Scaling,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub api_endpoint: Option<String>,
        #[serde(default)]
        pub capabilities: std::collections::BTreeMap<String, String>,
    }

    #[derive(KubeSchema, Serialize, Deserialize, Clone, Debug)]
    #[serde(rename_all = "camelCase")]
    pub struct Scaling {
        #[serde(default)]
        pub min_idle: u32,
        #[serde(default = "default_max")]
        pub max_agents: u16,
        pub weight: Option<f64>,
    }

    impl Default for Scaling {
        fn default() -> Self {
            Self {
                min_idle: 0,
                max_agents: default_max(),
                weight: None,
            }
        }
    }

    fn default_max() -> u16 {
        10
    }

    fn served_schema() -> Value {
        let crd = serde_json::to_value(Pool::crd()).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    fn pool(spec: Value) -> Value {
        json!({"apiVersion": "test.azp.dev/v1", "kind": "Pool", "metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
    }

    #[test]
    fn valid_pool_round_trips_into_the_rust_type_with_defaults() {
        let schema = served_schema();
        let mut obj =
            pool(json!({"pool": "eks", "scaling": {"weight": null}, "apiEndpoint": null}));
        validate_custom_resource(&schema, &mut obj, None).unwrap();
        let typed: Pool = serde_json::from_value(obj).unwrap();
        assert_eq!(typed.spec.scaling.max_agents, 10);
        assert_eq!(typed.spec.scaling.weight, None);
    }

    #[test]
    fn cel_rule_from_the_derive_rejects_with_its_message() {
        let schema = served_schema();
        let mut obj = pool(json!({"pool": "eks", "scaling": {"minIdle": 11}}));
        assert_eq!(
            validate_custom_resource(&schema, &mut obj, None)
                .unwrap_err()
                .to_string(),
            "spec: Invalid value: \"object\": minIdle must be less than or equal to maxAgents"
        );
    }

    #[test]
    fn integer_formats_and_required_fields_from_the_derive() {
        let schema = served_schema();
        let mut obj =
            pool(json!({"scaling": {"maxAgents": 70000, "minIdle": -1}, "capabilities": {"a": 1}}));
        let err = validate_custom_resource(&schema, &mut obj, None).unwrap_err();
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"spec.pool"), "{err}");
        assert!(fields.contains(&"spec.scaling.maxAgents"), "{err}");
        assert!(fields.contains(&"spec.scaling.minIdle"), "{err}");
        assert!(fields.contains(&"spec.capabilities.a"), "{err}");
    }

    #[test]
    fn nullable_option_accepts_null_and_typed_values() {
        let schema = served_schema();
        assert_eq!(
            schema.pointer("/properties/spec/properties/scaling/properties/weight/nullable"),
            Some(&json!(true))
        );
        let mut obj = pool(json!({"pool": "eks", "scaling": {"weight": null}}));
        validate_custom_resource(&schema, &mut obj, None).unwrap();
        assert_eq!(
            obj["spec"]["scaling"]["weight"],
            Value::Null,
            "a nullable null is kept"
        );
        assert!(obj["spec"]["scaling"].get("weight").is_some());
        let mut obj = pool(json!({"pool": "eks", "scaling": {"weight": 0.5}}));
        validate_custom_resource(&schema, &mut obj, None).unwrap();
        let mut wrong = pool(json!({"pool": "eks", "scaling": {"weight": "heavy"}}));
        let err = validate_custom_resource(&schema, &mut wrong, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("spec.scaling.weight: Invalid value: \"string\""),
            "{err}"
        );
    }

    /// End to end: the CRD is registered through the API and a client gets the 422.
    #[tokio::test]
    async fn api_server_rejects_a_resource_breaking_schema_or_cel_rule() {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        use kube::api::{Api, DynamicObject, PostParams};
        use kube::core::ApiResource;

        let server = crate::RunningKubeSim::start(
            crate::KubeSimConfig::default(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let client = server.client().await;
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &Pool::crd())
            .await
            .unwrap();
        let resource = ApiResource::erase::<Pool>(&());
        let pools: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
        let create = |spec: Value| {
            let obj: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "test.azp.dev/v1", "kind": "Pool", "metadata": {"name": "p"}, "spec": spec}))
            .unwrap();
            let pools = pools.clone();
            async move { pools.create(&PostParams::default(), &obj).await }
        };

        let Err(kube::Error::Api(cel)) =
            create(json!({"pool": "eks", "scaling": {"minIdle": 11}})).await
        else {
            panic!("a CEL violation must be rejected");
        };
        assert_eq!(cel.code, 422);
        assert_eq!(
            cel.message,
            "Pool.test.azp.dev \"p\" is invalid: spec: Invalid value: \"object\": minIdle must be less than or equal to maxAgents"
        );

        let Err(kube::Error::Api(schema)) =
            create(json!({"pool": "eks", "scaling": {"maxAgents": 70000}})).await
        else {
            panic!("a schema violation must be rejected");
        };
        assert_eq!(schema.code, 422);
        assert_eq!(
            schema.message,
            "Pool.test.azp.dev \"p\" is invalid: spec.scaling.maxAgents: Invalid value: 70000: \
             spec.scaling.maxAgents in body should be less than or equal to 65535"
        );

        let stored = create(json!({"pool": "eks", "unknown": true}))
            .await
            .unwrap();
        assert_eq!(stored.data["spec"]["scaling"]["maxAgents"], 10, "defaulted");
        assert!(stored.data["spec"].get("unknown").is_none(), "pruned");
        server.shutdown().await;
    }
}

// ---- the project's own CRD, as `azp-operator crd` generates it ----

mod project_crd {
    use super::*;

    fn agentpool_schema() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../crds/agentpool.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let crd: Value = serde_yaml::from_str(&text).unwrap();
        let versions = crd["spec"]["versions"].as_array().unwrap();
        let storage = versions.iter().find(|v| v["storage"] == true).unwrap();
        storage["schema"]["openAPIV3Schema"].clone()
    }

    fn agent_pool(spec: Value) -> Value {
        json!({"apiVersion": "azp.dev/v1alpha1", "kind": "AgentPool",
               "metadata": {"name": "linux", "namespace": "ci"}, "spec": spec})
    }

    fn minimal_spec() -> Value {
        json!({"organization": "https://dev.azure.com/contoso", "pool": "eks-linux",
               "auth": {"patSecretRef": {"name": "azp-pat"}}, "agent": {"image": "agent:1"}})
    }

    fn collect_rules(node: &Value, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                    out.extend(
                        rules
                            .iter()
                            .filter_map(|r| r["rule"].as_str())
                            .map(str::to_owned),
                    );
                }
                map.values().for_each(|v| collect_rules(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_rules(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_rule_of_the_crd_is_supported() {
        let mut rules = Vec::new();
        collect_rules(&agentpool_schema(), &mut rules);
        assert!(!rules.is_empty());
        for rule in rules {
            if let Err(e) = crate::validation::cel_rules::compile_check(&rule) {
                panic!("{rule}: {e}");
            }
        }
    }

    #[test]
    fn minimal_agent_pool_is_accepted_and_defaulted() {
        let schema = agentpool_schema();
        let mut obj = agent_pool(minimal_spec());
        validate_custom_resource(&schema, &mut obj, None).unwrap();
        assert_eq!(obj["spec"]["scaling"]["maxAgents"], 10);
        assert_eq!(obj["spec"]["auth"]["patSecretRef"]["key"], "token");
    }

    #[test]
    fn scaling_rules_name_the_field_and_rule() {
        let schema = agentpool_schema();
        let mut spec = minimal_spec();
        spec["scaling"] = json!({"minIdle": 5, "maxAgents": 2});
        let err = validate_custom_resource(&schema, &mut agent_pool(spec), None)
            .unwrap_err()
            .to_string();
        let rule =
            &schema["properties"]["spec"]["properties"]["scaling"]["x-kubernetes-validations"][0];
        assert_eq!(
            rule["rule"], "self.minIdle <= self.maxAgents",
            "the CRD changed; update this test"
        );
        let message = rule["message"].as_str().unwrap();
        assert_eq!(
            err,
            format!("spec.scaling: Invalid value: \"object\": {message}")
        );

        let mut spec = minimal_spec();
        spec["scaling"] = json!({"idleTimeout": "25h"});
        let err = validate_custom_resource(&schema, &mut agent_pool(spec), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "spec.scaling.idleTimeout: Invalid value: \"string\": must be a duration"
            ),
            "{err}"
        );

        let mut spec = minimal_spec();
        spec["scaling"] = json!({"idleTimeout": "0", "pollInterval": "1m30s"});
        validate_custom_resource(&schema, &mut agent_pool(spec), None).unwrap();
    }

    #[test]
    fn organization_url_rule_rejects_plain_http() {
        let schema = agentpool_schema();
        let mut spec = minimal_spec();
        spec["organization"] = json!("http://dev.azure.com/contoso");
        let err = validate_custom_resource(&schema, &mut agent_pool(spec), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("spec.organization: Invalid value: \"string\": "),
            "{err}"
        );
        let mut spec = minimal_spec();
        spec["organization"] = json!("http://127.0.0.1:8080/contoso");
        validate_custom_resource(&schema, &mut agent_pool(spec), None).unwrap();
    }
}
