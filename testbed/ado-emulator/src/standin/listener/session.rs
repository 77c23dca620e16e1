//! The listener's session with the server: create (with the real agent's retry rules),
//! delete, long-poll messages, keep-alive polls, message deletion.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use tokio::task::JoinHandle;

use super::{EXIT_TERMINATED, Listener, is_fatal};
use crate::standin::AGENT_VERSION;
use crate::standin::capabilities::{host_name, os_description, process_env, system_capabilities};
use crate::standin::console;
use crate::standin::error::ApiError;
use crate::standin::http::{api_version, decode};
use crate::standin::message_crypto::MessageDecryptor;
use crate::standin::wire::{AgentMessage, CreateSession, Session, SessionAgent};

/// Session-conflict retries: every 30 s for up to 4 minutes.
const SESSION_CONFLICT_RETRIES: u32 = 8;
/// The empty GUID the agent sends as session id on create.
const EMPTY_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// A live session and how to read its messages.
pub(super) struct ActiveSession {
    pub(super) id: String,
    pub(super) decryptor: Option<MessageDecryptor>,
}

/// Aborts the keep-alive task when the listener ends.
pub(super) struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Listener {
    /// The agent reads a feature flag before anything else (protocol §7b); its answer and
    /// failures do not matter, but the exchange exercises the server's OAuth challenge.
    pub(super) async fn read_feature_flag(&self) {
        let flag = self
            .client
            .get_json::<serde_json::Value>(
                "_apis/FeatureFlags/DistributedTask.Agent.CheckPsModulesLocations",
                &[],
                api_version::LOCATION,
            )
            .await;
        if let Err(err) = flag {
            tracing::debug!(%err, "feature flag lookup failed (ignored)");
        }
    }

    /// `GET connectionData` then `POST sessions`, with the real agent's retry rules.
    pub(super) async fn create_session(&self) -> Result<ActiveSession, i32> {
        let body = CreateSession {
            session_id: EMPTY_GUID.to_string(),
            owner_name: host_name(),
            agent: SessionAgent {
                id: self.settings.agent_id,
                name: self.settings.agent_name.clone(),
                version: AGENT_VERSION.to_string(),
                os_description: os_description(),
            },
            system_capabilities: system_capabilities(
                process_env(),
                &self.settings.agent_name,
                self.root.dir(),
            ),
        };
        let mut conflicts = 0;
        loop {
            let attempt = async {
                self.client
                    .get_json::<serde_json::Value>(
                        "_apis/connectionData",
                        &[
                            ("connectOptions", "0"),
                            ("lastChangeId", "0"),
                            ("lastChangeId64", "0"),
                        ],
                        api_version::LOCATION,
                    )
                    .await?;
                self.client
                    .send_json::<_, Session>(
                        Method::POST,
                        &self.pool_path("sessions"),
                        &[],
                        api_version::POOLS,
                        &body,
                    )
                    .await
            };
            let err = match attempt.await {
                Ok(session) => {
                    tracing::info!(session_id = %session.session_id, "session created");
                    let decryptor = match &session.encryption_key {
                        Some(key) => MessageDecryptor::from_session(key, &self.key),
                        None => Ok(None),
                    };
                    return match decryptor {
                        Ok(decryptor) => Ok(ActiveSession {
                            id: session.session_id,
                            decryptor,
                        }),
                        Err(err) => {
                            console::error(&format!(
                                "Cannot use the session's encryption key: {err}"
                            ));
                            self.delete_session(&session.session_id).await;
                            Err(EXIT_TERMINATED)
                        }
                    };
                }
                Err(err) => err,
            };
            if err.has_type_key("TaskAgentSessionConflictException") || err.status() == Some(409) {
                conflicts += 1;
                if conflicts > SESSION_CONFLICT_RETRIES {
                    console::error("A session for this agent already exists.");
                    return Err(EXIT_TERMINATED);
                }
                console::line("A session for this agent already exists.");
            } else if err.has_type_key("TaskAgentNotFoundException") {
                console::error(
                    "The agent no longer exists on the server. Please reconfigure the agent.",
                );
                return Err(EXIT_TERMINATED);
            } else if is_fatal(&err) {
                console::error(&format!("Failed to create session. {err}"));
                return Err(EXIT_TERMINATED);
            } else {
                console::line(&format!("Failed to create session, retrying. {err}"));
            }
            tokio::time::sleep(self.timing.session_retry()).await;
        }
    }

    pub(super) async fn delete_session(&self, session_id: &str) {
        let path = format!("{}/{session_id}", self.pool_path("sessions"));
        let deleted = tokio::time::timeout(
            Duration::from_secs(30),
            self.client
                .send_no_content(Method::DELETE, &path, &[], api_version::POOLS),
        )
        .await;
        match deleted {
            Ok(Ok(())) => tracing::info!(%session_id, "session deleted"),
            Ok(Err(err)) => tracing::warn!(%err, "deleting the session failed"),
            Err(_) => tracing::warn!("deleting the session timed out"),
        }
    }

    pub(super) async fn delete_message(&self, session_id: &str, message_id: i64) {
        let path = format!("{}/{message_id}", self.pool_path("messages"));
        if let Err(err) = self
            .client
            .send_no_content(
                Method::DELETE,
                &path,
                &[("sessionId", session_id)],
                api_version::POOLS,
            )
            .await
        {
            tracing::warn!(%err, message_id, "deleting the message failed");
        }
    }

    /// One long poll; `None` when the server had nothing (202/204/empty body).
    pub(super) async fn poll(
        &self,
        session_id: &str,
        last_message_id: Option<i64>,
    ) -> Result<Option<AgentMessage>, ApiError> {
        let last = last_message_id.map(|id| id.to_string());
        let mut query = vec![("sessionId", session_id)];
        if let Some(last) = last.as_deref() {
            query.push(("lastMessageId", last));
        }
        let url = self.client.url(&self.pool_path("messages"), &query)?;
        let reply = self
            .client
            .exchange(Method::GET, url.clone(), api_version::MESSAGES, None)
            .await?;
        if reply.status == StatusCode::ACCEPTED
            || reply.status == StatusCode::NO_CONTENT
            || reply.body.iter().all(u8::is_ascii_whitespace)
        {
            return Ok(None);
        }
        decode(&Method::GET, &url, &reply.body).map(Some)
    }

    /// The keep-alive loop of agents ≥ 3.236.1: a second `GET messages?sessionId=` every 30 s
    /// whose answer is discarded (the server must keep messages until they are deleted).
    pub(super) fn spawn_keepalive(
        &self,
        session: tokio::sync::watch::Receiver<String>,
    ) -> AbortOnDrop {
        let client = self.client.clone();
        let path = self.pool_path("messages");
        let interval = self.timing.keepalive();
        AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let session_id = session.borrow().clone();
                let Ok(url) = client.url(&path, &[("sessionId", session_id.as_str())]) else {
                    continue;
                };
                if let Err(err) = client
                    .exchange(Method::GET, url, api_version::MESSAGES, None)
                    .await
                {
                    tracing::debug!(%err, "keep-alive poll failed");
                }
            }
        }))
    }
}
