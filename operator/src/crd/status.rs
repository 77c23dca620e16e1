//! `AgentPool.status`, written by the operator only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition types the operator sets on an AgentPool.
pub mod condition_type {
    /// The AgentPool is being served: pool found, placeholder registered, last poll succeeded.
    pub const READY: &str = "Ready";
    /// The last call to Azure DevOps succeeded (false on network errors, 401/203, 404).
    pub const AZURE_DEVOPS_REACHABLE: &str = "AzureDevOpsReachable";
    /// Something needs attention although agents may still run (e.g. jobs no AgentPool can
    /// serve, pods failing to start, rate limiting).
    pub const DEGRADED: &str = "Degraded";
    /// Agent pods fail their preflight because the BuildKit sidecar does not answer (set only
    /// with `spec.buildkit.enabled`); the message says why and how to fix the node or mode.
    pub const BUILDKIT_UNAVAILABLE: &str = "BuildkitUnavailable";
}

/// Observed state of an AgentPool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentPoolStatus {
    /// `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Id of the Azure DevOps agent pool resolved from `spec.pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_id: Option<i64>,
    /// Pending jobs counted for this AgentPool at the last poll.
    #[serde(default)]
    pub queued: u32,
    /// Agents of this AgentPool running a job.
    #[serde(default)]
    pub running: u32,
    /// Online agents of this AgentPool waiting for a job.
    #[serde(default)]
    pub idle: u32,
    /// Pods whose agent is not online yet.
    #[serde(default)]
    pub starting: u32,
    /// Agent pods made from an older spec than the current one (busy ones included). After
    /// an edit of anything but `spec.scaling`, idle ones are replaced (a new pod first, then
    /// the old agent is retired) and busy ones finish their job; 0 once the rollout is done.
    #[serde(default)]
    pub outdated: u32,
    /// When the Azure DevOps queue was last read successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_poll_time: Option<Time>,
    /// Ready, AzureDevOpsReachable, Degraded and (with BuildKit) BuildkitUnavailable conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Azure DevOps id of this AgentPool's offline placeholder agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder_agent_id: Option<i64>,
    /// Jobs that finished successfully on this AgentPool's agents since it was created.
    #[serde(default)]
    pub jobs_succeeded: u64,
    /// Jobs that failed, were cancelled or whose pod died, since the AgentPool was created.
    #[serde(default)]
    pub jobs_failed: u64,
    /// The system capabilities the agent image really publishes, learned from the first agent
    /// of `spec.agent.image` that came online (read from Azure DevOps). The placeholder
    /// publishes them and the operator matches job demands against them; learned again when
    /// the image changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_capabilities: Option<ImageCapabilities>,
    /// Agent pods of the current spec that ended, one after another, before their agent took a
    /// job; the operator backs off between them (see `PodsFailing` in the README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_failures: Option<StartFailures>,
}

/// Pods that ended before taking a job, in a row, for the current spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartFailures {
    /// How many in a row.
    pub consecutive: u32,
    /// The last one's reason and message (the agent's termination message, or the kubelet's).
    pub last_failure: String,
    /// When the last one was seen.
    pub last_failure_time: Time,
    /// `metadata.generation` of the spec they failed with.
    pub observed_generation: Option<i64>,
}

/// What one agent image publishes to Azure DevOps, as its first agent reported it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageCapabilities {
    /// The `spec.agent.image` the capabilities came from.
    pub image: String,
    /// Name of the Azure DevOps agent they were read from.
    pub agent: String,
    /// The image's system capabilities (`Agent.OS`, `Agent.Version`, tools found on `PATH`,
    /// variables the image sets), without the values that differ from agent to agent
    /// (`Agent.Name`, `Agent.ComputerName`, the pod's own variables) and without those the
    /// AgentPool's spec decides (`spec.capabilities`, `spec.agent.env`, the operator's
    /// variables), which are added from the spec as it is now.
    #[serde(default)]
    pub capabilities: std::collections::BTreeMap<String, String>,
}
