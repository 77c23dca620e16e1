//! Rules 3 and 4: how many pods to create and which idle agents to drain.
//!
//! Rule 3: capacity already on its way counts. New pods = pending + minIdle − (starting +
//! idle), never negative, and never more than `maxAgents` live pods in total. Jobs assigned
//! but not yet received are not pending, so an agent picking a job up never causes a second
//! pod (kedacore/keda#7747).
//!
//! Rule 4: never kill a busy agent. A surplus idle agent is first disabled; only a later plan,
//! built from a fresh read, deletes its pod, and only if it is still unassigned.

use std::time::SystemTime;

use super::index::PoolIndex;
use super::{AgentPoolView, AgentView, DeleteReason, Plan, PodView};

/// What a live pod's agent is doing.
#[derive(Clone, Copy, Debug)]
enum PodState<'a> {
    /// Not registered or not online yet.
    Starting,
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
        _ => PodState::Starting,
    }
}

/// Fills `create_pods`, `disable_agents`, scale-down `delete_pods` and the counts.
///
/// `pending` is the number of jobs attributed to this AgentPool; `servable` the number of
/// pending jobs its agents could take, whichever AgentPool they were counted for.
pub(crate) fn plan_capacity(
    pool: &AgentPoolView,
    index: &PoolIndex<'_>,
    pending: u32,
    servable: u32,
    now: SystemTime,
    plan: &mut Plan,
) {
    let policy = pool.scaling;
    let mut live_pods: u32 = 0;
    let mut starting: u32 = 0;
    let mut idle: Vec<&AgentView> = Vec::new();
    for pod in index.pods_of(&pool.key).iter().filter(|pod| pod.is_live()) {
        live_pods += 1;
        match classify(pod, index) {
            PodState::Starting => starting += 1,
            PodState::Idle(agent) => idle.push(agent),
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
    let running = index
        .agents_of(&pool.key)
        .iter()
        .filter(|agent| !agent.is_placeholder && index.is_busy(&agent.name))
        .count();
    let idle_count = count(idle.len());
    plan.counts.queued = pending;
    plan.counts.running = count(running);
    plan.counts.idle = idle_count;
    plan.counts.starting = starting;

    // Rule 3.
    let wanted = (pending + policy.min_idle).saturating_sub(starting + idle_count);
    let room = policy.max_agents.saturating_sub(live_pods);
    plan.create_pods = wanted.min(room);
    if plan.create_pods > 0 {
        plan.explanations.push(format!(
            "scale up {}: {pending} pending + {} min idle - {starting} starting - {idle_count} idle",
            plan.create_pods, policy.min_idle
        ));
    }
    if wanted > room {
        plan.explanations.push(format!(
            "capped by maxAgents {}: {live_pods} live pods, {} more wanted for {pending} pending",
            policy.max_agents,
            wanted - room
        ));
    }

    // Rule 4: the oldest idle agents beyond what pending jobs and minIdle need, once they
    // have been idle for idleTimeout.
    let keep = servable.saturating_add(policy.min_idle);
    let surplus = idle
        .len()
        .saturating_sub(usize::try_from(keep).unwrap_or(usize::MAX));
    idle.sort_by_key(|agent| (agent.last_active, agent.id));
    for agent in idle.into_iter().take(surplus) {
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
