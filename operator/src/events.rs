//! Kubernetes Events on AgentPools (what `kubectl describe agentpool` shows).
//!
//! kube-runtime's [`Recorder`], like client-go's, turns an event into a series of the first
//! one when the type, reason, action, `regarding` and `related` objects match, ignoring the
//! note: it patches the first event's count and keeps its note. So every event states what
//! tells it apart: each kind of action has its own `action`, and an event about one pod names
//! that pod as `related` (the AgentPool stays `regarding`, so `kubectl describe agentpool`
//! still lists it). Only a repeat of the very same thing becomes a series.
//!
//! An event that names a pod is created directly instead ([`single_event`]): a pod is created,
//! starts, finishes and is deleted once, so such an event never becomes a series, and the
//! Recorder would keep each one in its series cache for six minutes for nothing: with a 500-pod
//! burst that cache (about 2,000 whole Event objects) was the largest single allocation in a heap
//! profile of the operator.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as ApiEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::warn;

use azp_contract::Outcome;

use crate::apply::AppliedAgent;
use crate::crd::AgentPool;
use crate::observe::{PodOutcome, RunningJob};

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
    /// A pod's agent took a job.
    pub const JOB_STARTED: &str = "JobStarted";
    /// A pod never started (Pending, or its agent never registered) and was deleted.
    pub const POD_START_TIMEOUT: &str = "PodStartTimeout";
    /// A pending job no AgentPool of its Azure DevOps pool can serve (once per job).
    pub const UNSERVABLE_JOB: &str = "UnservableJob";
    /// A Pending pod cannot start as it is (image pull error, `CreateContainerConfigError`)
    /// and was deleted.
    pub const POD_CANNOT_START: &str = "PodCannotStart";
    /// A pod's agent exited but the pod kept running past the finish timeout; deleted.
    pub const POD_FINISH_TIMEOUT: &str = "PodFinishTimeout";
}

/// Event actions (what the operator did), one per kind of event.
pub mod action {
    /// Reconciling the AgentPool as a whole (configuration and Azure DevOps problems).
    pub const RECONCILE: &str = "Reconcile";
    /// A pod was created for a pending job.
    pub const CREATE_POD: &str = "CreatePod";
    /// An idle agent was disabled in Azure DevOps for scale-down.
    pub const DISABLE_AGENT: &str = "DisableAgent";
    /// An idle agent's pod was deleted for scale-down.
    pub const DELETE_POD: &str = "DeletePod";
    /// An agent registration was removed from Azure DevOps.
    pub const REMOVE_REGISTRATION: &str = "RemoveRegistration";
    /// The offline placeholder agent was registered.
    pub const REGISTER_PLACEHOLDER: &str = "RegisterPlaceholder";
    /// A finished pod's outcome was read and counted.
    pub const RECORD_OUTCOME: &str = "RecordOutcome";
    /// A pod was annotated with the job its agent took.
    pub const ANNOTATE_JOB: &str = "AnnotateJob";
    /// A pod that never started was deleted.
    pub const DELETE_UNSTARTED_POD: &str = "DeleteUnstartedPod";
    /// A pod whose agent exited but that kept running was deleted.
    pub const DELETE_STUCK_POD: &str = "DeleteStuckPod";
}

/// The Events API limit of `note` (1 KiB, in bytes).
const NOTE_LIMIT_BYTES: usize = 1024;

/// Publishes Events; failures are logged, never propagated (Events are best effort).
#[derive(Clone)]
pub struct EventSink {
    /// Events about the AgentPool alone: a repeat becomes a series.
    recorder: Recorder,
    /// Events that name a pod are created with this client, uncached.
    client: Client,
    reporter: Reporter,
}

impl EventSink {
    /// A sink reporting as `azp-operator` with this replica's identity.
    pub fn new(client: Client, instance: &str) -> Self {
        let reporter = Reporter {
            controller: "azp-operator".into(),
            instance: Some(instance.into()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter.clone()),
            client,
            reporter,
        }
    }

    /// A Warning event about the AgentPool as a whole.
    pub async fn warning(&self, pool: &AgentPool, reason: &str, note: String) {
        self.publish(
            pool,
            EventType::Warning,
            reason,
            action::RECONCILE,
            None,
            note,
        )
        .await;
    }

    /// An event about one pod of the AgentPool (named as `related`), for `action`.
    pub async fn about_pod(
        &self,
        pool: &AgentPool,
        type_: EventType,
        reason: &str,
        action: &str,
        pod: &str,
        note: String,
    ) {
        let related = pod_reference(pool, pod);
        self.publish(pool, type_, reason, action, Some(related), note)
            .await;
    }

    /// A Normal event about one agent: naming its pod when it has one, else the AgentPool alone.
    async fn about_agent(
        &self,
        pool: &AgentPool,
        reason: &str,
        action: &str,
        agent: &AppliedAgent,
        note: String,
    ) {
        let related = agent.pod.as_deref().map(|pod| pod_reference(pool, pod));
        self.publish(pool, EventType::Normal, reason, action, related, note)
            .await;
    }

    /// An event about the AgentPool for `action`, with no single pod to name.
    pub async fn about_pool(
        &self,
        pool: &AgentPool,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.publish(pool, type_, reason, action, None, note).await;
    }

    async fn publish(
        &self,
        pool: &AgentPool,
        type_: EventType,
        reason: &str,
        action: &str,
        related: Option<ObjectReference>,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(truncate_note(note)),
            action: action.into(),
            secondary: related,
        };
        let regarding = pool.object_ref(&());
        let published = if event.secondary.is_some() {
            let event = single_event(&self.reporter, &event, regarding, Timestamp::now());
            let namespace = event.metadata.namespace.clone().unwrap_or_default();
            Api::<ApiEvent>::namespaced(self.client.clone(), &namespace)
                .create(&PostParams::default(), &event)
                .await
                .map(drop)
        } else {
            self.recorder.publish(&event, &regarding).await
        };
        if let Err(error) = published {
            warn!(%error, reason, "could not publish event");
        }
    }
}

/// Events for what one reconcile did, one per pod or agent acted on.
impl EventSink {
    /// `ScaledUp`, one per created pod.
    pub async fn scaled_up(&self, pool: &AgentPool, pods: &[String], why: &str) {
        for pod in pods {
            self.about_pod(
                pool,
                EventType::Normal,
                reason::SCALE_UP,
                action::CREATE_POD,
                pod,
                format!("created pod {pod}: {why}"),
            )
            .await;
        }
    }

    /// `ScaledDown`, one per disabled agent and per deleted pod.
    pub async fn scaled_down(
        &self,
        pool: &AgentPool,
        disabled: &[AppliedAgent],
        deleted_pods: &[String],
        why: &str,
    ) {
        for agent in disabled {
            let note = format!(
                "disabled idle agent {} for scale-down: {why}",
                agent_label(agent)
            );
            self.about_agent(pool, reason::SCALE_DOWN, action::DISABLE_AGENT, agent, note)
                .await;
        }
        for pod in deleted_pods {
            self.about_pod(
                pool,
                EventType::Normal,
                reason::SCALE_DOWN,
                action::DELETE_POD,
                pod,
                format!("deleted pod {pod} of a disabled idle agent: {why}"),
            )
            .await;
        }
    }

    /// `RegistrationRemoved`, one per removed registration.
    pub async fn registrations_removed(
        &self,
        pool: &AgentPool,
        agents: &[AppliedAgent],
        why: &str,
    ) {
        for agent in agents {
            let note = format!(
                "removed the registration of agent {}: {why}",
                agent_label(agent)
            );
            self.about_agent(
                pool,
                reason::REGISTRATION_REMOVED,
                action::REMOVE_REGISTRATION,
                agent,
                note,
            )
            .await;
        }
    }

    /// `JobStarted`: which job, pipeline and run a pod's agent took, with the run's page.
    pub async fn job_started(&self, pool: &AgentPool, pod: &str, job: &RunningJob) {
        self.about_pod(
            pool,
            EventType::Normal,
            reason::JOB_STARTED,
            action::ANNOTATE_JOB,
            pod,
            job.describe(pod),
        )
        .await;
    }

    /// `JobFinished` for one pod: Warning when the agent never got to run a job (preflight
    /// or registration failed, or it ended without a report), Normal otherwise.
    pub async fn job_finished(&self, pool: &AgentPool, pod: &str, outcome: &PodOutcome) {
        self.about_pod(
            pool,
            outcome_event_type(outcome),
            reason::JOB_FINISHED,
            action::RECORD_OUTCOME,
            pod,
            describe_outcome(pod, outcome),
        )
        .await;
    }
}

fn agent_label(agent: &AppliedAgent) -> String {
    match &agent.name {
        Some(name) => format!("{name} (id {})", agent.id),
        None => format!("id {}", agent.id),
    }
}

/// Warning for outcomes an administrator must look at; a job's own failure is the
/// pipeline's business, not the cluster's.
fn outcome_event_type(outcome: &PodOutcome) -> EventType {
    match outcome {
        PodOutcome::Reported(message) => match message.outcome {
            Outcome::PreflightFailed | Outcome::RegistrationFailed => EventType::Warning,
            _ => EventType::Normal,
        },
        PodOutcome::Unreported { .. } => EventType::Warning,
    }
}

fn describe_outcome(pod: &str, outcome: &PodOutcome) -> String {
    match outcome {
        PodOutcome::Reported(message) => format!(
            "pod {pod}: job {} {:?}{}",
            message
                .request_id
                .map_or_else(|| "?".into(), |id| id.to_string()),
            message.outcome,
            if message.exit_reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", message.exit_reason)
            }
        ),
        PodOutcome::Unreported { reason } => {
            format!("pod {pod} ended without a report: {reason}")
        }
    }
}

/// `event` about `regarding` as a new `events.k8s.io/v1` Event, the way kube's Recorder writes
/// the first event of a series (same name scheme, reporter and fields).
fn single_event(
    reporter: &Reporter,
    event: &Event,
    regarding: ObjectReference,
    now: Timestamp,
) -> ApiEvent {
    let prefix = regarding
        .name
        .clone()
        .unwrap_or_else(|| reporter.controller.clone());
    ApiEvent {
        metadata: ObjectMeta {
            name: Some(format!("{prefix}.{:x}", now.as_nanosecond())),
            namespace: regarding.namespace.clone(),
            ..ObjectMeta::default()
        },
        action: Some(event.action.clone()),
        reason: Some(event.reason.clone()),
        note: event.note.clone(),
        type_: Some(
            match event.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .into(),
        ),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding),
        related: event.secondary.clone(),
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: Some(
            reporter
                .instance
                .clone()
                .unwrap_or_else(|| reporter.controller.clone()),
        ),
        ..ApiEvent::default()
    }
}

/// A reference to a pod in the AgentPool's namespace (the pod may be gone already).
pub fn pod_reference(pool: &AgentPool, pod: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(pod.into()),
        namespace: pool.namespace(),
        ..ObjectReference::default()
    }
}

/// Cuts a note to the API's 1 KiB limit at a character boundary.
fn truncate_note(mut note: String) -> String {
    if note.len() > NOTE_LIMIT_BYTES {
        let mut end = NOTE_LIMIT_BYTES;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reported(outcome: Outcome, request_id: Option<i64>) -> PodOutcome {
        PodOutcome::Reported(azp_contract::TerminationMessage {
            agent_id: None,
            agent_name: String::new(),
            request_id,
            outcome,
            exit_reason: "why".into(),
            durations_ms: azp_contract::PhaseDurations::default(),
            failed_checks: Vec::new(),
        })
    }

    #[test]
    fn preflight_and_registration_failures_are_warnings() {
        for (outcome, expected) in [
            (Outcome::PreflightFailed, EventType::Warning),
            (Outcome::RegistrationFailed, EventType::Warning),
            (Outcome::Succeeded, EventType::Normal),
            (Outcome::Failed, EventType::Normal),
        ] {
            assert_eq!(
                outcome_event_type(&reported(outcome, None)),
                expected,
                "{outcome:?}"
            );
        }
        let crashed = PodOutcome::Unreported {
            reason: "OOMKilled".into(),
        };
        assert_eq!(outcome_event_type(&crashed), EventType::Warning);
        assert_eq!(
            describe_outcome("p-1", &reported(Outcome::Succeeded, Some(7))),
            "pod p-1: job 7 Succeeded (why)"
        );
    }

    #[test]
    fn an_event_naming_a_pod_is_written_as_the_recorder_writes_a_first_event() {
        let pool: AgentPool = serde_json::from_value(serde_json::json!({
            "apiVersion": "azp.dev/v1alpha1", "kind": "AgentPool",
            "metadata": {"name": "linux", "namespace": "ci", "uid": "u-1"},
            "spec": {
                "organization": "https://dev.azure.com/contoso",
                "pool": "linux",
                "auth": {"patSecretRef": {"name": "azp-pat", "key": "pat"}},
                "agent": {"image": "azp-agent:1"},
            },
        }))
        .unwrap();
        let reporter = Reporter {
            controller: "azp-operator".into(),
            instance: Some("azp-operator-7f9".into()),
        };
        let now: Timestamp = "2026-12-04T18:00:00.000001Z".parse().unwrap();
        let event = Event {
            type_: EventType::Warning,
            reason: reason::POD_START_TIMEOUT.into(),
            note: Some("pod linux-x1 never started".into()),
            action: action::DELETE_UNSTARTED_POD.into(),
            secondary: Some(pod_reference(&pool, "linux-x1")),
        };
        let written = single_event(&reporter, &event, pool.object_ref(&()), now);
        assert_eq!(written.metadata.namespace.as_deref(), Some("ci"));
        let name = written.metadata.name.unwrap();
        assert_eq!(name, format!("linux.{:x}", now.as_nanosecond()));
        assert_eq!(written.type_.as_deref(), Some("Warning"));
        assert_eq!(written.reason.as_deref(), Some("PodStartTimeout"));
        assert_eq!(written.action.as_deref(), Some("DeleteUnstartedPod"));
        assert_eq!(written.note.as_deref(), Some("pod linux-x1 never started"));
        assert_eq!(written.event_time, Some(MicroTime(now)));
        let regarding = written.regarding.unwrap();
        assert_eq!(
            (
                regarding.kind.as_deref(),
                regarding.name.as_deref(),
                regarding.uid.as_deref()
            ),
            (Some("AgentPool"), Some("linux"), Some("u-1"))
        );
        let related = written.related.unwrap();
        assert_eq!(
            (related.kind.as_deref(), related.name.as_deref()),
            (Some("Pod"), Some("linux-x1"))
        );
        assert_eq!(
            written.reporting_controller.as_deref(),
            Some("azp-operator")
        );
        assert_eq!(
            written.reporting_instance.as_deref(),
            Some("azp-operator-7f9")
        );
        assert!(written.series.is_none());
    }

    #[test]
    fn notes_fit_the_api_limit_in_bytes_not_characters() {
        let long = "é".repeat(1000);
        let cut = truncate_note(long);
        assert!(cut.len() <= NOTE_LIMIT_BYTES, "{}", cut.len());
        assert_eq!(cut.chars().count(), 512);
        assert_eq!(truncate_note("short".into()), "short");
    }
}
