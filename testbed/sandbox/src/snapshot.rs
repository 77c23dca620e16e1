//! One observation of the whole system: the emulator's jobs, agents and request counters, and
//! kube-sim's agent pods and AgentPools. The live view, the invariants and the summary all read
//! these; nothing is assumed.

use std::collections::BTreeMap;

use azp_ado_emulator::stats::Stats;
use azp_ado_emulator::{AgentInfo, JobView};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// An agent pod as the sandbox sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodInfo {
    /// Pod name.
    pub name: String,
    /// The owning AgentPool (`azp.dev/pool` label), if any.
    pub agent_pool: Option<String>,
    /// The agent name the operator gave it (`azp.dev/agent-name` annotation).
    pub agent_name: Option<String>,
    /// `Pending`, `Running`, `Succeeded`, `Failed` (or `Unknown`).
    pub phase: String,
    /// It has a `deletionTimestamp`.
    pub terminating: bool,
    /// `creationTimestamp`.
    pub created: Option<DateTime<Utc>>,
    /// Which containers can read the PAT or the agent's registration.
    pub credentials: crate::credentials::PodCredentials,
}

/// Everything observed at one instant.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// Every job the emulator knows (`GET /_emulator/jobs`).
    pub jobs: Vec<JobView>,
    /// Every registered agent (`GET /_emulator/agents`).
    pub agents: Vec<AgentInfo>,
    /// Pods labelled `app.kubernetes.io/managed-by=azp-operator`.
    pub pods: Vec<PodInfo>,
    /// Names of the AgentPools that exist.
    pub agent_pools: Vec<String>,
    /// Notes of the operator's `JobFinished` Events for pods that ended `preflightFailed`.
    pub preflight_failures: Vec<String>,
    /// Operator-minted registration Secrets (listed before the pods).
    pub registration_secrets: Vec<crate::credentials::RegistrationSecret>,
    /// Request counters of the `_apis` surface (`GET /_emulator/stats`).
    #[serde(skip)]
    pub stats: Stats,
}

/// How an agent registration is doing, for the per-pool view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AgentState {
    /// The operator's offline placeholder.
    Placeholder,
    /// Online, holding a job.
    Busy,
    /// Online, no job.
    Idle,
    /// Disabled (draining).
    Disabled,
    /// Registered but offline.
    Offline,
}

impl AgentState {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Placeholder => "placeholder",
            Self::Busy => "busy",
            Self::Idle => "idle",
            Self::Disabled => "disabled",
            Self::Offline => "offline",
        }
    }

    /// Classifies one agent.
    pub fn of(agent: &AgentInfo) -> Self {
        if azp_contract::naming::is_placeholder_name(&agent.name) {
            Self::Placeholder
        } else if !agent.enabled {
            Self::Disabled
        } else if agent.assigned_request_id.is_some() {
            Self::Busy
        } else if agent.status == "online" {
            Self::Idle
        } else {
            Self::Offline
        }
    }
}

impl Snapshot {
    /// Job count per state (`queued`, `assigned`, `running`, `finished`).
    pub fn jobs_by_state(&self) -> BTreeMap<String, usize> {
        count(self.jobs.iter().map(|j| j.state.clone()))
    }

    /// Finished job count per result.
    pub fn results(&self) -> BTreeMap<String, usize> {
        count(
            self.jobs
                .iter()
                .filter(|j| j.state == "finished")
                .map(|j| j.result.clone().unwrap_or_else(|| "(none)".into())),
        )
    }

    /// Jobs not yet finished.
    pub fn unfinished_jobs(&self) -> usize {
        self.jobs.iter().filter(|j| j.state != "finished").count()
    }

    /// Pod count per phase; terminating pods count as `Terminating`.
    pub fn pods_by_phase(&self) -> BTreeMap<String, usize> {
        count(self.pods.iter().map(|p| {
            if p.terminating {
                "Terminating".to_owned()
            } else {
                p.phase.clone()
            }
        }))
    }

    /// Azure DevOps pool → agent state → count.
    pub fn agents_by_pool(&self) -> BTreeMap<String, BTreeMap<AgentState, usize>> {
        let mut out: BTreeMap<String, BTreeMap<AgentState, usize>> = BTreeMap::new();
        for agent in &self.agents {
            *out.entry(agent.pool.clone())
                .or_default()
                .entry(AgentState::of(agent))
                .or_default() += 1;
        }
        out
    }

    /// Counted `_apis` requests whose route key contains `needle` (e.g. `"GET "` + route).
    pub fn requests_matching(&self, method: &str, route_suffix: &str) -> u64 {
        self.stats
            .routes
            .iter()
            .filter(|(key, _)| {
                key.strip_prefix(method)
                    .and_then(|rest| rest.strip_prefix(' '))
                    .is_some_and(|route| route.ends_with(route_suffix))
            })
            .flat_map(|(_, by_status)| by_status.values())
            .sum()
    }
}

fn count(items: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for item in items {
        *out.entry(item).or_default() += 1;
    }
    out
}
