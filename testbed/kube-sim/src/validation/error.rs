//! Field errors shaped like `k8s.io/apimachinery/pkg/util/validation/field`, so that
//! clients see the same text a real kube-apiserver would send.

use std::fmt;

use serde_json::Value;

/// What went wrong with one field; mirrors `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// A required field is missing (`Required value`).
    Required,
    /// A value is malformed or out of range (`Invalid value`).
    Invalid,
    /// A value is not one of the allowed enum values (`Unsupported value`).
    NotSupported,
    /// A value has the wrong JSON type (`Invalid value`, as the real server prints it).
    TypeInvalid,
    /// A string is longer than allowed (`Too long`).
    TooLong,
    /// A list or object has more entries than allowed (`Too many`).
    TooMany,
    /// A list item repeats another one (`Duplicate value`).
    Duplicate,
    /// A value is forbidden (`Forbidden`).
    Forbidden,
}

impl FieldErrorKind {
    /// The text the real server prints for this kind (`field.ErrorType.String()`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid | Self::TypeInvalid => "Invalid value",
            Self::NotSupported => "Unsupported value",
            Self::TooLong => "Too long",
            Self::TooMany => "Too many",
            Self::Duplicate => "Duplicate value",
            Self::Forbidden => "Forbidden",
        }
    }

    /// The `reason` of a `Status.details.causes[]` entry (`metav1.CauseType`).
    pub fn cause_reason(self) -> &'static str {
        match self {
            Self::Required => "FieldValueRequired",
            Self::Invalid => "FieldValueInvalid",
            Self::TypeInvalid => "FieldValueTypeInvalid",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Duplicate => "FieldValueDuplicate",
            Self::Forbidden => "FieldValueForbidden",
        }
    }

    /// The kind a CEL rule's `reason` selects; unknown reasons fall back to `Invalid`
    /// (the CRD API only admits these four).
    pub fn from_cel_reason(reason: &str) -> Self {
        match reason {
            "FieldValueForbidden" => Self::Forbidden,
            "FieldValueRequired" => Self::Required,
            "FieldValueDuplicate" => Self::Duplicate,
            _ => Self::Invalid,
        }
    }

    /// Whether the real server omits the bad value from the message for this kind.
    fn omits_value(self) -> bool {
        matches!(self, Self::Required | Self::Forbidden | Self::TooLong)
    }
}

/// One rejected field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The field's path as the real server prints it, e.g. `spec.scaling.minIdle` or `spec.x[2]`.
    pub field: String,
    /// What kind of problem it is.
    pub kind: FieldErrorKind,
    /// The offending value, printed the way Go's `field.Error` prints it; `None` when the
    /// kind omits it.
    pub bad_value: Option<Value>,
    /// The detail after the value, e.g. `must be greater than or equal to 1`.
    pub message: String,
}

impl FieldError {
    /// Builds an error of `kind` at `field`.
    pub fn new(
        field: impl Into<String>,
        kind: FieldErrorKind,
        bad_value: Option<Value>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind,
            bad_value,
            message: message.into(),
        }
    }

    /// The message without the field path (`field.Error.ErrorBody()`), which is what a
    /// `Status` cause carries in `message`.
    pub fn body(&self) -> String {
        let mut body = self.kind.label().to_owned();
        if !self.kind.omits_value()
            && let Some(value) = &self.bad_value
        {
            body.push_str(": ");
            body.push_str(&go_value_string(value));
        }
        if !self.message.is_empty() {
            body.push_str(": ");
            body.push_str(&self.message);
        }
        body
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Prints a bad value as the real server does: strings quoted, numbers and booleans bare,
/// null as `"null"`, compound values as JSON.
fn go_value_string(value: &Value) -> String {
    match value {
        Value::Null => "\"null\"".to_owned(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        other => other.to_string(),
    }
}

/// A rejected custom resource: every field error found, in the order the server finds them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct Invalid {
    /// The individual field errors; never empty.
    pub errors: Vec<FieldError>,
}

impl Invalid {
    /// Wraps a list of errors.
    pub fn new(errors: Vec<FieldError>) -> Self {
        Self { errors }
    }

    /// The `Status.details.causes` list the real server returns with a 422.
    pub fn causes(&self) -> Vec<Value> {
        self.errors
            .iter()
            .map(|e| {
                serde_json::json!({
                    "reason": e.kind.cause_reason(),
                    "message": e.body(),
                    "field": e.field,
                })
            })
            .collect()
    }

    /// The `Status.message` of the 422, e.g.
    /// `AgentPool.azp.dev "x" is invalid: spec.pool: Required value`.
    pub fn status_message(&self, qualified_kind: &str, name: &str) -> String {
        format!("{qualified_kind} {name:?} is invalid: {self}")
    }
}

/// Like Go's `utilerrors.NewAggregate(...).Error()`: one error bare, several in brackets.
impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.as_slice() {
            [single] => write!(f, "{single}"),
            many => {
                f.write_str("[")?;
                for (i, e) in many.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_omits_value_and_detail_follows() {
        let e = FieldError::new("spec.pool", FieldErrorKind::Required, None, "");
        assert_eq!(e.to_string(), "spec.pool: Required value");
    }

    #[test]
    fn strings_are_quoted_numbers_bare() {
        let s = FieldError::new("a", FieldErrorKind::Invalid, Some(json!("x\"y")), "bad");
        assert_eq!(s.to_string(), r#"a: Invalid value: "x\"y": bad"#);
        let n = FieldError::new("b", FieldErrorKind::Invalid, Some(json!(0)), "bad");
        assert_eq!(n.to_string(), "b: Invalid value: 0: bad");
    }

    #[test]
    fn several_errors_are_bracketed() {
        let inv = Invalid::new(vec![
            FieldError::new("a", FieldErrorKind::Required, None, ""),
            FieldError::new("b", FieldErrorKind::Required, None, ""),
        ]);
        assert_eq!(inv.to_string(), "[a: Required value, b: Required value]");
        assert_eq!(
            inv.status_message("AgentPool.azp.dev", "x"),
            "AgentPool.azp.dev \"x\" is invalid: [a: Required value, b: Required value]"
        );
        assert_eq!(inv.causes()[0]["reason"], "FieldValueRequired");
    }
}
