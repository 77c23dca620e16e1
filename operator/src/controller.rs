//! The reconcile loop: observe → plan → apply → status, once per Azure DevOps pool.
//!
//! Why a loop over Azure DevOps pools rather than one reconcile per AgentPool: scaling rule 1
//! (one poll per Azure DevOps pool shared by all AgentPools on it) and rule 2 (each job
//! counted for exactly one AgentPool) are properties of the *group*, so the group is the unit
//! of work. Kubernetes watches only wake the loop; every pass re-lists AgentPools and pods
//! (no informer-cache lag can make it create a pod twice) and polls Azure DevOps when the
//! group is due: at its interval, or sooner after a service hook for a waiting job or a
//! Kubernetes change that can leave a job without its agent ([`crate::wake`]), but never
//! more often than `min_poll_spacing` and never inside a backoff or a rate-limit slow-down.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use azp_ado::{AdoClient, AdoClientConfig, AdoError};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{Instrument as _, debug, info, warn};

use crate::apply::{self, Target};
use crate::buildkit_health;
use crate::ca_bundle::{self, read_ca_bundle};
use crate::crd::{AgentPool, AzureDevOpsPoolKey, check_organization_url, condition_type};
use crate::credentials::{Credential, Credentials, workload_identity_hint};
use crate::events::{EventSink, action, reason};
use crate::hooks::ServedOrganizations;
use crate::inventory;
use crate::metrics::{AdoRequestMetrics, Metrics, labels};
use crate::observe;
use crate::plan::{self, PlannerSettings, PoolKey, PoolSnapshot};
use crate::poller::{Backoff, Observation, observe_pool};
use crate::start_failures;
use crate::status::{Health, StatusUpdate, apply_status, next_status};
use crate::wake::{Wakers, spawn_watchers};
use kube::runtime::events::EventType;

/// Operator settings that are not part of any AgentPool.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch one namespace, or all when `None`.
    pub namespace: Option<String>,
    /// Accept `http://` loopback organizations (local testing only).
    pub allow_insecure_http: bool,
    /// Shortest time between two polls of one Azure DevOps pool, whatever wakes the loop.
    pub min_poll_spacing: Duration,
    /// Per-request timeout of the Azure DevOps client.
    pub ado_timeout: Duration,
    /// Largest job-request list body accepted (`--max-job-list-bytes`).
    pub max_job_list_bytes: u64,
    /// Planner tunables.
    pub planner: PlannerSettings,
    /// A live pod still Pending after this long makes the AgentPool Degraded.
    pub pod_startup_warning: Duration,
    /// Delays between agent pods that end before taking a job.
    pub start_backoff: crate::start_failures::Backoff,
    /// This replica's identity (Events).
    pub identity: String,
    /// Microsoft Entra authority for workload identity token exchanges
    /// (`--entra-authority`).
    pub entra_authority: url::Url,
}

/// Per Azure DevOps pool state that survives passes.
struct GroupState {
    client: Option<(Credential, Option<Vec<u8>>, AdoClient)>,
    pool_id: Option<i32>,
    backoff: Backoff,
    next_poll: Instant,
    last_poll: Option<Instant>,
    /// Jobs whose assignment latency was already observed.
    seen_assigned: HashSet<i64>,
    /// Jobs a pod was already created for (queue-to-pod latency).
    served: HashSet<i64>,
    /// When this pass sent its job-request list call (the schedule's anchor).
    polled_at: Option<Instant>,
    /// The last plan left pending jobs waiting for `maxAgents`: a pod finishing frees a slot
    /// worth polling for.
    backlog: bool,
    /// When the last probe pod was created while BuildKit was unavailable, per AgentPool.
    buildkit_probes: HashMap<PoolKey, Instant>,
    /// Unservable jobs already reported by an Event (one per job).
    reported_unservable: HashSet<i64>,
    /// Capabilities last sent to each placeholder (by agent name).
    placeholder_capabilities: HashMap<String, std::collections::BTreeMap<String, String>>,
}

impl GroupState {
    fn new(now: Instant) -> Self {
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

/// The controller.
pub struct Controller {
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    events: EventSink,
    trigger: Arc<Notify>,
    leader: watch::Receiver<bool>,
    groups: HashMap<AzureDevOpsPoolKey, GroupState>,
    served: Arc<ServedOrganizations>,
    credentials: Credentials,
}

/// A member of a group that passed the checks and may be planned.
struct Member<'a> {
    pool: &'a AgentPool,
    namespace: String,
    key: PoolKey,
    /// The planner's view, made once per pass when the AgentPool was admitted (a standby
    /// schedule makes it depend on the time, so two would not always agree).
    view: plan::AgentPoolView,
}

impl Controller {
    /// A controller that acts while `leader` is true; `trigger` (service hooks) asks for an
    /// immediate poll.
    pub fn new(
        client: Client,
        settings: Settings,
        metrics: Arc<Metrics>,
        trigger: Arc<Notify>,
        leader: watch::Receiver<bool>,
    ) -> Self {
        let events = EventSink::new(client.clone(), &settings.identity);
        // Entra is called like Azure DevOps: same timeouts, no redirects, https only unless
        // --allow-insecure-http (local testing).
        let entra_http = reqwest::Client::builder()
            .timeout(settings.ado_timeout)
            .connect_timeout(settings.ado_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!settings.allow_insecure_http)
            .build()
            .unwrap_or_default();
        let credentials =
            Credentials::new(client.clone(), settings.entra_authority.clone(), entra_http);
        Self {
            credentials,
            client,
            settings,
            metrics,
            events,
            trigger,
            leader,
            groups: HashMap::new(),
            served: Arc::default(),
        }
    }

    /// Shares the organizations of the AgentPools of every pass with the hook endpoint.
    #[must_use]
    pub fn with_served_organizations(mut self, served: Arc<ServedOrganizations>) -> Self {
        self.served = served;
        self
    }

    fn pool_api(&self) -> Api<AgentPool> {
        match &self.settings.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    fn pod_api(&self) -> Api<Pod> {
        match &self.settings.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    /// Runs until the process ends.
    pub async fn run(mut self) {
        let wakers = Wakers::default();
        spawn_watchers(self.pool_api(), self.pod_api(), wakers.clone());
        let mut passes: u64 = 0;
        loop {
            if !*self.leader.borrow() {
                // Followers hold no state: a new leader starts from a fresh read.
                self.groups.clear();
                if self.leader.changed().await.is_err() {
                    return;
                }
                continue;
            }
            passes += 1;
            // Every log line of a pass carries its number, and of a group its Azure DevOps pool.
            let span = tracing::info_span!("pass", n = passes);
            if let Err(error) = self.pass().instrument(span).await {
                warn!(%error, "reconcile pass failed");
            }
            let now = Instant::now();
            let next = self
                .groups
                .values()
                .map(|g| g.next_poll)
                .min()
                .unwrap_or(now + Duration::from_secs(30))
                .max(now + Duration::from_millis(100));
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                () = self.trigger.notified() => self.expedite(|_| true),
                () = wakers.urgent.notified() => {
                    // Coalesce a burst of watch events into one pass.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    self.expedite(|_| true);
                }
                () = wakers.slot_freed.notified() => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    self.expedite(|group| group.backlog);
                }
                _ = self.leader.changed() => {}
            }
        }
    }

    /// Brings the next poll of every group that `wants` it forward to the earliest allowed
    /// time.
    fn expedite(&mut self, wants: impl Fn(&GroupState) -> bool) {
        let now = Instant::now();
        for group in self.groups.values_mut().filter(|group| wants(group)) {
            group.next_poll = triggered_poll_time(
                group.next_poll,
                group.last_poll,
                self.settings.min_poll_spacing,
                group.backoff.holds_triggers(),
                now,
            );
        }
    }

    async fn pass(&mut self) -> Result<(), kube::Error> {
        let pools = self.pool_api().list(&ListParams::default()).await?.items;
        self.served
            .refresh(pools.iter().map(|pool| pool.spec.organization.as_str()));
        let selector = format!(
            "{}={}",
            azp_contract::labels::MANAGED_BY,
            azp_contract::labels::MANAGED_BY_VALUE
        );
        let pods = inventory::list_agent_pods(&self.pod_api(), &selector).await?;
        let mut grouped: BTreeMap<AzureDevOpsPoolKey, Vec<&AgentPool>> = BTreeMap::new();
        for pool in &pools {
            grouped
                .entry(pool.spec.azure_devops_pool())
                .or_default()
                .push(pool);
        }
        self.groups.retain(|key, _| grouped.contains_key(key));
        let existing_pools: BTreeSet<PoolKey> = pools
            .iter()
            .map(|pool| PoolKey::new(pool.namespace().unwrap_or_default(), pool.name_any()))
            .collect();
        let now = Instant::now();
        for (key, members) in grouped {
            let group = self
                .groups
                .entry(key.clone())
                .or_insert_with(|| GroupState::new(now));
            if group.next_poll > now {
                continue;
            }
            if !*self.leader.borrow() {
                return Ok(());
            }
            let interval = members
                .iter()
                .filter_map(|p| p.spec.scaling.poll_interval().ok())
                .min()
                .unwrap_or(Duration::from_secs(15));
            let mut group = self
                .groups
                .remove(&key)
                .unwrap_or_else(|| GroupState::new(now));
            // The schedule is anchored to the job-request list call itself, so a pass that
            // takes long (hundreds of pods to create, a slow pod list before the call) neither
            // stretches nor shortens the interval between two list calls.
            let pass_started = Instant::now();
            let span = tracing::info_span!(
                "ado_pool",
                organization = %key.organization,
                pool = %key.pool
            );
            let wait = self
                .reconcile_group(&key, &members, &pods, &existing_pools, &mut group, interval)
                .instrument(span)
                .await;
            let started = group.polled_at.take().unwrap_or(pass_started);
            group.last_poll = Some(started);
            group.next_poll = (started + wait).max(Instant::now() + self.settings.min_poll_spacing);
            self.groups.insert(key, group);
        }
        Ok(())
    }

    /// Reconciles every AgentPool of one Azure DevOps pool; returns the wait until the next poll.
    async fn reconcile_group(
        &self,
        key: &AzureDevOpsPoolKey,
        pools: &[&AgentPool],
        pods: &[Pod],
        existing_pools: &BTreeSet<PoolKey>,
        group: &mut GroupState,
        interval: Duration,
    ) -> Duration {
        // 1. Per-AgentPool checks: URL policy, spec, credentials.
        let mut members = Vec::new();
        let mut pat = None;
        let mut ca_bundles = Vec::new();
        for pool in pools {
            let namespace = pool.namespace().unwrap_or_default();
            let checked =
                check_organization_url(&pool.spec.organization, self.settings.allow_insecure_http)
                    .map_err(|e| ("OrganizationRefused", e.to_string()))
                    .and_then(|()| {
                        pool.planner_view()
                            .map_err(|e| ("InvalidSpec", e.to_string()))
                    });
            let view = match checked {
                Ok(view) => view,
                Err((reason, message)) => {
                    if pool.metadata.deletion_timestamp.is_some() {
                        // A spec that can never be served cannot be cleaned up either.
                        self.abandon(pool).await;
                    } else {
                        self.report_misconfigured(pool, reason, &message).await;
                    }
                    continue;
                }
            };
            // spec.caBundle: the operator's client trusts it too, as the agent pods do.
            match read_ca_bundle(&self.client, pool, &namespace).await {
                Ok(bundle) => ca_bundles.extend(bundle),
                Err(error) => {
                    if pool.metadata.deletion_timestamp.is_some() {
                        self.abandon(pool).await;
                    } else {
                        self.report_misconfigured(pool, error.reason(), &error.to_string())
                            .await;
                    }
                    continue;
                }
            }
            match self.credentials.resolve(pool, &namespace).await {
                Ok(credential) => {
                    pat.get_or_insert(credential);
                }
                Err(error) => {
                    if pool.metadata.deletion_timestamp.is_some() {
                        // Credentials deleted before the AgentPool: cleanup is impossible.
                        self.abandon(pool).await;
                    } else {
                        self.report_misconfigured(pool, &error.reason(), &error.to_string())
                            .await;
                    }
                    continue;
                }
            }
            let key = PoolKey::new(namespace.clone(), pool.name_any());
            members.push(Member {
                pool,
                namespace,
                key,
                view,
            });
        }
        let Some(pat) = pat else {
            return interval;
        };
        let Some(first) = members.first() else {
            return interval;
        };

        // 2. One client per group, rebuilt when the PAT changes.
        let ca_bundle = ca_bundle::combine(ca_bundles);
        let client = match self.client_for(group, &first.pool.spec.organization, pat, ca_bundle) {
            Ok(client) => client,
            Err(error) => {
                for member in &members {
                    self.report_ado_failure(member.pool, &error).await;
                }
                return group.backoff.failed(interval, &error);
            }
        };

        // 3. The shared poll (rule 1).
        let polled = self.poll(&client, group, &first.pool.spec.pool).await;
        let (pool_id, observation) = match polled {
            Ok(ok) => ok,
            Err(error) => {
                self.count_poll(key, error.reason());
                if matches!(error, AdoError::PoolNotFound { .. }) {
                    group.pool_id = None;
                }
                for member in &members {
                    if matches!(error, AdoError::PoolNotFound { .. })
                        && member.pool.metadata.deletion_timestamp.is_some()
                    {
                        self.abandon(member.pool).await;
                        continue;
                    }
                    self.report_ado_failure(member.pool, &error).await;
                }
                let wait = group.backoff.failed(interval, &error);
                info!(pool = %key.pool, reason = error.reason(), wait_s = wait.as_secs(), "poll failed; backing off");
                return wait;
            }
        };
        self.count_poll(key, "ok");
        let rate_limit = client.rate_limit();
        if let Some(snapshot) = &rate_limit {
            let remaining = snapshot
                .remaining
                .map_or(-1, |r| i64::try_from(r).unwrap_or(i64::MAX));
            self.metrics
                .rate_limit_remaining
                .get_or_create(&labels(&[
                    ("organization", &key.organization),
                    ("pool", &key.pool),
                ]))
                .set(remaining);
        }
        let rate_limited = rate_limit
            .as_ref()
            .is_some_and(|s| s.server_hint().is_some());
        self.observe_assignments(group, &observation);

        // 4. Finished pods: record outcomes before anything may delete them.
        let mut outcomes: HashMap<PoolKey, (u64, u64)> = HashMap::new();
        let mut buildkit_signals: HashMap<PoolKey, buildkit_health::Signal> = HashMap::new();
        let mut recorded: HashSet<String> = HashSet::new();
        let mut start_failed: HashMap<PoolKey, Vec<String>> = HashMap::new();
        let mut start_succeeded: HashSet<PoolKey> = HashSet::new();
        for member in &members {
            for pod in pods_of(pods, &member.key) {
                let Some(view) = observe::pod_view(pod) else {
                    continue;
                };
                if !view.phase.is_finished() || view.outcome_recorded {
                    continue;
                }
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &member.namespace);
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
                    continue;
                }
                recorded.insert(view.name.clone());
                let outcome = observe::pod_outcome(pod);
                let took_job = pod
                    .annotations()
                    .contains_key(azp_contract::labels::job::REQUEST_ID);
                if let Some(failure) = start_failures::failure_of(&outcome, took_job) {
                    warn!(pool = %member.key, pod = %view.name, %failure, "agent pod ended before taking a job");
                    start_failed
                        .entry(member.key.clone())
                        .or_default()
                        .push(format!("pod {}: {failure}", view.name));
                } else if start_failures::is_start_success(&outcome, took_job) {
                    start_succeeded.insert(member.key.clone());
                }
                if let Some(signal) = buildkit_health::signal(&outcome) {
                    buildkit_signals.insert(member.key.clone(), signal);
                }
                if outcome.ran_job() {
                    self.count_job(&member.key, pod, &outcome);
                    let entry = outcomes.entry(member.key.clone()).or_default();
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
        }

        // 4. (cont.) Failed starts in a row, per AgentPool: the backoff's state for this pass.
        let mut start_states: HashMap<PoolKey, Option<crate::crd::StartFailures>> = HashMap::new();
        for member in &members {
            let failures = start_failed.remove(&member.key).unwrap_or_default();
            let next = start_failures::next(
                member.pool,
                &failures,
                start_succeeded.contains(&member.key),
                k8s_openapi::jiff::Timestamp::now(),
            );
            self.report_start_failures(member.pool, next.as_ref()).await;
            start_states.insert(member.key.clone(), next);
        }

        // 4a. Pods whose agent took a job say which (annotations and one Event).
        self.annotate_running_jobs(&members, pods, &observation.jobs)
            .await;

        // 4b. What each image publishes (learned from its first agent with a session), and the
        // placeholders kept in step with what the agents publish.
        let mut learned: HashMap<PoolKey, crate::crd::ImageCapabilities> = HashMap::new();
        for member in members
            .iter()
            .filter(|m| m.pool.metadata.deletion_timestamp.is_none())
        {
            if let Some(image) = crate::learn::learn(member.pool, &observation.agents, pods) {
                info!(pool = %member.key, image = %image.image, agent = %image.agent, "learned what the agent image publishes");
                learned.insert(member.key.clone(), image);
            }
            if let Err(error) = crate::learn::refresh_placeholder(
                &client,
                pool_id,
                member.pool,
                &observation.agents,
                &mut group.placeholder_capabilities,
            )
            .await
            {
                warn!(%error, pool = %member.key, "could not update the placeholder's capabilities");
            }
        }

        // 5. Plan.
        let snapshot = PoolSnapshot {
            pools: members.iter().map(|m| m.view.clone()).collect(),
            jobs: observation.jobs.iter().map(observe::job_view).collect(),
            agents: observation.agents.iter().map(observe::agent_view).collect(),
            pods: members
                .iter()
                .flat_map(|m| pods_of(pods, &m.key))
                .filter_map(|pod| {
                    let mut view = observe::pod_view(pod)?;
                    view.outcome_recorded |= recorded.contains(&view.name);
                    Some(view)
                })
                .collect(),
            now: SystemTime::now(),
            orphan_scope: Some(plan::OrphanScope {
                watched_namespace: self.settings.namespace.clone(),
                existing_pools: existing_pools.clone(),
            }),
        };
        let plans = plan::plan(&snapshot, &self.settings.planner);
        group.backlog = plans.plans.iter().any(|plan| {
            plan.counts.queued > plan.counts.starting + plan.counts.idle + plan.create_pods
        });
        self.remove_orphans(key, &client, pool_id, &plans.orphaned_registrations)
            .await;
        let agent_names: HashMap<i64, String> = snapshot
            .agents
            .iter()
            .map(|a| (a.id, a.name.clone()))
            .collect();
        let pods_by_agent: HashMap<String, String> = snapshot
            .pods
            .iter()
            .map(|p| (p.agent_name.clone(), p.name.clone()))
            .collect();
        let mut pending_jobs: Vec<&plan::JobView> =
            snapshot.jobs.iter().filter(|j| j.is_pending()).collect();
        pending_jobs.sort_by_key(|j| j.queue_time);

        let unservable = self
            .report_unservable(&members, &snapshot, &plans, group)
            .await;

        // 6. Pods for waiting jobs, for every AgentPool of the group, before anything else:
        // with 50 AgentPools the last one's pods must not wait for the others' cleanup and
        // status writes.
        let mut created_first: HashMap<PoolKey, Result<Vec<String>, apply::ApplyError>> =
            HashMap::new();
        for member in &members {
            let Some(plan) = plans.for_pool(&member.key) else {
                continue;
            };
            if plan.create_pods == 0 || member.pool.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let target = target_for(
                &self.client,
                member,
                &client,
                pool_id,
                &agent_names,
                &pods_by_agent,
            );
            // The finalizer comes before the first pod, so deleting the AgentPool always
            // finds the operator there to clean up.
            if let Err(error) = apply::ensure_finalizer(&target.pools, member.pool).await {
                warn!(%error, "could not add finalizer");
                continue;
            }
            // A sidecar that cannot start fails every pod's preflight: hold back to one probe.
            let held = buildkit_health::holds_pods(member.pool, buildkit_signals.get(&member.key));
            let live = snapshot
                .pods
                .iter()
                .filter(|p| p.owner == member.key && p.is_live())
                .count();
            let last_probe = group.buildkit_probes.get(&member.key).map(Instant::elapsed);
            let allowed = buildkit_health::allowed_pods(plan.create_pods, held, live, last_probe)
                // A configuration whose pods keep failing: one probe pod after the backoff.
                .min(start_failures::allowed_pods(
                    plan.create_pods,
                    start_states.get(&member.key).and_then(Option::as_ref),
                    &self.settings.start_backoff,
                    live,
                    k8s_openapi::jiff::Timestamp::now(),
                ));
            if held && allowed > 0 {
                group
                    .buildkit_probes
                    .insert(member.key.clone(), Instant::now());
            }
            let created = if allowed == 0 {
                Ok(Vec::new())
            } else {
                apply::create_pods(&target, allowed).await
            };
            created_first.insert(member.key.clone(), created);
        }

        // 7. The rest of each plan, and report, AgentPool by AgentPool.
        let mut wait_override = None;
        for member in &members {
            let Some(plan) = plans.for_pool(&member.key) else {
                continue;
            };
            let target = target_for(
                &self.client,
                member,
                &client,
                pool_id,
                &agent_names,
                &pods_by_agent,
            );
            if member.pool.metadata.deletion_timestamp.is_none()
                && let Err(error) = apply::ensure_finalizer(&target.pools, member.pool).await
            {
                warn!(%error, "could not add finalizer");
                continue;
            }
            let result = match created_first.remove(&member.key) {
                None => apply::apply_plan(&target, plan).await,
                Some(Err(error)) => Err(error),
                Some(Ok(created)) => {
                    let rest = plan::Plan {
                        create_pods: 0,
                        ..plan.clone()
                    };
                    apply::apply_plan(&target, &rest).await.map(|mut applied| {
                        applied.created = created;
                        applied
                    })
                }
            };
            let (applied, health) = match result {
                Ok(applied) => (
                    applied,
                    Health::Serving {
                        unservable_jobs: unservable.clone(),
                        rate_limited,
                        stuck_pods: stuck_pods(
                            &snapshot,
                            &member.key,
                            self.settings.pod_startup_warning,
                        ),
                    },
                ),
                Err(apply::ApplyError::Ado(error)) => {
                    self.report_ado_event(member.pool, &error).await;
                    wait_override = Some(group.backoff.failed(interval, &error));
                    (
                        apply::Applied::default(),
                        Health::AdoFailed {
                            reason: error.reason().into(),
                            message: error.to_string(),
                        },
                    )
                }
                Err(apply::ApplyError::Mint(error)) => (
                    apply::Applied::default(),
                    Health::Misconfigured {
                        reason: "RegistrationFailed".into(),
                        message: error.to_string(),
                    },
                ),
                Err(apply::ApplyError::Render(error)) => (
                    apply::Applied::default(),
                    Health::Misconfigured {
                        reason: "InvalidTemplate".into(),
                        message: error.to_string(),
                    },
                ),
                Err(apply::ApplyError::Kube(error)) => {
                    warn!(%error, pool = %member.key, "Kubernetes write failed");
                    (
                        apply::Applied::default(),
                        Health::Misconfigured {
                            reason: "KubernetesWriteFailed".into(),
                            message: error.to_string(),
                        },
                    )
                }
            };
            self.record(member, plan, &applied, &mut pending_jobs, group)
                .await;
            if applied.finalizer_removed {
                continue;
            }
            let (succeeded, failed) = outcomes.get(&member.key).copied().unwrap_or_default();
            let buildkit_signal = buildkit_signals.remove(&member.key);
            let next = buildkit_health::condition(
                member.pool,
                buildkit_signal.as_ref(),
                &Time(k8s_openapi::jiff::Timestamp::now()),
            );
            if let Some(note) = buildkit_health::event_note(member.pool, next.as_ref()) {
                warn!(pool = %member.key, "BuildKit unavailable; pods held back");
                self.events
                    .warning(member.pool, buildkit_health::CONDITION, note)
                    .await;
            }
            let update = StatusUpdate {
                counts: Some(plan.counts),
                pool_id: Some(i64::from(pool_id)),
                placeholder_agent_id: applied.placeholder_id.or_else(|| {
                    let name = azp_contract::naming::placeholder_agent_name(&member.key);
                    snapshot
                        .agents
                        .iter()
                        .find(|a| a.name == name)
                        .map(|a| a.id)
                }),
                polled: true,
                succeeded,
                failed,
                buildkit_signal,
                image_capabilities: learned.remove(&member.key),
                start_failures: start_states.remove(&member.key),
                start_backoff: self.settings.start_backoff,
            };
            self.write_status(member.pool, &health, &update).await;
            self.export_gauges(&member.key, plan, &snapshot);
        }
        wait_override.unwrap_or_else(|| group.backoff.succeeded(interval, rate_limit.as_ref()))
    }

    /// Names, for each job no AgentPool can serve, the demand nothing offers (for the
    /// Degraded condition), and says so once per job with a Warning Event on the first
    /// AgentPool of the group (the job belongs to none of them).
    async fn report_unservable(
        &self,
        members: &[Member<'_>],
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
                && let Some(member) = members
                    .iter()
                    .find(|m| m.pool.metadata.deletion_timestamp.is_none())
            {
                self.events
                    .warning(
                        member.pool,
                        "UnservableJob",
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
    async fn remove_orphans(
        &self,
        key: &AzureDevOpsPoolKey,
        client: &AdoClient,
        pool_id: i32,
        orphans: &[plan::OrphanedRegistration],
    ) {
        for orphan in orphans {
            let agent_id = i32::try_from(orphan.id).unwrap_or(i32::MAX);
            match client.delete_agent(pool_id, agent_id).await {
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
                        .get_or_create(&labels(&[("pool", &key.pool)]))
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

    fn client_for(
        &self,
        group: &mut GroupState,
        organization: &str,
        pat: Credential,
        ca_bundle: Option<Vec<u8>>,
    ) -> Result<AdoClient, AdoError> {
        if let Some((current, current_ca, client)) = &group.client
            && *current == pat
            && *current_ca == ca_bundle
        {
            return Ok(client.clone());
        }
        let url = url::Url::parse(organization).map_err(|e| AdoError::InvalidConfig {
            message: e.to_string(),
        })?;
        let mut config = AdoClientConfig::new(url, pat.auth());
        config.allow_insecure_http = self.settings.allow_insecure_http;
        config.request_timeout = self.settings.ado_timeout;
        config.max_job_list_bytes = self.settings.max_job_list_bytes;
        config.observer = Some(Arc::new(AdoRequestMetrics(self.metrics.clone())));
        config.ca_bundle_pem = ca_bundle.clone();
        let client = AdoClient::new(config)?;
        group.client = Some((pat, ca_bundle, client.clone()));
        group.pool_id = None;
        Ok(client)
    }

    async fn poll(
        &self,
        client: &AdoClient,
        group: &mut GroupState,
        pool_name: &str,
    ) -> Result<(i32, Observation), AdoError> {
        let pool_id = match group.pool_id {
            Some(id) => id,
            None => {
                let pool = client.find_pool(pool_name).await?;
                group.pool_id = Some(pool.id);
                pool.id
            }
        };
        group.polled_at = Some(Instant::now());
        Ok((pool_id, observe_pool(client, pool_id).await?))
    }

    /// One Warning Event when an AgentPool's pods have failed [`start_failures::GIVE_UP_AFTER`]
    /// times in a row for its current spec (the condition carries the rest).
    async fn report_start_failures(
        &self,
        pool: &AgentPool,
        next: Option<&crate::crd::StartFailures>,
    ) {
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
                    start_failures::REASON,
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

    /// Pods whose agent took a job get the job's annotations and one `JobStarted` Event; the
    /// request id in the annotations makes this once per pod, across restarts too.
    async fn annotate_running_jobs(
        &self,
        members: &[Member<'_>],
        pods: &[Pod],
        jobs: &[azp_ado::JobRequest],
    ) {
        use azp_contract::labels;
        for job in jobs.iter().filter(|job| job.result.is_none()) {
            let Some(agent) = &job.reserved_agent else {
                continue;
            };
            let Some((member, pod)) = members.iter().find_map(|member| {
                pods_of(pods, &member.key)
                    .find(|pod| pod.annotations().get(labels::AGENT_NAME) == Some(&agent.name))
                    .map(|pod| (member, pod))
            }) else {
                continue;
            };
            let request_id = job.request_id.to_string();
            if pod.annotations().get(labels::job::REQUEST_ID) == Some(&request_id) {
                continue;
            }
            let running = observe::RunningJob::from_request(job);
            let name = pod.name_any();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &member.namespace);
            match apply::annotate_all(&api, &name, &running.annotations()).await {
                Ok(()) => {
                    info!(pool = %member.key, pod = %name, request_id = job.request_id, "agent took a job");
                    self.events.job_started(member.pool, &name, &running).await;
                }
                Err(error) => warn!(%error, pod = %name, "could not annotate the pod with its job"),
            }
        }
    }

    /// Counts a job a pod ran, by result, and how long it ran (from the assignment the pod's
    /// annotation recorded to now, when the pod's end is seen).
    fn count_job(&self, key: &PoolKey, pod: &Pod, outcome: &observe::PodOutcome) {
        let pool = key.to_string();
        self.metrics
            .jobs
            .get_or_create(&labels(&[
                ("agentpool", &pool),
                ("result", outcome.result_label()),
            ]))
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
                .get_or_create(&labels(&[("agentpool", &pool)]))
                .observe(seconds);
        }
    }

    fn count_poll(&self, key: &AzureDevOpsPoolKey, result: &str) {
        self.metrics
            .polls
            .get_or_create(&labels(&[("pool", &key.pool), ("result", result)]))
            .inc();
    }

    fn observe_assignments(&self, group: &mut GroupState, observation: &Observation) {
        for job in &observation.jobs {
            if let (Some(queued), Some(assigned)) = (job.queue_time, job.assign_time)
                && group.seen_assigned.insert(job.request_id)
            {
                let seconds = (assigned - queued).num_milliseconds().max(0) as f64 / 1000.0;
                self.metrics
                    .queue_to_assignment_seconds
                    .get_or_create(&Vec::new())
                    .observe(seconds);
            }
        }
        // Forget jobs that left the unfinished list, so the sets stay bounded.
        let live: HashSet<i64> = observation.jobs.iter().map(|j| j.request_id).collect();
        group.seen_assigned.retain(|id| live.contains(id));
        group.served.retain(|id| live.contains(id));
    }

    async fn record(
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
            self.metrics
                .decision(&pool, "create_pod", applied.created.len() as u64);
            let now = SystemTime::now();
            // Queue-to-pod latency: each new pod is credited to the oldest pending job not
            // yet served (the planner does not bind pods to jobs; this is the FIFO view).
            for _ in &applied.created {
                if let Some(position) = pending_jobs
                    .iter()
                    .position(|j| !group.served.contains(&j.request_id))
                {
                    let job = pending_jobs.remove(position);
                    group.served.insert(job.request_id);
                    let seconds = now
                        .duration_since(job.queue_time)
                        .unwrap_or_default()
                        .as_secs_f64();
                    self.metrics
                        .queue_to_pod_seconds
                        .get_or_create(&labels(&[("agentpool", &pool)]))
                        .observe(seconds);
                }
            }
            info!(pool = %pool, pods = ?applied.created, "scaled up");
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
        if applied.finished_deleted > 0 {
            self.metrics.decision(
                &pool,
                "delete_finished_pod",
                u64::from(applied.finished_deleted),
            );
        }
        debug!(pool = %pool, ?plan, "plan applied");
    }

    fn export_gauges(&self, key: &PoolKey, plan: &plan::Plan, snapshot: &PoolSnapshot) {
        let pool = key.to_string();
        self.metrics
            .pending_jobs
            .get_or_create(&labels(&[("agentpool", &pool)]))
            .set(i64::from(plan.counts.queued));
        for (state, value) in [
            ("running", plan.counts.running),
            ("idle", plan.counts.idle),
            ("starting", plan.counts.starting),
        ] {
            self.metrics
                .agents
                .get_or_create(&labels(&[("agentpool", &pool), ("state", state)]))
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
                .get_or_create(&labels(&[("agentpool", &pool), ("phase", phase)]))
                .set(count);
        }
    }

    async fn write_status(&self, pool: &AgentPool, health: &Health, update: &StatusUpdate) {
        let status = next_status(pool, health, update);
        let api: Api<AgentPool> =
            Api::namespaced(self.client.clone(), &pool.namespace().unwrap_or_default());
        if let Err(error) = apply_status(&api, pool, &status).await {
            warn!(%error, pool = %pool.name_any(), "status write failed");
        }
    }

    /// Condition + Warning Event (only when the reason changes, so a lasting problem does
    /// not flood Events) for a problem with the AgentPool itself.
    async fn report_misconfigured(&self, pool: &AgentPool, reason: &str, message: &str) {
        if ready_reason(pool).as_deref() != Some(reason) {
            self.events.warning(pool, reason, message.to_owned()).await;
        }
        let health = Health::Misconfigured {
            reason: reason.into(),
            message: message.into(),
        };
        self.write_status(pool, &health, &StatusUpdate::default())
            .await;
    }

    async fn report_ado_event(&self, pool: &AgentPool, error: &AdoError) {
        if ready_reason(pool).as_deref() != Some(error.reason()) {
            let hint = workload_identity_hint(pool, error).unwrap_or_default();
            self.events
                .warning(pool, error.reason(), format!("{error}{hint}"))
                .await;
        }
    }

    async fn report_ado_failure(&self, pool: &AgentPool, error: &AdoError) {
        self.report_ado_event(pool, error).await;
        // Workload identity: what to change on the Azure side for a 401 or 403.
        let hint = workload_identity_hint(pool, error).unwrap_or_default();
        let health = Health::AdoFailed {
            reason: error.reason().into(),
            message: format!("{error}{hint}"),
        };
        self.write_status(pool, &health, &StatusUpdate::default())
            .await;
    }

    async fn abandon(&self, pool: &AgentPool) {
        let api: Api<AgentPool> =
            Api::namespaced(self.client.clone(), &pool.namespace().unwrap_or_default());
        if let Err(error) = apply::abandon_cleanup(&api, pool).await {
            warn!(%error, "could not remove finalizer");
        }
    }
}

/// Everything `apply` needs to act on one member of the group.
fn target_for<'t>(
    kube: &Client,
    member: &Member<'t>,
    ado: &'t AdoClient,
    pool_id: i32,
    agent_names: &'t HashMap<i64, String>,
    pods_by_agent: &'t HashMap<String, String>,
) -> Target<'t> {
    Target {
        pool: member.pool,
        pods: Api::namespaced(kube.clone(), &member.namespace),
        pools: Api::namespaced(kube.clone(), &member.namespace),
        ado,
        pool_id,
        agent_names,
        pods_by_agent,
    }
}

/// When a group polls after a trigger (service hook, Kubernetes change): as soon as the
/// minimum spacing since its last poll allows, but a trigger never shortens a backoff
/// (rule 7: a storm of hooks must not become a storm of requests).
fn triggered_poll_time(
    scheduled: Instant,
    last_poll: Option<Instant>,
    min_spacing: Duration,
    held: bool,
    now: Instant,
) -> Instant {
    if held {
        return scheduled;
    }
    let earliest = last_poll.map_or(now, |last| last + min_spacing);
    scheduled.min(earliest)
}

/// Live pods of `key` that have been Pending for longer than `warning`.
fn stuck_pods(snapshot: &PoolSnapshot, key: &PoolKey, warning: Duration) -> usize {
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

fn ready_reason(pool: &AgentPool) -> Option<String> {
    pool.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == condition_type::READY)
        .map(|c| c.reason.clone())
}

fn pods_of<'a>(pods: &'a [Pod], key: &'a PoolKey) -> impl Iterator<Item = &'a Pod> + 'a {
    pods.iter().filter(move |pod| {
        pod.namespace().as_deref() == Some(key.namespace.as_str())
            && pod.labels().get(azp_contract::labels::POOL) == Some(&key.name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_trigger_brings_the_poll_forward_but_respects_spacing_and_backoff() {
        let now = Instant::now();
        let spacing = Duration::from_secs(5);
        let scheduled = now + Duration::from_secs(60);
        let last = Some(now - Duration::from_secs(1));
        // Healthy: as soon as the spacing allows.
        assert_eq!(
            triggered_poll_time(scheduled, last, spacing, false, now),
            now + Duration::from_secs(4)
        );
        // Never polled yet: now.
        assert_eq!(
            triggered_poll_time(scheduled, None, spacing, false, now),
            now
        );
        // Already due sooner than the trigger would make it: unchanged.
        let soon = now + Duration::from_secs(2);
        assert_eq!(triggered_poll_time(soon, last, spacing, false, now), soon);
        // Backing off or slowed down by the server: the trigger changes nothing.
        assert_eq!(
            triggered_poll_time(scheduled, last, spacing, true, now),
            scheduled
        );
    }
}
