//! Rules 5 and 6: the operator owns cleanup, and scale-to-zero needs no manual placeholder.
//!
//! Rule 5: a registration of this AgentPool (proved by its ownership capability) that holds
//! no job and has no live pod is removed — but never the placeholder, and never a
//! registration younger than the grace period, whose pod may simply not be in the informer
//! cache yet. Orphaned offline agents are the most common KEDA complaint
//! (kedacore/keda#3335, #3648).
//!
//! The agent container has no PAT and cannot deregister itself, so removing the registration
//! of a finished pod is the normal path, not a repair: it happens as soon as the pod is seen
//! finished, even while Azure DevOps still shows the agent online (a killed agent's session
//! lingers until it times out), and the finished pod is kept until its registration is gone
//! from the agent list. The pod is what ties the registration to "finished"; deleting it
//! first would leave the registration to the slower grace-period rule.
//!
//! A pod whose `agent` container has terminated is finished for all of the above even while
//! another container (one a template added that never exits) keeps it Running: its outcome
//! is recorded and its registration removed at once; the pod itself is deleted
//! `pod_finish_timeout` after the agent's exit if it has not finished by then.
//!
//! Rule 6: Azure DevOps fails a queued job at once when no registered agent, even an offline
//! one, matches its demands; one offline placeholder per AgentPool keeps jobs waiting at zero
//! pods (kedacore/keda#5988). A deleting AgentPool removes its placeholder and every
//! registration that holds no job, deletes its pods that run no job, and creates nothing.

use std::time::SystemTime;

use super::index::PoolIndex;
use super::{AgentId, AgentPoolView, DeleteReason, Plan, PlannerSettings, RemoveReason};

/// Finished pods, stale registrations and the placeholder of a live AgentPool.
pub(crate) fn plan_cleanup(
    pool: &AgentPoolView,
    index: &PoolIndex<'_>,
    now: SystemTime,
    settings: &PlannerSettings,
    plan: &mut Plan,
) {
    delete_finished_pods(pool, index, now, settings, plan);
    let placeholders = remove_stale_registrations(pool, index, now, settings, plan);
    keep_one_placeholder(placeholders, plan);
}

/// Registrations whose agent process is gone; returns the ids of the placeholders.
fn remove_stale_registrations(
    pool: &AgentPoolView,
    index: &PoolIndex<'_>,
    now: SystemTime,
    settings: &PlannerSettings,
    plan: &mut Plan,
) -> Vec<AgentId> {
    let mut placeholders = Vec::new();
    for agent in index.agents_of(&pool.key) {
        if agent.is_placeholder {
            placeholders.push(agent.id);
            continue;
        }
        if index.is_busy(&agent.name) {
            continue;
        }
        let reason = match index.pod_of_agent(&agent.name) {
            Some(pod) if pod.is_live() => continue,
            // Every container of the pod has exited, or at least its `agent` container
            // (restartPolicy Never): the agent process is gone, whatever status Azure DevOps
            // still shows.
            Some(pod) if pod.is_finished() => RemoveReason::PodFinished,
            // No pod to prove the process gone: an online agent may be one whose pod is not
            // in the cache yet, or that runs elsewhere.
            _ if agent.online => continue,
            _ => {
                // A minted registration is made right before its pod, in the same pass, and
                // every pass lists pods afresh before it polls: one seen without its pod
                // belongs to a pod that was never created (the operator stopped in between).
                let age = now.duration_since(agent.created).unwrap_or_default();
                if !pool.minted && age < settings.registration_grace {
                    continue;
                }
                RemoveReason::PodGone
            }
        };
        plan.remove_registrations.push((agent.id, reason));
        plan.explanations.push(format!(
            "remove registration {} ({}): {}",
            agent.id,
            agent.name,
            match reason {
                RemoveReason::PodFinished => "pod finished",
                _ => "offline, pod gone",
            }
        ));
    }
    placeholders
}

/// Exactly one placeholder: registered when none exists, the oldest kept when two raced.
fn keep_one_placeholder(mut placeholders: Vec<AgentId>, plan: &mut Plan) {
    placeholders.sort_unstable();
    placeholders.dedup();
    match placeholders.split_first() {
        None => {
            plan.ensure_placeholder = true;
            plan.explanations
                .push("register placeholder agent: none exists".to_owned());
        }
        Some((_, duplicates)) => {
            // Two registrations racing each other; keep the oldest (lowest id).
            for id in duplicates {
                plan.remove_registrations
                    .push((*id, RemoveReason::DuplicatePlaceholder));
            }
        }
    }
}

/// Deletes the finished pods whose outcome is recorded and whose registration is gone. A pod
/// whose `agent` container terminated while another container keeps it Running waits
/// `pod_finish_timeout` first: a sidecar may be finishing its own work (uploading logs).
fn delete_finished_pods(
    pool: &AgentPoolView,
    index: &PoolIndex<'_>,
    now: SystemTime,
    settings: &PlannerSettings,
    plan: &mut Plan,
) {
    for pod in index.pods_of(&pool.key) {
        if !(pod.is_finished() && !pod.deleting && pod.outcome_recorded) {
            continue;
        }
        let reason = match pod.agent_exited.filter(|_| !pod.phase.is_finished()) {
            None => DeleteReason::Finished,
            Some(exited) => {
                let waited = now.duration_since(exited).unwrap_or_default();
                if waited < settings.pod_finish_timeout {
                    plan.explanations.push(format!(
                        "keep pod {}: its agent exited {}s ago, the pod still runs (timeout {}s)",
                        pod.name,
                        waited.as_secs(),
                        settings.pod_finish_timeout.as_secs()
                    ));
                    continue;
                }
                DeleteReason::FinishTimeout {
                    waited_secs: waited.as_secs(),
                }
            }
        };
        match index
            .agent_named(&pod.agent_name)
            .filter(|agent| agent.owner.as_ref() == Some(&pool.key))
        {
            Some(agent) => plan.explanations.push(format!(
                "keep finished pod {} until its registration {} is removed",
                pod.name, agent.id
            )),
            None => {
                if let DeleteReason::FinishTimeout { waited_secs } = reason {
                    plan.explanations.push(format!(
                        "delete pod {}: its agent exited {waited_secs}s ago and the pod still runs (timeout {}s)",
                        pod.name,
                        settings.pod_finish_timeout.as_secs()
                    ));
                }
                plan.delete_pods.push((pod.name.clone(), reason));
            }
        }
    }
}

/// Everything a deleting AgentPool must still do before its finalizer may go.
pub(crate) fn plan_deletion(pool: &AgentPoolView, index: &PoolIndex<'_>, plan: &mut Plan) {
    let mut busy_pods: u32 = 0;
    let mut pods_left: u32 = 0;
    for pod in index.pods_of(&pool.key) {
        pods_left += 1;
        if pod.deleting {
            continue;
        }
        if pod.is_live() && index.is_busy(&pod.agent_name) {
            busy_pods += 1;
            continue;
        }
        plan.delete_pods
            .push((pod.name.clone(), DeleteReason::PoolDeleting));
    }
    let mut registrations_left: u32 = 0;
    for agent in index.agents_of(&pool.key) {
        registrations_left += 1;
        if index.is_busy(&agent.name) {
            plan.counts.running += 1;
            continue;
        }
        plan.remove_registrations
            .push((agent.id, RemoveReason::PoolDeleting));
    }
    plan.deletion_complete = pods_left == 0 && registrations_left == 0;
    plan.explanations.push(if plan.deletion_complete {
        "AgentPool deleted: nothing left to clean up".to_owned()
    } else {
        format!(
            "AgentPool deleting: {pods_left} pods and {registrations_left} registrations left, {busy_pods} pods finishing a job"
        )
    });
}
