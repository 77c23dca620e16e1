//! The server calls `config.sh` and `config.sh remove` share: the location handshake and
//! finding a registration by name, sent exactly as the official agent sends them.

use super::args::AgentArgs;
use super::error::{ApiError, StandinError};
use super::http::{AdoClient, api_version};
use super::wire::{Collection, ConnectionData, TaskAgent};

/// Refuses any `--auth` but `pat` (the default): the stand-in implements only PAT auth.
pub fn require_pat_auth(args: &AgentArgs) -> Result<(), StandinError> {
    let auth = args.value("auth").unwrap_or("pat");
    if auth.eq_ignore_ascii_case("pat") {
        Ok(())
    } else {
        Err(StandinError::Usage(format!(
            "--auth {auth} is not supported by the stand-in; use --auth pat"
        )))
    }
}

/// `GET _apis/connectionData` with the agent's `connectOptions` and change ids (both
/// `lastChangeId` and `lastChangeId64` carry `last_change_id`).
pub async fn connection_data(
    client: &AdoClient,
    connect_options: &str,
    last_change_id: &str,
) -> Result<ConnectionData, ApiError> {
    client
        .get_json(
            "_apis/connectionData",
            &[
                ("connectOptions", connect_options),
                ("lastChangeId", last_change_id),
                ("lastChangeId64", last_change_id),
            ],
            api_version::LOCATION,
        )
        .await
}

/// `_apis/distributedtask/pools/{pool_id}/agents`.
pub fn agents_path(pool_id: i32) -> String {
    format!("_apis/distributedtask/pools/{pool_id}/agents")
}

/// The registrations in the pool at `agents_path` named `name` (without capabilities).
pub async fn agents_named(
    client: &AdoClient,
    agents_path: &str,
    name: &str,
) -> Result<Collection<TaskAgent>, ApiError> {
    client
        .get_json(
            agents_path,
            &[("agentName", name), ("includeCapabilities", "False")],
            api_version::AGENTS,
        )
        .await
}
