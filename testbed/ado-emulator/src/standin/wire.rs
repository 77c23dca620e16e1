//! The stand-in's own view of the Azure DevOps wire format (camelCase JSON). Deliberately
//! independent of the emulator's types and of `azp-ado`, so a wrong field name cannot be
//! wrong on both sides of a test and pass.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `{count, value}` wrapper of every collection result.
#[derive(Debug, Deserialize)]
pub struct Collection<T> {
    /// The items.
    pub value: Vec<T>,
}

/// The part of `connectionData` the agent uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionData {
    /// `hosted` or `onPremises`; missing means on-premises.
    #[serde(default)]
    pub deployment_type: Option<String>,
}

/// `TaskAgentPool` (only what configure needs).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgentPool {
    /// Pool id.
    pub id: i32,
    /// Pool name.
    pub name: String,
}

/// RSA public key, both parts base64 of big-endian bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    /// Public exponent.
    pub exponent: String,
    /// Modulus.
    pub modulus: String,
}

/// `TaskAgentAuthorization`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AgentAuthorization {
    /// Token endpoint the agent authenticates against (set by the server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// OAuth client id of the agent (set by the server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The agent's public key (sent by the agent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
}

/// `TaskAgent` as sent by configure and read back.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgent {
    /// Agent id (absent on create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i32>,
    /// Agent name.
    pub name: String,
    /// Agent version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// OS description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_description: Option<String>,
    /// Always 1 for the real agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<i32>,
    /// `Provisioned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// `online` / `offline` (server-owned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Environment-derived capabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_capabilities: Option<BTreeMap<String, String>>,
    /// User-defined capabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_capabilities: Option<BTreeMap<String, String>>,
    /// Key and OAuth endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AgentAuthorization>,
}

/// Agent reference inside a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAgent {
    /// Agent id.
    pub id: i32,
    /// Agent name.
    pub name: String,
    /// Agent version.
    pub version: String,
    /// OS description.
    pub os_description: String,
}

/// `TaskAgentSession` request body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSession {
    /// The empty GUID: the server assigns the id.
    pub session_id: String,
    /// Machine name.
    pub owner_name: String,
    /// Who is listening.
    pub agent: SessionAgent,
    /// Capabilities rescanned at start.
    pub system_capabilities: BTreeMap<String, String>,
}

/// Session encryption key (`TaskAgentSessionKey`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionKey {
    /// True when `value` is RSA-OAEP-encrypted to the agent's public key.
    #[serde(default)]
    pub encrypted: bool,
    /// Base64 key material.
    #[serde(default)]
    pub value: Option<String>,
}

/// `TaskAgentSession` response.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Server-assigned session id.
    pub session_id: String,
    /// Present when the server wants to encrypt messages.
    #[serde(default)]
    pub encryption_key: Option<EncryptionKey>,
}

/// `TaskAgentMessage`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentMessage {
    /// Message id (used for `lastMessageId` and DELETE).
    pub message_id: i64,
    /// `PipelineAgentJobRequest`, `JobCancellation`, `AgentRefresh`, ...
    pub message_type: String,
    /// AES IV when the body is encrypted.
    #[serde(default)]
    pub iv: Option<String>,
    /// JSON document as a string.
    #[serde(default)]
    pub body: String,
}

/// A job variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    /// Value (absent for secrets the server withholds).
    #[serde(default)]
    pub value: Option<String>,
    /// Secret variables never reach the script environment.
    #[serde(default)]
    pub is_secret: bool,
}

/// `plan` of a job message.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// `< 8` means the listener reports completion with PATCH jobrequests.
    #[serde(default)]
    pub version: i32,
    /// Plan id, for log lines.
    #[serde(default)]
    pub plan_id: Option<String>,
}

/// `inputs` of a task-shaped step.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct StepInputs {
    /// Script text.
    #[serde(default)]
    pub script: Option<String>,
}

/// One job step.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Step kind; only `script` is executed.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Shell text for `script` steps.
    #[serde(default)]
    pub script: Option<String>,
    /// Task-style inputs, accepted as an alternative place for the script.
    #[serde(default)]
    pub inputs: Option<StepInputs>,
}

impl Step {
    /// The shell text to run, if this is a script step.
    pub fn script_text(&self) -> Option<&str> {
        let is_script = self
            .kind
            .as_deref()
            .is_none_or(|kind| kind.eq_ignore_ascii_case("script"));
        if !is_script {
            return None;
        }
        self.script.as_deref().or_else(|| {
            self.inputs
                .as_ref()
                .and_then(|inputs| inputs.script.as_deref())
        })
    }
}

/// `PipelineAgentJobRequest` body (the fields the stand-in acts on).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequestMessage {
    /// Job request id (the lock and finish PATCHes use it).
    pub request_id: i64,
    /// Job id (cancellations name it).
    pub job_id: String,
    /// Display name, for console output.
    #[serde(default)]
    pub job_display_name: Option<String>,
    /// Plan; `version >= 8` is not supported by the stand-in.
    #[serde(default)]
    pub plan: Option<Plan>,
    /// Job variables.
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    /// Steps; the first script step is run.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// `JobCancellation` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCancellation {
    /// The job to cancel.
    pub job_id: String,
}

/// `PATCH jobrequests/{id}` body: renewal carries only `requestId`, finish adds the rest.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequestUpdate {
    /// The request.
    pub request_id: i64,
    /// Set on finish.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
    /// Set on finish: `succeeded`, `failed`, `canceled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// `TaskAgentJobRequest` response of a renewal.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRequestLock {
    /// The real agent dereferences this; its absence is a protocol error.
    pub locked_until: chrono::DateTime<chrono::Utc>,
}

/// OAuth token response.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// Bearer token.
    pub access_token: String,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// OAuth error response.
#[derive(Debug, Deserialize)]
pub struct TokenError {
    /// Error code.
    #[serde(default)]
    pub error: Option<String>,
    /// Human-readable description.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// `WrappedException` error body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrappedException {
    /// Message.
    #[serde(default)]
    pub message: Option<String>,
    /// Exception key the agent branches on.
    #[serde(default)]
    pub type_key: Option<String>,
}
