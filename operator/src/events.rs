//! Kubernetes Events on AgentPools (what `kubectl describe agentpool` shows).

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use tracing::warn;

use crate::crd::AgentPool;

/// Event reasons, PascalCase as Kubernetes expects.
pub mod reason {
    /// Pods created for pending jobs.
    pub const SCALE_UP: &str = "ScaledUp";
    /// Idle agents disabled or their pods deleted.
    pub const SCALE_DOWN: &str = "ScaledDown";
    /// Agent registrations removed from Azure DevOps.
    pub const REGISTRATION_REMOVED: &str = "RegistrationRemoved";
    /// The placeholder agent was registered.
    pub const PLACEHOLDER_REGISTERED: &str = "PlaceholderRegistered";
    /// A finished pod's outcome was recorded.
    pub const JOB_FINISHED: &str = "JobFinished";
    /// A pod never started (Pending, or its agent never registered) and was deleted.
    pub const POD_START_TIMEOUT: &str = "PodStartTimeout";
}

/// Publishes Events; failures are logged, never propagated (Events are best effort).
#[derive(Clone)]
pub struct EventSink {
    recorder: Recorder,
}

impl EventSink {
    /// A sink reporting as `azp-operator` with this replica's identity.
    pub fn new(client: Client, instance: &str) -> Self {
        let reporter = Reporter {
            controller: "azp-operator".into(),
            instance: Some(instance.into()),
        };
        Self {
            recorder: Recorder::new(client, reporter),
        }
    }

    /// A Normal event.
    pub async fn normal(&self, pool: &AgentPool, reason: &str, note: String) {
        self.publish(pool, EventType::Normal, reason, note).await;
    }

    /// A Warning event.
    pub async fn warning(&self, pool: &AgentPool, reason: &str, note: String) {
        self.publish(pool, EventType::Warning, reason, note).await;
    }

    async fn publish(&self, pool: &AgentPool, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &pool.object_ref(&())).await {
            warn!(%error, reason, "could not publish event");
        }
    }
}
