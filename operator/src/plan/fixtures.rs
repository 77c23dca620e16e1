//! Builders for planner tests: every AgentPool lives in namespace `ci` unless stated, agents
//! are named by the contract's pod naming rule, and times are offsets from a fixed instant.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azp_contract::naming::{placeholder_agent_name, pod_agent_name};

use super::*;

/// Namespace of the fixtures' AgentPools.
pub(crate) const NS: &str = "ci";
/// The spec hash of every fixture AgentPool and of the pods made from it.
pub(crate) const SPEC: &str = "spec-1";

/// `secs` seconds after a fixed instant.
pub(crate) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

/// `ci/<name>`.
pub(crate) fn key(name: &str) -> PoolKey {
    PoolKey::new(NS, name)
}

/// Agent name of pod `pod` in namespace `ci`.
pub(crate) fn agent_name(pod: &str) -> String {
    pod_agent_name(NS, pod)
}

/// AgentPool `ci/<name>` with the given capabilities, minIdle 0, maxAgents 10, idle 10m.
pub(crate) fn pool(name: &str, capabilities: &[(&str, &str)]) -> AgentPoolView {
    AgentPoolView {
        key: key(name),
        capabilities: capabilities
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        published: BTreeMap::new(),
        scaling: ScalingPolicy {
            min_idle: 0,
            max_agents: 10,
            idle_timeout: Duration::from_secs(600),
        },
        generation: 1,
        spec_hash: SPEC.to_owned(),
        deleting: false,
        minted: false,
    }
}

impl AgentPoolView {
    pub(crate) fn in_namespace(mut self, namespace: &str) -> Self {
        self.key.namespace = namespace.to_owned();
        self
    }
    pub(crate) fn min_idle(mut self, n: u32) -> Self {
        self.scaling.min_idle = n;
        self
    }
    pub(crate) fn max_agents(mut self, n: u32) -> Self {
        self.scaling.max_agents = n;
        self
    }
    pub(crate) fn idle_timeout(mut self, secs: u64) -> Self {
        self.scaling.idle_timeout = Duration::from_secs(secs);
        self
    }
    pub(crate) fn deleting(mut self) -> Self {
        self.deleting = true;
        self
    }
    /// The AgentPool's spec was edited: pods of [`SPEC`] are outdated.
    pub(crate) fn edited(mut self) -> Self {
        self.spec_hash = "spec-2".to_owned();
        self
    }
}

/// A pending job without demands, queued at `at(id)`.
pub(crate) fn job(id: RequestId) -> JobView {
    JobView {
        request_id: id,
        demands: Vec::new(),
        matched_agent_ids: None,
        assigned_agent: None,
        queue_time: at(u64::try_from(id).unwrap_or(0)),
        received: false,
        finished: false,
    }
}

impl JobView {
    pub(crate) fn demands(mut self, demands: &[&str]) -> Self {
        self.demands = demands.iter().map(|d| (*d).to_owned()).collect();
        self
    }
    pub(crate) fn matched(mut self, ids: &[i64]) -> Self {
        self.matched_agent_ids = Some(
            ids.iter()
                .map(|id| i32::try_from(*id).unwrap_or(i32::MAX))
                .collect(),
        );
        self
    }
    pub(crate) fn assigned_to(mut self, agent: &str) -> Self {
        self.assigned_agent = Some(agent.to_owned());
        self
    }
    pub(crate) fn received(mut self) -> Self {
        self.received = true;
        self
    }
    pub(crate) fn finished(mut self) -> Self {
        self.finished = true;
        self
    }
}

/// Online, enabled, unassigned agent of pod `pod` owned by `ci/<pool>`, registered and idle
/// since `at(0)`.
pub(crate) fn agent(id: AgentId, pool: &str, pod: &str) -> AgentView {
    AgentView {
        id,
        name: agent_name(pod),
        enabled: true,
        online: true,
        assigned_request: None,
        last_completed_request: None,
        owner: Some(key(pool)),
        is_placeholder: false,
        created: at(0),
        last_active: at(0),
    }
}

/// The offline placeholder of `ci/<pool>`.
pub(crate) fn placeholder(id: AgentId, pool: &str) -> AgentView {
    AgentView {
        name: placeholder_agent_name(&key(pool)),
        online: false,
        is_placeholder: true,
        ..agent(id, pool, "unused")
    }
}

impl AgentView {
    pub(crate) fn offline(mut self) -> Self {
        self.online = false;
        self
    }
    pub(crate) fn disabled(mut self) -> Self {
        self.enabled = false;
        self
    }
    pub(crate) fn busy(mut self, request: RequestId) -> Self {
        self.assigned_request = Some(request);
        self
    }
    pub(crate) fn completed(mut self, request: RequestId) -> Self {
        self.last_completed_request = Some(request);
        self
    }
    pub(crate) fn registered_at(mut self, time: SystemTime) -> Self {
        self.created = time;
        self
    }
    pub(crate) fn idle_since(mut self, time: SystemTime) -> Self {
        self.last_active = time;
        self
    }
    pub(crate) fn unowned(mut self) -> Self {
        self.owner = None;
        self
    }
}

/// Running pod `name` of `ci/<pool>`, created at `at(0)`.
pub(crate) fn pod(name: &str, pool: &str) -> PodView {
    PodView {
        name: name.to_owned(),
        owner: key(pool),
        phase: PodPhase::Running,
        created: at(0),
        deleting: false,
        draining: false,
        agent_name: agent_name(name),
        outcome_recorded: false,
        spec_hash: Some(SPEC.to_owned()),
        start_blocked: None,
        agent_exited: None,
    }
}

impl PodView {
    pub(crate) fn phase(mut self, phase: PodPhase) -> Self {
        self.phase = phase;
        self
    }
    pub(crate) fn draining(mut self) -> Self {
        self.draining = true;
        self
    }
    pub(crate) fn deleting(mut self) -> Self {
        self.deleting = true;
        self
    }
    pub(crate) fn recorded(mut self) -> Self {
        self.outcome_recorded = true;
        self
    }
    pub(crate) fn created_at(mut self, time: SystemTime) -> Self {
        self.created = time;
        self
    }
    /// Its `agent` container terminated at `time`.
    pub(crate) fn agent_exited_at(mut self, time: SystemTime) -> Self {
        self.agent_exited = Some(time);
        self
    }
    /// Made from the spec with this hash (`None`: by an operator that recorded none).
    pub(crate) fn spec(mut self, hash: Option<&str>) -> Self {
        self.spec_hash = hash.map(str::to_owned);
        self
    }
}

/// A snapshot observed at `now`.
pub(crate) fn snapshot(
    pools: Vec<AgentPoolView>,
    jobs: Vec<JobView>,
    agents: Vec<AgentView>,
    pods: Vec<PodView>,
    now: SystemTime,
) -> PoolSnapshot {
    PoolSnapshot {
        pools,
        jobs,
        agents,
        pods,
        now,
        orphan_scope: None,
    }
}

/// Plans with default settings and returns the plan of `ci/<name>`.
pub(crate) fn plan_of(snapshot: &PoolSnapshot, name: &str) -> Plan {
    plan(snapshot, &PlannerSettings::default())
        .for_pool(&key(name))
        .cloned()
        .unwrap_or_else(|| panic!("no plan for ci/{name}"))
}
