//! Reporting: Events, metrics and status of the AgentPools of a group.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use azp_ado::AdoError;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use tracing::{debug, info, warn};

use super::Controller;
use super::admit::Member;
use super::group::{GroupPass, GroupState};
use crate::apply;
use crate::crd::{AgentPool, condition_type};
use crate::credentials::workload_identity_hint;
use crate::events::{action, reason};
use crate::metrics::{AgentPoolLabels, AgentStateLabels, PodPhaseLabels, PoolLabels};
use crate::plan::{self, PoolKey, PoolSnapshot};
use crate::reason::Reason;
use crate::status::{Health, StatusUpdate, apply_status, next_status};

impl Controller {
    /// Names, for each job no AgentPool can serve, the demand nothing offers (for the
    /// Degraded condition), and says so once per job with a Warning Event on the first
    /// AgentPool of the group (the job belongs to none of them).
    pub(super) async fn report_unservable(
        &self,
        pass: &GroupPass<'_>,
        snapshot: &PoolSnapshot,
        plans: &plan::PlanSet,
        group: &mut GroupState,
    ) -> Vec<String> {
        let live: HashSet<i64> = snapshot.jobs.iter().map(|j| j.request_id).collect();
        group.reported_unservable.retain(|id| live.contains(id));
        let mut described = Vec::new();
        for job in snapshot
            .jobs
            .iter()
            .filter(|job| plans.unservable_jobs.contains(&job.request_id))
        {
            let unmet = plan::attribute::unmet_demands(&job.demands, &snapshot.pools);
            described.push(format!("job {}: {unmet}", job.request_id));
            if group.reported_unservable.insert(job.request_id)
                && let Some(member) = pass.members.iter().find(|m| !m.is_deleting())
            {
                self.events
                    .warning(
                        member.pool,
                        reason::UNSERVABLE_JOB,
                        format!(
                            "job {} waits: no AgentPool of Azure DevOps pool {} offers {unmet}; no pod is created for it",
                            job.request_id, member.pool.spec.pool
                        ),
                    )
                    .await;
            }
        }
        described
    }

    /// Removes registrations whose AgentPool no longer exists. There is no AgentPool to
    /// carry an Event, so each removal is logged and counted; a failure is retried by the
    /// next sweep.
    pub(super) async fn remove_orphans(
        &self,
        pass: &GroupPass<'_>,
        orphans: &[plan::OrphanedRegistration],
    ) {
        let key = pass.key;
        for orphan in orphans {
            let agent_id = i32::try_from(orphan.id).unwrap_or(i32::MAX);
            match pass
                .polled
                .client
                .delete_agent(pass.polled.pool_id, agent_id)
                .await
            {
                Ok(()) | Err(AdoError::AgentNotFound { .. }) => {
                    info!(
                        pool = %key.pool,
                        agent_id = orphan.id,
                        agent = %orphan.name,
                        owner = %orphan.owner,
                        "removed registration of an AgentPool that no longer exists"
                    );
                    self.metrics
                        .orphaned_registrations_removed
                        .get_or_create(&PoolLabels {
                            pool: key.pool.clone(),
                        })
                        .inc();
                }
                // It picked up a job after all; the next sweep looks again.
                Err(AdoError::AgentBusy { .. }) => {}
                Err(error) => {
                    warn!(%error, agent_id = orphan.id, "could not remove orphaned registration");
                }
            }
        }
    }

    /// Metrics and Events for what applying a plan did.
    pub(super) async fn record(
        &self,
        member: &Member<'_>,
        plan: &plan::Plan,
        applied: &apply::Applied,
        pending_jobs: &mut Vec<&plan::JobView>,
        group: &mut GroupState,
    ) {
        let pool = member.key.to_string();
        let note = plan.explanations.join("; ");
        if !applied.created.is_empty() {
            self.record_created(member, &applied.created, pending_jobs, group)
                .await;
            self.events
                .scaled_up(member.pool, &applied.created, &note)
                .await;
        }
        if !applied.disabled.is_empty() || !applied.scaled_down.is_empty() {
            self.metrics
                .decision(&pool, "disable_agent", applied.disabled.len() as u64);
            self.metrics
                .decision(&pool, "delete_pod", applied.scaled_down.len() as u64);
            self.events
                .scaled_down(member.pool, &applied.disabled, &applied.scaled_down, &note)
                .await;
        }
        if !applied.registrations_removed.is_empty() {
            self.metrics.decision(
                &pool,
                "remove_registration",
                applied.registrations_removed.len() as u64,
            );
            self.events
                .registrations_removed(member.pool, &applied.registrations_removed, &note)
                .await;
        }
        if let Some(id) = applied.placeholder_id {
            self.metrics.decision(&pool, "register_placeholder", 1);
            self.events
                .about_pool(
                    member.pool,
                    EventType::Normal,
                    reason::PLACEHOLDER_REGISTERED,
                    action::REGISTER_PLACEHOLDER,
                    format!("placeholder agent {id} registered"),
                )
                .await;
        }
        self.record_pod_deletions(member, applied).await;
        if applied.finished_deleted > 0 {
            self.metrics.decision(
                &pool,
                "delete_finished_pod",
                u64::from(applied.finished_deleted),
            );
        }
        debug!(pool = %pool, ?plan, "plan applied");
    }

    /// Metrics and Warning Events for pods deleted because they did not start, cannot start,
    /// or kept running after their agent exited.
    async fn record_pod_deletions(&self, member: &Member<'_>, applied: &apply::Applied) {
        let pool = member.key.to_string();
        if !applied.timed_out.is_empty() {
            self.metrics.decision(
                &pool,
                "delete_unstarted_pod",
                applied.timed_out.len() as u64,
            );
        }
        for (pod, waited_secs) in &applied.timed_out {
            warn!(pool = %pool, pod = %pod, waited_secs, "pod never started; deleted");
            self.events
                .about_pod(
                    member.pool,
                    EventType::Warning,
                    reason::POD_START_TIMEOUT,
                    action::DELETE_UNSTARTED_POD,
                    pod,
                    format!(
                        "pod {pod} deleted: not started after {waited_secs}s (Pending, or its agent never registered); it will be replaced"
                    ),
                )
                .await;
        }
        for (pod, reason) in &applied.blocked {
            self.metrics.decision(&pool, "delete_unstartable_pod", 1);
            self.events
                .about_pod(
                    member.pool,
                    EventType::Warning,
                    reason::POD_CANNOT_START,
                    action::DELETE_UNSTARTED_POD,
                    pod,
                    format!(
                        "pod {pod} deleted: it cannot start ({reason}); replaced after the start-failure backoff"
                    ),
                )
                .await;
        }
        let timeout = self.settings.planner.pod_finish_timeout.as_secs();
        for (pod, waited_secs) in &applied.finish_timed_out {
            self.metrics.decision(&pool, "delete_stuck_pod", 1);
            warn!(pool = %pool, pod = %pod, waited_secs, "pod kept running after its agent exited; deleted");
            self.events
                .about_pod(
                    member.pool,
                    EventType::Warning,
                    reason::POD_FINISH_TIMEOUT,
                    action::DELETE_STUCK_POD,
                    pod,
                    format!(
                        "pod {pod} deleted: its agent exited {waited_secs}s ago but the pod kept running (finish timeout {timeout}s); a container other than `agent` does not exit"
                    ),
                )
                .await;
        }
    }

    /// Counts new pods and their queue-to-pod latency: each new pod is credited to the oldest
    /// pending job not yet served (the planner does not bind pods to jobs; this is the FIFO
    /// view).
    async fn record_created(
        &self,
        member: &Member<'_>,
        created: &[String],
        pending_jobs: &mut Vec<&plan::JobView>,
        group: &mut GroupState,
    ) {
        let pool = member.key.to_string();
        self.metrics
            .decision(&pool, "create_pod", created.len() as u64);
        let now = SystemTime::now();
        for _ in created {
            let Some(position) = pending_jobs
                .iter()
                .position(|j| !group.served.contains(&j.request_id))
            else {
                break;
            };
            let job = pending_jobs.remove(position);
            group.served.insert(job.request_id);
            let seconds = now
                .duration_since(job.queue_time)
                .unwrap_or_default()
                .as_secs_f64();
            self.metrics
                .queue_to_pod_seconds
                .get_or_create(&AgentPoolLabels {
                    agentpool: pool.clone(),
                })
                .observe(seconds);
        }
        info!(pool = %pool, pods = ?created, "scaled up");
    }

    /// The AgentPool's gauges: pending jobs, agents by state, pods by phase.
    pub(super) fn export_gauges(&self, key: &PoolKey, plan: &plan::Plan, snapshot: &PoolSnapshot) {
        let pool = key.to_string();
        self.metrics
            .pending_jobs
            .get_or_create(&AgentPoolLabels {
                agentpool: pool.clone(),
            })
            .set(i64::from(plan.counts.queued));
        self.metrics
            .outdated_pods
            .get_or_create(&AgentPoolLabels {
                agentpool: pool.clone(),
            })
            .set(i64::from(plan.counts.outdated));
        for (state, value) in [
            ("running", plan.counts.running),
            ("idle", plan.counts.idle),
            ("starting", plan.counts.starting),
        ] {
            self.metrics
                .agents
                .get_or_create(&AgentStateLabels {
                    agentpool: pool.clone(),
                    state,
                })
                .set(i64::from(value));
        }
        let mut phases: BTreeMap<&str, i64> =
            ["Pending", "Running", "Succeeded", "Failed", "Unknown"]
                .into_iter()
                .map(|p| (p, 0))
                .collect();
        for pod in snapshot.pods.iter().filter(|p| &p.owner == key) {
            let phase = match pod.phase {
                plan::PodPhase::Pending => "Pending",
                plan::PodPhase::Running => "Running",
                plan::PodPhase::Succeeded => "Succeeded",
                plan::PodPhase::Failed => "Failed",
                plan::PodPhase::Unknown => "Unknown",
            };
            *phases.entry(phase).or_default() += 1;
        }
        for (phase, count) in phases {
            self.metrics
                .pods
                .get_or_create(&PodPhaseLabels {
                    agentpool: pool.clone(),
                    phase,
                })
                .set(count);
        }
    }

    /// Writes the AgentPool's status (server-side apply); a failure is logged and the next
    /// pass writes again.
    pub(super) async fn write_status(
        &self,
        pool: &AgentPool,
        health: &Health,
        update: &StatusUpdate,
    ) {
        let status = next_status(pool, health, update);
        let api: Api<AgentPool> = self.namespaced(pool);
        if let Err(error) = apply_status(&api, pool, &status).await {
            warn!(%error, pool = %pool.name_any(), "status write failed");
        }
    }

    /// A Warning Event for an Azure DevOps error whose reason is new on the AgentPool.
    pub(super) async fn report_ado_event(&self, pool: &AgentPool, error: &AdoError) {
        let reason = Reason::from(error);
        if ready_reason(pool) != Some(reason) {
            let hint = workload_identity_hint(pool, error).unwrap_or_default();
            self.events
                .warning(pool, &reason.as_str(), format!("{error}{hint}"))
                .await;
        }
    }

    /// Event and condition for an Azure DevOps failure that stopped the AgentPool's pass.
    pub(super) async fn report_ado_failure(&self, pool: &AgentPool, error: &AdoError) {
        self.report_ado_event(pool, error).await;
        // Workload identity: what to change on the Azure side for a 401 or 403.
        let hint = workload_identity_hint(pool, error).unwrap_or_default();
        let health = Health::AdoFailed {
            reason: Reason::from(error),
            message: format!("{error}{hint}"),
        };
        self.write_status(pool, &health, &StatusUpdate::default())
            .await;
    }
}

/// Live pods of `key` that have been Pending for longer than `warning`.
pub(super) fn stuck_pods(snapshot: &PoolSnapshot, key: &PoolKey, warning: Duration) -> usize {
    snapshot
        .pods
        .iter()
        .filter(|pod| {
            &pod.owner == key
                && pod.is_live()
                && pod.phase == plan::PodPhase::Pending
                && snapshot
                    .now
                    .duration_since(pod.created)
                    .is_ok_and(|age| age > warning)
        })
        .count()
}

/// The reason of the AgentPool's `Ready` condition, if it is one of ours.
pub(super) fn ready_reason(pool: &AgentPool) -> Option<Reason> {
    pool.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == condition_type::READY)
        .and_then(|c| Reason::parse(&c.reason))
}
