//! `TaskAgent` and friends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Links;
use super::job::TaskAgentJobRequest;

/// `TaskAgentReference`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgentReference {
    /// Links to the agent.
    #[serde(rename = "_links")]
    pub links: Links,
    /// Agent id.
    pub id: i32,
    /// Agent name.
    pub name: String,
    /// Agent version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Agent OS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_description: Option<String>,
    /// Whether the agent may run jobs.
    pub enabled: bool,
    /// `online` or `offline`.
    pub status: &'static str,
    /// Provisioning state.
    pub provisioning_state: String,
    /// Access point moniker.
    pub access_point: &'static str,
}

/// `TaskAgentPublicKey`: base64 byte arrays (the spec's "array of byte" is a codegen artefact).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgentPublicKey {
    /// Base64 big-endian exponent.
    pub exponent: String,
    /// Base64 big-endian modulus.
    pub modulus: String,
}

/// `TaskAgentAuthorization`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgentAuthorization {
    /// Token endpoint the agent signs its assertion for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// The agent's OAuth client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The agent's public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<TaskAgentPublicKey>,
}

/// `TaskAgent`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgent {
    /// The reference part.
    #[serde(flatten)]
    pub reference: TaskAgentReference,
    /// Registration time.
    pub created_on: String,
    /// Last online/offline change.
    pub status_changed_on: String,
    /// Parallel jobs the agent accepts.
    pub max_parallelism: i32,
    /// System capabilities (only with `includeCapabilities=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_capabilities: Option<BTreeMap<String, String>>,
    /// User capabilities (only with `includeCapabilities=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_capabilities: Option<BTreeMap<String, String>>,
    /// The running request (only with `includeAssignedRequest=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_request: Option<Box<TaskAgentJobRequest>>,
    /// The last finished request (only with `includeLastCompletedRequest=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_completed_request: Option<Box<TaskAgentJobRequest>>,
    /// OAuth data (registration answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<TaskAgentAuthorization>,
}

/// Body of `POST`/`PUT`/`PATCH agents`: every field optional, unknown fields ignored (as Newtonsoft does).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgentBody {
    /// Agent id (must match the path on PUT/PATCH when given).
    pub id: Option<i32>,
    /// Agent name.
    pub name: Option<String>,
    /// Agent version.
    pub version: Option<String>,
    /// Agent OS.
    pub os_description: Option<String>,
    /// Enabled flag.
    pub enabled: Option<bool>,
    /// Parallelism.
    pub max_parallelism: Option<i32>,
    /// Provisioning state.
    pub provisioning_state: Option<String>,
    /// Status (read-only on the server; accepted and ignored).
    pub status: Option<String>,
    /// System capabilities.
    pub system_capabilities: Option<BTreeMap<String, String>>,
    /// User capabilities.
    pub user_capabilities: Option<BTreeMap<String, String>>,
    /// Authorization with the public key.
    pub authorization: Option<TaskAgentAuthorization>,
}
