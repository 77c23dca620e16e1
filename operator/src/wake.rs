//! What wakes the reconcile loop between polls, and what a wake-up may cost.
//!
//! Scaling rule 1 wants one job-request list per Azure DevOps pool per `pollInterval`. Every
//! wake-up that brings a poll forward adds a list call, so Kubernetes changes are sorted by
//! what they mean for the queue:
//! - an AgentPool created, changed or deleted, or a live pod deleted by someone else (by
//!   hand, eviction, node loss), may leave a job without the agent it was counted against:
//!   poll now ([`Wake::Urgent`]);
//! - a pod that finished a job freed a slot, which matters only while a backlog waits for
//!   `maxAgents` ([`Wake::SlotFreed`]);
//! - everything else waits for the next scheduled poll ([`Wake::Quiet`]): pods starting, the
//!   operator's own deletions, status noise, and pods that ended without a job. The last
//!   matters: a pod that fails preflight or registration is replaced at the next poll, not
//!   at once, so a broken configuration costs one pod per `pollInterval`, never a storm.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::Notify;
use tracing::warn;

use crate::crd::AgentPool;
use crate::observe::{self, PodOutcome};

/// What a pod event asks of the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Nothing before the next scheduled poll.
    Quiet,
    /// Poll groups that have a backlog capped by `maxAgents`.
    SlotFreed,
    /// Poll now (within the minimum spacing).
    Urgent,
}

/// The notifications the watchers send.
#[derive(Clone, Default)]
pub struct Wakers {
    /// [`Wake::Urgent`] and AgentPool changes.
    pub urgent: Arc<Notify>,
    /// [`Wake::SlotFreed`].
    pub slot_freed: Arc<Notify>,
}

/// Sorts one pod event; `deleted` for a watch `Delete`.
pub fn pod_wake(pod: &Pod, deleted: bool) -> Wake {
    let annotations = pod.annotations();
    // The operator's own work: it drained the pod for scale-down, or recorded its outcome
    // and is cleaning it up. Its next poll already knows.
    if annotations.contains_key(azp_contract::labels::DRAINING)
        || annotations.contains_key(azp_contract::labels::OUTCOME_RECORDED)
    {
        return Wake::Quiet;
    }
    let phase = observe::pod_phase(pod);
    // A pod whose `agent` container exited is finished for the planner even while another
    // container keeps it Running: its slot is free as well.
    if phase.is_finished() || observe::agent_exited_at(pod).is_some() {
        return match observe::pod_outcome(pod) {
            // Its `Delete` follows the `Apply` that showed it finished: already counted.
            _ if deleted => Wake::Quiet,
            PodOutcome::Reported(message) if !took_a_job(message.outcome) => Wake::Quiet,
            _ => Wake::SlotFreed,
        };
    }
    if deleted || pod.metadata.deletion_timestamp.is_some() {
        return Wake::Urgent;
    }
    Wake::Quiet
}

/// Whether an agent that ended with `outcome` had received a job.
fn took_a_job(outcome: azp_contract::Outcome) -> bool {
    use azp_contract::Outcome;
    match outcome {
        Outcome::Succeeded
        | Outcome::Failed
        | Outcome::Canceled
        | Outcome::Interrupted
        | Outcome::Unknown => true,
        Outcome::NoJob | Outcome::PreflightFailed | Outcome::RegistrationFailed => false,
    }
}

/// Watches AgentPools and agent pods and wakes the loop as [`pod_wake`] sorts them. Status
/// writes by the operator itself do not wake it, or every pass would cause another.
pub fn spawn_watchers(pools: Api<AgentPool>, pods: Api<Pod>, wakers: Wakers) {
    let urgent = wakers.urgent.clone();
    tokio::spawn(async move {
        let mut seen: HashMap<(String, String), (Option<i64>, bool)> = HashMap::new();
        // A failing watch (RBAC, API server restart) is retried with kube's exponential
        // backoff (0.8 s doubling to 30 s); passes go on by the timer meanwhile.
        let mut stream = watcher(pools, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = stream.next().await {
            let (object, deleted) = match event {
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                    (object, false)
                }
                Ok(watcher::Event::Delete(object)) => (object, true),
                Ok(_) => continue,
                Err(error) => {
                    warn!(%error, "AgentPool watch failed; changes wake the loop only at its next poll until it recovers");
                    continue;
                }
            };
            let id = (object.namespace().unwrap_or_default(), object.name_any());
            let state = (
                object.metadata.generation,
                object.metadata.deletion_timestamp.is_some(),
            );
            if deleted {
                seen.remove(&id);
                urgent.notify_one();
            } else if seen.insert(id, state) != Some(state) {
                urgent.notify_one();
            }
        }
    });
    tokio::spawn(async move {
        let selector = format!(
            "{}={}",
            azp_contract::labels::MANAGED_BY,
            azp_contract::labels::MANAGED_BY_VALUE
        );
        // Small pages: the initial list of a few hundred pods is never held at once.
        let config = watcher::Config::default().labels(&selector).page_size(50);
        let mut stream = watcher(pods, config).default_backoff().boxed();
        while let Some(event) = stream.next().await {
            let wake = match event {
                Ok(watcher::Event::Apply(pod)) => pod_wake(&pod, false),
                Ok(watcher::Event::Delete(pod)) => pod_wake(&pod, true),
                Ok(_) => Wake::Quiet,
                Err(error) => {
                    warn!(%error, "pod watch failed; pod changes wake the loop only at its next poll until it recovers");
                    Wake::Quiet
                }
            };
            match wake {
                Wake::Urgent => wakers.urgent.notify_one(),
                Wake::SlotFreed => wakers.slot_freed.notify_one(),
                Wake::Quiet => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: serde_json::Value, status: serde_json::Value, deleting: bool) -> Pod {
        let mut object = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "agent-1", "namespace": "ci",
                "labels": { "azp.dev/pool": "linux" },
                "annotations": annotations,
            },
            "status": status,
        });
        if deleting {
            object["metadata"]["deletionTimestamp"] = json!("2026-11-29T01:00:00Z");
        }
        serde_json::from_value(object).unwrap()
    }

    fn finished(outcome: &str) -> serde_json::Value {
        let message = json!({ "outcome": outcome, "requestId": 7 }).to_string();
        json!({
            "phase": "Succeeded",
            "containerStatuses": [{
                "name": "agent", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
                "state": { "terminated": { "exitCode": 0, "message": message } }
            }]
        })
    }

    #[test]
    fn a_live_pod_deleted_by_someone_else_polls_now() {
        let running = json!({ "phase": "Running" });
        assert_eq!(
            pod_wake(&pod(json!({}), running.clone(), true), false),
            Wake::Urgent
        );
        assert_eq!(
            pod_wake(&pod(json!({}), running, false), true),
            Wake::Urgent
        );
        let pending = json!({ "phase": "Pending" });
        assert_eq!(
            pod_wake(&pod(json!({}), pending, false), true),
            Wake::Urgent
        );
    }

    #[test]
    fn a_finished_job_frees_a_slot() {
        for outcome in ["succeeded", "failed", "canceled", "interrupted"] {
            assert_eq!(
                pod_wake(&pod(json!({}), finished(outcome), false), false),
                Wake::SlotFreed,
                "{outcome}"
            );
        }
        // The agent exited but a container the template added keeps the pod Running.
        let mut finishing = finished("succeeded");
        finishing["phase"] = json!("Running");
        assert_eq!(
            pod_wake(&pod(json!({}), finishing, false), false),
            Wake::SlotFreed
        );
        // Crashed without a termination message: it may have held a job.
        let evicted = json!({ "phase": "Failed", "reason": "Evicted" });
        assert_eq!(
            pod_wake(&pod(json!({}), evicted, false), false),
            Wake::SlotFreed
        );
    }

    #[test]
    fn pods_without_a_job_and_the_operators_own_work_wait_for_the_next_poll() {
        // A broken configuration must not turn into a pod storm.
        for outcome in ["preflightFailed", "registrationFailed", "noJob"] {
            assert_eq!(
                pod_wake(&pod(json!({}), finished(outcome), false), false),
                Wake::Quiet,
                "{outcome}"
            );
        }
        assert_eq!(
            pod_wake(&pod(json!({}), finished("failed"), false), true),
            Wake::Quiet,
            "the Delete after a finished Apply is not counted twice"
        );
        let recorded = json!({ "azp.dev/outcome-recorded": "2026-11-29T01:00:00Z" });
        assert_eq!(
            pod_wake(&pod(recorded, finished("succeeded"), true), true),
            Wake::Quiet
        );
        let draining = json!({ "azp.dev/draining": "true" });
        assert_eq!(
            pod_wake(&pod(draining, json!({ "phase": "Running" }), true), true),
            Wake::Quiet
        );
        for phase in ["Pending", "Running"] {
            assert_eq!(
                pod_wake(&pod(json!({}), json!({ "phase": phase }), false), false),
                Wake::Quiet,
                "{phase}"
            );
        }
    }
}
