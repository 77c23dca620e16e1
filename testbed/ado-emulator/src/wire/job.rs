//! `TaskAgentJobRequest`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::agent::TaskAgentReference;
use super::{Href, Links};

/// `definition` / `owner` of a request.
#[derive(Debug, Clone, Serialize)]
pub struct OrchestrationOwner {
    /// Links.
    #[serde(rename = "_links")]
    pub links: Links,
    /// Id.
    pub id: i32,
    /// Name.
    pub name: String,
}

impl OrchestrationOwner {
    /// An owner with `self`/`web` links under `base`.
    pub fn new(base: &str, id: i32, name: String) -> Self {
        let href = format!("{base}/_build/results?buildId={id}");
        Self {
            links: Links {
                self_link: Href { href: href.clone() },
                web: Href { href },
            },
            id,
            name,
        }
    }
}

/// A job request as `GET jobrequests` returns it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgentJobRequest {
    /// Request id.
    pub request_id: i64,
    /// Queue time.
    pub queue_time: String,
    /// Assignment time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assign_time: Option<String>,
    /// First lock renewal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receive_time: Option<String>,
    /// Lock deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
    /// Finish time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
    /// Result once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
    /// Owning service.
    pub service_owner: String,
    /// Host id.
    pub host_id: String,
    /// Project id.
    pub scope_id: String,
    /// Always `Build`.
    pub plan_type: &'static str,
    /// Plan id.
    pub plan_id: String,
    /// Job id.
    pub job_id: String,
    /// Job name.
    pub job_name: String,
    /// Demands as strings (`name`, `name -equals value`, `Agent.Version -gtVersion x`).
    pub demands: Vec<String>,
    /// The agent the job is reserved for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_agent: Option<TaskAgentReference>,
    /// Enabled agents (online or offline) whose capabilities satisfy the demands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_agents: Option<Vec<TaskAgentReference>>,
    /// Pipeline definition.
    pub definition: OrchestrationOwner,
    /// Pipeline run.
    pub owner: OrchestrationOwner,
    /// Extra data.
    pub data: BTreeMap<String, String>,
    /// Pool id.
    pub pool_id: i32,
    /// Queue id.
    pub queue_id: i32,
    /// Orchestration id.
    pub orchestration_id: String,
    /// Priority.
    pub priority: i32,
    /// Why the request failed without running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
}

/// Body of `PATCH jobrequests/{id}` (renew when no `result`, finish otherwise). The official agent
/// serialises many default fields; unknown ones are ignored.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobRequestPatch {
    /// Must equal the path id when given.
    pub request_id: Option<i64>,
    /// Final result.
    pub result: Option<String>,
    /// Finish time (informational; the emulator stamps its own clock).
    pub finish_time: Option<String>,
}
