//! `AgentPool.status`: counts and conditions, written by server-side apply on `/status`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::crd::{AgentPool, AgentPoolStatus, condition_type};
use crate::plan::Counts;
use crate::reason::Reason;

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "azp-operator";

/// What the last reconcile of one AgentPool found.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// Azure DevOps was read and the plan applied.
    Serving {
        /// Jobs no AgentPool of the pool can serve (they only wait), each as
        /// `job <requestId>: <the demand nothing offers>`.
        unservable_jobs: Vec<String>,
        /// Rate-limit pressure noticed (answers carried a delay or a nearly spent budget).
        rate_limited: bool,
        /// Live pods still Pending after the startup warning time (image pull, scheduling,
        /// missing Secret in the pod): they count as capacity but serve nothing.
        stuck_pods: usize,
    },
    /// Azure DevOps could not be read or refused (`reason` from the error, [`Reason::from`]).
    AdoFailed {
        /// Condition reason.
        reason: Reason,
        /// Human-readable message (never contains the PAT).
        message: String,
    },
    /// The AgentPool itself cannot be served (missing Secret, refused URL, bad template).
    Misconfigured {
        /// Condition reason.
        reason: Reason,
        /// Human-readable message.
        message: String,
    },
}

fn condition(
    previous: &[Condition],
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    // The transition time moves only when the status does, as kubectl wait and users expect.
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.chars().take(1024).collect(),
        observed_generation: generation,
        last_transition_time,
    }
}

/// The conditions for `health`, keeping transition times of unchanged ones.
pub fn conditions(
    previous: &[Condition],
    health: &Health,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let c = |type_, status, reason: &str, message: &str| {
        condition(previous, type_, status, reason, message, generation, now)
    };
    match health {
        Health::Serving {
            unservable_jobs,
            rate_limited,
            stuck_pods,
        } => {
            let (status, reason, message) =
                degraded_while_serving(unservable_jobs, *rate_limited, *stuck_pods);
            let degraded = c(condition_type::DEGRADED, status, &reason.as_str(), &message);
            vec![
                c(
                    condition_type::READY,
                    "True",
                    &Reason::Serving.as_str(),
                    "queue polled and plan applied",
                ),
                c(
                    condition_type::AZURE_DEVOPS_REACHABLE,
                    "True",
                    &Reason::Polled.as_str(),
                    "",
                ),
                degraded,
            ]
        }
        Health::AdoFailed { reason, message } => {
            let reason = &reason.as_str();
            vec![
                c(condition_type::READY, "False", reason, message),
                c(
                    condition_type::AZURE_DEVOPS_REACHABLE,
                    "False",
                    reason,
                    message,
                ),
                c(condition_type::DEGRADED, "True", reason, message),
            ]
        }
        Health::Misconfigured { reason, message } => {
            let reason = &reason.as_str();
            vec![
                c(condition_type::READY, "False", reason, message),
                c(
                    condition_type::AZURE_DEVOPS_REACHABLE,
                    "Unknown",
                    &Reason::NotPolled.as_str(),
                    "not polled until the AgentPool is fixed",
                ),
                c(condition_type::DEGRADED, "True", reason, message),
            ]
        }
    }
}

/// `Degraded` of an AgentPool that is served: the worst of pods stuck Pending, jobs nothing
/// can serve and rate limiting.
fn degraded_while_serving(
    unservable_jobs: &[String],
    rate_limited: bool,
    stuck_pods: usize,
) -> (&'static str, Reason, String) {
    if stuck_pods > 0 {
        (
            "True",
            Reason::PodsNotStarting,
            format!(
                "{stuck_pods} agent pod(s) are still Pending; check `kubectl describe pod` for image pulls, scheduling or volumes"
            ),
        )
    } else if !unservable_jobs.is_empty() {
        (
            "True",
            Reason::UnservableJobs,
            format!(
                "{} pending job(s) demand capabilities no AgentPool of this Azure DevOps pool offers: {}",
                unservable_jobs.len(),
                unservable_jobs.join("; ")
            ),
        )
    } else if rate_limited {
        (
            "True",
            Reason::RateLimited,
            "Azure DevOps is rate limiting; polling slowed down".to_owned(),
        )
    } else {
        ("False", Reason::AsExpected, String::new())
    }
}

/// Everything one status write carries besides the previous status.
#[derive(Debug, Clone, Default)]
pub struct StatusUpdate {
    /// Counts from the plan, when one was made.
    pub counts: Option<Counts>,
    /// Resolved pool id.
    pub pool_id: Option<i64>,
    /// Placeholder agent id, when known.
    pub placeholder_agent_id: Option<i64>,
    /// The poll succeeded now.
    pub polled: bool,
    /// Jobs that finished successfully since the last write.
    pub succeeded: u64,
    /// Jobs that failed since the last write.
    pub failed: u64,
    /// What this pass's finished pods said about BuildKit (see [`crate::buildkit_health`]).
    pub buildkit_signal: Option<crate::buildkit_health::Signal>,
    /// What the image publishes, learned in this pass ([`crate::learn`]).
    pub image_capabilities: Option<crate::crd::ImageCapabilities>,
    /// Failed pod starts after this pass ([`crate::start_failures`]); `None` keeps the stored.
    pub start_failures: Option<Option<crate::crd::StartFailures>>,
    /// The backoff, for the condition's message.
    pub start_backoff: crate::start_failures::Backoff,
}

/// The full status the operator owns, computed from the stored one plus this reconcile.
pub fn next_status(pool: &AgentPool, health: &Health, update: &StatusUpdate) -> AgentPoolStatus {
    let now = Time(Timestamp::now());
    let previous = pool.status.clone().unwrap_or_default();
    let counts = update.counts.unwrap_or(Counts {
        queued: previous.queued,
        running: previous.running,
        idle: previous.idle,
        starting: previous.starting,
        outdated: previous.outdated,
    });
    let start_failures = match &update.start_failures {
        Some(next) => next.clone(),
        None => previous
            .start_failures
            .clone()
            .filter(|f| f.observed_generation == pool.metadata.generation),
    };
    AgentPoolStatus {
        observed_generation: pool.metadata.generation,
        pool_id: update.pool_id.or(previous.pool_id),
        queued: counts.queued,
        running: counts.running,
        idle: counts.idle,
        starting: counts.starting,
        outdated: counts.outdated,
        last_poll_time: if update.polled {
            Some(now.clone())
        } else {
            previous.last_poll_time.clone()
        },
        conditions: {
            let mut list = conditions(&previous.conditions, health, pool.metadata.generation, &now);
            list.extend(crate::buildkit_health::condition(
                pool,
                update.buildkit_signal.as_ref(),
                &now,
            ));
            crate::start_failures::apply(&mut list, start_failures.as_ref(), &update.start_backoff);
            list
        },
        placeholder_agent_id: update
            .placeholder_agent_id
            .or(previous.placeholder_agent_id),
        jobs_succeeded: previous.jobs_succeeded + update.succeeded,
        jobs_failed: previous.jobs_failed + update.failed,
        // Kept while it describes the current image; a new image is learned afresh.
        image_capabilities: update
            .image_capabilities
            .clone()
            .or(previous.image_capabilities)
            .filter(|learned| learned.image == pool.spec.agent.image),
        start_failures,
    }
}

/// Writes `status` with server-side apply (field manager [`FIELD_MANAGER`], forced: the
/// operator is the only writer of status).
pub async fn apply_status(
    api: &Api<AgentPool>,
    pool: &AgentPool,
    status: &AgentPoolStatus,
) -> Result<(), kube::Error> {
    let body = json!({
        "apiVersion": "azp.dev/v1alpha1",
        "kind": "AgentPool",
        "metadata": {"name": pool.name_any()},
        "status": status,
    });
    api.patch_status(
        &pool.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn find<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
        conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn bad_credentials_make_every_condition_say_why() {
        let health = Health::AdoFailed {
            reason: Reason::BadCredentials,
            message: "Azure DevOps rejected the credential (HTTP 401)".into(),
        };
        let conditions = conditions(&[], &health, Some(3), &at(100));
        let ready = find(&conditions, condition_type::READY);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "BadCredentials")
        );
        assert_eq!(ready.observed_generation, Some(3));
        assert_eq!(
            find(&conditions, condition_type::AZURE_DEVOPS_REACHABLE).status,
            "False"
        );
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let serving = Health::Serving {
            unservable_jobs: Vec::new(),
            rate_limited: false,
            stuck_pods: 0,
        };
        let first = conditions(&[], &serving, Some(1), &at(100));
        let again = conditions(&first, &serving, Some(1), &at(200));
        assert_eq!(
            find(&again, condition_type::READY).last_transition_time,
            at(100)
        );
        let failed = Health::AdoFailed {
            reason: Reason::RateLimited,
            message: "m".into(),
        };
        let changed = conditions(&again, &failed, Some(1), &at(300));
        assert_eq!(
            find(&changed, condition_type::READY).last_transition_time,
            at(300)
        );
    }

    #[test]
    fn unservable_jobs_degrade_a_serving_pool() {
        let health = Health::Serving {
            unservable_jobs: vec!["job 1: maven".into(), "job 2: gpu".into()],
            rate_limited: false,
            stuck_pods: 0,
        };
        let conditions = conditions(&[], &health, None, &at(1));
        let degraded = find(&conditions, condition_type::DEGRADED);
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", "UnservableJobs")
        );
        assert!(
            degraded
                .message
                .ends_with("offers: job 1: maven; job 2: gpu"),
            "{}",
            degraded.message
        );
        assert_eq!(find(&conditions, condition_type::READY).status, "True");
    }

    #[test]
    fn pods_stuck_pending_are_reported_first() {
        let health = Health::Serving {
            unservable_jobs: vec!["job 1: maven".into(), "job 2: gpu".into()],
            rate_limited: true,
            stuck_pods: 1,
        };
        let conditions = conditions(&[], &health, None, &at(1));
        let degraded = find(&conditions, condition_type::DEGRADED);
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", "PodsNotStarting")
        );
    }
}
