//! Field paths printed like Go's `field.Path`: `spec.scaling.minIdle`, `spec.x[2]`,
//! `spec.labels[app]`.

/// `parent.name`, or just `name` at the root.
pub fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// `parent[index]`.
pub fn index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// `parent[key]`, as the real server prints map entries.
pub fn key(parent: &str, key: &str) -> String {
    format!("{parent}[{key}]")
}

/// The path a CEL rule's `fieldPath` (e.g. `.minIdle`, `.x['a-b']`, `.list[0]`) points
/// to, relative to the node at `base`.
pub fn join_field_path(base: &str, field_path: &str) -> String {
    let mut out = base.to_owned();
    let mut rest = field_path;
    while !rest.is_empty() {
        if let Some(after_dot) = rest.strip_prefix('.') {
            let end = after_dot.find(['.', '[']).unwrap_or(after_dot.len());
            out = child(&out, &after_dot[..end]);
            rest = &after_dot[end..];
        } else if let Some(after_bracket) = rest.strip_prefix('[') {
            let end = after_bracket.find(']').unwrap_or(after_bracket.len());
            let inner = after_bracket[..end].trim_matches(['\'', '"']);
            out = key(&out, inner);
            rest = after_bracket.get(end + 1..).unwrap_or_default();
        } else {
            // A malformed path: keep the text rather than dropping it.
            out = child(&out, rest);
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_print_like_go() {
        assert_eq!(child("", "spec"), "spec");
        assert_eq!(index("spec.x", 2), "spec.x[2]");
        assert_eq!(
            join_field_path("spec", ".scaling.minIdle"),
            "spec.scaling.minIdle"
        );
        assert_eq!(
            join_field_path("spec", ".labels['a.b']"),
            "spec.labels[a.b]"
        );
        assert_eq!(
            join_field_path("spec", ".list[0].name"),
            "spec.list[0].name"
        );
    }
}
