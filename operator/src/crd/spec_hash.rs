//! The hash of the spec parts that shape an agent pod, for spec rollouts.
//!
//! Every pod carries the hash of its AgentPool's spec as it was rendered
//! ([`azp_contract::labels::SPEC_HASH`]); the planner compares it with the current one and
//! replaces idle agents of an old spec (see [`crate::plan::capacity`]).

use aws_lc_rs::digest::{SHA256, digest};

use super::spec::AgentPoolSpec;

impl AgentPoolSpec {
    /// SHA-256 (lower-case hex) over the canonical JSON of everything in the spec but
    /// `scaling`: image, env, resources, template, BuildKit, ECR, CA bundle, registration mode,
    /// auth, capabilities, organization and pool all end up in the pod or its registration.
    /// Scaling numbers only say how many pods there are, so editing them rolls nothing.
    ///
    /// Canonical: `serde_json::Value` keeps object keys sorted (no `preserve_order`), and the
    /// spec is serialised after deserialisation, so defaults written out or left implicit hash
    /// the same. Stable across operator restarts (no per-process seed, unlike `DefaultHasher`).
    pub fn pod_spec_hash(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.remove("scaling");
        }
        let canonical = value.to_string();
        digest(&SHA256, canonical.as_bytes())
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> AgentPoolSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    const BASE: &str = r#"
organization: https://dev.azure.com/contoso
pool: linux
auth: {patSecretRef: {name: azp, key: pat}}
agent: {image: "agent:1", env: [{name: JAVA_HOME, value: /opt/java}]}
scaling: {minIdle: 1, maxAgents: 5}
"#;

    #[test]
    fn is_sha256_hex_and_the_same_for_the_same_spec() {
        let hash = spec(BASE).pod_spec_hash();
        assert_eq!(hash.len(), 64);
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase())
        );
        assert_eq!(hash, spec(BASE).pod_spec_hash());
    }

    #[test]
    fn scaling_edits_keep_the_hash_and_pod_shaping_edits_change_it() {
        let base = spec(BASE).pod_spec_hash();
        let scaled = BASE.replace(
            "minIdle: 1, maxAgents: 5",
            "minIdle: 3, maxAgents: 9, idleTimeout: 1m",
        );
        assert_eq!(
            spec(&scaled).pod_spec_hash(),
            base,
            "scaling is not part of the pod"
        );
        // Defaults written out hash as when they are left implicit.
        let explicit = format!("{BASE}registration: operator\n");
        assert_eq!(spec(&explicit).pod_spec_hash(), base);
        for (what, edited) in [
            ("image", BASE.replace("agent:1", "agent:2")),
            ("env", BASE.replace("/opt/java", "/opt/jdk")),
            ("registration", format!("{BASE}registration: pod\n")),
            ("buildkit", format!("{BASE}buildkit: {{enabled: true}}\n")),
            (
                "template",
                format!("{BASE}template: {{spec: {{nodeSelector: {{gpu: \"true\"}}}}}}\n"),
            ),
            (
                "resources",
                BASE.replace("env:", "resources: {limits: {cpu: \"2\"}}, env:"),
            ),
            (
                "capabilities",
                format!("{BASE}capabilities: {{maven: \"3\"}}\n"),
            ),
        ] {
            assert_ne!(spec(&edited).pod_spec_hash(), base, "{what}");
        }
    }
}
