//! `TaskAgentJobRequest` (undocumented in the public OpenAPI; shape from the node/python SDKs and KEDA fixtures).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::AgentRef;
use super::dates;
use super::string_enum::string_enum;

string_enum! {
    /// `result` of a finished job request.
    TaskResult {
        /// Succeeded.
        Succeeded => "succeeded",
        /// Succeeded with warnings.
        SucceededWithIssues => "succeededWithIssues",
        /// Failed.
        Failed => "failed",
        /// Cancelled.
        Canceled => "canceled",
        /// Skipped.
        Skipped => "skipped",
        /// The agent stopped renewing its lock.
        Abandoned => "abandoned",
    }
}

/// The definition or run that owns a job (`TaskOrchestrationOwner`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrchestrationOwner {
    /// Definition id or build id.
    #[serde(default)]
    pub id: Option<i32>,
    /// Definition name or build number.
    #[serde(default)]
    pub name: Option<String>,
    /// `_links`; `web` is the page of the definition or the run.
    #[serde(default, rename = "_links")]
    pub links: Option<OwnerLinks>,
}

/// `_links` of an [`OrchestrationOwner`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct OwnerLinks {
    /// The page a person opens.
    #[serde(default)]
    pub web: Option<Link>,
}

/// One link.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Link {
    /// Its URL.
    pub href: String,
}

/// One job waiting for, or running on, an agent of the pool.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequest {
    /// Request id (64-bit on the wire).
    pub request_id: i64,
    /// When the job entered the queue.
    #[serde(default, deserialize_with = "dates::optional")]
    pub queue_time: Option<DateTime<Utc>>,
    /// When the service reserved an agent for it.
    #[serde(default, deserialize_with = "dates::optional")]
    pub assign_time: Option<DateTime<Utc>>,
    /// When the agent picked it up (first lock renewal).
    #[serde(default, deserialize_with = "dates::optional")]
    pub receive_time: Option<DateTime<Utc>>,
    /// Lock expiry; the agent renews it while running.
    #[serde(default, deserialize_with = "dates::optional")]
    pub locked_until: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(default, deserialize_with = "dates::optional")]
    pub finish_time: Option<DateTime<Utc>>,
    /// Outcome; `None` while unfinished.
    #[serde(default)]
    pub result: Option<TaskResult>,
    /// Demands as the service prints them (`"maven"`, `"java -equals /usr/bin/java"`, `"Agent.Version -gtVersion 2.182.1"`).
    #[serde(default)]
    pub demands: Vec<String>,
    /// The agent the job is assigned to.
    #[serde(default)]
    pub reserved_agent: Option<AgentRef>,
    /// Registered agents (online or offline) whose capabilities satisfy the demands.
    /// `None` when the response has no `matchedAgents` field (the service did not say);
    /// `Some(vec![])` when it computed that no agent matches.
    ///
    /// Only ids are kept (4 bytes per entry): the list repeats every matching agent for every
    /// job (1,000 queued jobs × 2,000 agents is 2 million references), and a caller that needs
    /// a name finds it in the pool's agent list.
    #[serde(default)]
    pub matched_agents: Option<Vec<MatchedAgent>>,
    /// True when every agent of the pool matches.
    #[serde(default)]
    pub matches_all_agents_in_pool: Option<bool>,
    /// Pool id.
    #[serde(default)]
    pub pool_id: Option<i32>,
    /// Project-local queue id.
    #[serde(default)]
    pub queue_id: Option<i32>,
    /// `"Build"`, `"Release"`, ...
    #[serde(default)]
    pub plan_type: Option<String>,
    /// Plan id.
    #[serde(default)]
    pub plan_id: Option<String>,
    /// Job id.
    #[serde(default)]
    pub job_id: Option<String>,
    /// Display name of the job.
    #[serde(default)]
    pub job_name: Option<String>,
    /// Pipeline definition.
    #[serde(default)]
    pub definition: Option<OrchestrationOwner>,
    /// Pipeline run.
    #[serde(default)]
    pub owner: Option<OrchestrationOwner>,
    /// Project id.
    #[serde(default)]
    pub scope_id: Option<String>,
    /// `"<planId>.<stage>.<phase>.__default"`.
    #[serde(default)]
    pub orchestration_id: Option<String>,
    /// Free-form service data (`ParallelismTag`, ...).
    #[serde(default)]
    pub data: HashMap<String, String>,
    /// Priority.
    #[serde(default)]
    pub priority: Option<i32>,
    /// Human-readable status from the service.
    #[serde(default)]
    pub status_message: Option<String>,
}

impl JobRequest {
    /// Waiting for an agent: no result, no assigned or reserved agent, not yet received.
    pub fn is_pending(&self) -> bool {
        self.result.is_none()
            && self.finish_time.is_none()
            && self.receive_time.is_none()
            && self.assign_time.is_none()
            && self.reserved_agent.is_none()
    }

    /// Running (or about to): unfinished and already assigned to or received by an agent.
    pub fn is_running(&self) -> bool {
        self.result.is_none()
            && self.finish_time.is_none()
            && (self.receive_time.is_some()
                || self.assign_time.is_some()
                || self.reserved_agent.is_some())
    }

    /// Finished (has a result or a finish time).
    pub fn is_finished(&self) -> bool {
        self.result.is_some() || self.finish_time.is_some()
    }
}

/// One entry of `matchedAgents`: the agent's id, the rest of the reference (name, links,
/// version, status...) skipped while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchedAgent {
    /// Agent id.
    pub id: i32,
}
