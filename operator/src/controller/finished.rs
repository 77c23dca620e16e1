//! Finished pods: their outcomes are recorded before anything may delete them.
//!
//! A finished pod is marked (`azp.dev/outcome-recorded`) first, so a job is counted once
//! even across operator restarts; then its outcome feeds the job metrics and Events, the
//! start-failure backoff and the BuildKit health of its AgentPool.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, ResourceExt};
use tracing::warn;

use super::Controller;
use super::admit::Member;
use super::group::GroupPass;
use crate::apply;
use crate::buildkit_health;
use crate::crd::{AgentPool, StartFailures};
use crate::metrics::{AgentPoolLabels, JobResultLabels};
use crate::observe::{self, PodOutcome};
use crate::plan::PoolKey;
use crate::start_failures;

/// What the finished pods of a pass said, per AgentPool.
#[derive(Default)]
pub(super) struct Finished {
    /// Jobs that succeeded and failed.
    pub(super) outcomes: HashMap<PoolKey, (u64, u64)>,
    /// What the pods said about the BuildKit sidecar.
    pub(super) buildkit_signals: HashMap<PoolKey, buildkit_health::Signal>,
    /// Pods whose outcome this pass recorded.
    pub(super) recorded: HashSet<String>,
    /// The start-failure state for this pass (the backoff's input and `status.startFailures`).
    pub(super) start_states: HashMap<PoolKey, Option<StartFailures>>,
    /// Pods that ended before taking a job, described, per AgentPool.
    start_failed: HashMap<PoolKey, Vec<String>>,
    /// AgentPools with a pod that got past its start.
    start_succeeded: HashSet<PoolKey>,
}

impl Controller {
    /// Records every finished pod of the group not recorded yet, then the start-failure state
    /// of each member.
    pub(super) async fn record_finished_pods(&self, pass: &GroupPass<'_>) -> Finished {
        let mut finished = Finished::default();
        for member in &pass.members {
            for pod in super::pods_of(pass.pods, &member.key) {
                self.record_finished_pod(member, pod, &mut finished).await;
            }
        }
        for member in &pass.members {
            let failures = finished
                .start_failed
                .remove(&member.key)
                .unwrap_or_default();
            let next = start_failures::next(
                member.pool,
                &failures,
                finished.start_succeeded.contains(&member.key),
                k8s_openapi::jiff::Timestamp::now(),
            );
            self.report_start_failures(member.pool, next.as_ref()).await;
            finished.start_states.insert(member.key.clone(), next);
        }
        finished
    }

    async fn record_finished_pod(&self, member: &Member<'_>, pod: &Pod, finished: &mut Finished) {
        let Some(view) = observe::pod_view(pod) else {
            return;
        };
        // A Pending pod that cannot start (the planner deletes it this pass) is a failed start.
        if let Some(failure) = start_failures::blocked_failure(pod) {
            warn!(pool = %member.key, pod = %view.name, %failure, "agent pod cannot start");
            finished
                .start_failed
                .entry(member.key.clone())
                .or_default()
                .push(format!("pod {}: {failure}", view.name));
            return;
        }
        // A pod whose agent exited counts as finished even while another container keeps
        // it Running: its outcome is recorded now, once, and the planner deletes it after
        // the finish timeout if it does not end by itself.
        if !view.is_finished() || view.outcome_recorded {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), member.namespace());
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        if let Err(error) = apply::annotate(
            &api,
            &view.name,
            azp_contract::labels::OUTCOME_RECORDED,
            &now,
        )
        .await
        {
            warn!(%error, pod = %view.name, "could not mark outcome recorded");
            return;
        }
        finished.recorded.insert(view.name.clone());
        let outcome = observe::pod_outcome(pod);
        let took_job = pod
            .annotations()
            .contains_key(azp_contract::labels::job::REQUEST_ID);
        if let Some(failure) = start_failures::failure_of(&outcome, took_job) {
            warn!(pool = %member.key, pod = %view.name, %failure, "agent pod ended before taking a job");
            finished
                .start_failed
                .entry(member.key.clone())
                .or_default()
                .push(format!("pod {}: {failure}", view.name));
        } else if start_failures::is_start_success(&outcome, took_job) {
            finished.start_succeeded.insert(member.key.clone());
        }
        if let Some(signal) = buildkit_health::signal(&outcome) {
            finished.buildkit_signals.insert(member.key.clone(), signal);
        }
        if outcome.ran_job() {
            self.count_job(&member.key, pod, &outcome);
            let entry = finished.outcomes.entry(member.key.clone()).or_default();
            if outcome.succeeded() {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
            self.events
                .job_finished(member.pool, &view.name, &outcome)
                .await;
        }
    }

    /// Counts a job a pod ran, by result, and how long it ran (from the assignment the pod's
    /// annotation recorded to now, when the pod's end is seen).
    fn count_job(&self, key: &PoolKey, pod: &Pod, outcome: &PodOutcome) {
        let pool = key.to_string();
        self.metrics
            .jobs
            .get_or_create(&JobResultLabels {
                agentpool: pool.clone(),
                result: outcome.result_label(),
            })
            .inc();
        let assigned = pod
            .annotations()
            .get(azp_contract::labels::job::ASSIGNED_AT)
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
        if let Some(assigned) = assigned {
            let seconds = (chrono::Utc::now() - assigned.with_timezone(&chrono::Utc))
                .num_milliseconds()
                .max(0) as f64
                / 1000.0;
            self.metrics
                .job_run_seconds
                .get_or_create(&AgentPoolLabels { agentpool: pool })
                .observe(seconds);
        }
    }

    /// One Warning Event when an AgentPool's pods have failed [`start_failures::GIVE_UP_AFTER`]
    /// times in a row for its current spec (the condition carries the rest).
    async fn report_start_failures(&self, pool: &AgentPool, next: Option<&StartFailures>) {
        let Some(next) = next else {
            return;
        };
        let before = pool
            .status
            .as_ref()
            .and_then(|s| s.start_failures.as_ref())
            .filter(|f| f.observed_generation == pool.metadata.generation)
            .map_or(0, |f| f.consecutive);
        if before < start_failures::GIVE_UP_AFTER
            && next.consecutive >= start_failures::GIVE_UP_AFTER
        {
            warn!(pool = %pool.name_any(), failures = next.consecutive, "agent pods keep failing; holding back");
            self.events
                .warning(
                    pool,
                    &start_failures::REASON.as_str(),
                    format!(
                        "{} agent pods in a row ended before taking a job; one probe pod every {} s until the spec changes. Last failure: {}",
                        next.consecutive,
                        self.settings.start_backoff.max.as_secs(),
                        next.last_failure
                    ),
                )
                .await;
        }
    }
}
