//! What an agent of an AgentPool publishes to Azure DevOps, predicted before its pod exists.
//!
//! The planner matches job demands against it and the placeholder registration (which keeps
//! jobs queued while the AgentPool is at zero) publishes it. Three parts, later ones winning:
//!
//! 1. What the image publishes: learned from its first agent ([`crate::learn`],
//!    `status.imageCapabilities`). Until then, the names of the tools Microsoft's Linux agent
//!    looks for on `PATH` ([`LINUX_AGENT_TOOLS`]), assumed present so that Azure DevOps
//!    queues such a job instead of failing it at once; the first pod then teaches the truth.
//! 2. The environment the operator renders onto the `agent` container, put through the same
//!    function `azp-agent` applies to its real environment ([`azp_contract::agent_env`]).
//! 3. `Agent.OS` and `Agent.OSArchitecture`, which every Linux agent publishes.

use std::collections::BTreeMap;

use azp_contract::{agent_env, env, naming};
use kube::ResourceExt;

use crate::crd::{AgentPool, ImageCapabilities};

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

/// Capabilities Microsoft's Linux agent publishes for tools it finds on `PATH`
/// (`NixCapabilitiesProvider.cs`; the stand-in agent scans the same list).
pub const LINUX_AGENT_TOOLS: &[&str] = &[
    "ant",
    "AzureGuestAgent",
    "bundler",
    "clang",
    "cmake",
    "curl",
    "docker",
    "dotnet",
    "git",
    "gulp",
    "java",
    "JDK",
    "make",
    "maven",
    "MSBuild",
    "node.js",
    "npm",
    "python",
    "python3",
    "sh",
    "subversion",
    "ruby",
    "rake",
    "svn",
    "AndroidSDK",
];

/// The capabilities an agent of `pool` publishes, as far as the operator knows them (see
/// the module documentation). A value the operator cannot know (a `valueFrom`, a
/// downward-API field, a tool not learned yet) is empty.
pub fn capabilities(pool: &AgentPool) -> BTreeMap<String, String> {
    let mut capabilities = match learned(pool) {
        Some(image) => image.capabilities.clone(),
        None => LINUX_AGENT_TOOLS
            .iter()
            .map(|tool| ((*tool).to_owned(), String::new()))
            .collect(),
    };
    capabilities.extend(from_spec(pool));
    capabilities
}

/// What `status.imageCapabilities` says about the current `spec.agent.image`, if anything.
pub fn learned(pool: &AgentPool) -> Option<&ImageCapabilities> {
    pool.status
        .as_ref()
        .and_then(|status| status.image_capabilities.as_ref())
        .filter(|learned| learned.image == pool.spec.agent.image)
}

/// The part the AgentPool's spec decides: the agent's environment and `Agent.OS`,
/// `Agent.OSArchitecture`.
pub fn from_spec(pool: &AgentPool) -> BTreeMap<String, String> {
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
    let ignored = rendered
        .iter()
        .find(|(name, _)| name == agent_env::IGNORE_ENV)
        .map(|(_, list)| list.clone());
    let mut environment =
        agent_env::agent_environment(rendered, &pass_env, &pool.spec.capabilities);
    // As azp-agent does: the rendered ignore list (Secret-backed entries) is honoured.
    if let Some(list) = ignored {
        environment.insert(agent_env::IGNORE_ENV.to_owned(), list);
    }
    let mut capabilities = agent_env::published(&environment);
    capabilities.remove(agent_env::IGNORE_ENV);
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
                    {"name": "FROM_CONFIG", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
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
        assert_eq!(get("FROM_CONFIG"), Some(""), "valueFrom: value unknown");
        assert_eq!(get("FROM_SECRET"), None, "reaches the job, never published");
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
    fn tools_are_assumed_until_learned_then_the_image_decides() {
        let mut agent_pool = pool(json!({}));
        let assumed = capabilities(&agent_pool);
        assert_eq!(assumed.get("git").map(String::as_str), Some(""));
        assert_eq!(assumed.get("maven").map(String::as_str), Some(""));
        let learned = ImageCapabilities {
            image: "agent:1".into(),
            agent: "ci.linux-abcde".into(),
            capabilities: BTreeMap::from([
                ("git".to_owned(), "/usr/bin/git".to_owned()),
                ("Agent.Version".to_owned(), "4.261.0".to_owned()),
                ("JAVA_HOME".to_owned(), "/from/the/image".to_owned()),
            ]),
        };
        agent_pool.status = Some(crate::crd::AgentPoolStatus {
            image_capabilities: Some(learned),
            ..Default::default()
        });
        let known = capabilities(&agent_pool);
        assert_eq!(known.get("git").map(String::as_str), Some("/usr/bin/git"));
        assert_eq!(
            known.get("Agent.Version").map(String::as_str),
            Some("4.261.0")
        );
        assert_eq!(known.get("maven"), None, "not in the image");
        assert_eq!(
            known.get("JAVA_HOME").map(String::as_str),
            Some("/opt/java"),
            "spec wins"
        );
        agent_pool.spec.agent.image = "agent:2".into();
        assert_eq!(
            capabilities(&agent_pool).get("maven").map(String::as_str),
            Some(""),
            "a new image is not known yet"
        );
    }

    #[test]
    fn the_tool_list_is_the_stand_in_agents() {
        let stand_in: Vec<&str> = azp_ado_emulator::standin::capabilities::TOOLS
            .iter()
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(stand_in, LINUX_AGENT_TOOLS);
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
