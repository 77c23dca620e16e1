//! What an agent of an AgentPool publishes to Azure DevOps, predicted before its pod exists.
//!
//! The planner matches job demands against it and the placeholder registration (which keeps
//! jobs queued while the AgentPool is at zero) publishes it. It is computed by the same
//! function `azp-agent` applies to its real environment ([`azp_contract::agent_env`]), fed
//! with the environment the operator renders onto the `agent` container, plus the `Agent.*`
//! values every Linux agent publishes.

use std::collections::BTreeMap;

use azp_contract::{agent_env, env, naming};
use kube::ResourceExt;

use crate::crd::AgentPool;

/// `kubernetes.io/arch` values → .NET `RuntimeInformation.OSArchitecture` names, which the
/// official agent publishes as `Agent.OSArchitecture`.
const ARCHITECTURES: &[(&str, &str)] = &[
    ("amd64", "X64"),
    ("arm64", "ARM64"),
    ("386", "X86"),
    ("arm", "ARM"),
    ("s390x", "S390x"),
    ("ppc64le", "Ppc64le"),
];

/// The capabilities an agent of `pool` publishes, as far as the operator can know them
/// without running one: `Agent.OS`, `Agent.OSArchitecture`, and every variable that reaches
/// the agent's environment (contract variables, `spec.capabilities`, `spec.agent.env`;
/// a `valueFrom` value or a downward-API field is not known here and counts as empty).
pub fn capabilities(pool: &AgentPool) -> BTreeMap<String, String> {
    let namespace = pool.namespace().unwrap_or_default();
    let key = naming::AgentPoolRef::new(&namespace, pool.name_any());
    let agent_name = naming::placeholder_agent_name(&key);
    let rendered: Vec<(String, String)> = crate::render::agent_env(pool, &namespace, &agent_name)
        .into_iter()
        .map(|var| (var.name, var.value.unwrap_or_default()))
        .collect();
    let pass_env = rendered
        .iter()
        .find(|(name, _)| name == env::PASS_ENV)
        .map(|(_, names)| agent_env::parse_pass_env(names))
        .unwrap_or_default();
    let environment = agent_env::agent_environment(rendered, &pass_env, &pool.spec.capabilities);
    let mut capabilities = agent_env::published(&environment);
    capabilities.insert("Agent.OS".to_owned(), "Linux".to_owned());
    capabilities.insert(
        "Agent.OSArchitecture".to_owned(),
        os_architecture(pool).to_owned(),
    );
    capabilities
}

/// The architecture the AgentPool's pods are pinned to by `spec.template`'s
/// `nodeSelector` (`kubernetes.io/arch`); without one, `X64`, the architecture of the
/// default node groups of EKS, AKS and GKE (a mixed cluster should pin it).
pub fn os_architecture(pool: &AgentPool) -> &'static str {
    let selected = pool
        .spec
        .template
        .as_ref()
        .and_then(|template| template.pointer("/spec/nodeSelector/kubernetes.io~1arch"))
        .and_then(serde_json::Value::as_str);
    match selected {
        Some(arch) => ARCHITECTURES
            .iter()
            .find(|(kubernetes, _)| *kubernetes == arch)
            .map_or("X64", |(_, dotnet)| dotnet),
        None => "X64",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pool(extra: serde_json::Value) -> AgentPool {
        let mut spec = json!({
            "organization": "https://dev.azure.com/contoso",
            "pool": "eks",
            "auth": {"patSecretRef": {"name": "pat"}},
            "agent": {
                "image": "agent:1",
                "env": [
                    {"name": "JAVA_HOME", "value": "/opt/java"},
                    {"name": "buildkit", "value": "from-env"},
                    {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    {"name": "AZP_AGENTPOOL", "value": "evil/x"},
                    {"name": "AZP_TOKEN", "value": "pat"}
                ]
            },
            "capabilities": {"buildkit": "true"}
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(json!({
            "apiVersion": "azp.dev/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": "linux", "namespace": "ci"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn env_entries_capabilities_and_contract_variables_are_published_but_not_secrets() {
        let published = capabilities(&pool(json!({})));
        let get = |name: &str| published.get(name).map(String::as_str);
        assert_eq!(get("JAVA_HOME"), Some("/opt/java"));
        assert_eq!(
            get("FROM_SECRET"),
            Some(""),
            "valueFrom: present, value unknown"
        );
        assert_eq!(get("buildkit"), Some("true"), "capabilities win over env");
        assert_eq!(
            get("AZP_AGENTPOOL"),
            Some("ci/linux"),
            "not the user's override"
        );
        assert_eq!(get("AZP_POOL"), Some("eks"));
        assert_eq!(get("Agent.OS"), Some("Linux"));
        assert_eq!(get("Agent.OSArchitecture"), Some("X64"));
        for hidden in [
            "AZP_TOKEN",
            "AZP_PASS_ENV",
            "AZP_CAPABILITIES",
            "AZP_TOKEN_FILE",
        ] {
            assert_eq!(get(hidden), None, "{hidden} must not be published");
        }
    }

    #[test]
    fn architecture_follows_the_node_selector() {
        let arm =
            pool(json!({"template": {"spec": {"nodeSelector": {"kubernetes.io/arch": "arm64"}}}}));
        assert_eq!(
            capabilities(&arm)
                .get("Agent.OSArchitecture")
                .map(String::as_str),
            Some("ARM64")
        );
    }
}
