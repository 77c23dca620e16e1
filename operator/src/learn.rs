//! Learning what an agent image publishes, and keeping the placeholder in step with it.
//!
//! The operator cannot know which tools an image has on `PATH` or which version of the agent
//! it holds. Its first agent that has had a session tells: its session reports the capabilities
//! its own scan found, which Azure DevOps returns with `includeCapabilities=true` (the shared
//! poll already asks for them). They are recorded with the image in
//! `status.imageCapabilities` (so they survive an operator restart) and learned again when
//! `spec.agent.image` changes.

use std::collections::{BTreeMap, HashMap};

use azp_ado::{AdoClient, AdoError, Agent, AgentPatch, AgentStatus};
use azp_contract::{agent_env, naming};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use crate::crd::{AgentPool, ImageCapabilities};

/// Capabilities that differ from one agent of an image to the next: never recorded.
const PER_AGENT: &[&str] = &["Agent.Name", "Agent.ComputerName", "HOSTNAME", "PWD"];

/// What the first agent of the current image that has had a session says the image
/// publishes; `None` when `status` already knows it or there is no such agent yet.
pub fn learn(pool: &AgentPool, agents: &[Agent], pods: &[Pod]) -> Option<ImageCapabilities> {
    if crate::published::learned(pool).is_some() {
        return None;
    }
    let image = &pool.spec.agent.image;
    let namespace = pool.namespace().unwrap_or_default();
    let owner = naming::AgentPoolRef::new(&namespace, pool.name_any()).to_string();
    // Agent name → image of the pod it runs in, for this AgentPool's pods.
    let images: HashMap<String, &str> = pods
        .iter()
        .filter(|pod| pod.namespace().as_deref() == Some(namespace.as_str()))
        .filter_map(|pod| {
            let agent_image = pod
                .spec
                .as_ref()?
                .containers
                .iter()
                .find(|c| c.name == crate::render::AGENT_CONTAINER)?
                .image
                .as_deref()?;
            Some((
                naming::pod_agent_name(&namespace, &pod.name_any()),
                agent_image,
            ))
        })
        .collect();
    let agent = agents.iter().find(|agent| {
        has_had_a_session(agent)
            && agent
                .system_capabilities
                .get(naming::OWNER_CAPABILITY)
                .is_some_and(|value| *value == owner)
            && images.get(&agent.name) == Some(&image.as_str())
    })?;
    let spec_decides = crate::published::from_spec(pool);
    let capabilities: BTreeMap<String, String> = agent
        .system_capabilities
        .iter()
        .filter(|(name, _)| {
            !PER_AGENT.iter().any(|n| n.eq_ignore_ascii_case(name))
                && !spec_decides.contains_key(*name)
                && !azp_contract::env::ALL.contains(&name.as_str())
                && name.as_str() != agent_env::IGNORE_ENV
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    Some(ImageCapabilities {
        image: image.clone(),
        agent: agent.name.clone(),
        capabilities,
    })
}

/// Whether the agent's capabilities are its own scan rather than what registered it (the
/// operator mints registrations): a session reports the scan, and an agent that is online,
/// holds a job or finished one has had a session. Ephemeral agents are online for seconds,
/// so the ones that just finished their job count too.
fn has_had_a_session(agent: &Agent) -> bool {
    agent.status == Some(AgentStatus::Online)
        || agent.assigned_request.is_some()
        || agent.last_completed_request.is_some()
}

/// Brings the placeholder's published capabilities up to date with what the AgentPool's
/// agents publish now (spec edits, a newly learned image): one PATCH, only when they differ
/// and differ from what was last sent (`last_sent`), so a server that ignored the update
/// is not asked again at every poll.
pub async fn refresh_placeholder(
    ado: &AdoClient,
    pool_id: i32,
    pool: &AgentPool,
    agents: &[Agent],
    last_sent: &mut HashMap<String, BTreeMap<String, String>>,
) -> Result<bool, AdoError> {
    let key = naming::AgentPoolRef::new(pool.namespace().unwrap_or_default(), pool.name_any());
    let name = naming::placeholder_agent_name(&key);
    let Some(placeholder) = agents.iter().find(|agent| agent.name == name) else {
        return Ok(false);
    };
    let wanted = placeholder_capabilities(pool);
    let sorted: BTreeMap<String, String> = wanted.clone().into_iter().collect();
    if placeholder.system_capabilities == wanted || last_sent.get(&name) == Some(&sorted) {
        return Ok(false);
    }
    last_sent.insert(name, sorted);
    ado.update_agent(
        pool_id,
        placeholder.id,
        &AgentPatch {
            system_capabilities: Some(wanted),
            ..AgentPatch::default()
        },
    )
    .await?;
    Ok(true)
}

/// What the placeholder of `pool` publishes: what its agents publish, and the ownership
/// capability.
pub fn placeholder_capabilities(pool: &AgentPool) -> HashMap<String, String> {
    let key = naming::AgentPoolRef::new(pool.namespace().unwrap_or_default(), pool.name_any());
    let mut capabilities: HashMap<String, String> =
        crate::published::capabilities(pool).into_iter().collect();
    capabilities.insert(naming::OWNER_CAPABILITY.into(), key.to_string());
    capabilities
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pool() -> AgentPool {
        serde_json::from_value(json!({
            "apiVersion": "azp.dev/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": "linux", "namespace": "ci"},
            "spec": {
                "organization": "https://dev.azure.com/contoso",
                "pool": "eks",
                "auth": {"patSecretRef": {"name": "pat"}},
                "agent": {"image": "agent:2", "env": [{"name": "JAVA_HOME", "value": "/opt/java"}]},
                "capabilities": {"buildkit": "true"}
            }
        }))
        .unwrap()
    }

    fn pod(name: &str, image: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ci"},
            "spec": {"containers": [{"name": "agent", "image": image}]}
        }))
        .unwrap()
    }

    fn agent(name: &str, online: bool, owner: &str) -> Agent {
        serde_json::from_value(json!({
            "id": 7,
            "name": name,
            "status": if online { "online" } else { "offline" },
            "systemCapabilities": {
                "AZP_AGENTPOOL": owner,
                "Agent.Name": name,
                "Agent.ComputerName": "linux-abcde",
                "Agent.OS": "Linux",
                "Agent.Version": "4.261.0",
                "git": "/usr/bin/git",
                "PATH": "/usr/local/bin:/usr/bin",
                "JAVA_HOME": "/opt/java",
                "buildkit": "true",
                "AZP_POD_NAME": "linux-abcde",
                "VSO_AGENT_IGNORE": "AZP_TOKEN"
            }
        }))
        .unwrap()
    }

    #[test]
    fn the_first_online_agent_of_the_current_image_teaches_what_the_image_publishes() {
        let pool = pool();
        let pods = [pod("linux-old", "agent:1"), pod("linux-abcde", "agent:2")];
        let agents = [
            agent("ci.linux-old", true, "ci/linux"),
            agent("ci.linux-abcde", false, "ci/linux"),
        ];
        assert_eq!(learn(&pool, &agents, &pods), None, "old image, or offline");
        let agents = [agent("ci.linux-abcde", true, "ci/other")];
        assert_eq!(learn(&pool, &agents, &pods), None, "someone else's agent");
        let agents = [agent("ci.linux-abcde", true, "ci/linux")];
        let learned = learn(&pool, &agents, &pods).unwrap();
        assert_eq!(learned.image, "agent:2");
        assert_eq!(learned.agent, "ci.linux-abcde");
        assert_eq!(
            learned.capabilities.keys().collect::<Vec<_>>(),
            ["Agent.Version", "PATH", "git"],
            "per-agent values and what the spec decides (Agent.OS too) are left out"
        );
    }

    #[test]
    fn nothing_is_learned_again_for_a_known_image() {
        let mut pool = pool();
        pool.status = Some(crate::crd::AgentPoolStatus {
            image_capabilities: Some(ImageCapabilities {
                image: "agent:2".into(),
                ..ImageCapabilities::default()
            }),
            ..Default::default()
        });
        let agents = [agent("ci.linux-abcde", true, "ci/linux")];
        assert_eq!(
            learn(&pool, &agents, &[pod("linux-abcde", "agent:2")]),
            None
        );
    }

    #[test]
    fn the_placeholder_publishes_the_agents_capabilities_and_the_owner() {
        let capabilities = placeholder_capabilities(&pool());
        assert_eq!(capabilities["AZP_AGENTPOOL"], "ci/linux");
        assert_eq!(capabilities["Agent.OS"], "Linux");
        assert_eq!(capabilities["JAVA_HOME"], "/opt/java");
        assert_eq!(capabilities["buildkit"], "true");
    }
}
