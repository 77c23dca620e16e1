//! `TaskAgentPool`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::dates;
use super::string_enum::string_enum;

string_enum! {
    /// `poolType`.
    PoolType {
        /// Build/release agents.
        Automation => "automation",
        /// Deployment-group agents.
        Deployment => "deployment",
    }
}

/// An agent pool (organization/collection level; job requests and agents are addressed by its `id`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    /// Pool id (organization-wide, not the project-local queue id).
    pub id: i32,
    /// Pool name.
    pub name: String,
    /// Automation or deployment.
    #[serde(default)]
    pub pool_type: Option<PoolType>,
    /// Number of registered agents.
    #[serde(default)]
    pub size: Option<i32>,
    /// True for Microsoft-hosted pools (the operator cannot add agents there).
    #[serde(default)]
    pub is_hosted: Option<bool>,
    /// Creation time.
    #[serde(default, deserialize_with = "dates::optional")]
    pub created_on: Option<DateTime<Utc>>,
}
