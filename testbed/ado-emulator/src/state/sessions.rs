//! Agent sessions and their message queues (peek semantics: a message stays until deleted).

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::State;

/// A message waiting in a session queue.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    /// Message id.
    pub id: i64,
    /// Message type.
    pub message_type: String,
    /// JSON body.
    pub body: String,
    /// The job request it is about, if any.
    pub request_id: Option<i64>,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Session id.
    pub id: Uuid,
    /// Agent id.
    pub agent_id: i32,
    /// Pool id.
    pub pool_id: i32,
    /// Owner (machine) name.
    pub owner_name: String,
    /// Capabilities announced at session start.
    pub system_capabilities: Option<BTreeMap<String, String>>,
    /// End of the last poll (or creation).
    pub last_poll: DateTime<Utc>,
    /// Polls currently being held.
    pub active_polls: u32,
    /// Undeleted messages, oldest first.
    pub messages: VecDeque<QueuedMessage>,
}

impl State {
    /// Appends a message to the agent's session queue; false when the agent has no session.
    pub fn push_message(
        &mut self,
        agent_id: i32,
        message_type: &str,
        body: String,
        request_id: Option<i64>,
    ) -> bool {
        let Some(session_id) = self.agents.get(&agent_id).and_then(|a| a.session) else {
            return false;
        };
        let id = self.next_message_id;
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return false;
        };
        self.next_message_id += 1;
        session.messages.push_back(QueuedMessage {
            id,
            message_type: message_type.to_owned(),
            body,
            request_id,
        });
        self.wake = true;
        true
    }

    /// Ends sessions that nobody polled for `idle` (agent offline).
    pub fn expire_idle_sessions(&mut self, now: DateTime<Utc>, idle: chrono::Duration) {
        let dead: Vec<i32> = self
            .sessions
            .values()
            .filter(|s| s.active_polls == 0 && now - s.last_poll > idle)
            .map(|s| s.agent_id)
            .collect();
        for agent_id in dead {
            tracing::info!(agent_id, "session idle too long; agent offline");
            self.end_session_of(agent_id);
        }
    }
}
