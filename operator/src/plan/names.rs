//! Names what a plan acts on, so `apply` can act and report without lookups of its own: the
//! agent name and pod of every agent the plan disables or removes, and the agent name of every
//! pod it deletes (for the re-read before a startup-timeout deletion).

use std::collections::BTreeMap;

use super::index::PoolIndex;
use super::{AgentId, Plan, PodName};

/// An agent a plan acts on, as Events and the pod annotation need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamedAgent {
    /// Agent name.
    pub name: String,
    /// Its pod: the live one registering this name, else the one the name encodes
    /// (`<namespace>.<pod>`, [`azp_contract::naming::pod_agent_name`]); none for placeholders.
    pub pod: Option<PodName>,
}

/// What a plan's agent ids and pod names stand for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    /// Every agent in `disable_agents` and `remove_registrations` that the observation holds.
    pub agents: BTreeMap<AgentId, NamedAgent>,
    /// The agent name each pod in `delete_pods` registers as.
    pub pod_agents: BTreeMap<PodName, String>,
}

impl Names {
    /// The agent name and pod of agent `id`, when the observation held it.
    pub fn agent(&self, id: AgentId) -> Option<&NamedAgent> {
        self.agents.get(&id)
    }

    /// The agent name pod `pod` registers as.
    pub fn agent_of_pod(&self, pod: &str) -> Option<&str> {
        self.pod_agents.get(pod).map(String::as_str)
    }
}

/// Fills `plan.names` from the observation the plan was made from.
pub(super) fn name_subjects(namespace: &str, index: &PoolIndex<'_>, plan: &mut Plan) {
    let ids = plan
        .disable_agents
        .iter()
        .copied()
        .chain(plan.remove_registrations.iter().map(|(id, _)| *id));
    let mut agents = BTreeMap::new();
    for id in ids {
        let Some(agent) = index.agent_by_id(id) else {
            continue;
        };
        let pod = index
            .pod_of_agent(&agent.name)
            .map(|pod| pod.name.clone())
            .or_else(|| encoded_pod(namespace, &agent.name, agent.is_placeholder));
        agents.insert(
            id,
            NamedAgent {
                name: agent.name.clone(),
                pod,
            },
        );
    }
    let pod_agents = plan
        .delete_pods
        .iter()
        .filter_map(|(pod, _)| {
            let view = index.pod_named(pod)?;
            Some((pod.clone(), view.agent_name.clone()))
        })
        .collect();
    plan.names = Names { agents, pod_agents };
}

/// The pod an agent name encodes (`<namespace>.<pod>`): a finished pod already deleted still
/// names its agent's Events.
fn encoded_pod(namespace: &str, agent_name: &str, placeholder: bool) -> Option<PodName> {
    if placeholder {
        return None;
    }
    azp_contract::naming::agent_pod_name(namespace, agent_name).map(str::to_owned)
}
