//! `x-kubernetes-validations`: CEL rules evaluated on every node of the object that has
//! them, with `self` bound to the node and `oldSelf` to the same node of the stored object.
//! Transition rules (those that mention `oldSelf`) run only on updates where the old node
//! exists, as on the real server.

use cel::{ExecutionError, Program, Value as CelValue};
use serde_json::Value;

use super::cel_library;
use super::cel_value::to_cel;
use super::error::{FieldError, FieldErrorKind};
use super::structural::map_list_key;
use super::{path, schema};

/// Evaluates every rule below the resource root; `old` is the stored object on update.
pub fn validate_root(
    new: &Value,
    old: Option<&Value>,
    root_schema: &Value,
    errors: &mut Vec<FieldError>,
) {
    // At the root, rules may only see `metadata.name` and `metadata.generateName`.
    let visible_new = with_visible_metadata(new);
    let visible_old = old.map(with_visible_metadata);
    validate_node("", &visible_new, visible_old.as_ref(), root_schema, errors);
}

fn with_visible_metadata(object: &Value) -> Value {
    let mut visible = object.clone();
    if let Some(Value::Object(meta)) = visible.get_mut("metadata") {
        meta.retain(|k, _| k == "name" || k == "generateName");
    }
    visible
}

fn validate_node(
    at: &str,
    new: &Value,
    old: Option<&Value>,
    node_schema: &Value,
    errors: &mut Vec<FieldError>,
) {
    if new.is_null() {
        return;
    }
    if let Some(rules) = node_schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for rule in rules {
            if let Some(error) = evaluate_rule(at, rule, new, old, node_schema) {
                errors.push(error);
            }
        }
    }
    match new {
        Value::Object(fields) => {
            for (name, child) in fields {
                if let Some(child_schema) = schema::child_schema(node_schema, name) {
                    let old_child = old.and_then(|o| o.get(name));
                    validate_node(
                        &path::child(at, name),
                        child,
                        old_child,
                        child_schema,
                        errors,
                    );
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = schema::items(node_schema) else {
                return;
            };
            for (i, item) in items.iter().enumerate() {
                let old_item = old.and_then(|o| correlated_item(node_schema, item, o));
                validate_node(&path::index(at, i), item, old_item, item_schema, errors);
            }
        }
        _ => {}
    }
}

/// The old list item that is "the same" as `item`: only map lists correlate (by their
/// keys), as on the real server; items of other lists have no `oldSelf`.
fn correlated_item<'o>(
    list_schema: &Value,
    item: &Value,
    old_list: &'o Value,
) -> Option<&'o Value> {
    if schema::str_keyword(list_schema, "x-kubernetes-list-type") != Some("map") {
        return None;
    }
    let keys: Vec<String> = list_schema
        .get("x-kubernetes-list-map-keys")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let identity = map_list_key(item, &keys)?;
    old_list
        .as_array()?
        .iter()
        .find(|candidate| map_list_key(candidate, &keys).as_ref() == Some(&identity))
}

/// One rule as written in the CRD.
struct Rule<'r> {
    rule: &'r str,
    message: Option<&'r str>,
    message_expression: Option<&'r str>,
    field_path: Option<&'r str>,
    reason: Option<&'r str>,
}

impl<'r> Rule<'r> {
    fn parse(raw: &'r Value) -> Option<Self> {
        let text = |key: &str| raw.get(key).and_then(Value::as_str);
        Some(Self {
            rule: text("rule")?,
            message: text("message"),
            message_expression: text("messageExpression"),
            field_path: text("fieldPath"),
            reason: text("reason"),
        })
    }
}

fn evaluate_rule(
    at: &str,
    raw_rule: &Value,
    new: &Value,
    old: Option<&Value>,
    node_schema: &Value,
) -> Option<FieldError> {
    let type_label = Value::String(schema::cel_type_label(node_schema));
    // The real server validates the root with a nil `field.Path`, which prints `<nil>`.
    let node_field = if at.is_empty() { "<nil>" } else { at };
    let invalid = |message: String| {
        Some(FieldError::new(
            node_field,
            FieldErrorKind::Invalid,
            Some(type_label.clone()),
            message,
        ))
    };
    let Some(rule) = Rule::parse(raw_rule) else {
        return invalid(format!("validation rule {raw_rule} has no rule text"));
    };
    let program = match compile(rule.rule) {
        Ok(program) => program,
        Err(reason) => return invalid(unsupported(rule.rule, &reason)),
    };
    let is_transition_rule = program.references().has_variable("oldSelf");
    if is_transition_rule && old.is_none() {
        return None;
    }
    let outcome = evaluate(&program, new, old, node_schema);
    match outcome {
        Ok(CelValue::Bool(true)) => None,
        Ok(CelValue::Bool(false)) => {
            let field = match rule.field_path {
                Some(fp) => path::join_field_path(at, fp),
                None => node_field.to_owned(),
            };
            let kind = FieldErrorKind::from_cel_reason(rule.reason.unwrap_or_default());
            let message = failure_message(&rule, new, old, node_schema);
            Some(FieldError::new(field, kind, Some(type_label), message))
        }
        Ok(other) => invalid(format!(
            "rule did not evaluate to a bool ({other:?}) evaluating rule: {}",
            rule.rule
        )),
        Err(ExecutionError::UndeclaredReference(name)) => invalid(unsupported(
            rule.rule,
            &format!("undeclared reference to '{name}'"),
        )),
        Err(e) => invalid(format!("{e} evaluating rule: {}", rule.rule)),
    }
}

fn unsupported(rule: &str, reason: &str) -> String {
    format!("rule {rule:?} is unsupported in kube-sim: {reason}")
}

/// Whether kube-sim can evaluate `rule` (it parses and uses only supported functions).
#[cfg(test)]
pub fn compile_check(rule: &str) -> Result<(), String> {
    compile(rule).map(drop)
}

/// Compiles a rule and refuses functions kube-sim cannot evaluate.
fn compile(rule: &str) -> Result<Program, String> {
    let program = cel_library::env()
        .compile(rule)
        .map_err(|e| format!("compilation failed: {e}"))?;
    let references = program.references();
    let mut missing: Vec<&str> = references
        .functions()
        .into_iter()
        .filter(|f| !cel_library::is_supported_function(f))
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        return Err(format!(
            "function {} is not implemented",
            missing.join(", ")
        ));
    }
    Ok(program)
}

fn evaluate(
    program: &Program,
    new: &Value,
    old: Option<&Value>,
    node_schema: &Value,
) -> Result<CelValue, ExecutionError> {
    let mut ctx = cel_library::new_context()
        .map_err(|e| ExecutionError::InternalError(format!("CEL environment: {e}")))?;
    ctx.add_variable_from_value("self", to_cel(new, Some(node_schema)));
    if let Some(old) = old {
        ctx.add_variable_from_value("oldSelf", to_cel(old, Some(node_schema)));
    }
    program.execute(&ctx)
}

/// The failure text: `messageExpression` if it yields a non-empty string, else `message`,
/// else `failed rule: <rule>`, in that order like the real server.
fn failure_message(
    rule: &Rule<'_>,
    new: &Value,
    old: Option<&Value>,
    node_schema: &Value,
) -> String {
    if let Some(expression) = rule.message_expression
        && let Ok(program) = compile(expression)
        && let Ok(CelValue::String(s)) = evaluate(&program, new, old, node_schema)
        && !s.trim().is_empty()
    {
        return s.to_string();
    }
    match rule.message {
        Some(m) if !m.trim().is_empty() => m.to_owned(),
        _ => format!("failed rule: {}", rule.rule.trim()),
    }
}
