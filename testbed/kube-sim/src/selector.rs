//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and field selectors.
use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn parse_set(rest: &str, raw: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: found '{raw}', expected: '('"
            ))
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for part in split_top_level(s) {
            let bad = || {
                ApiError::bad_request(format!(
                    "unable to parse requirement: invalid label selector {part:?}"
                ))
            };
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(key.trim().to_string())
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), parse_set(rest, &part)?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Requirement::In(k.trim().into(), parse_set(rest, &part)?)
            } else {
                Requirement::Exists(part.trim().to_string())
            };
            let key = match &req {
                Requirement::Equals(k, _)
                | Requirement::NotEquals(k, _)
                | Requirement::In(k, _)
                | Requirement::NotIn(k, _)
                | Requirement::Exists(k)
                | Requirement::NotExists(k) => k,
            };
            if !valid_key(key) {
                return Err(bad());
            }
            requirements.push(req);
        }
        Ok(Self { requirements })
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector over the supported fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    requirements: Vec<(String, bool, String)>,
}

/// Field labels every kind has.
const META_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// Field labels of Pods beyond metadata.
const POD_FIELDS: &[&str] = &["status.phase", "spec.nodeName"];

/// Field labels of core `v1` Events beyond metadata (`AddFieldLabelConversionsForEvent`);
/// `kubectl describe` finds an object's Events with the `involvedObject.*` ones.
const CORE_EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// Whether `kind` (`Kind` or `Kind.group`) has the field label `field`.
fn supported(kind: &str, field: &str) -> bool {
    let extra: &[&str] = match kind {
        "Pod" => POD_FIELDS,
        "Event" => CORE_EVENT_FIELDS,
        _ => &[],
    };
    META_FIELDS.contains(&field) || extra.contains(&field)
}

/// The value of a field label (absent fields are ""). An Event's `source` is its
/// `source.component`, or else its `reportingComponent` (`ToSelectableFields`).
fn field_value<'a>(object: &'a Value, field: &str) -> &'a str {
    let at = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if field == "source" {
        let component = at("/source/component");
        return if component.is_empty() {
            at("/reportingComponent")
        } else {
            component
        };
    }
    at(&format!("/{}", field.replace('.', "/")))
}

impl FieldSelector {
    /// Parses `fieldSelector` for `kind` (`Kind`, or `Kind.group` outside the core group);
    /// unsupported fields are a 400 like the real server's.
    pub fn parse(s: &str, kind: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for part in split_top_level(s) {
            let (field, equal, value) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                )));
            };
            let field = field.trim();
            if !supported(kind, field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field} (kube-sim supports metadata.name, metadata.namespace; status.phase and spec.nodeName on pods; involvedObject.*, reason, reportingComponent, source and type on core v1 events)"
                )));
            }
            requirements.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(Self { requirements })
    }

    /// Whether an object satisfies every requirement (absent fields compare as "").
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements
            .iter()
            .all(|(field, equal, value)| (field_value(object, field) == value) == *equal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_operators_select_as_kubernetes_does() {
        let p = pod(json!({"app": "web", "tier": "front"}));
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web,db)", true),
            ("app notin (web,db)", false),
            ("app in (db)", false),
            ("tier", true),
            ("!tier", false),
            ("missing!=x", true),
            ("missing notin (x)", true),
            ("app=web,tier=back", false),
            ("app in (web, db),tier", true),
        ];
        for (sel, expected) in cases {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&p),
                expected,
                "{sel}"
            );
        }
    }

    #[test]
    fn malformed_set_is_rejected() {
        assert_eq!(LabelSelector::parse("app in web").unwrap_err().code, 400);
    }

    #[test]
    fn field_selectors_match_and_unknown_fields_are_rejected() {
        let p = pod(json!({}));
        assert!(
            FieldSelector::parse("metadata.name=p", "Pod")
                .unwrap()
                .matches(&p)
        );
        assert!(
            !FieldSelector::parse("status.phase!=Running", "Pod")
                .unwrap()
                .matches(&p)
        );
        assert!(
            FieldSelector::parse("spec.nodeName=", "Pod")
                .unwrap()
                .matches(&p)
        );
        assert_eq!(
            FieldSelector::parse("spec.foo=x", "Pod").unwrap_err().code,
            400
        );
        assert_eq!(
            FieldSelector::parse("status.phase=x", "Secret")
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn core_events_select_on_their_object_and_source() {
        let event = json!({"metadata": {"name": "e", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p", "uid": "u1"},
            "source": {}, "reportingComponent": "azp-operator"});
        let sel = "involvedObject.kind=Pod,involvedObject.name=p,involvedObject.uid=u1";
        assert!(FieldSelector::parse(sel, "Event").unwrap().matches(&event));
        assert!(
            FieldSelector::parse("source=azp-operator", "Event")
                .unwrap()
                .matches(&event)
        );
        assert_eq!(
            FieldSelector::parse("involvedObject.name=p", "Event.events.k8s.io")
                .unwrap_err()
                .code,
            400
        );
    }
}
