//! What a finished agent pod reports, from the terminated state of the container that ended
//! it: the `agent` container, or the `register` init container when the agent never ran.

use std::time::SystemTime;

use azp_contract::TerminationMessage;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};

use crate::render::{AGENT_CONTAINER, REGISTER_CONTAINER};

/// What a finished pod reports: its termination message when the agent wrote one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodOutcome {
    /// The agent's termination message.
    Reported(TerminationMessage),
    /// The agent container ended without a readable message (OOM kill, eviction, crash).
    Unreported {
        /// `reason` of the terminated state or the pod, e.g. `OOMKilled`, `Evicted`.
        reason: String,
    },
}

impl PodOutcome {
    /// Whether the job counts as succeeded in the status counters.
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Reported(message) if message.outcome == azp_contract::Outcome::Succeeded)
    }

    /// The `result` label of the jobs metric.
    pub fn result_label(&self) -> &'static str {
        use azp_contract::Outcome;
        match self {
            Self::Reported(message) => match message.outcome {
                Outcome::Succeeded => "succeeded",
                Outcome::Failed => "failed",
                Outcome::Canceled => "canceled",
                Outcome::NoJob => "no_job",
                Outcome::PreflightFailed => "preflight_failed",
                Outcome::RegistrationFailed => "registration_failed",
                Outcome::Interrupted => "interrupted",
                Outcome::Unknown => "unknown",
            },
            Self::Unreported { .. } => "unreported",
        }
    }

    /// Whether the pod ran (or tried to run) a job at all: a pod that exits without a job
    /// (scale-down, idle) is counted neither as success nor as failure.
    pub fn ran_job(&self) -> bool {
        match self {
            Self::Reported(message) => message.outcome != azp_contract::Outcome::NoJob,
            Self::Unreported { .. } => true,
        }
    }
}

fn terminated<'a>(
    statuses: Option<&'a Vec<ContainerStatus>>,
    name: &str,
) -> Option<&'a ContainerStateTerminated> {
    statuses?
        .iter()
        .find(|c| c.name == name)?
        .state
        .as_ref()?
        .terminated
        .as_ref()
}

/// When the `agent` container terminated, if it has (`restartPolicy: Never`: it does not
/// come back). A terminated state without `finishedAt` (no real kubelet omits it) counts from
/// its `startedAt`, else from the pod's creation: the timeout may then come early, never late.
pub fn agent_exited_at(pod: &Pod) -> Option<SystemTime> {
    let status = pod.status.as_ref()?;
    let terminated = terminated(status.container_statuses.as_ref(), AGENT_CONTAINER)?;
    let at = terminated
        .finished_at
        .as_ref()
        .or(terminated.started_at.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map_or(SystemTime::UNIX_EPOCH, |time| SystemTime::from(time.0));
    Some(at)
}

/// Reads the outcome of a finished pod: the `agent` container's terminated state; when the
/// agent never ran because `register` failed (the pod then fails with `restartPolicy:
/// Never`), the `register` init container's, which writes the same kind of message
/// (`preflightFailed`, `registrationFailed`, with the agent id when known).
pub fn pod_outcome(pod: &Pod) -> PodOutcome {
    let status = pod.status.as_ref();
    let agent = terminated(
        status.and_then(|s| s.container_statuses.as_ref()),
        AGENT_CONTAINER,
    );
    let register = terminated(
        status.and_then(|s| s.init_container_statuses.as_ref()),
        REGISTER_CONTAINER,
    )
    // A successful register says only "registered"; the pod's end is told elsewhere.
    .filter(|t| t.exit_code != 0);
    let terminated = agent.or(register);
    if let Some(message) = terminated
        .and_then(|t| t.message.as_deref())
        .and_then(|json| TerminationMessage::from_json(json).ok())
    {
        return PodOutcome::Reported(message);
    }
    let reason = terminated
        .and_then(|t| t.reason.clone())
        .or_else(|| status.and_then(|s| s.reason.clone()))
        .unwrap_or_else(|| "Unknown".into());
    PodOutcome::Unreported { reason }
}

/// The init container statuses [`pod_outcome`] reads (the `register` container's terminated
/// state), without the rest: for caches that keep only what the operator needs.
pub fn outcome_init_statuses(
    statuses: Option<Vec<ContainerStatus>>,
) -> Option<Vec<ContainerStatus>> {
    let kept: Vec<ContainerStatus> = statuses?
        .into_iter()
        .filter(|c| c.name == REGISTER_CONTAINER)
        .map(|c| ContainerStatus {
            name: c.name,
            state: c.state.map(|mut state| {
                state.running = None;
                state.waiting = None;
                state
            }),
            ..ContainerStatus::default()
        })
        .collect();
    (!kept.is_empty()).then_some(kept)
}
