//! `ObjectMeta` checks the real server applies to every kind: label and annotation keys and
//! values, finalizer names, owner references.
use std::sync::LazyLock;

use serde_json::Value;

const NAME_PART: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const DNS_SUBDOMAIN: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

static NAME_PART_RE: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(&format!("^{NAME_PART}$")).ok());
static LABEL_VALUE_RE: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(&format!("^{LABEL_VALUE}$")).ok());
static DNS_SUBDOMAIN_RE: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(&format!("^{DNS_SUBDOMAIN}$")).ok());

fn matches(re: &LazyLock<Option<regex::Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|r| r.is_match(s))
}

/// Problems of a qualified name (`prefix/name` or `name`), worded like `validation.IsQualifiedName`.
pub fn qualified_name_problems(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            out.push("prefix part must be non-empty".into());
        } else if p.len() > 253 || !matches(&DNS_SUBDOMAIN_RE, p) {
            out.push(format!("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '{DNS_SUBDOMAIN}')"));
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".into());
    } else if name.len() > 63 {
        out.push("name part must be no more than 63 characters".into());
    } else if !matches(&NAME_PART_RE, name) {
        out.push(format!("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '{NAME_PART}')"));
    }
    out
}

fn label_value_problems(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    if value.len() > 63 {
        out.push("must be no more than 63 characters".into());
    }
    if !matches(&LABEL_VALUE_RE, value) {
        out.push(format!("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '{LABEL_VALUE}')"));
    }
    out
}

/// `(field, message)` causes for everything wrong in `metadata`.
pub fn problems(obj: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let meta = obj.get("metadata");
    if let Some(labels) = meta
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            for p in qualified_name_problems(k) {
                out.push((
                    "metadata.labels".into(),
                    format!("Invalid value: {k:?}: {p}"),
                ));
            }
            let value = v.as_str().unwrap_or_default();
            for p in label_value_problems(value) {
                out.push((
                    format!("metadata.labels[{k}]"),
                    format!("Invalid value: {value:?}: {p}"),
                ));
            }
        }
    }
    if let Some(annotations) = meta
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        let mut total = 0;
        for (k, v) in annotations {
            total += k.len() + v.as_str().map_or(0, str::len);
            for p in qualified_name_problems(&k.to_lowercase()) {
                out.push((
                    "metadata.annotations".into(),
                    format!("Invalid value: {k:?}: {p}"),
                ));
            }
        }
        if total > 256 * 1024 {
            out.push((
                "metadata.annotations".into(),
                format!("Too long: may not be more than 262144 bytes (found {total})"),
            ));
        }
    }
    if let Some(finalizers) = meta
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
    {
        for (i, f) in finalizers.iter().enumerate() {
            let name = f.as_str().unwrap_or_default();
            for p in qualified_name_problems(name) {
                out.push((
                    format!("metadata.finalizers[{i}]"),
                    format!("Invalid value: {name:?}: {p}"),
                ));
            }
        }
    }
    if let Some(refs) = meta
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
    {
        let mut controllers = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            for field in ["apiVersion", "kind", "name", "uid"] {
                if r.get(field)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    out.push((
                        format!("metadata.ownerReferences[{i}].{field}"),
                        "Invalid value: \"\": must not be empty".into(),
                    ));
                }
            }
            if r.get("controller").and_then(Value::as_bool) == Some(true) {
                controllers.push(
                    r.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        if controllers.len() > 1 {
            out.push((
                "metadata.ownerReferences".into(),
                format!("Invalid value: only one reference can have Controller set to true. Found \"true\" in references for {}", controllers.join(" and ")),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_annotations_finalizers_and_owner_references_are_checked() {
        let ok = json!({"metadata": {"labels": {"azp.dev/pool": "eks-linux", "empty": ""},
                                     "annotations": {"karpenter.sh/do-not-disrupt": "true"},
                                     "finalizers": ["azp.dev/cleanup", "foregroundDeletion"]}});
        assert!(problems(&ok).is_empty(), "{:?}", problems(&ok));
        let long = "x".repeat(64);
        let bad = json!({"metadata": {"labels": {"azp.dev/pool": long, "bad key!": "v"},
                                      "finalizers": ["not valid/x/y"],
                                      "ownerReferences": [
                                          {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": true},
                                          {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "2", "controller": true}]}});
        let fields: Vec<String> = problems(&bad).into_iter().map(|(f, _)| f).collect();
        assert!(
            fields.contains(&"metadata.labels[azp.dev/pool]".to_string()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"metadata.labels".to_string()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"metadata.finalizers[0]".to_string()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"metadata.ownerReferences".to_string()),
            "{fields:?}"
        );
    }
}
