//! `TaskAgentPool`.

use serde::Serialize;

/// A pool as `GET pools` returns it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAgentPool {
    /// Pool id.
    pub id: i32,
    /// Scope GUID.
    pub scope: String,
    /// Pool name.
    pub name: String,
    /// Hosted (Microsoft-managed) pool.
    pub is_hosted: bool,
    /// Legacy pool.
    pub is_legacy: bool,
    /// `automation` or `deployment`.
    pub pool_type: &'static str,
    /// Pool option flags.
    pub options: &'static str,
    /// Number of registered agents.
    pub size: i32,
    /// Creation time.
    pub created_on: String,
    /// Auto-provision queues in new projects.
    pub auto_provision: bool,
    /// Auto-size (agent clouds).
    pub auto_size: bool,
    /// Agents auto-update.
    pub auto_update: bool,
}
