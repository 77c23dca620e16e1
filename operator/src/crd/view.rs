//! From an `AgentPool` resource to what the planner and the shared poller need.

use kube::ResourceExt;

use super::spec::{AgentPool, AgentPoolSpec};
use crate::duration::DurationError;
use crate::plan::{AgentPoolView, PoolKey};

/// Why an AgentPool cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The object carries no namespace (never true for objects read from the API).
    #[error("AgentPool {0:?} has no namespace")]
    NoNamespace(String),
    /// A duration the schema should have refused (e.g. a CRD installed without its rules).
    #[error("spec.scaling.idleTimeout: {0}")]
    IdleTimeout(#[from] DurationError),
    /// A standby schedule the schema could not refuse (an unknown time zone).
    #[error(transparent)]
    Schedule(#[from] super::ScheduleError),
}

/// Identity of one Azure DevOps agent pool: every AgentPool with the same key shares one
/// queue poll and one planner run (scaling rule 1).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AzureDevOpsPoolKey {
    /// Organization or collection URL, lower-cased, without trailing slashes.
    pub organization: String,
    /// Agent pool name, lower-cased.
    pub pool: String,
}

impl AgentPoolSpec {
    /// The Azure DevOps pool this spec points at. Organization and pool names are
    /// case-insensitive in Azure DevOps, so `https://dev.azure.com/Contoso/` and
    /// `https://dev.azure.com/contoso` are the same pool and must share one poll.
    pub fn azure_devops_pool(&self) -> AzureDevOpsPoolKey {
        AzureDevOpsPoolKey {
            organization: self.organization.trim_end_matches('/').to_lowercase(),
            pool: self.pool.to_lowercase(),
        }
    }
}

impl AgentPoolSpec {
    /// What this spec gives its agents beyond what every agent publishes: `capabilities`
    /// and the `agent.env` names (a `valueFrom` value is unknown here and counts as empty).
    /// The planner prefers the AgentPool that offers a job's demands this way (rule 2).
    pub fn specific_capabilities(&self) -> std::collections::BTreeMap<String, String> {
        let mut capabilities: std::collections::BTreeMap<String, String> = self
            .agent
            .env
            .iter()
            .flatten()
            .filter(|var| azp_contract::agent_env::is_user_variable(&var.name))
            .map(|var| (var.name.clone(), var.value.clone().unwrap_or_default()))
            .collect();
        capabilities.extend(self.capabilities.clone());
        capabilities
    }
}

impl AgentPool {
    /// `<namespace>/<name>`.
    pub fn pool_key(&self) -> Result<PoolKey, ViewError> {
        let namespace = self
            .namespace()
            .ok_or_else(|| ViewError::NoNamespace(self.name_any()))?;
        Ok(PoolKey::new(namespace, self.name_any()))
    }

    /// The planner's view of this AgentPool.
    pub fn planner_view(&self) -> Result<AgentPoolView, ViewError> {
        Ok(AgentPoolView {
            key: self.pool_key()?,
            capabilities: self.spec.specific_capabilities(),
            published: crate::published::capabilities(self),
            scaling: self.spec.scaling.policy()?,
            generation: self.metadata.generation.unwrap_or_default(),
            spec_hash: self.spec.pod_spec_hash(),
            deleting: self.metadata.deletion_timestamp.is_some(),
            minted: self.spec.registration.is_minted(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn agent_pool(spec: serde_json::Value) -> AgentPool {
        serde_json::from_value(json!({
            "apiVersion": "azp.dev/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": "linux", "namespace": "ci", "generation": 4},
            "spec": spec,
        }))
        .unwrap()
    }

    fn spec(organization: &str, pool: &str) -> serde_json::Value {
        json!({
            "organization": organization,
            "pool": pool,
            "auth": {"patSecretRef": {"name": "pat"}},
            "agent": {
                "image": "agent:1",
                "env": [
                    {"name": "JAVA_HOME", "value": "/opt/java"},
                    {"name": "buildkit", "value": "from-env"},
                    {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                ]
            },
            "capabilities": {"buildkit": "true"},
            "scaling": {"minIdle": 1, "maxAgents": 5, "idleTimeout": "90s"}
        })
    }

    #[test]
    fn planner_view_carries_identity_policy_and_capabilities() {
        let view = agent_pool(spec("https://dev.azure.com/contoso", "eks"))
            .planner_view()
            .unwrap();
        assert_eq!(view.key, PoolKey::new("ci", "linux"));
        assert_eq!(view.generation, 4);
        assert!(!view.deleting);
        assert_eq!(view.scaling.min_idle, 1);
        assert_eq!(view.scaling.max_agents, 5);
        assert_eq!(view.scaling.idle_timeout, Duration::from_secs(90));
        assert_eq!(
            view.capabilities.keys().collect::<Vec<_>>(),
            ["FROM_SECRET", "JAVA_HOME", "buildkit"]
        );
        let get = |name: &str| view.published.get(name).map(String::as_str);
        assert_eq!(
            get("FROM_SECRET"),
            None,
            "a Secret's value is never published"
        );
        assert_eq!(get("JAVA_HOME"), Some("/opt/java"));
        assert_eq!(get("buildkit"), Some("true"));
        assert_eq!(get("Agent.OS"), Some("Linux"));
    }

    #[test]
    fn malformed_duration_is_an_error_not_a_default() {
        let mut value = spec("https://dev.azure.com/contoso", "eks");
        value["scaling"]["idleTimeout"] = json!("10 minutes");
        let error = agent_pool(value).planner_view().unwrap_err();
        assert!(matches!(error, ViewError::IdleTimeout(_)), "{error}");
    }

    #[test]
    fn object_without_namespace_is_refused() {
        let mut pool = agent_pool(spec("https://dev.azure.com/contoso", "eks"));
        pool.metadata.namespace = None;
        assert_eq!(pool.pool_key(), Err(ViewError::NoNamespace("linux".into())));
    }

    #[test]
    fn spellings_of_one_azure_devops_pool_share_a_key() {
        let key = |org: &str, pool: &str| agent_pool(spec(org, pool)).spec.azure_devops_pool();
        assert_eq!(
            key("https://dev.azure.com/Contoso/", "EKS"),
            key("https://dev.azure.com/contoso", "eks")
        );
        assert_ne!(
            key("https://dev.azure.com/contoso", "eks"),
            key("https://dev.azure.com/contoso", "eks-gpu")
        );
        assert_ne!(
            key("https://dev.azure.com/contoso", "eks"),
            key("https://dev.azure.com/fabrikam", "eks")
        );
    }
}
