//! The emulator's in-memory world, behind one mutex.
//!
//! Every mutation goes through [`Shared::mutate`], which afterwards runs assignment, wakes
//! long-polls and hands job-state events to the service-hook sender, so "whenever something
//! changes, assign" holds by construction.

pub mod agents;
pub mod jobs;
pub mod sessions;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::EmulatorConfig;
use crate::faults::ActiveFault;
use crate::hooks::{HookEvent, HookTarget};
use crate::stats::Stats;

pub use agents::{Agent, RsaPublicKey};
pub use jobs::{Job, JobResult};
pub use sessions::{QueuedMessage, Session};

/// A pool.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Pool id (10, 11, ...).
    pub id: i32,
    /// Pool name.
    pub name: String,
    /// Scope GUID.
    pub scope: Uuid,
    /// Creation time.
    pub created_on: DateTime<Utc>,
}

/// An access token minted by the OAuth endpoint (the map key is the secret value).
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The agent it authenticates.
    pub agent_id: i32,
    /// Expiry.
    pub expires: DateTime<Utc>,
}

/// All mutable emulator state.
pub struct State {
    /// Stable `instanceId` for connectionData.
    pub instance_id: Uuid,
    /// Pools in id order.
    pub pools: Vec<Pool>,
    /// Agents by id.
    pub agents: BTreeMap<i32, Agent>,
    /// Next agent id (never reused).
    pub next_agent_id: i32,
    /// Job requests by id.
    pub jobs: BTreeMap<i64, Job>,
    /// Next request id.
    pub next_request_id: i64,
    /// Live sessions.
    pub sessions: HashMap<Uuid, Session>,
    /// Next message id (global, increasing).
    pub next_message_id: i64,
    /// Access tokens by value.
    pub tokens: HashMap<String, AccessToken>,
    /// Active faults in insertion order.
    pub faults: Vec<ActiveFault>,
    /// Service-hook targets.
    pub hooks: Vec<HookTarget>,
    /// Request counters.
    pub stats: Stats,
    /// Job-state events produced by the current mutation, sent after unlocking.
    pub pending_events: Vec<HookEvent>,
    /// Set when a long-poll may have something new.
    pub wake: bool,
}

impl std::fmt::Debug for State {
    // Hand-written: access tokens are secrets and must not reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("pools", &self.pools)
            .field("agents", &self.agents.len())
            .field("jobs", &self.jobs.len())
            .field("sessions", &self.sessions.len())
            .field("tokens", &self.tokens.len())
            .field("faults", &self.faults)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl State {
    fn new(cfg: &EmulatorConfig) -> Self {
        let now = Utc::now();
        let pools = cfg
            .pools
            .iter()
            .zip(10..)
            .map(|(name, id)| Pool {
                id,
                name: name.clone(),
                scope: Uuid::new_v4(),
                created_on: now,
            })
            .collect();
        Self {
            instance_id: Uuid::new_v4(),
            pools,
            agents: BTreeMap::new(),
            next_agent_id: 1,
            jobs: BTreeMap::new(),
            next_request_id: 1000,
            sessions: HashMap::new(),
            next_message_id: 1,
            tokens: HashMap::new(),
            faults: Vec::new(),
            hooks: Vec::new(),
            stats: Stats::default(),
            pending_events: Vec::new(),
            wake: false,
        }
    }

    /// The pool with this id.
    pub fn pool(&self, id: i32) -> Option<&Pool> {
        self.pools.iter().find(|p| p.id == id)
    }

    /// The pool with this name (case-insensitive).
    pub fn pool_by_name(&self, name: &str) -> Option<&Pool> {
        self.pools
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

/// State plus the wake-up and delivery channels, shared by every handler.
#[derive(Debug)]
pub struct Shared {
    /// Configuration.
    pub cfg: EmulatorConfig,
    /// Base URL (`http://host:port`) for absolute links when no `Host` header is available.
    pub base_url: String,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    hook_events: mpsc::UnboundedSender<HookEvent>,
    /// Cancelled on shutdown; long-polls return at once.
    pub shutdown: CancellationToken,
    /// The Microsoft Entra double (token endpoint, applications, service principals).
    pub entra: crate::entra::Directory,
}

impl Shared {
    /// Builds the shared state; returns the receiving end of the hook-event channel.
    pub fn new(
        cfg: EmulatorConfig,
        base_url: String,
    ) -> (Self, mpsc::UnboundedReceiver<HookEvent>) {
        let (hook_events, hook_rx) = mpsc::unbounded_channel();
        let state = State::new(&cfg);
        let (changed, _) = watch::channel(0);
        (
            Self {
                cfg,
                base_url,
                state: Mutex::new(state),
                changed,
                hook_events,
                shutdown: CancellationToken::new(),
                entra: crate::entra::Directory::new(),
            },
            hook_rx,
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Mutates the state, then assigns queued jobs, wakes long-polls and emits hook events.
    pub fn mutate<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let (result, events, wake) = {
            let mut state = self.lock();
            let result = f(&mut state);
            crate::assign::assign_queued_jobs(&mut state, &self.cfg, &self.base_url);
            let events = std::mem::take(&mut state.pending_events);
            let wake = std::mem::take(&mut state.wake);
            (result, events, wake)
        };
        for event in events {
            // The receiver only disappears at shutdown; losing a hook then is fine.
            let _ = self.hook_events.send(event);
        }
        if wake {
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
        result
    }

    /// A receiver that changes whenever a message may have been queued.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let cfg = EmulatorConfig {
            pat: "pat-secret-1".to_owned(),
            bearer_token: Some("entra-secret-2".to_owned()),
            ..EmulatorConfig::default()
        };
        let (shared, _rx) = Shared::new(cfg, "http://127.0.0.1:1".to_owned());
        shared.mutate(|s| {
            s.tokens.insert(
                "token-secret-3".to_owned(),
                AccessToken {
                    agent_id: 1,
                    expires: Utc::now(),
                },
            );
            s.hooks.push(crate::hooks::HookTarget {
                url: "http://127.0.0.1:2/hook".to_owned(),
                basic_auth: Some(crate::hooks::HookBasicAuth {
                    username: "u".to_owned(),
                    password: "hook-secret-4".to_owned(),
                }),
                headers: BTreeMap::from([(
                    "Authorization".to_owned(),
                    "Bearer header-secret-5".to_owned(),
                )]),
            });
        });
        let printed = format!("{shared:?}");
        for secret in [
            "pat-secret-1",
            "entra-secret-2",
            "token-secret-3",
            "hook-secret-4",
            "header-secret-5",
        ] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
        assert!(
            printed.contains("hook"),
            "the debug output still describes the state: {printed}"
        );
    }
}
