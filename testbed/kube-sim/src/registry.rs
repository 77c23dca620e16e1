//! The resource types the server knows: built-in kinds plus those registered by CRDs.
use serde_json::Value;

/// How list-typed fields are merged by strategic merge patch and server-side apply.
/// Keyed by the field name; the real server takes this from the Go types / OpenAPI.
pub fn builtin_list_map_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "volumeDevices"
        | "containerStatuses"
        | "initContainerStatuses" => Some("name"),
        "conditions" => Some("type"),
        "volumeMounts" => Some("mountPath"),
        "ownerReferences" => Some("uid"),
        _ => None,
    }
}

/// List fields with set semantics (items are scalars, merged as a union).
pub fn builtin_list_set(field: &str) -> bool {
    field == "finalizers"
}

/// One served group/version/resource.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
    /// Plural resource name used in URLs.
    pub plural: String,
    /// Singular name (discovery).
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names (discovery), e.g. `po`.
    pub short_names: Vec<String>,
    /// Whether a `/status` subresource exists (then main-resource writes ignore status).
    pub has_status: bool,
    /// Whether changes outside metadata/status bump `metadata.generation`.
    pub bumps_generation: bool,
    /// For custom resources: the version's openAPIV3Schema.
    pub schema: Option<Value>,
    /// Categories (discovery), e.g. `all`.
    pub categories: Vec<String>,
    /// For custom resources: the version's `additionalPrinterColumns` (Table output).
    pub printer_columns: Vec<Value>,
}

impl ResourceType {
    fn builtin(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        namespaced: bool,
        short: &[&str],
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            namespaced,
            short_names: short.iter().map(|s| s.to_string()).collect(),
            has_status: false,
            bumps_generation: false,
            schema: None,
            categories: Vec::new(),
            printer_columns: Vec::new(),
        }
    }

    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `Kind.group` (or `Kind` for the core group), as used in Invalid messages.
    pub fn kind_group(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// The (group, resource) its objects are stored under: its own, except core `v1` Events,
    /// which are the `events.k8s.io/v1` Events seen through another API version, as on a
    /// real server (see `event_convert.rs`).
    pub fn storage(&self) -> (&str, &str) {
        if crate::event_convert::is_core_event(self) {
            crate::event_convert::STORAGE
        } else {
            (&self.group, &self.plural)
        }
    }

    /// Whether this is a custom resource (registered by a CRD).
    pub fn is_custom(&self) -> bool {
        self.schema.is_some()
    }
}

/// The set of served resource types.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    /// The built-in kinds the operator and kubelet use.
    pub fn with_builtins() -> Self {
        let mut pods = ResourceType::builtin("", "v1", "Pod", "pods", true, &["po"]);
        pods.has_status = true;
        pods.bumps_generation = true;
        pods.categories = vec!["all".into()];
        let mut namespaces =
            ResourceType::builtin("", "v1", "Namespace", "namespaces", false, &["ns"]);
        namespaces.has_status = true;
        let types = vec![
            pods,
            namespaces,
            ResourceType::builtin("", "v1", "Secret", "secrets", true, &[]),
            ResourceType::builtin("", "v1", "ConfigMap", "configmaps", true, &["cm"]),
            ResourceType::builtin("", "v1", "Event", "events", true, &["ev"]),
            ResourceType::builtin("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"]),
            ResourceType::builtin("events.k8s.io", "v1", "Event", "events", true, &["ev"]),
            ResourceType::builtin("coordination.k8s.io", "v1", "Lease", "leases", true, &[]),
            {
                let mut crd = ResourceType::builtin(
                    "apiextensions.k8s.io",
                    "v1",
                    "CustomResourceDefinition",
                    "customresourcedefinitions",
                    false,
                    &["crd", "crds"],
                );
                crd.has_status = true;
                crd.bumps_generation = true;
                crd
            },
        ];
        Self { types }
    }

    /// Finds a served type by group, version and plural.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// Finds a served type by apiVersion and kind (for bodies).
    pub fn find_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
    }

    /// All types served in one group/version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<&ResourceType> {
        self.types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .collect()
    }

    /// All (group, versions) pairs for discovery, in registration order, excluding the core group.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }

    /// Adds or replaces the types of one CRD (all served versions of `group`/`plural`).
    pub fn register_custom(&mut self, types: Vec<ResourceType>) {
        if let Some(first) = types.first() {
            let (group, plural) = (first.group.clone(), first.plural.clone());
            self.unregister_custom(&group, &plural);
        }
        self.types.extend(types);
    }

    /// Removes the types of one CRD.
    pub fn unregister_custom(&mut self, group: &str, plural: &str) {
        self.types
            .retain(|t| !(t.is_custom() && t.group == group && t.plural == plural));
    }
}
