//! Registered agents.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::State;
use crate::wire::agent::{TaskAgent, TaskAgentAuthorization, TaskAgentReference};
use crate::wire::{Href, Links, format_time};

/// An agent's RSA public key, big-endian bytes without leading zeros.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    /// Modulus.
    pub modulus: Vec<u8>,
    /// Exponent.
    pub exponent: Vec<u8>,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.modulus.len() * 8)
    }
}

/// A registered agent.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Id, unique for the life of the emulator.
    pub id: i32,
    /// Pool id.
    pub pool_id: i32,
    /// Name, unique in the pool (case-insensitive).
    pub name: String,
    /// Version string.
    pub version: Option<String>,
    /// OS description.
    pub os_description: Option<String>,
    /// May run jobs.
    pub enabled: bool,
    /// Provisioning state.
    pub provisioning_state: String,
    /// Max parallel jobs.
    pub max_parallelism: i32,
    /// System capabilities.
    pub system_capabilities: BTreeMap<String, String>,
    /// User capabilities.
    pub user_capabilities: BTreeMap<String, String>,
    /// Registration time.
    pub created_on: DateTime<Utc>,
    /// Last online/offline change.
    pub status_changed_on: DateTime<Utc>,
    /// OAuth key; `None` for keyless placeholder agents (always offline).
    pub key: Option<RsaPublicKey>,
    /// OAuth client id (when keyed).
    pub client_id: Option<Uuid>,
    /// Token endpoint URL handed out at registration (the JWT `aud`).
    pub authorization_url: Option<String>,
    /// Live session, if any.
    pub session: Option<Uuid>,
    /// Last finished request.
    pub last_completed_request: Option<i64>,
}

/// Which optional parts of a `TaskAgent` to include.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentView {
    /// `includeCapabilities`.
    pub capabilities: bool,
    /// `includeAssignedRequest`.
    pub assigned_request: bool,
    /// `includeLastCompletedRequest`.
    pub last_completed_request: bool,
    /// Registration answer: include `authorization`.
    pub authorization: bool,
}

impl Agent {
    /// `online` while a session is live.
    pub fn is_online(&self) -> bool {
        self.session.is_some()
    }

    /// `TaskAgentReference`.
    pub fn reference(&self, org_url: &str) -> TaskAgentReference {
        let href = format!(
            "{org_url}/_apis/distributedtask/pools/{}/agents/{}",
            self.pool_id, self.id
        );
        TaskAgentReference {
            links: Links {
                self_link: Href { href: href.clone() },
                web: Href {
                    href: format!(
                        "{org_url}/_settings/agentpools?poolId={}&view=agents&agentId={}",
                        self.pool_id, self.id
                    ),
                },
            },
            id: self.id,
            name: self.name.clone(),
            version: self.version.clone(),
            os_description: self.os_description.clone(),
            enabled: self.enabled,
            status: if self.is_online() {
                "online"
            } else {
                "offline"
            },
            provisioning_state: self.provisioning_state.clone(),
            access_point: "CodexAccessMapping",
        }
    }

    /// Full `TaskAgent`.
    pub fn to_wire(&self, state: &State, org_url: &str, view: AgentView) -> TaskAgent {
        let assigned = view
            .assigned_request
            .then(|| state.active_job_of(self.id))
            .flatten()
            .map(|job| Box::new(job.to_wire(state, org_url, false)));
        let last = view
            .last_completed_request
            .then_some(self.last_completed_request)
            .flatten()
            .and_then(|id| state.jobs.get(&id))
            .map(|job| Box::new(job.to_wire(state, org_url, false)));
        TaskAgent {
            reference: self.reference(org_url),
            created_on: format_time(self.created_on),
            status_changed_on: format_time(self.status_changed_on),
            max_parallelism: self.max_parallelism,
            system_capabilities: view.capabilities.then(|| self.system_capabilities.clone()),
            user_capabilities: view.capabilities.then(|| self.user_capabilities.clone()),
            assigned_request: assigned,
            last_completed_request: last,
            authorization: (view.authorization && self.client_id.is_some()).then(|| {
                TaskAgentAuthorization {
                    authorization_url: self.authorization_url.clone(),
                    client_id: self.client_id.map(|c| c.to_string()),
                    public_key: None,
                }
            }),
        }
    }
}

impl State {
    /// The unfinished job reserved for this agent, if any.
    pub fn active_job_of(&self, agent_id: i32) -> Option<&super::Job> {
        self.jobs
            .values()
            .find(|j| j.result.is_none() && j.reserved_agent == Some(agent_id))
    }

    /// Agents of a pool, by id.
    pub fn agents_in_pool(&self, pool_id: i32) -> impl Iterator<Item = &Agent> {
        self.agents.values().filter(move |a| a.pool_id == pool_id)
    }

    /// Ends the agent's session (if any): the agent goes offline.
    pub fn end_session_of(&mut self, agent_id: i32) {
        let Some(agent) = self.agents.get_mut(&agent_id) else {
            return;
        };
        if let Some(session_id) = agent.session.take() {
            agent.status_changed_on = Utc::now();
            self.sessions.remove(&session_id);
            self.release_unreceived_jobs(agent_id);
            self.wake = true;
        }
    }

    /// Revokes every access token of an agent.
    pub fn revoke_tokens_of(&mut self, agent_id: i32) {
        self.tokens.retain(|_, t| t.agent_id != agent_id);
    }
}
