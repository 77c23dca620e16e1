//! Lookups over one snapshot, built once per plan.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{AgentId, AgentView, PodView, PoolKey, PoolSnapshot, RequestId};

/// The snapshot's agents and pods grouped the ways the rules need them.
pub(crate) struct PoolIndex<'a> {
    agents_by_owner: BTreeMap<&'a PoolKey, Vec<&'a AgentView>>,
    agents_by_name: HashMap<&'a str, &'a AgentView>,
    agents_by_id: HashMap<AgentId, &'a AgentView>,
    pods_by_name: HashMap<&'a str, &'a PodView>,
    pods_by_owner: BTreeMap<&'a PoolKey, Vec<&'a PodView>>,
    pods_by_agent_name: HashMap<&'a str, &'a PodView>,
    /// Agents Azure DevOps reports as holding a job, from either side of the observation:
    /// the agent's `assignedRequest` or a job's `reservedAgent`. The two lists are read at
    /// slightly different times, and a busy agent must never look idle.
    busy_agent_names: HashSet<&'a str>,
    /// Jobs some agent holds or has completed, per the agent list. The job list is read
    /// first, so a job an agent took in between still looks pending there; counting it would
    /// plan a pod for a job that already has one.
    taken_requests: HashSet<RequestId>,
}

impl<'a> PoolIndex<'a> {
    pub(crate) fn new(snapshot: &'a PoolSnapshot) -> Self {
        let mut agents_by_owner: BTreeMap<&PoolKey, Vec<&AgentView>> = BTreeMap::new();
        let mut agents_by_name = HashMap::new();
        let mut agents_by_id = HashMap::new();
        let mut busy_agent_names = HashSet::new();
        let mut taken_requests = HashSet::new();
        for agent in &snapshot.agents {
            taken_requests.extend(agent.assigned_request);
            taken_requests.extend(agent.last_completed_request);
            if let Some(owner) = &agent.owner {
                agents_by_owner.entry(owner).or_default().push(agent);
            }
            agents_by_name.insert(agent.name.as_str(), agent);
            agents_by_id.insert(agent.id, agent);
            if agent.assigned_request.is_some() {
                busy_agent_names.insert(agent.name.as_str());
            }
        }
        for job in &snapshot.jobs {
            if let (Some(agent), false) = (&job.assigned_agent, job.finished) {
                busy_agent_names.insert(agent.as_str());
            }
        }
        let mut pods_by_owner: BTreeMap<&PoolKey, Vec<&PodView>> = BTreeMap::new();
        let mut pods_by_agent_name: HashMap<&str, &PodView> = HashMap::new();
        let mut pods_by_name = HashMap::new();
        for pod in &snapshot.pods {
            pods_by_name.insert(pod.name.as_str(), pod);
            pods_by_owner.entry(&pod.owner).or_default().push(pod);
            // A live pod wins over a finished or deleting one claiming the same agent name.
            match pods_by_agent_name.get(pod.agent_name.as_str()) {
                Some(existing) if existing.is_live() => {}
                _ => {
                    pods_by_agent_name.insert(pod.agent_name.as_str(), pod);
                }
            }
        }
        Self {
            agents_by_owner,
            agents_by_name,
            agents_by_id,
            pods_by_name,
            pods_by_owner,
            pods_by_agent_name,
            busy_agent_names,
            taken_requests,
        }
    }

    /// Agents whose ownership capability names `pool` (placeholders included).
    pub(crate) fn agents_of(&self, pool: &PoolKey) -> &[&'a AgentView] {
        self.agents_by_owner.get(pool).map_or(&[], Vec::as_slice)
    }

    /// Pods owned by `pool`, in snapshot order.
    pub(crate) fn pods_of(&self, pool: &PoolKey) -> &[&'a PodView] {
        self.pods_by_owner.get(pool).map_or(&[], Vec::as_slice)
    }

    /// The registered agent with this name.
    pub(crate) fn agent_named(&self, name: &str) -> Option<&'a AgentView> {
        self.agents_by_name.get(name).copied()
    }

    /// The registered agent with this id.
    pub(crate) fn agent_by_id(&self, id: AgentId) -> Option<&'a AgentView> {
        self.agents_by_id.get(&id).copied()
    }

    /// The pod with this name.
    pub(crate) fn pod_named(&self, name: &str) -> Option<&'a PodView> {
        self.pods_by_name.get(name).copied()
    }

    /// The pod registering this agent name (a live one when several claim it).
    pub(crate) fn pod_of_agent(&self, agent_name: &str) -> Option<&'a PodView> {
        self.pods_by_agent_name.get(agent_name).copied()
    }

    /// Whether the agent list shows an agent holding or having completed this job.
    pub(crate) fn is_taken(&self, request: RequestId) -> bool {
        self.taken_requests.contains(&request)
    }

    /// Whether Azure DevOps shows this agent holding a job.
    pub(crate) fn is_busy(&self, agent_name: &str) -> bool {
        self.busy_agent_names.contains(agent_name)
    }
}
