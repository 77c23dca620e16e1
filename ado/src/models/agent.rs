//! `TaskAgent`, `TaskAgentReference` and the bodies the client sends.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::JobRequest;
use super::dates;
use super::string_enum::string_enum;

string_enum! {
    /// Connection status of an agent.
    AgentStatus {
        /// Has a live session.
        Online => "online",
        /// No live session (also placeholder agents that never run).
        Offline => "offline",
    }
}

/// `TaskAgentReference`: the short agent shape inside job requests.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRef {
    /// Agent id.
    pub id: i32,
    /// Agent name.
    #[serde(default)]
    pub name: String,
    /// Agent version.
    #[serde(default)]
    pub version: Option<String>,
    /// Whether the agent may receive jobs.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Online/offline.
    #[serde(default)]
    pub status: Option<AgentStatus>,
    /// Operating system description.
    #[serde(default)]
    pub os_description: Option<String>,
    /// `"Provisioned"`, ...
    #[serde(default)]
    pub provisioning_state: Option<String>,
}

/// RSA public key the official agent registers (base64 strings on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentPublicKey {
    /// Base64 exponent.
    pub exponent: String,
    /// Base64 modulus.
    pub modulus: String,
}

/// `TaskAgentAuthorization`: where and as whom a registered agent fetches its OAuth tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentAuthorization {
    /// OAuth token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// OAuth client id of the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The agent's public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<AgentPublicKey>,
}

/// A registered agent (`TaskAgent`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    /// Agent id.
    pub id: i32,
    /// Agent name (unique in the pool).
    pub name: String,
    /// Agent version.
    #[serde(default)]
    pub version: Option<String>,
    /// Operating system description.
    #[serde(default)]
    pub os_description: Option<String>,
    /// Whether the agent may receive jobs.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Online/offline.
    #[serde(default)]
    pub status: Option<AgentStatus>,
    /// `"Provisioned"`, ...
    #[serde(default)]
    pub provisioning_state: Option<String>,
    /// Registration time.
    #[serde(default, deserialize_with = "dates::optional")]
    pub created_on: Option<DateTime<Utc>>,
    /// Last online/offline change.
    #[serde(default, deserialize_with = "dates::optional")]
    pub status_changed_on: Option<DateTime<Utc>>,
    /// Parallel jobs (1 for the official agent).
    #[serde(default)]
    pub max_parallelism: Option<i32>,
    /// Capabilities the agent reports (only with `include_capabilities`).
    #[serde(default)]
    pub system_capabilities: HashMap<String, String>,
    /// Capabilities set by users (only with `include_capabilities`).
    #[serde(default)]
    pub user_capabilities: HashMap<String, String>,
    /// The job it is running or about to run (only with `include_assigned_request`).
    #[serde(default)]
    pub assigned_request: Option<Box<JobRequest>>,
    /// The last job it finished (only with `include_last_completed_request`).
    #[serde(default)]
    pub last_completed_request: Option<Box<JobRequest>>,
    /// OAuth registration data.
    #[serde(default)]
    pub authorization: Option<AgentAuthorization>,
}

/// Body of `add_agent` (`POST pools/{poolId}/agents`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAgent {
    /// Agent name (unique in the pool).
    pub name: String,
    /// Agent version; jobs with `Agent.Version -gtVersion` demands compare against it.
    pub version: String,
    /// Operating system description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_description: Option<String>,
    /// Whether the agent may receive jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Parallel jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<i32>,
    /// Usually `"Provisioned"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// System capabilities.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub system_capabilities: HashMap<String, String>,
    /// User capabilities (jobs are routed by demands against these).
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub user_capabilities: HashMap<String, String>,
    /// Public key, for agents that will fetch OAuth tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AgentAuthorization>,
}

/// Body of `update_agent` (`PATCH pools/{poolId}/agents/{agentId}`); unset fields are left unchanged.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentPatch {
    /// New name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Enable or disable job assignment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// New user capabilities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_capabilities: Option<HashMap<String, String>>,
    /// New system capabilities (the operator keeps its keyless placeholder's in step with
    /// what its agents publish; a real agent reports its own at session start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_capabilities: Option<HashMap<String, String>>,
    /// New parallelism.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<i32>,
}
