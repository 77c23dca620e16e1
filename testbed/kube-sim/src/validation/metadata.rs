//! The metadata checks the real server applies to every custom resource.

use std::sync::LazyLock;

use serde_json::Value;

use super::error::{FieldError, FieldErrorKind};

const DNS1123_SUBDOMAIN: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;

static DNS1123_SUBDOMAIN_RE: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(&format!("^{DNS1123_SUBDOMAIN}$")).ok());

/// Validates `metadata.name` (a DNS-1123 subdomain; required unless `generateName` is set).
pub fn validate_metadata(object: &Value, errors: &mut Vec<FieldError>) {
    let metadata = object.get("metadata");
    let name = metadata.and_then(|m| m.get("name")).and_then(Value::as_str);
    let generate_name = metadata
        .and_then(|m| m.get("generateName"))
        .and_then(Value::as_str);
    match name {
        None | Some("") if generate_name.is_none_or(str::is_empty) => {
            errors.push(FieldError::new(
                "metadata.name",
                FieldErrorKind::Required,
                None,
                "name or generateName is required",
            ));
        }
        None | Some("") => {}
        Some(name) => {
            for message in dns1123_subdomain_problems(name) {
                errors.push(FieldError::new(
                    "metadata.name",
                    FieldErrorKind::Invalid,
                    Some(Value::String(name.to_owned())),
                    message,
                ));
            }
        }
    }
}

/// The messages `validation.IsDNS1123Subdomain` returns for `name`.
pub fn dns1123_subdomain_problems(name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if name.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        problems.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
        ));
    }
    let matches = DNS1123_SUBDOMAIN_RE
        .as_ref()
        .is_some_and(|re| re.is_match(name));
    if !matches {
        problems.push(format!(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character (e.g. \
             'example.com', regex used for validation is '{DNS1123_SUBDOMAIN}')"
        ));
    }
    problems
}
