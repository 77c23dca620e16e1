//! Applying a group's plans: pods for waiting jobs first for every AgentPool, then the rest
//! of each plan and its status, AgentPool by AgentPool.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use tokio::time::Instant;
use tracing::warn;

use super::Controller;
use super::admit::Member;
use super::finished::Finished;
use super::group::{GroupPass, GroupState, Planned};
use crate::apply::{self, Applied, ApplyError, Target};
use crate::buildkit_health;
use crate::crd::ImageCapabilities;
use crate::plan::{self, JobView, PoolKey};
use crate::reason::Reason;
use crate::start_failures;
use crate::status::{Health, StatusUpdate};

/// Pods created by [`Controller::create_pods_first`], per AgentPool.
pub(super) type Created = HashMap<PoolKey, Result<Vec<String>, ApplyError>>;

impl Controller {
    /// Pods for waiting jobs, for every AgentPool of the group, before anything else: with 50
    /// AgentPools the last one's pods must not wait for the others' cleanup and status writes.
    pub(super) async fn create_pods_first(
        &self,
        pass: &GroupPass<'_>,
        planned: &Planned,
        finished: &Finished,
        group: &mut GroupState,
    ) -> Created {
        let mut created = Created::new();
        for member in &pass.members {
            let Some(plan) = planned.plans.for_pool(&member.key) else {
                continue;
            };
            if plan.create_pods == 0 || member.is_deleting() {
                continue;
            }
            let target = self.target_for(member, pass);
            // The finalizer comes before the first pod, so deleting the AgentPool always
            // finds the operator there to clean up.
            if let Err(error) = apply::ensure_finalizer(&target.pools, member.pool).await {
                warn!(%error, "could not add finalizer");
                continue;
            }
            let allowed = self.allowed_pods(member, plan, planned, finished, group);
            let result = if allowed == 0 {
                Ok(Vec::new())
            } else {
                apply::create_pods(&target, allowed).await
            };
            created.insert(member.key.clone(), result);
        }
        created
    }

    /// How many of the plan's new pods may be created now: a BuildKit sidecar that cannot
    /// start, or a configuration whose pods keep failing, holds back to one probe pod.
    fn allowed_pods(
        &self,
        member: &Member<'_>,
        plan: &plan::Plan,
        planned: &Planned,
        finished: &Finished,
        group: &mut GroupState,
    ) -> u32 {
        let held =
            buildkit_health::holds_pods(member.pool, finished.buildkit_signals.get(&member.key));
        let live = planned
            .snapshot
            .pods
            .iter()
            .filter(|p| p.owner == member.key && p.is_live())
            .count();
        let last_probe = group.buildkit_probes.get(&member.key).map(Instant::elapsed);
        let allowed = buildkit_health::allowed_pods(plan.create_pods, held, live, last_probe).min(
            start_failures::allowed_pods(
                plan.create_pods,
                finished
                    .start_states
                    .get(&member.key)
                    .and_then(Option::as_ref),
                &self.settings.start_backoff,
                live,
                k8s_openapi::jiff::Timestamp::now(),
            ),
        );
        if held && allowed > 0 {
            group
                .buildkit_probes
                .insert(member.key.clone(), Instant::now());
        }
        allowed
    }

    /// The rest of each plan, then its Events, metrics and status, AgentPool by AgentPool.
    /// Returns the backoff's wait when an Azure DevOps write failed.
    pub(super) async fn apply_and_report(
        &self,
        pass: &GroupPass<'_>,
        planned: &Planned,
        mut created: Created,
        mut finished: Finished,
        mut learned: HashMap<PoolKey, ImageCapabilities>,
        group: &mut GroupState,
    ) -> Option<Duration> {
        let mut pending_jobs: Vec<&JobView> = planned
            .snapshot
            .jobs
            .iter()
            .filter(|j| j.is_pending())
            .collect();
        pending_jobs.sort_by_key(|j| j.queue_time);
        let mut wait_override = None;
        for member in &pass.members {
            let Some(plan) = planned.plans.for_pool(&member.key) else {
                continue;
            };
            let target = self.target_for(member, pass);
            if !member.is_deleting()
                && let Err(error) = apply::ensure_finalizer(&target.pools, member.pool).await
            {
                warn!(%error, "could not add finalizer");
                continue;
            }
            let result = match created.remove(&member.key) {
                Some(Err(error)) => Err(error),
                Some(Ok(new_pods)) => apply::apply_plan(&target, plan).await.map(|mut applied| {
                    applied.created = new_pods;
                    applied
                }),
                None => apply::apply_plan(&target, plan).await,
            };
            let (applied, health) = match result {
                Ok(applied) => (applied, self.serving(member, pass, planned)),
                Err(error) => {
                    if let ApplyError::Ado(error) = &error {
                        wait_override = Some(group.backoff.failed(pass.interval, error));
                    }
                    (Applied::default(), self.apply_failed(member, error).await)
                }
            };
            self.record(member, plan, &applied, &mut pending_jobs, group)
                .await;
            if applied.finalizer_removed {
                continue;
            }
            let update = self
                .status_update(member, pass, planned, &applied, &mut finished, &mut learned)
                .await;
            self.write_status(member.pool, &health, &update).await;
            self.export_gauges(&member.key, plan, &planned.snapshot);
        }
        wait_override
    }

    /// The AgentPool's health when its plan was applied.
    fn serving(&self, member: &Member<'_>, pass: &GroupPass<'_>, planned: &Planned) -> Health {
        Health::Serving {
            unservable_jobs: planned.unservable.clone(),
            rate_limited: pass.polled.rate_limited,
            stuck_pods: super::report::stuck_pods(
                &planned.snapshot,
                &member.key,
                self.settings.pod_startup_warning,
            ),
        }
    }

    /// The AgentPool's health when applying its plan failed (an Azure DevOps failure also
    /// gets an Event when its reason is new).
    async fn apply_failed(&self, member: &Member<'_>, error: ApplyError) -> Health {
        match error {
            ApplyError::Ado(error) => {
                self.report_ado_event(member.pool, &error).await;
                Health::AdoFailed {
                    reason: Reason::from(&error),
                    message: error.to_string(),
                }
            }
            ApplyError::Mint(error) => Health::Misconfigured {
                reason: Reason::RegistrationFailed,
                message: error.to_string(),
            },
            ApplyError::Render(error) => Health::Misconfigured {
                reason: Reason::InvalidTemplate,
                message: error.to_string(),
            },
            ApplyError::Kube(error) => {
                warn!(%error, pool = %member.key, "Kubernetes write failed");
                Health::Misconfigured {
                    reason: Reason::KubernetesWriteFailed,
                    message: error.to_string(),
                }
            }
        }
    }

    /// What the pass learned about the AgentPool, for its status (and the BuildKit
    /// condition's Event when it turns on).
    async fn status_update(
        &self,
        member: &Member<'_>,
        pass: &GroupPass<'_>,
        planned: &Planned,
        applied: &Applied,
        finished: &mut Finished,
        learned: &mut HashMap<PoolKey, ImageCapabilities>,
    ) -> StatusUpdate {
        let (succeeded, failed) = finished
            .outcomes
            .get(&member.key)
            .copied()
            .unwrap_or_default();
        let buildkit_signal = finished.buildkit_signals.remove(&member.key);
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
        let placeholder_name = azp_contract::naming::placeholder_agent_name(&member.key);
        StatusUpdate {
            counts: planned.plans.for_pool(&member.key).map(|plan| plan.counts),
            pool_id: Some(i64::from(pass.polled.pool_id)),
            placeholder_agent_id: applied.placeholder_id.or_else(|| {
                planned
                    .snapshot
                    .agents
                    .iter()
                    .find(|a| a.name == placeholder_name)
                    .map(|a| a.id)
            }),
            polled: true,
            succeeded,
            failed,
            buildkit_signal,
            image_capabilities: learned.remove(&member.key),
            start_failures: finished.start_states.remove(&member.key),
            start_backoff: self.settings.start_backoff,
        }
    }

    /// Everything `apply` needs to act on one member of the group. An operator-minted
    /// AgentPool starts the key reserve filling before its first burst.
    fn target_for<'t>(&'t self, member: &Member<'t>, pass: &'t GroupPass<'_>) -> Target<'t> {
        if member.pool.spec.registration.is_minted() {
            self.keys.warm();
        }
        Target {
            pool: member.pool,
            pods: Api::namespaced(self.client.clone(), member.namespace()),
            pools: Api::namespaced(self.client.clone(), member.namespace()),
            ado: &pass.polled.client,
            pool_id: pass.polled.pool_id,
            keys: &self.keys,
        }
    }
}
