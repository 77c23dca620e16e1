//! Parsing request paths into what they address.

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/version`.
    Version,
    /// `/healthz`, `/livez`, `/readyz`.
    Health,
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/{group}`.
    Group(String),
    /// `/api/v1`, `/apis/{group}/{version}`.
    GroupVersion {
        /// Group ("" for core).
        group: String,
        /// Version.
        version: String,
    },
    /// A collection, object or subresource.
    Resource(ResourcePath),
    /// `/openapi/v3`.
    OpenApiRoot,
    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/{group}/{version}`.
    OpenApiGroupVersion {
        /// Group ("" for core).
        group: String,
        /// Version.
        version: String,
    },
    /// `/.well-known/openid-configuration` (service-account issuer discovery).
    OidcDiscovery,
    /// `/openid/v1/jwks` (the service-account signing keys).
    Jwks,
    /// Anything else: 404.
    Unknown,
}

/// A resource path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// Group ("" for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Namespace from the path, if any.
    pub namespace: Option<String>,
    /// Plural resource name.
    pub plural: String,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource, if any.
    pub subresource: Option<String>,
}

/// Parses a URL path.
pub fn parse(path: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz"] => Route::Health,
        ["api"] => Route::CoreVersions,
        [".well-known", "openid-configuration"] => Route::OidcDiscovery,
        ["openid", "v1", "jwks"] => Route::Jwks,
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", "api", version] => Route::OpenApiGroupVersion {
            group: String::new(),
            version: version.to_string(),
        },
        ["openapi", "v3", "apis", group, version] => Route::OpenApiGroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group(group.to_string()),
        ["api", version, rest @ ..] => resource("", version, rest),
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        _ => Route::Unknown,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Route {
    let gv = |namespace: Option<&str>, tail: &[&str]| -> Route {
        let (plural, name, sub) = match tail {
            [p] => (p, None, None),
            [p, n] => (p, Some(n.to_string()), None),
            [p, n, s] => (p, Some(n.to_string()), Some(s.to_string())),
            _ => return Route::Unknown,
        };
        if *plural == "watch" || *plural == "proxy" {
            return Route::Unknown;
        }
        Route::Resource(ResourcePath {
            group: group.into(),
            version: version.into(),
            namespace: namespace.map(String::from),
            plural: plural.to_string(),
            name,
            subresource: sub,
        })
    };
    match rest {
        [] => Route::GroupVersion {
            group: group.into(),
            version: version.into(),
        },
        // `/api/v1/namespaces/{name}/status|finalize` are subresources of the namespace itself.
        ["namespaces", _, "status" | "finalize"] if group.is_empty() => gv(None, rest),
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => gv(Some(ns), tail),
        _ => gv(None, rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_like_the_api_server() {
        let Route::Resource(p) = parse("/api/v1/namespaces/ns/pods/p/status") else {
            panic!()
        };
        assert_eq!(
            (
                p.namespace.as_deref(),
                p.plural.as_str(),
                p.name.as_deref(),
                p.subresource.as_deref()
            ),
            (Some("ns"), "pods", Some("p"), Some("status"))
        );
        let Route::Resource(p) = parse("/api/v1/namespaces/ns") else {
            panic!()
        };
        assert_eq!(
            (p.namespace, p.plural.as_str(), p.name.as_deref()),
            (None, "namespaces", Some("ns"))
        );
        let Route::Resource(p) = parse("/apis/azp.dev/v1alpha1/agentpools") else {
            panic!()
        };
        assert_eq!((p.group.as_str(), p.namespace), ("azp.dev", None));
        assert_eq!(parse("/apis/azp.dev"), Route::Group("azp.dev".into()));
        assert_eq!(parse("/api/v1/watch/pods"), Route::Unknown);
        assert_eq!(parse("/nope"), Route::Unknown);
    }
}
