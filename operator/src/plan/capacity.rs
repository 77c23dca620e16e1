//! Rules 3 and 4: how many pods to create and which idle agents to drain.
//!
//! Rule 3: capacity already on its way counts. New pods = pending + minIdle − (starting +
//! idle), never negative, and never more than `maxAgents` live pods in total. Jobs assigned
//! but not yet received are not pending, so an agent picking a job up never causes a second
//! pod (kedacore/keda#7747).
//!
//! Rule 4: never kill a busy agent. A surplus idle agent is first disabled; only a later plan,
//! built from a fresh read, deletes its pod, and only if it is still unassigned.
//!
//! Startup timeout: a pod that stays Pending (unschedulable, image never pulled), or runs
//! without its agent ever registering (bad PAT, network policy), would otherwise count as
//! capacity on its way forever and starve the jobs it was created for. After
//! `pod_startup_timeout` it is deleted, its registration (if any) removed, and it no longer
//! counts, so this same plan creates its replacement. A pod whose agent holds a job is never
//! touched: that check comes first. A Pending pod whose container waits with a reason that
//! does not go away by itself (an image pull error, `CreateContainerConfigError`) is deleted
//! the same way at once, without waiting for the timeout.
//!
//! Spec rollouts: a pod whose spec hash differs from its AgentPool's runs an old spec. Busy
//! agents of an old spec finish their job untouched (their pod ends with it). Idle ones are
//! replaced surge-first, so `minIdle` never drops: rule 3 does not count them towards
//! `minIdle` (only towards pending jobs they may still take), so replacements are created
//! while they stay; rule 4 then retires them, before any current agent and without waiting
//! for `idleTimeout`, but only as far as the idle agents left still cover what is needed.
//! Starting replacements do not count there: an old agent goes once a new one is online.
//! At `maxAgents` no replacement fits: the old agents stay until jobs use them up (a gap
//! below `minIdle` is never opened to make room).

use std::time::{Duration, SystemTime};

use super::index::PoolIndex;
use super::{
    AgentPoolView, AgentView, DeleteReason, Plan, PlannerSettings, PodPhase, PodView, RemoveReason,
};

/// The jobs one AgentPool plans for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Demand {
    /// Pending jobs attributed to this AgentPool.
    pub(crate) pending: u32,
    /// Pending jobs its agents could take, whichever AgentPool they were counted for.
    pub(crate) servable: u32,
}

/// What a live pod's agent is doing.
#[derive(Clone, Copy, Debug)]
enum PodState<'a> {
    /// Not registered (`None`) or not online yet.
    Starting(Option<&'a AgentView>),
    /// Online, enabled, unassigned: can take a job.
    Idle(&'a AgentView),
    /// Holds a job.
    Busy,
    /// Disabled (by us) or annotated draining, and unassigned: to be deleted.
    Drained,
    /// Completed its one job and is deregistering; offers no capacity.
    Finishing,
}

fn classify<'a>(pod: &PodView, index: &PoolIndex<'a>) -> PodState<'a> {
    if index.is_busy(&pod.agent_name) {
        return PodState::Busy;
    }
    let agent = index.agent_named(&pod.agent_name);
    let disabled = agent.is_some_and(|a| !a.enabled);
    if pod.draining || disabled {
        return PodState::Drained;
    }
    match agent {
        Some(agent) if agent.last_completed_request.is_some() => PodState::Finishing,
        Some(agent) if agent.online => PodState::Idle(agent),
        registered => PodState::Starting(registered),
    }
}

/// How long a starting pod has waited, when that exceeds the startup timeout: Pending pods,
/// and pods whose agent never registered. A registered agent that is merely offline on a
/// running pod may have been online before (a network blip), so it is left alone. An
/// operator-minted registration exists before its pod starts: it counts as never started
/// while its status has not changed since it was made (it never went online).
fn startup_timed_out(
    pod: &PodView,
    registered: Option<&AgentView>,
    minted: bool,
    now: SystemTime,
    timeout: Duration,
) -> Option<Duration> {
    let never_online = |agent: &AgentView| minted && agent.last_active <= agent.created;
    let never_started = pod.phase == PodPhase::Pending || registered.is_none_or(never_online);
    let waited = now.duration_since(pod.created).unwrap_or_default();
    (never_started && waited >= timeout).then_some(waited)
}

/// Fills `create_pods`, `disable_agents`, scale-down and start-timeout `delete_pods`, the
/// registrations of timed-out pods, and the counts.
pub(crate) fn plan_capacity(
    pool: &AgentPoolView,
    index: &PoolIndex<'_>,
    demand: Demand,
    now: SystemTime,
    settings: &PlannerSettings,
    plan: &mut Plan,
) {
    let census = census(pool, index, now, settings, plan);
    let running = index
        .agents_of(&pool.key)
        .iter()
        .filter(|agent| !agent.is_placeholder && index.is_busy(&agent.name))
        .count();
    plan.counts.queued = demand.pending;
    plan.counts.running = count(running);
    plan.counts.idle = count(census.idle.len());
    plan.counts.starting = census.starting;
    plan.counts.outdated = census.outdated;
    scale_up(pool, demand.pending, &census, plan);
    drain_surplus(pool, demand.servable, census.idle, now, plan);
}

/// The live pods of one AgentPool by what their agents do.
struct Census<'a> {
    /// Live pods (not deleted by this plan).
    live_pods: u32,
    /// Pods whose agent is not online yet.
    starting: u32,
    /// Idle agents, each with whether its pod runs an old spec.
    idle: Vec<(&'a AgentView, bool)>,
    /// Live pods of an old spec, busy ones included.
    outdated: u32,
}

/// Sorts the AgentPool's live pods; pods that cannot or did not start are deleted on the way
/// (they count for nothing), and drained ones too.
fn census<'a>(
    pool: &AgentPoolView,
    index: &PoolIndex<'a>,
    now: SystemTime,
    settings: &PlannerSettings,
    plan: &mut Plan,
) -> Census<'a> {
    let mut census = Census {
        live_pods: 0,
        starting: 0,
        idle: Vec::new(),
        outdated: 0,
    };
    for pod in index.pods_of(&pool.key).iter().filter(|pod| pod.is_live()) {
        let state = classify(pod, index);
        if let PodState::Starting(registered) = state
            && retire_unstarted(pod, registered, pool, now, settings, plan)
        {
            // Deleted now, so neither live nor starting: its replacement is planned by rule 3
            // (or, for a pod that cannot start, after the start-failure backoff).
            continue;
        }
        census.live_pods += 1;
        let old_spec = pod.is_outdated(&pool.spec_hash);
        if old_spec {
            census.outdated += 1;
        }
        match state {
            PodState::Starting(_) => census.starting += 1,
            PodState::Idle(agent) => census.idle.push((agent, old_spec)),
            PodState::Drained => {
                plan.delete_pods
                    .push((pod.name.clone(), DeleteReason::ScaleDown));
                plan.explanations.push(format!(
                    "delete pod {}: its agent was disabled and is still unassigned",
                    pod.name
                ));
            }
            PodState::Busy | PodState::Finishing => {}
        }
    }
    census
}

/// Deletes a starting pod that cannot start (a Pending pod whose container waits with a
/// reason that never clears) or did not within the startup timeout, and its registration;
/// true when it did.
fn retire_unstarted(
    pod: &PodView,
    registered: Option<&AgentView>,
    pool: &AgentPoolView,
    now: SystemTime,
    settings: &PlannerSettings,
    plan: &mut Plan,
) -> bool {
    let (reason, explanation) =
        if let (PodPhase::Pending, Some(reason)) = (pod.phase, pod.start_blocked) {
            (
                DeleteReason::StartBlocked { reason },
                format!("delete pod {}: it cannot start ({reason})", pod.name),
            )
        } else if let Some(waited) = startup_timed_out(
            pod,
            registered,
            pool.minted,
            now,
            settings.pod_startup_timeout,
        ) {
            let waited_secs = waited.as_secs();
            (
                DeleteReason::StartTimeout { waited_secs },
                format!(
                    "delete pod {}: not started after {waited_secs}s (timeout {}s)",
                    pod.name,
                    settings.pod_startup_timeout.as_secs()
                ),
            )
        } else {
            return false;
        };
    plan.delete_pods.push((pod.name.clone(), reason));
    if let Some(agent) = registered {
        plan.remove_registrations
            .push((agent.id, RemoveReason::StartTimeout));
    }
    plan.explanations.push(explanation);
    true
}

/// Rule 3; idle agents of an old spec count for pending jobs only (see the module doc).
fn scale_up(pool: &AgentPoolView, pending: u32, census: &Census<'_>, plan: &mut Plan) {
    let policy = pool.scaling;
    let idle_count = count(census.idle.len());
    let idle_outdated = count(census.idle.iter().filter(|(_, old_spec)| *old_spec).count());
    let usable_idle = idle_count - idle_outdated + idle_outdated.min(pending);
    let starting = census.starting;
    let wanted = (pending + policy.min_idle).saturating_sub(starting + usable_idle);
    let room = policy.max_agents.saturating_sub(census.live_pods);
    plan.create_pods = wanted.min(room);
    if plan.create_pods > 0 {
        let rollout = if idle_outdated > 0 {
            format!(" ({idle_outdated} idle on an old spec, being replaced)")
        } else {
            String::new()
        };
        plan.explanations.push(format!(
            "scale up {}: {pending} pending + {} min idle - {starting} starting - {usable_idle} idle{rollout}",
            plan.create_pods, policy.min_idle
        ));
    }
    if wanted > room {
        plan.explanations.push(format!(
            "capped by maxAgents {}: {} live pods, {} more wanted for {pending} pending",
            policy.max_agents,
            census.live_pods,
            wanted - room
        ));
    }
}

/// Rule 4: the idle agents beyond what pending jobs and minIdle need: those of an old spec at
/// once, then the oldest once they have been idle for idleTimeout.
fn drain_surplus(
    pool: &AgentPoolView,
    servable: u32,
    mut idle: Vec<(&AgentView, bool)>,
    now: SystemTime,
    plan: &mut Plan,
) {
    let policy = pool.scaling;
    let keep = servable.saturating_add(policy.min_idle);
    let surplus = idle
        .len()
        .saturating_sub(usize::try_from(keep).unwrap_or(usize::MAX));
    idle.sort_by_key(|(agent, old_spec)| (!old_spec, agent.last_active, agent.id));
    for (agent, old_spec) in idle.into_iter().take(surplus) {
        if old_spec {
            plan.disable_agents.push(agent.id);
            plan.explanations.push(format!(
                "disable idle agent {} ({}): made from an old spec, {keep} needed and covered",
                agent.id, agent.name
            ));
            continue;
        }
        let idle_for = now.duration_since(agent.last_active).unwrap_or_default();
        if idle_for >= policy.idle_timeout {
            plan.disable_agents.push(agent.id);
            plan.explanations.push(format!(
                "disable idle agent {} ({}): idle {}s, idleTimeout {}s, {keep} needed",
                agent.id,
                agent.name,
                idle_for.as_secs(),
                policy.idle_timeout.as_secs()
            ));
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
