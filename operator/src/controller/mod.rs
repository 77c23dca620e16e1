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

mod act;
mod admit;
mod finished;
mod group;
mod jobs;
mod poll;
mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tracing::{Instrument as _, warn};

use crate::crd::{AgentPool, AzureDevOpsPoolKey};
use crate::credentials::Credentials;
use crate::events::EventSink;
use crate::hooks::ServedOrganizations;
use crate::inventory;
use crate::metrics::Metrics;
use crate::mint::reserve::KeyReserve;
use crate::plan::{PlannerSettings, PoolKey};
use crate::wake::{Wakers, spawn_watchers};
use group::GroupState;

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
    /// Agent keys kept generated ahead of need for operator-minted registrations
    /// (`--minted-key-reserve`).
    pub minted_key_reserve: usize,
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
    keys: Arc<KeyReserve>,
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
            keys: KeyReserve::new(settings.minted_key_reserve),
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

    /// The API of `K` in the namespace of `pool`.
    fn namespaced<K>(&self, pool: &AgentPool) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(
            self.client.clone(),
            pool.metadata.namespace.as_deref().unwrap_or_default(),
        )
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
            .filter_map(|pool| pool.pool_key().ok())
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
}

/// The pods of the AgentPool `key` among `pods`.
fn pods_of<'a>(pods: &'a [Pod], key: &'a PoolKey) -> impl Iterator<Item = &'a Pod> + 'a {
    pods.iter().filter(move |pod| {
        pod.namespace().as_deref() == Some(key.namespace.as_str())
            && pod.labels().get(azp_contract::labels::POOL) == Some(&key.name)
    })
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
