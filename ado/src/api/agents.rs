//! `_apis/distributedtask/pools/{poolId}/agents`.

use reqwest::Method;
use serde::Serialize;
use url::Url;

use super::API_VERSION;
use crate::client::{AdoClient, Call, NotFound};
use crate::error::{AdoError, PoolLookup};
use crate::models::{Agent, AgentPatch, Collection, NewAgent};

/// Filters and expansions for listing or reading agents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentQuery {
    /// Only the agent with this exact name.
    pub name: Option<String>,
    /// Fill `systemCapabilities` / `userCapabilities`.
    pub include_capabilities: bool,
    /// Fill `assignedRequest` (which agents are busy).
    pub include_assigned_request: bool,
    /// Fill `lastCompletedRequest`.
    pub include_last_completed_request: bool,
}

impl AgentQuery {
    fn apply(&self, url: &mut Url, with_name: bool) {
        let mut query = url.query_pairs_mut();
        if with_name && let Some(name) = &self.name {
            query.append_pair("agentName", name);
        }
        // Only the flags that are on are sent: the service's defaults are all false.
        for (key, on) in [
            ("includeCapabilities", self.include_capabilities),
            ("includeAssignedRequest", self.include_assigned_request),
            (
                "includeLastCompletedRequest",
                self.include_last_completed_request,
            ),
        ] {
            if on {
                query.append_pair(key, "true");
            }
        }
        query.append_pair("api-version", API_VERSION);
    }
}

/// PATCH body: the partial agent plus its id, as the service expects (`{"id":5,"enabled":false}`).
#[derive(Serialize)]
struct PatchBody<'a> {
    id: i32,
    #[serde(flatten)]
    patch: &'a AgentPatch,
}

impl AdoClient {
    fn agents_url(&self, pool_id: i32, agent_id: Option<i32>) -> Url {
        let pool = pool_id.to_string();
        match agent_id {
            Some(agent_id) => {
                self.distributedtask_url(&["pools", &pool, "agents", &agent_id.to_string()])
            }
            None => self.distributedtask_url(&["pools", &pool, "agents"]),
        }
    }

    fn encode<T: Serialize>(route: &'static str, body: &T) -> Result<Vec<u8>, AdoError> {
        serde_json::to_vec(body).map_err(|err| AdoError::Decode {
            route,
            message: err.to_string(),
        })
    }

    /// Lists the agents of a pool (optionally one name; see [`AgentQuery`] for expansions).
    pub async fn list_agents(
        &self,
        pool_id: i32,
        query: &AgentQuery,
    ) -> Result<Vec<Agent>, AdoError> {
        let mut url = self.agents_url(pool_id, None);
        query.apply(&mut url, true);
        let call = Call {
            method: Method::GET,
            route: "pools/{poolId}/agents",
            url,
            body: None,
            not_found: NotFound::Pool(PoolLookup::Id(pool_id)),
            agent_name: None,
        };
        let agents: Collection<Agent> = self.json(call).await?;
        Ok(agents.value)
    }

    /// The agent registered under `name` (case-insensitive, as the service compares names), if any.
    pub async fn find_agent(&self, pool_id: i32, name: &str) -> Result<Option<Agent>, AdoError> {
        let query = AgentQuery {
            name: Some(name.to_owned()),
            ..AgentQuery::default()
        };
        let agents = self.list_agents(pool_id, &query).await?;
        Ok(agents
            .into_iter()
            .find(|agent| agent.name.eq_ignore_ascii_case(name)))
    }

    /// Reads one agent (`query.name` is ignored).
    pub async fn get_agent(
        &self,
        pool_id: i32,
        agent_id: i32,
        query: &AgentQuery,
    ) -> Result<Agent, AdoError> {
        let mut url = self.agents_url(pool_id, Some(agent_id));
        query.apply(&mut url, false);
        let call = Call {
            method: Method::GET,
            route: "pools/{poolId}/agents/{agentId}",
            url,
            body: None,
            not_found: NotFound::Agent { pool_id, agent_id },
            agent_name: None,
        };
        self.json(call).await
    }

    /// Registers an agent. A duplicate name → [`AdoError::AgentExists`].
    ///
    /// Not retried on 5xx (POST is not idempotent: a retry after a lost answer would hit `AgentExists`).
    pub async fn add_agent(&self, pool_id: i32, agent: &NewAgent) -> Result<Agent, AdoError> {
        const ROUTE: &str = "pools/{poolId}/agents";
        let mut url = self.agents_url(pool_id, None);
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        let call = Call {
            method: Method::POST,
            route: ROUTE,
            url,
            body: Some(Self::encode(ROUTE, agent)?),
            not_found: NotFound::Pool(PoolLookup::Id(pool_id)),
            agent_name: Some(agent.name.clone()),
        };
        self.json(call).await
    }

    /// Changes the fields set in `patch`, leaving the rest as they are.
    pub async fn update_agent(
        &self,
        pool_id: i32,
        agent_id: i32,
        patch: &AgentPatch,
    ) -> Result<Agent, AdoError> {
        const ROUTE: &str = "pools/{poolId}/agents/{agentId}";
        let mut url = self.agents_url(pool_id, Some(agent_id));
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        let call = Call {
            method: Method::PATCH,
            route: ROUTE,
            url,
            body: Some(Self::encode(
                ROUTE,
                &PatchBody {
                    id: agent_id,
                    patch,
                },
            )?),
            not_found: NotFound::Agent { pool_id, agent_id },
            agent_name: None,
        };
        self.json(call).await
    }

    /// Enables or disables job assignment to an agent (scale-down disables first, then re-reads).
    pub async fn set_agent_enabled(
        &self,
        pool_id: i32,
        agent_id: i32,
        enabled: bool,
    ) -> Result<Agent, AdoError> {
        self.update_agent(
            pool_id,
            agent_id,
            &AgentPatch {
                enabled: Some(enabled),
                ..AgentPatch::default()
            },
        )
        .await
    }

    /// Removes an agent registration. An unknown agent → [`AdoError::AgentNotFound`] (callers treat it as done).
    pub async fn delete_agent(&self, pool_id: i32, agent_id: i32) -> Result<(), AdoError> {
        let mut url = self.agents_url(pool_id, Some(agent_id));
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        let call = Call {
            method: Method::DELETE,
            route: "pools/{poolId}/agents/{agentId}",
            url,
            body: None,
            not_found: NotFound::Agent { pool_id, agent_id },
            agent_name: None,
        };
        self.execute(call).await.map(|_| ())
    }
}
