//! The pure planning step: from one observation of an Azure DevOps pool and the Kubernetes
//! objects of every AgentPool that serves it, decide what each AgentPool should do.
//!
//! No I/O happens here and no client types appear: the controller maps Azure DevOps and
//! Kubernetes objects onto the views below, calls [`plan`], and applies the result. The
//! planner runs once per Azure DevOps pool (organization + pool name) because one queue
//! poll serves every AgentPool pointing at it (scaling rule 1).
//!
//! * [`attribute`] — rule 2: each pending job is counted for exactly one AgentPool.
//! * [`capacity`] — rules 3 and 4: how many pods to create, which idle agents to drain.
//! * [`cleanup`] — rules 5 and 6: stale registrations, finished pods, placeholders, deletion.
//! * [`orphans`] — registrations of AgentPools that no longer exist.
//!
//! Two-step scale-down (rule 4) spans two plans: this plan lists an idle agent in
//! `disable_agents`; the controller disables it in Azure DevOps and sets the pod's
//! [`azp_contract::labels::DRAINING`] annotation; the next plan, built from a fresh read,
//! deletes the pod only if the agent is still unassigned.
//!
//! Finished pods (Succeeded/Failed) are deleted only once the controller has recorded their
//! termination message and marked them ([`PodView::outcome_recorded`]), so no outcome is lost,
//! and once their registration is gone from the agent list (see [`cleanup`]), so none is left.

pub mod attribute;
pub mod capacity;
pub mod cleanup;
mod index;
mod names;
pub mod orphans;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

pub use azp_contract::AgentPoolRef as PoolKey;

use index::PoolIndex;
pub use names::{NamedAgent, Names};
pub use orphans::{OrphanScope, OrphanedRegistration};

/// Azure DevOps agent id.
pub type AgentId = i64;
/// Azure DevOps job request id.
pub type RequestId = i64;
/// Kubernetes pod name (the namespace is the owning AgentPool's).
pub type PodName = String;

/// Everything the planner looks at, for all AgentPools that share one Azure DevOps pool.
#[derive(Clone, Debug)]
pub struct PoolSnapshot {
    /// The AgentPools pointing at this Azure DevOps pool.
    pub pools: Vec<AgentPoolView>,
    /// Unfinished job requests of the pool (`jobrequests?completedRequestCount=0`).
    pub jobs: Vec<JobView>,
    /// Registered agents of the pool, including placeholders and agents of other owners.
    pub agents: Vec<AgentView>,
    /// Agent pods of every AgentPool in `pools`.
    pub pods: Vec<PodView>,
    /// Observation time.
    pub now: SystemTime,
    /// Which AgentPools exist at all, for the orphan sweep; `None` skips the sweep.
    pub orphan_scope: Option<OrphanScope>,
}

/// One AgentPool as the planner needs it.
#[derive(Clone, Debug)]
pub struct AgentPoolView {
    /// `<namespace>/<name>`.
    pub key: PoolKey,
    /// Capabilities the AgentPool's spec gives its agents (`spec.capabilities`, the names of
    /// `spec.agent.env`): a job demanding them prefers this AgentPool (rule 2).
    pub capabilities: BTreeMap<String, String>,
    /// Everything its agents publish as far as the operator knows
    /// ([`crate::published::capabilities`]); demands are matched against these, the
    /// `capabilities` above, and the implicit ones ([`attribute::IMPLICIT_CAPABILITIES`], the
    /// ownership capability) the planner adds.
    pub published: BTreeMap<String, String>,
    /// Scaling bounds, already parsed.
    pub scaling: ScalingPolicy,
    /// `metadata.generation`.
    pub generation: i64,
    /// Hash of the spec parts that shape its pods ([`crate::crd::AgentPoolSpec::pod_spec_hash`]);
    /// a pod carrying another one runs an old spec and is rolled (see [`capacity`]).
    pub spec_hash: String,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// The operator mints this AgentPool's registrations (`spec.registration: operator`): a
    /// registration exists only once the operator has made it, right before creating its
    /// pod, so an offline one without a pod needs no grace period.
    pub minted: bool,
}

/// Parsed `spec.scaling`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// Idle agents kept beyond pending jobs.
    pub min_idle: u32,
    /// Upper bound on live pods.
    pub max_agents: u32,
    /// How long a surplus agent may stay idle before it is drained.
    pub idle_timeout: Duration,
}

/// One unfinished Azure DevOps job request.
#[derive(Clone, Debug)]
pub struct JobView {
    /// `requestId`.
    pub request_id: RequestId,
    /// `demands`, as strings (`"maven"`, `"java -equals /usr/bin/java"`).
    pub demands: Vec<String>,
    /// Ids of `matchedAgents` when Azure DevOps returned them (online or offline agents,
    /// placeholders included); `None` when the response had no such field. Ids, not names:
    /// the list repeats every matching agent for every job, and an id is 4 bytes.
    pub matched_agent_ids: Option<Vec<i32>>,
    /// Name of `reservedAgent`, once Azure DevOps assigned the job.
    pub assigned_agent: Option<String>,
    /// `queueTime`.
    pub queue_time: SystemTime,
    /// `receiveTime` is set: an agent picked the job up.
    pub received: bool,
    /// `result` is set (should not appear with `completedRequestCount=0`; tolerated).
    pub finished: bool,
}

impl JobView {
    /// Pending: no result, no assigned or reserved agent, not received by any agent.
    pub fn is_pending(&self) -> bool {
        !self.finished && self.assigned_agent.is_none() && !self.received
    }
}

/// One registered Azure DevOps agent.
#[derive(Clone, Debug)]
pub struct AgentView {
    /// Agent id.
    pub id: AgentId,
    /// Agent name.
    pub name: String,
    /// `enabled`.
    pub enabled: bool,
    /// `status == online`.
    pub online: bool,
    /// `assignedRequest.requestId`.
    pub assigned_request: Option<RequestId>,
    /// `lastCompletedRequest.requestId`: a `--once` agent that completed a job is on its way
    /// out and offers no capacity.
    pub last_completed_request: Option<RequestId>,
    /// AgentPool named by the agent's ownership capability, when present and parseable.
    pub owner: Option<PoolKey>,
    /// The agent is an AgentPool's offline placeholder.
    pub is_placeholder: bool,
    /// `createdOn`: registration time.
    pub created: SystemTime,
    /// `statusChangedOn`: when the agent last went online/offline; the start of idleness.
    pub last_active: SystemTime,
}

/// Lifecycle phase of a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// Not all containers started yet.
    Pending,
    /// Running.
    Running,
    /// All containers exited 0.
    Succeeded,
    /// A container failed.
    Failed,
    /// The kubelet lost track.
    Unknown,
}

impl PodPhase {
    /// Succeeded or Failed: the agent process is gone for good.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// One agent pod.
#[derive(Clone, Debug, PartialEq)]
pub struct PodView {
    /// Pod name.
    pub name: PodName,
    /// Owning AgentPool.
    pub owner: PoolKey,
    /// Phase.
    pub phase: PodPhase,
    /// `metadata.creationTimestamp`.
    pub created: SystemTime,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// The [`azp_contract::labels::DRAINING`] annotation is set: we disabled its agent.
    pub draining: bool,
    /// The agent name the pod registers as ([`azp_contract::labels::AGENT_NAME`]).
    pub agent_name: String,
    /// The controller recorded the termination message
    /// ([`azp_contract::labels::OUTCOME_RECORDED`]); a finished pod may then be deleted.
    pub outcome_recorded: bool,
    /// The spec hash the pod was rendered with ([`azp_contract::labels::SPEC_HASH`]); `None`
    /// for pods of an operator that did not set it.
    pub spec_hash: Option<String>,
    /// A container of the Pending pod waits with a reason that does not go away by itself
    /// ([`crate::observe::BLOCKING_REASONS`]: image pull errors, `CreateContainerConfigError`).
    pub start_blocked: Option<&'static str>,
    /// When the `agent` container terminated (`restartPolicy: Never`: for good), if it has;
    /// the pod may still be Running when another container does not exit
    /// ([`PlannerSettings::pod_finish_timeout`]).
    pub agent_exited: Option<SystemTime>,
}

impl PodView {
    /// Its agent is gone for good: the pod is Succeeded/Failed, or its `agent` container has
    /// terminated while another container keeps the pod Running ("finishing").
    pub fn is_finished(&self) -> bool {
        self.phase.is_finished() || self.agent_exited.is_some()
    }

    /// Counts against `maxAgents` and may host an agent: not finished, not being deleted.
    pub fn is_live(&self) -> bool {
        !self.deleting && !self.is_finished()
    }

    /// Made from another spec than `current`. A pod without a hash was made by an operator
    /// that did not record one: what it runs cannot be shown to match, so it counts as
    /// outdated and is rolled like any other (once idle, surge first; a busy one is left alone).
    pub fn is_outdated(&self, current: &str) -> bool {
        self.spec_hash.as_deref() != Some(current)
    }
}

/// Tunables of the planner that are not part of the AgentPool spec.
#[derive(Clone, Copy, Debug)]
pub struct PlannerSettings {
    /// A registration younger than this is never removed for lack of a pod: the pod may
    /// simply not be in the informer cache yet.
    pub registration_grace: Duration,
    /// A pod still Pending, or Running without its agent registered, this long after its
    /// creation is deleted (with its registration, if any) and replaced.
    pub pod_startup_timeout: Duration,
    /// A pod whose `agent` container terminated but that is still not Succeeded/Failed this
    /// long after (a container that never exits) is deleted, once its outcome is recorded
    /// and its registration removed.
    pub pod_finish_timeout: Duration,
}

impl Default for PlannerSettings {
    fn default() -> Self {
        Self {
            registration_grace: Duration::from_secs(120),
            pod_startup_timeout: Duration::from_secs(600),
            pod_finish_timeout: Duration::from_secs(300),
        }
    }
}

/// Why a pod is to be deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReason {
    /// Its agent was disabled for scale-down and is still unassigned.
    ScaleDown,
    /// It finished, its outcome is recorded, and its registration is gone from the agent list.
    Finished,
    /// Its `agent` container terminated [`PlannerSettings::pod_finish_timeout`] ago or more
    /// but the pod still runs; its outcome is recorded and its registration gone.
    FinishTimeout {
        /// Seconds since the `agent` container terminated.
        waited_secs: u64,
    },
    /// Its AgentPool is being deleted and it runs no job.
    PoolDeleting,
    /// It never started: still Pending, or Running without its agent registered, after
    /// [`PlannerSettings::pod_startup_timeout`]; it held no job.
    StartTimeout {
        /// How long it had existed, in whole seconds.
        waited_secs: u64,
    },
    /// It cannot start as it is ([`PodView::start_blocked`]); it held no job.
    StartBlocked {
        /// The kubelet's waiting reason.
        reason: &'static str,
    },
}

/// Why a registration is to be removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveReason {
    /// Offline and its pod no longer exists.
    PodGone,
    /// Its pod has finished, or the pod's `agent` container has (online or not: the agent
    /// process is gone).
    PodFinished,
    /// Its AgentPool is being deleted (placeholder included).
    PoolDeleting,
    /// A second placeholder of the same AgentPool (two registrations raced); the oldest stays.
    DuplicatePlaceholder,
    /// Its pod is deleted for [`DeleteReason::StartTimeout`] or [`DeleteReason::StartBlocked`].
    StartTimeout,
}

/// Counts for the AgentPool status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pending jobs counted for this AgentPool.
    pub queued: u32,
    /// Agents with a job.
    pub running: u32,
    /// Online, enabled, unassigned agents with a live pod.
    pub idle: u32,
    /// Live pods whose agent is not online yet.
    pub starting: u32,
    /// Live pods made from an older spec (busy ones included: they finish their job first).
    pub outdated: u32,
}

/// What one AgentPool should do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The AgentPool.
    pub pool: PoolKey,
    /// New agent pods to create.
    pub create_pods: u32,
    /// Agents to disable in Azure DevOps (first step of scale-down).
    pub disable_agents: Vec<AgentId>,
    /// Pods to delete.
    pub delete_pods: Vec<(PodName, DeleteReason)>,
    /// Agent registrations to remove from Azure DevOps.
    pub remove_registrations: Vec<(AgentId, RemoveReason)>,
    /// Register the offline placeholder agent (none exists).
    pub ensure_placeholder: bool,
    /// The AgentPool is deleting and no pod or registration of it is left: its finalizer may
    /// be removed.
    pub deletion_complete: bool,
    /// Status counts.
    pub counts: Counts,
    /// One line per decision, for Events and logs ("scale up 3: 5 pending, 2 starting").
    pub explanations: Vec<String>,
    /// What the agent ids and pod names above stand for, from the same observation.
    pub names: Names,
}

impl Plan {
    fn empty(pool: PoolKey) -> Self {
        Self {
            pool,
            create_pods: 0,
            disable_agents: Vec::new(),
            delete_pods: Vec::new(),
            remove_registrations: Vec::new(),
            ensure_placeholder: false,
            deletion_complete: false,
            counts: Counts::default(),
            explanations: Vec::new(),
            names: Names::default(),
        }
    }
}

/// The planner's answer for one Azure DevOps pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanSet {
    /// One plan per AgentPool, ordered by namespace/name.
    pub plans: Vec<Plan>,
    /// Pending jobs no AgentPool can serve (for a Degraded condition and an Event).
    pub unservable_jobs: Vec<RequestId>,
    /// Registrations whose AgentPool no longer exists ([`orphans`]), to remove.
    pub orphaned_registrations: Vec<OrphanedRegistration>,
}

impl PlanSet {
    /// The plan of one AgentPool.
    pub fn for_pool(&self, key: &PoolKey) -> Option<&Plan> {
        self.plans.iter().find(|plan| &plan.pool == key)
    }

    /// Some AgentPool leaves pending jobs waiting for capacity (`maxAgents`) after this
    /// plan: a pod that finishes frees a slot worth polling for at once.
    pub fn jobs_wait_for_capacity(&self) -> bool {
        self.plans.iter().any(|plan| {
            plan.counts.queued > plan.counts.starting + plan.counts.idle + plan.create_pods
        })
    }
}

/// Plans every AgentPool of one Azure DevOps pool.
pub fn plan(snapshot: &PoolSnapshot, settings: &PlannerSettings) -> PlanSet {
    let index = PoolIndex::new(snapshot);
    let attribution = attribute::attribute_jobs(snapshot, &index);
    let mut pools: Vec<&AgentPoolView> = snapshot.pools.iter().collect();
    pools.sort_by(|a, b| a.key.cmp(&b.key));
    let plans = pools
        .into_iter()
        .map(|pool| {
            let mut plan = Plan::empty(pool.key.clone());
            if pool.deleting {
                cleanup::plan_deletion(pool, &index, &mut plan);
            } else {
                let pending = attribution.pending_for(&pool.key);
                let servable = attribution.servable_by(&pool.key);
                capacity::plan_capacity(
                    pool,
                    &index,
                    capacity::Demand { pending, servable },
                    snapshot.now,
                    settings,
                    &mut plan,
                );
                cleanup::plan_cleanup(pool, &index, snapshot.now, settings, &mut plan);
            }
            names::name_subjects(&pool.key.namespace, &index, &mut plan);
            plan
        })
        .collect();
    PlanSet {
        plans,
        unservable_jobs: attribution.unservable,
        orphaned_registrations: orphans::find_orphans(snapshot, &index, settings),
    }
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
