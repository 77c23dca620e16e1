//! `BuildkitUnavailable`: when agent pods fail their preflight because the BuildKit sidecar
//! never answered (no user namespaces on the node, a seccomp profile that forbids them, the
//! socket never appearing), the AgentPool says so in a condition with the fix and one Warning
//! Event, and the operator stops replacing each failed pod at once: it keeps one probe pod at a
//! time, at most every [`PROBE_INTERVAL`], until a pod gets past preflight or the spec changes.

use std::time::Duration;

use azp_contract::Outcome;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::AgentPool;
use crate::observe::PodOutcome;
use crate::reason::Reason;

/// Condition type (and Event reason).
pub const CONDITION: &str = crate::crd::condition_type::BUILDKIT_UNAVAILABLE;
/// The preflight check name `azp-agent` reports for the BuildKit socket.
const BUILDKIT_CHECK: &str = "buildkit";
/// While BuildKit is unavailable, a new probe pod at most this often.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(300);

/// The fix, in the condition message and the Event.
const FIX: &str = "rootless BuildKit needs user namespaces on the node (sysctl user.max_user_namespaces > 0; EKS Auto Mode and some hardened images set 0) and an Unconfined seccomp/AppArmor profile for the buildkitd sidecar (Pod Security `privileged` level); on such nodes set spec.buildkit.mode to `privileged` or `remote`, then check `kubectl logs <pod> -c buildkitd`";

/// What one finished pod says about BuildKit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// The agent's preflight found BuildKit not answering; the agent's reason.
    Unavailable(String),
    /// The agent got past preflight (BuildKit answered, or was not checked).
    Available,
}

/// What a finished pod's outcome says about BuildKit; `None` when it says nothing (the pod
/// died without a report, or preflight failed for another reason only).
pub fn signal(outcome: &PodOutcome) -> Option<Signal> {
    let PodOutcome::Reported(message) = outcome else {
        return None;
    };
    match message.outcome {
        Outcome::PreflightFailed if message.failed_checks.iter().any(|c| c == BUILDKIT_CHECK) => {
            Some(Signal::Unavailable(message.exit_reason.clone()))
        }
        // Only the `agent` container checks BuildKit (`register` runs before the sidecar
        // starts); these outcomes come from it, after a preflight that passed.
        Outcome::Succeeded | Outcome::Failed | Outcome::Canceled | Outcome::NoJob
            if message.durations_ms.preflight.is_some() =>
        {
            Some(Signal::Available)
        }
        _ => None,
    }
}

/// The stored `BuildkitUnavailable` condition, when it is `True` for the current spec.
fn current_unavailable(pool: &AgentPool) -> Option<&Condition> {
    pool.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == CONDITION && c.status == "True")
        .filter(|c| c.observed_generation == pool.metadata.generation)
}

/// The condition to write: from this pass's signal, else the stored one carried over (a spec
/// change clears it: the new spec has not failed yet). `None` when BuildKit is off or nothing
/// is known.
pub fn condition(pool: &AgentPool, signal: Option<&Signal>, now: &Time) -> Option<Condition> {
    if !pool.spec.buildkit.enabled {
        return None;
    }
    let previous = pool
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == CONDITION));
    let generation = pool.metadata.generation;
    let (status, reason, message) = match signal {
        Some(Signal::Unavailable(agent_reason)) => (
            "True",
            Reason::SidecarNotAnswering,
            format!("{agent_reason}. Fix: {FIX}"),
        ),
        Some(Signal::Available) => ("False", Reason::Answering, String::new()),
        None => match previous {
            Some(c) if c.status == "True" && c.observed_generation == generation => {
                return Some(c.clone());
            }
            Some(c) if c.status == "False" => return Some(c.clone()),
            _ => return None,
        },
    };
    let last_transition_time = previous
        .filter(|c| c.status == status)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    Some(Condition {
        type_: CONDITION.into(),
        status: status.into(),
        reason: reason.to_string(),
        message: message.chars().take(1024).collect(),
        observed_generation: generation,
        last_transition_time,
    })
}

/// The Warning Event's note, only when the condition turns `True` (one Event per outage,
/// not one per failed pod).
pub fn event_note(pool: &AgentPool, next: Option<&Condition>) -> Option<String> {
    let next = next.filter(|c| c.status == "True")?;
    if current_unavailable(pool).is_some() {
        return None;
    }
    Some(format!(
        "agent pods fail their preflight: the BuildKit sidecar does not answer; new pods are held back to one probe every {} s. {}",
        PROBE_INTERVAL.as_secs(),
        next.message
    ))
}

/// How many of `wanted` new pods may be created now. While BuildKit is unavailable for the
/// current spec, one probe pod when none of the pool's pods is alive and the last probe is at
/// least [`PROBE_INTERVAL`] old; otherwise all of them.
pub fn allowed_pods(
    wanted: u32,
    unavailable: bool,
    live_pods: usize,
    since_last_probe: Option<Duration>,
) -> u32 {
    if !unavailable {
        return wanted;
    }
    let due = since_last_probe.is_none_or(|elapsed| elapsed >= PROBE_INTERVAL);
    crate::probe::probe_pods(wanted, live_pods, due)
}

/// Whether new pods of `pool` are held back: its condition is `True` for the current spec, or
/// this pass just saw a pod fail for BuildKit.
pub fn holds_pods(pool: &AgentPool, signal: Option<&Signal>) -> bool {
    match signal {
        Some(Signal::Unavailable(_)) => pool.spec.buildkit.enabled,
        Some(Signal::Available) => false,
        None => pool.spec.buildkit.enabled && current_unavailable(pool).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azp_contract::TerminationMessage;
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    fn pool(generation: i64, conditions: serde_json::Value) -> AgentPool {
        serde_json::from_value(json!({
            "apiVersion": "azp.dev/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": "linux", "namespace": "ci", "generation": generation},
            "spec": {
                "organization": "https://dev.azure.com/contoso",
                "pool": "eks",
                "auth": {"patSecretRef": {"name": "azp-pat", "key": "pat"}},
                "agent": {"image": "agent:1"},
                "buildkit": {"enabled": true}
            },
            "status": {"conditions": conditions}
        }))
        .unwrap()
    }

    fn reported(outcome: Outcome, failed: &[&str], preflight: Option<u64>) -> PodOutcome {
        PodOutcome::Reported(TerminationMessage {
            agent_id: None,
            agent_name: "ci.linux-x".into(),
            request_id: None,
            outcome,
            exit_reason: "preflight failed: buildkit: unix:///run/buildkit/buildkitd.sock: cannot connect: No such file or directory (fix: …)".into(),
            durations_ms: azp_contract::termination::PhaseDurations {
                preflight,
                ..Default::default()
            },
            failed_checks: failed.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn only_a_failed_buildkit_check_signals_unavailable() {
        let failed = reported(Outcome::PreflightFailed, &["buildkit"], Some(5));
        assert!(
            matches!(signal(&failed), Some(Signal::Unavailable(r)) if r.contains("buildkitd.sock"))
        );
        let other = reported(Outcome::PreflightFailed, &["ecr-endpoint"], Some(5));
        assert_eq!(signal(&other), None);
        let ran = reported(Outcome::Succeeded, &[], Some(5));
        assert_eq!(signal(&ran), Some(Signal::Available));
        let skipped = reported(Outcome::Succeeded, &[], None);
        assert_eq!(signal(&skipped), None);
        let died = PodOutcome::Unreported {
            reason: "OOMKilled".into(),
        };
        assert_eq!(signal(&died), None);
    }

    #[test]
    fn the_condition_carries_the_agents_reason_and_the_fix_and_one_event() {
        let pool = pool(2, json!([]));
        let failed = Signal::Unavailable("preflight failed: buildkit: no socket".into());
        let next = condition(&pool, Some(&failed), &at(10)).unwrap();
        assert_eq!(
            (next.status.as_str(), next.reason.as_str()),
            ("True", "SidecarNotAnswering")
        );
        assert!(
            next.message
                .starts_with("preflight failed: buildkit: no socket. Fix: ")
        );
        assert!(next.message.contains("user.max_user_namespaces"));
        assert!(next.message.contains("spec.buildkit.mode"));
        assert_eq!(next.observed_generation, Some(2));
        let note = event_note(&pool, Some(&next)).unwrap();
        assert!(note.contains("no socket"), "{note}");

        // Stored as True: the next failure keeps the transition time and sends no Event.
        let stored = self::pool(2, serde_json::to_value([&next]).unwrap());
        let again = condition(&stored, Some(&failed), &at(20)).unwrap();
        assert_eq!(again.last_transition_time, at(10));
        assert_eq!(event_note(&stored, Some(&again)), None);
        // No news: carried over.
        assert_eq!(condition(&stored, None, &at(30)), Some(next.clone()));
        // A spec change clears the hold and the carried condition.
        let edited = self::pool(3, serde_json::to_value([&next]).unwrap());
        assert_eq!(condition(&edited, None, &at(30)), None);
        assert!(!holds_pods(&edited, None));
        assert!(holds_pods(&stored, None));
        // A pod past preflight: False.
        let fixed = condition(&stored, Some(&Signal::Available), &at(40)).unwrap();
        assert_eq!(
            (fixed.status.as_str(), fixed.last_transition_time.clone()),
            ("False", at(40))
        );
        assert!(!holds_pods(&stored, Some(&Signal::Available)));
    }

    #[test]
    fn while_unavailable_one_probe_pod_at_a_time_and_not_too_often() {
        assert_eq!(allowed_pods(5, false, 3, None), 5);
        assert_eq!(allowed_pods(5, true, 0, None), 1);
        assert_eq!(allowed_pods(5, true, 1, None), 0, "a probe is still alive");
        assert_eq!(
            allowed_pods(5, true, 0, Some(Duration::from_secs(10))),
            0,
            "the last probe was just now"
        );
        assert_eq!(allowed_pods(5, true, 0, Some(PROBE_INTERVAL)), 1);
        assert_eq!(allowed_pods(0, true, 0, None), 0);
    }
}
