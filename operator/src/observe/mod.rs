//! Pure mapping of Azure DevOps and Kubernetes objects onto the planner's views.
//!
//! See `operator/README.md` ("One planner run per Azure DevOps pool") for the source of every
//! field. The I/O that reads these objects lives in [`crate::poller`] and [`crate::controller`].

use std::time::SystemTime;

use azp_ado::{Agent, AgentStatus, JobRequest};
use azp_contract::{AgentPoolRef, labels, naming};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use crate::plan::{AgentView, JobView, PodPhase, PodView};

mod blocked_start;
mod outcome;
mod running_job;

pub use blocked_start::{BLOCKING_REASONS, BlockedStart, blocked_start};
pub use outcome::{PodOutcome, agent_exited_at, outcome_init_statuses, pod_outcome};
pub use running_job::RunningJob;

fn system_time(time: Option<DateTime<Utc>>) -> Option<SystemTime> {
    time.map(SystemTime::from)
}

/// A job request as the planner sees it.
pub fn job_view(job: &JobRequest) -> JobView {
    JobView {
        request_id: job.request_id,
        demands: job.demands.clone(),
        // An empty list means Azure DevOps computed that no agent matches (the job is
        // unservable); a missing field means it did not say, and the planner matches demands.
        matched_agent_ids: job
            .matched_agents
            .as_ref()
            .map(|agents| agents.iter().map(|a| a.id).collect()),
        assigned_agent: job.reserved_agent.as_ref().map(|agent| agent.name.clone()),
        queue_time: system_time(job.queue_time).unwrap_or(SystemTime::UNIX_EPOCH),
        received: job.receive_time.is_some(),
        finished: job.is_finished(),
    }
}

/// The AgentPool an agent proves it belongs to, from its ownership capability (system
/// capabilities first: that is where the agent process environment lands; user
/// capabilities for placeholders registered by older operators).
pub fn agent_owner(agent: &Agent) -> Option<AgentPoolRef> {
    agent
        .system_capabilities
        .get(naming::OWNER_CAPABILITY)
        .or_else(|| agent.user_capabilities.get(naming::OWNER_CAPABILITY))
        .and_then(|value| value.parse().ok())
}

/// A registered agent as the planner sees it.
pub fn agent_view(agent: &Agent) -> AgentView {
    let created = system_time(agent.created_on).unwrap_or(SystemTime::UNIX_EPOCH);
    AgentView {
        id: i64::from(agent.id),
        name: agent.name.clone(),
        // An absent `enabled` means enabled: the service omits defaults in some shapes.
        enabled: agent.enabled.unwrap_or(true),
        online: agent.status == Some(AgentStatus::Online),
        assigned_request: agent.assigned_request.as_ref().map(|r| r.request_id),
        last_completed_request: agent.last_completed_request.as_ref().map(|r| r.request_id),
        owner: agent_owner(agent),
        is_placeholder: naming::is_placeholder_name(&agent.name),
        created,
        last_active: system_time(agent.status_changed_on).unwrap_or(created),
    }
}

/// The pod's phase.
pub fn pod_phase(pod: &Pod) -> PodPhase {
    match pod
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
    {
        Some("Running") => PodPhase::Running,
        Some("Succeeded") => PodPhase::Succeeded,
        Some("Failed") => PodPhase::Failed,
        Some("Unknown") => PodPhase::Unknown,
        _ => PodPhase::Pending,
    }
}

/// An agent pod as the planner sees it; `None` for pods without the operator's labels.
pub fn pod_view(pod: &Pod) -> Option<PodView> {
    let namespace = pod.namespace()?;
    let pool = pod.labels().get(labels::POOL)?.clone();
    let annotations = pod.annotations();
    let name = pod.name_any();
    Some(PodView {
        agent_name: annotations
            .get(labels::AGENT_NAME)
            .cloned()
            .unwrap_or_else(|| naming::pod_agent_name(&namespace, &name)),
        draining: annotations.contains_key(labels::DRAINING),
        outcome_recorded: annotations.contains_key(labels::OUTCOME_RECORDED),
        spec_hash: annotations.get(labels::SPEC_HASH).cloned(),
        start_blocked: blocked_start(pod).map(|blocked| blocked.reason),
        agent_exited: agent_exited_at(pod),
        owner: AgentPoolRef::new(namespace, pool),
        phase: pod_phase(pod),
        created: pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(SystemTime::UNIX_EPOCH, |time| SystemTime::from(time.0)),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        name,
    })
}

#[cfg(test)]
mod tests;
