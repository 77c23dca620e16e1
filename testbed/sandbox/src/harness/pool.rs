//! AgentPool manifests for the sandbox.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Name of the Secret holding the PAT, in the sandbox namespace.
pub const PAT_SECRET: &str = "azp-pat";

/// What one AgentPool looks like; turned into a manifest by [`AgentPoolSpec::manifest`].
#[derive(Debug, Clone, PartialEq)]
pub struct AgentPoolSpec {
    /// AgentPool name.
    pub name: String,
    /// Azure DevOps pool it serves (must be one of the emulator's pools).
    pub ado_pool: String,
    /// `scaling.maxAgents`.
    pub max_agents: u32,
    /// `scaling.minIdle`.
    pub min_idle: u32,
    /// `scaling.idleTimeout` (Go duration).
    pub idle_timeout: String,
    /// `scaling.pollInterval` (Go duration, 5s..10m).
    pub poll_interval: String,
    /// `capabilities` advertised by its agents (jobs' demands are matched against them).
    pub capabilities: BTreeMap<String, String>,
    /// Merged into `spec` last (e.g. a `template` with kube-sim annotations).
    pub extra_spec: Value,
}

impl AgentPoolSpec {
    /// A pool with sandbox-friendly defaults: up to 4 agents, scale to zero after 5 s idle,
    /// polled every 5 s.
    pub fn new(name: impl Into<String>, ado_pool: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ado_pool: ado_pool.into(),
            max_agents: 4,
            min_idle: 0,
            idle_timeout: "5s".into(),
            poll_interval: "5s".into(),
            capabilities: BTreeMap::new(),
            extra_spec: Value::Null,
        }
    }

    /// Adds a capability.
    pub fn capability(mut self, name: &str, value: &str) -> Self {
        self.capabilities.insert(name.into(), value.into());
        self
    }

    /// Sets `maxAgents`.
    pub fn max_agents(mut self, max: u32) -> Self {
        self.max_agents = max;
        self
    }

    /// Sets `spec.registration` (`operator`, the default, or `pod`).
    pub fn registration(mut self, mode: &str) -> Self {
        if !self.extra_spec.is_object() {
            self.extra_spec = json!({});
        }
        self.extra_spec["registration"] = json!(mode);
        self
    }

    /// Authenticates with the sandbox's Entra workload identity instead of the PAT
    /// (the sandbox must start with `workload_identity`).
    pub fn workload_identity(mut self) -> Self {
        if !self.extra_spec.is_object() {
            self.extra_spec = json!({});
        }
        self.extra_spec["auth"] = super::workload_identity::auth();
        self
    }

    /// The AgentPool object for `namespace`, pointing at `organization`.
    pub fn manifest(&self, namespace: &str, organization: &str) -> Value {
        let mut spec = json!({
            "organization": organization,
            "pool": self.ado_pool,
            "auth": {"patSecretRef": {"name": PAT_SECRET, "key": "token"}},
            "agent": {"image": "azp-agent:sandbox"},
            "scaling": {
                "maxAgents": self.max_agents,
                "minIdle": self.min_idle,
                "idleTimeout": self.idle_timeout,
                "pollInterval": self.poll_interval,
            },
        });
        if !self.capabilities.is_empty() {
            spec["capabilities"] = json!(self.capabilities);
        }
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), self.extra_spec.as_object()) {
            for (key, value) in extra {
                spec.insert(key.clone(), value.clone());
            }
        }
        json!({
            "apiVersion": "azp.dev/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": self.name, "namespace": namespace},
            "spec": spec,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_carries_capabilities_and_extra_spec() {
        let mut spec = AgentPoolSpec::new("java", "Linux").capability("java", "17");
        spec.extra_spec = json!({"template": {"metadata": {"annotations": {"a": "b"}}}});
        let manifest = spec.manifest("default", "http://127.0.0.1:1/contoso");
        assert_eq!(manifest["spec"]["capabilities"]["java"], "17");
        assert_eq!(manifest["spec"]["pool"], "Linux");
        assert_eq!(
            manifest["spec"]["template"]["metadata"]["annotations"]["a"],
            "b"
        );
        assert_eq!(manifest["spec"]["scaling"]["maxAgents"], 4);
    }
}
