//! `TaskAgentSession` and `TaskAgentMessage`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::agent::TaskAgentReference;

/// The agent part of a session-create body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAgentBody {
    /// Registered agent id.
    pub id: i32,
    /// Agent name.
    pub name: Option<String>,
    /// Agent version.
    pub version: Option<String>,
    /// Agent OS.
    pub os_description: Option<String>,
}

/// Body of `POST sessions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgentSessionBody {
    /// Ignored (the agent sends the empty GUID).
    pub session_id: Option<String>,
    /// Machine name.
    pub owner_name: Option<String>,
    /// The agent.
    pub agent: SessionAgentBody,
    /// Capabilities rescanned at start.
    pub system_capabilities: Option<BTreeMap<String, String>>,
}

/// `TaskAgentSession` answer (no `encryptionKey`: message bodies are plaintext).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgentSession {
    /// New session id.
    pub session_id: String,
    /// Machine name.
    pub owner_name: String,
    /// The agent.
    pub agent: TaskAgentReference,
    /// Capabilities the session announced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_capabilities: Option<BTreeMap<String, String>>,
}

/// `TaskAgentMessage` (plaintext: `iv` omitted).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgentMessage {
    /// Message id, increasing.
    pub message_id: i64,
    /// `PipelineAgentJobRequest`, `JobCancellation`, `AgentRefresh`.
    pub message_type: String,
    /// JSON document as a string.
    pub body: String,
}
