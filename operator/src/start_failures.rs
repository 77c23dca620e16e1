//! A broken pod configuration backs off and says so. Pods that end before their agent took a
//! job (the image has no `azp-agent`, a crash, a failed preflight or registration) are
//! replaced after a delay that doubles from `--start-backoff-initial-seconds` (10 s) up to
//! `--start-backoff-max-seconds` (10 min), one probe pod at a time. After
//! [`GIVE_UP_AFTER`] failures in a row the AgentPool is `Ready=False` (`PodsFailing`) with the
//! last failure's reason and message, and only one probe pod is tried per maximum delay. A pod
//! that takes a job, or a change of the spec, starts afresh. The count lives in the status, so
//! a restarted operator or a new leader does not forget it.
//!
//! A pod that cannot start at all (its image cannot be pulled, its name does not parse, an env
//! reference is missing) stays Pending rather than ending: it counts as a failed start as soon
//! as the kubelet reports such a waiting reason, and is deleted in the same pass
//! ([`blocked_failure`]), instead of after the startup timeout.
//!
//! Before this, a broken configuration cost one pod per poll interval, forever.

use std::time::Duration;

use azp_contract::Outcome;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::crd::{AgentPool, StartFailures, condition_type};
use crate::observe::PodOutcome;
use crate::reason::Reason;

/// Failures in a row after which the AgentPool is `Ready=False`.
pub const GIVE_UP_AFTER: u32 = 5;
/// Condition reason (and Event reason).
pub const REASON: Reason = Reason::PodsFailing;

/// The backoff's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub initial: Duration,
    /// The longest delay, and the one used once the AgentPool gave up.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(600),
        }
    }
}

impl Backoff {
    /// How long to wait after `consecutive` failures before the next pod.
    pub fn delay(&self, consecutive: u32) -> Duration {
        if consecutive == 0 {
            return Duration::ZERO;
        }
        if consecutive >= GIVE_UP_AFTER {
            return self.max;
        }
        self.initial
            .saturating_mul(1 << (consecutive - 1).min(20))
            .min(self.max)
    }
}

/// Why a finished pod counts as a failed start, or `None` when it does not: it took a job,
/// went idle and was scaled down, or was stopped on purpose.
pub fn failure_of(outcome: &PodOutcome, took_job: bool) -> Option<String> {
    if took_job {
        return None;
    }
    match outcome {
        PodOutcome::Reported(message) => match message.outcome {
            Outcome::PreflightFailed | Outcome::RegistrationFailed => {
                Some(format!("{:?}: {}", message.outcome, message.exit_reason))
            }
            _ => None,
        },
        PodOutcome::Unreported { reason } => Some(format!(
            "the agent container ended without a report ({reason}); does the image run azp-agent?"
        )),
    }
}

/// A pod stuck Pending because it cannot start as it is (an image pull error, an invalid
/// image name, `CreateContainerConfigError`: see [`crate::observe::blocked_start`]) is a failed
/// start too, counted once: the same pass deletes it (`DeleteReason::StartBlocked`), and a
/// pod being deleted is not counted again. `None` for any other pod.
pub fn blocked_failure(pod: &k8s_openapi::api::core::v1::Pod) -> Option<String> {
    let blocked = crate::observe::blocked_start(pod)?;
    Some(format!(
        "{} (container {}): {}",
        blocked.reason, blocked.container, blocked.message
    ))
}

/// Whether a finished pod shows the configuration works (it took a job or reported one).
pub fn is_start_success(outcome: &PodOutcome, took_job: bool) -> bool {
    took_job
        || matches!(outcome, PodOutcome::Reported(message) if matches!(
            message.outcome,
            Outcome::Succeeded | Outcome::Failed | Outcome::Canceled | Outcome::NoJob
        ))
}

/// The state to store after this pass: reset by a success or a spec change, counted up by
/// this pass's failures (in order), otherwise kept.
pub fn next(
    pool: &AgentPool,
    failures: &[String],
    success: bool,
    now: Timestamp,
) -> Option<StartFailures> {
    let previous = pool
        .status
        .as_ref()
        .and_then(|s| s.start_failures.clone())
        .filter(|f| f.observed_generation == pool.metadata.generation);
    if success {
        return None;
    }
    let Some(last) = failures.last() else {
        return previous;
    };
    let consecutive = previous.map_or(0, |p| p.consecutive) + failures.len() as u32;
    Some(StartFailures {
        consecutive,
        last_failure: last.clone(),
        last_failure_time: Time(now),
        observed_generation: pool.metadata.generation,
    })
}

/// How many of `wanted` new pods may be created now: all without failures; otherwise one
/// probe, once the delay since the last failure has passed and no pod of the AgentPool lives.
pub fn allowed_pods(
    wanted: u32,
    state: Option<&StartFailures>,
    backoff: &Backoff,
    live_pods: usize,
    now: Timestamp,
) -> u32 {
    let Some(state) = state else {
        return wanted;
    };
    let waited = now.duration_since(state.last_failure_time.0).unsigned_abs();
    crate::probe::probe_pods(
        wanted,
        live_pods,
        waited >= backoff.delay(state.consecutive),
    )
}

/// Applies the state to the conditions: `Degraded` (and, after [`GIVE_UP_AFTER`], `Ready`)
/// become `False`/`True` with reason `PodsFailing`.
pub fn apply(conditions: &mut [Condition], state: Option<&StartFailures>, backoff: &Backoff) {
    let Some(state) = state else {
        return;
    };
    let next_in = backoff.delay(state.consecutive).as_secs();
    let message = format!(
        "{} agent pod(s) in a row ended before taking a job; the next pod is created {next_in} s after the last failure (or at once when the spec changes). Last failure: {}",
        state.consecutive, state.last_failure
    );
    let message: String = message.chars().take(1024).collect();
    for condition in conditions.iter_mut() {
        let failing = match condition.type_.as_str() {
            condition_type::DEGRADED => "True",
            condition_type::READY if state.consecutive >= GIVE_UP_AFTER => "False",
            _ => continue,
        };
        // Reasons of a failed poll or a bad spec stay: they come first.
        if ![Reason::Serving, Reason::AsExpected, REASON]
            .iter()
            .any(|reason| condition.reason == reason.as_str())
        {
            continue;
        }
        if condition.status != failing {
            condition.last_transition_time = Time(Timestamp::now());
        }
        condition.status = failing.into();
        condition.reason = REASON.to_string();
        condition.message.clone_from(&message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(generation: i64, previous: Option<StartFailures>) -> AgentPool {
        let mut pool: AgentPool = serde_json::from_value(serde_json::json!({
            "apiVersion": "azp.dev/v1alpha1", "kind": "AgentPool",
            "metadata": {"name": "linux", "namespace": "ci", "generation": generation},
            "spec": {
                "organization": "https://dev.azure.com/contoso", "pool": "Linux",
                "auth": {"patSecretRef": {"name": "azp-pat", "key": "token"}},
                "agent": {"image": "azp-agent:broken"},
            }
        }))
        .expect("pool");
        pool.status = Some(crate::crd::AgentPoolStatus {
            start_failures: previous,
            ..Default::default()
        });
        pool
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("time")
    }

    #[test]
    fn the_delay_doubles_from_the_initial_to_the_cap_and_stays_there_after_giving_up() {
        let backoff = Backoff::default();
        let delays: Vec<u64> = (0..=7).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 600, 600, 600]);
        let short = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
        };
        assert_eq!(short.delay(4).as_secs(), 8);
        assert_eq!(short.delay(3).as_secs(), 4);
    }

    #[test]
    fn failures_count_up_a_success_or_a_spec_change_starts_afresh() {
        let first = next(&pool(1, None), &["StartError".into()], false, at(0)).expect("one");
        assert_eq!(first.consecutive, 1);
        let third = next(
            &pool(1, Some(first.clone())),
            &["a".into(), "b".into()],
            false,
            at(30),
        )
        .expect("three");
        assert_eq!((third.consecutive, third.last_failure.as_str()), (3, "b"));
        assert_eq!(
            next(&pool(1, Some(third.clone())), &[], false, at(40)),
            Some(third.clone())
        );
        assert_eq!(next(&pool(1, Some(third.clone())), &[], true, at(40)), None);
        let after_edit =
            next(&pool(2, Some(third)), &["c".into()], false, at(50)).expect("new spec");
        assert_eq!(
            after_edit.consecutive, 1,
            "a new spec has not failed before"
        );
    }

    #[test]
    fn one_probe_pod_after_the_delay_and_none_while_one_lives() {
        let backoff = Backoff::default();
        let state = next(&pool(1, None), &["x".into()], false, at(0)).expect("state");
        assert_eq!(allowed_pods(3, None, &backoff, 0, at(0)), 3);
        assert_eq!(allowed_pods(3, Some(&state), &backoff, 0, at(9)), 0);
        assert_eq!(allowed_pods(3, Some(&state), &backoff, 0, at(10)), 1);
        assert_eq!(allowed_pods(3, Some(&state), &backoff, 1, at(100)), 0);
    }

    #[test]
    fn only_pods_that_never_took_a_job_count_and_the_message_asks_about_the_image() {
        let crashed = PodOutcome::Unreported {
            reason: "StartError".into(),
        };
        assert_eq!(
            failure_of(&crashed, false).as_deref(),
            Some(
                "the agent container ended without a report (StartError); does the image run azp-agent?"
            )
        );
        assert_eq!(
            failure_of(&crashed, true),
            None,
            "it died during a job: the job's failure"
        );
        assert!(!is_start_success(&crashed, false));
        assert!(is_start_success(&crashed, true));
    }

    #[test]
    fn after_five_failures_ready_is_false_with_the_last_failure() {
        let backoff = Backoff::default();
        let now = Time(at(0));
        let mut conditions = crate::status::conditions(
            &[],
            &crate::status::Health::Serving {
                unservable_jobs: Vec::new(),
                rate_limited: false,
                stuck_pods: 0,
            },
            Some(1),
            &now,
        );
        let state = StartFailures {
            consecutive: 5,
            last_failure: "PreflightFailed: ecr: no private endpoint".into(),
            last_failure_time: now.clone(),
            observed_generation: Some(1),
        };
        apply(&mut conditions, Some(&state), &backoff);
        let ready = conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .expect("ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", &*REASON.as_str())
        );
        assert!(ready.message.starts_with("5 agent pod(s) in a row ended before taking a job; the next pod is created 600 s after"), "{}", ready.message);
        assert!(
            ready
                .message
                .ends_with("Last failure: PreflightFailed: ecr: no private endpoint")
        );
        let degraded = conditions
            .iter()
            .find(|c| c.type_ == "Degraded")
            .expect("degraded");
        assert_eq!(degraded.status, "True");
    }
}
