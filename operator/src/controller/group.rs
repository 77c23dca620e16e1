//! One pass over one Azure DevOps pool: admit → poll → observe → plan → apply → status.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Pod;
use tokio::time::Instant;

use super::Controller;
use super::admit::Member;
use super::finished::Finished;
use super::poll::Polled;
use crate::crd::{AgentPool, AzureDevOpsPoolKey};
use crate::observe;
use crate::plan::{self, PoolKey, PoolSnapshot};
use crate::poller::Backoff;

/// Per Azure DevOps pool state that survives passes.
pub(super) struct GroupState {
    /// The Azure DevOps client, with the credential and CA bundle it was built for.
    pub(super) client: Option<(
        crate::credentials::Credential,
        Option<Vec<u8>>,
        azp_ado::AdoClient,
    )>,
    pub(super) pool_id: Option<i32>,
    pub(super) backoff: Backoff,
    pub(super) next_poll: Instant,
    pub(super) last_poll: Option<Instant>,
    /// Jobs whose assignment latency was already observed.
    pub(super) seen_assigned: HashSet<i64>,
    /// Jobs a pod was already created for (queue-to-pod latency).
    pub(super) served: HashSet<i64>,
    /// When this pass sent its job-request list call (the schedule's anchor).
    pub(super) polled_at: Option<Instant>,
    /// The last plan left pending jobs waiting for `maxAgents`: a pod finishing frees a slot
    /// worth polling for.
    pub(super) backlog: bool,
    /// When the last probe pod was created while BuildKit was unavailable, per AgentPool.
    pub(super) buildkit_probes: HashMap<PoolKey, Instant>,
    /// Unservable jobs already reported by an Event (one per job).
    pub(super) reported_unservable: HashSet<i64>,
    /// Capabilities last sent to each placeholder (by agent name).
    pub(super) placeholder_capabilities:
        HashMap<String, std::collections::BTreeMap<String, String>>,
}

impl GroupState {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            client: None,
            pool_id: None,
            backoff: Backoff::default(),
            next_poll: now,
            last_poll: None,
            seen_assigned: HashSet::new(),
            served: HashSet::new(),
            polled_at: None,
            backlog: false,
            buildkit_probes: HashMap::new(),
            reported_unservable: HashSet::new(),
            placeholder_capabilities: HashMap::new(),
        }
    }
}

/// What one pass read for its group, shared by its steps.
pub(super) struct GroupPass<'a> {
    /// The Azure DevOps pool.
    pub(super) key: &'a AzureDevOpsPoolKey,
    /// The AgentPools that passed admission.
    pub(super) members: Vec<Member<'a>>,
    /// Every agent pod the operator manages (all groups).
    pub(super) pods: &'a [Pod],
    /// The poll's result and the client that made it.
    pub(super) polled: Polled,
    /// The poll interval of the group.
    pub(super) interval: Duration,
}

impl Controller {
    /// Reconciles every AgentPool of one Azure DevOps pool; returns the wait until the next poll.
    pub(super) async fn reconcile_group(
        &self,
        key: &AzureDevOpsPoolKey,
        pools: &[&AgentPool],
        pods: &[Pod],
        existing_pools: &BTreeSet<PoolKey>,
        group: &mut GroupState,
        interval: Duration,
    ) -> Duration {
        let Some(admitted) = self.admit(pools).await else {
            return interval;
        };
        let polled = match self.poll_group(key, &admitted, group, interval).await {
            Ok(polled) => polled,
            Err(wait) => return wait,
        };
        let pass = GroupPass {
            key,
            members: admitted.members,
            pods,
            polled,
            interval,
        };
        let finished = self.record_finished_pods(&pass).await;
        self.annotate_running_jobs(&pass).await;
        let learned = self.learn_images(&pass, group).await;
        let snapshot = snapshot(&pass, &finished, existing_pools, &self.settings.namespace);
        let plans = plan::plan(&snapshot, &self.settings.planner);
        group.backlog = plans.jobs_wait_for_capacity();
        self.remove_orphans(&pass, &plans.orphaned_registrations)
            .await;
        let unservable = self
            .report_unservable(&pass, &snapshot, &plans, group)
            .await;
        let planned = Planned::new(snapshot, plans, unservable);
        let created = self
            .create_pods_first(&pass, &planned, &finished, group)
            .await;
        let wait_override = self
            .apply_and_report(&pass, &planned, created, finished, learned, group)
            .await;
        wait_override.unwrap_or_else(|| {
            group
                .backoff
                .succeeded(interval, pass.polled.rate_limit.as_ref())
        })
    }
}

/// The plan of a pass and what it was made from.
pub(super) struct Planned {
    /// The planner's input.
    pub(super) snapshot: PoolSnapshot,
    /// The planner's answer.
    pub(super) plans: plan::PlanSet,
    /// Jobs no AgentPool of the group can serve, described for the Degraded condition.
    pub(super) unservable: Vec<String>,
}

impl Planned {
    fn new(snapshot: PoolSnapshot, plans: plan::PlanSet, unservable: Vec<String>) -> Self {
        Self {
            snapshot,
            plans,
            unservable,
        }
    }
}

/// The planner's input: the admitted AgentPools' views, the poll, and their pods (a pod
/// whose outcome this pass recorded counts as recorded).
fn snapshot(
    pass: &GroupPass<'_>,
    finished: &Finished,
    existing_pools: &BTreeSet<PoolKey>,
    watched_namespace: &Option<String>,
) -> PoolSnapshot {
    let observation = &pass.polled.observation;
    PoolSnapshot {
        pools: pass.members.iter().map(|m| m.view.clone()).collect(),
        jobs: observation.jobs.iter().map(observe::job_view).collect(),
        agents: observation.agents.iter().map(observe::agent_view).collect(),
        pods: pass
            .members
            .iter()
            .flat_map(|m| super::pods_of(pass.pods, &m.key))
            .filter_map(|pod| {
                let mut view = observe::pod_view(pod)?;
                view.outcome_recorded |= finished.recorded.contains(&view.name);
                Some(view)
            })
            .collect(),
        now: SystemTime::now(),
        orphan_scope: Some(plan::OrphanScope {
            watched_namespace: watched_namespace.clone(),
            existing_pools: existing_pools.clone(),
        }),
    }
}
