//! The termination message `azp-agent` writes and the operator reads from the pod status.
//!
//! Kubelet keeps at most 4096 bytes of a container's termination message, so
//! [`TerminationMessage::to_json`] serialises compactly and shortens the free-text fields
//! until the message fits; the structured fields always survive.

use serde::{Deserialize, Serialize};

/// Kubelet's per-container cap on `terminationMessagePath` contents, in bytes.
pub const MAX_BYTES: usize = 4096;

/// What `azp-agent run` did with its one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// The job ran and succeeded (including "succeeded with issues").
    Succeeded,
    /// The job ran and failed.
    Failed,
    /// The job was cancelled in Azure DevOps.
    Canceled,
    /// The agent registered but exited without receiving a job (disabled for scale-down,
    /// idle timeout).
    NoJob,
    /// Preflight checks failed (ECR endpoint not private, Azure DevOps unreachable, ...).
    PreflightFailed,
    /// `config.sh` could not register the agent.
    RegistrationFailed,
    /// The pod was asked to stop (SIGTERM) before the job finished.
    Interrupted,
    /// A value written by a newer agent that this operator does not know.
    #[serde(other)]
    Unknown,
}

/// How long each phase of `azp-agent run` took, in milliseconds; absent when not reached.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseDurations {
    /// Preflight checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<u64>,
    /// ECR login (credential resolution and `GetAuthorizationToken`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecr_login: Option<u64>,
    /// `config.sh` registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configure: Option<u64>,
    /// `run.sh --once`: waiting for the job plus running it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<u64>,
    /// Deregistration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregister: Option<u64>,
}

/// The JSON document `azp-agent` leaves in [`crate::paths::TERMINATION_LOG`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminationMessage {
    /// Azure DevOps agent id, once registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<i64>,
    /// Azure DevOps agent name.
    #[serde(default)]
    pub agent_name: String,
    /// Job request id, when the agent learned which job it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<i64>,
    /// What happened.
    pub outcome: Outcome,
    /// Human-readable reason for the exit; shortened to fit [`MAX_BYTES`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub exit_reason: String,
    /// Phase durations in milliseconds.
    #[serde(default)]
    pub durations_ms: PhaseDurations,
    /// Names of the preflight checks that failed (`buildkit`, `ecr-endpoint`, ...), so the
    /// operator can tell a broken build environment from other failures without parsing
    /// `exit_reason`. Empty unless the outcome is `preflightFailed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_checks: Vec<String>,
}

impl TerminationMessage {
    /// Compact JSON of at most [`MAX_BYTES`] bytes.
    ///
    /// When too long, `exit_reason` is shortened first (it is the only unbounded field in
    /// practice), then `agent_name`; ids, outcome and durations are always kept.
    pub fn to_json(&self) -> String {
        let mut message = self.clone();
        loop {
            let json = match serde_json::to_string(&message) {
                Ok(json) => json,
                // Unreachable for this type (no non-string map keys); still never panic.
                Err(_) => return String::from(r#"{"outcome":"unknown"}"#),
            };
            let Some(excess) = json.len().checked_sub(MAX_BYTES).filter(|e| *e > 0) else {
                return json;
            };
            if !message.exit_reason.is_empty() {
                drop_tail_bytes(&mut message.exit_reason, excess);
            } else if !message.agent_name.is_empty() {
                drop_tail_bytes(&mut message.agent_name, excess);
            } else {
                // Only fixed-size fields left: cannot exceed the cap, but stay total.
                return json;
            }
        }
    }

    /// Parses a termination message; unknown fields are ignored so an older operator can read
    /// a newer agent's message.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// Removes whole characters from the end of `text` until at least `bytes` bytes are gone.
///
/// A character's JSON-escaped form is never shorter than its UTF-8 form, so removing `bytes`
/// raw bytes shortens the JSON by at least as much.
fn drop_tail_bytes(text: &mut String, bytes: usize) {
    let keep = text.len().saturating_sub(bytes);
    let mut cut = keep;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TerminationMessage {
        TerminationMessage {
            agent_id: Some(1755),
            agent_name: "ci.linux-7fk2q".into(),
            request_id: Some(42),
            outcome: Outcome::Succeeded,
            exit_reason: "job finished".into(),
            durations_ms: PhaseDurations {
                preflight: Some(120),
                ecr_login: Some(300),
                configure: Some(4_000),
                run: Some(65_000),
                deregister: Some(800),
            },
            failed_checks: Vec::new(),
        }
    }

    #[test]
    fn round_trips_through_json() {
        let message = sample();
        let json = message.to_json();
        assert!(
            !json.contains('\n') && !json.contains(": "),
            "not compact: {json}"
        );
        assert_eq!(TerminationMessage::from_json(&json).unwrap(), message);
    }

    #[test]
    fn uses_camel_case_wire_names() {
        let json = sample().to_json();
        for key in [
            "agentId",
            "agentName",
            "requestId",
            "exitReason",
            "durationsMs",
            "ecrLogin",
        ] {
            assert!(
                json.contains(&format!("\"{key}\"")),
                "{key} missing in {json}"
            );
        }
        assert!(json.contains(r#""outcome":"succeeded""#));
    }

    #[test]
    fn worst_case_message_fits_kubelet_cap_and_keeps_structured_fields() {
        // Control characters escape to six bytes each; multibyte characters must not be split.
        let reason: String = "\u{1}é\"漢".repeat(5_000);
        let message = TerminationMessage {
            agent_id: Some(i64::MIN),
            agent_name: "n".repeat(10_000),
            request_id: Some(i64::MAX),
            outcome: Outcome::RegistrationFailed,
            exit_reason: reason.clone(),
            durations_ms: PhaseDurations {
                preflight: Some(u64::MAX),
                ecr_login: Some(u64::MAX),
                configure: Some(u64::MAX),
                run: Some(u64::MAX),
                deregister: Some(u64::MAX),
            },
            failed_checks: Vec::new(),
        };
        let json = message.to_json();
        assert!(json.len() <= MAX_BYTES, "{} bytes", json.len());
        let decoded = TerminationMessage::from_json(&json).unwrap();
        assert_eq!(decoded.agent_id, message.agent_id);
        assert_eq!(decoded.request_id, message.request_id);
        assert_eq!(decoded.outcome, message.outcome);
        assert_eq!(decoded.durations_ms, message.durations_ms);
        assert!(
            reason.starts_with(&decoded.exit_reason),
            "reason is not a prefix"
        );
    }

    #[test]
    fn short_reason_is_kept_when_only_the_name_is_huge() {
        let message = TerminationMessage {
            agent_name: "é".repeat(5_000),
            exit_reason: String::new(),
            ..sample()
        };
        let json = message.to_json();
        assert!(json.len() <= MAX_BYTES);
        let decoded = TerminationMessage::from_json(&json).unwrap();
        assert!(
            decoded.agent_name.len() > 3_000,
            "name cut more than needed"
        );
    }

    #[test]
    fn messages_that_fit_are_not_shortened() {
        let message = TerminationMessage {
            exit_reason: "x".repeat(3_000),
            ..sample()
        };
        let decoded = TerminationMessage::from_json(&message.to_json()).unwrap();
        assert_eq!(decoded, message);
    }

    #[test]
    fn newer_agent_fields_and_outcomes_are_tolerated() {
        let json =
            r#"{"agentName":"a","outcome":"evicted","futureField":1,"durationsMs":{"pull":3}}"#;
        let decoded = TerminationMessage::from_json(json).unwrap();
        assert_eq!(decoded.outcome, Outcome::Unknown);
        assert_eq!(decoded.agent_id, None);
    }
}
