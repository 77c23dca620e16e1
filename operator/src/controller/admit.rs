//! Admission: which AgentPools of a group may be planned this pass.
//!
//! Each AgentPool is checked once per pass (URL policy, spec, CA bundle, credentials) and,
//! when it passes, carried through the rest of the pass as one [`Member`] holding its
//! planner view and its key. One that fails gets a condition and an Event, or, when it is
//! being deleted and can never be served, loses its finalizer.

use kube::{Api, ResourceExt};
use tracing::warn;

use super::Controller;
use crate::apply;
use crate::ca_bundle::{self, read_ca_bundle};
use crate::crd::{AgentPool, check_organization_url};
use crate::credentials::Credential;
use crate::plan::{self, PoolKey};
use crate::reason::Reason;
use crate::status::{Health, StatusUpdate};

/// A member of a group that passed the checks and may be planned.
pub(super) struct Member<'a> {
    /// The AgentPool as listed this pass.
    pub(super) pool: &'a AgentPool,
    /// `<namespace>/<name>`; its namespace is the AgentPool's.
    pub(super) key: PoolKey,
    /// The planner's view, made once per pass when the AgentPool was admitted (a standby
    /// schedule makes it depend on the time, so two would not always agree).
    pub(super) view: plan::AgentPoolView,
}

impl Member<'_> {
    /// The namespace of the AgentPool and its pods.
    pub(super) fn namespace(&self) -> &str {
        &self.key.namespace
    }

    /// The AgentPool is being deleted (only cleanup is left to do).
    pub(super) fn is_deleting(&self) -> bool {
        self.view.deleting
    }
}

/// The admitted AgentPools of a group and what its shared client needs.
pub(super) struct Admitted<'a> {
    /// AgentPools that may be planned, in the group's order.
    pub(super) members: Vec<Member<'a>>,
    /// The credential of the first admitted AgentPool: one client serves the group.
    pub(super) credential: Credential,
    /// Every admitted AgentPool's `spec.caBundle`, combined.
    pub(super) ca_bundle: Option<Vec<u8>>,
    /// The organization URL as the first admitted AgentPool spells it.
    pub(super) organization: String,
    /// The Azure DevOps pool's name as the first admitted AgentPool spells it.
    pub(super) ado_pool: String,
}

/// Why an AgentPool was not admitted.
struct Refusal {
    reason: Reason,
    message: String,
}

impl Refusal {
    fn new(reason: Reason, message: impl ToString) -> Self {
        Self {
            reason,
            message: message.to_string(),
        }
    }
}

impl Controller {
    /// The members of a group; `None` when no AgentPool of it can be served this pass.
    pub(super) async fn admit<'a>(&self, pools: &[&'a AgentPool]) -> Option<Admitted<'a>> {
        let mut members = Vec::new();
        let mut credential = None;
        let mut ca_bundles = Vec::new();
        for pool in pools {
            match self.check(pool).await {
                Ok((member, bundle, pool_credential)) => {
                    ca_bundles.extend(bundle);
                    credential.get_or_insert(pool_credential);
                    members.push(member);
                }
                Err(refusal) if pool.metadata.deletion_timestamp.is_some() => {
                    // A pool that can never be served cannot be cleaned up either.
                    warn!(pool = %pool.name_any(), reason = %refusal.reason, "deleting AgentPool cannot be served; finalizer removed");
                    self.abandon(pool).await;
                }
                Err(refusal) => {
                    self.report_misconfigured(pool, refusal.reason, &refusal.message)
                        .await;
                }
            }
        }
        let first: &AgentPool = members.first()?.pool;
        Some(Admitted {
            organization: first.spec.organization.clone(),
            ado_pool: first.spec.pool.clone(),
            members,
            credential: credential?,
            ca_bundle: ca_bundle::combine(ca_bundles),
        })
    }

    /// Checks one AgentPool: URL policy, spec, `spec.caBundle` (the operator's client trusts
    /// it too, as the agent pods do), credentials.
    async fn check<'a>(
        &self,
        pool: &'a AgentPool,
    ) -> Result<(Member<'a>, Option<Vec<u8>>, Credential), Refusal> {
        check_organization_url(&pool.spec.organization, self.settings.allow_insecure_http)
            .map_err(|e| Refusal::new(Reason::OrganizationRefused, e))?;
        let view = pool
            .planner_view()
            .map_err(|e| Refusal::new(Reason::InvalidSpec, e))?;
        let key = view.key.clone();
        let bundle = read_ca_bundle(&self.client, pool, &key.namespace)
            .await
            .map_err(|e| Refusal::new(e.reason(), &e))?;
        let credential = self
            .credentials
            .resolve(pool, &key.namespace)
            .await
            .map_err(|e| Refusal::new(e.reason(), &e))?;
        Ok((Member { pool, key, view }, bundle, credential))
    }

    /// Condition + Warning Event (only when the reason changes, so a lasting problem does
    /// not flood Events) for a problem with the AgentPool itself.
    pub(super) async fn report_misconfigured(
        &self,
        pool: &AgentPool,
        reason: Reason,
        message: &str,
    ) {
        if super::report::ready_reason(pool) != Some(reason) {
            self.events
                .warning(pool, &reason.as_str(), message.to_owned())
                .await;
        }
        let health = Health::Misconfigured {
            reason,
            message: message.into(),
        };
        self.write_status(pool, &health, &StatusUpdate::default())
            .await;
    }

    /// Removes the finalizer of a deleting AgentPool that can never be cleaned up (its
    /// spec, Secret or Azure DevOps pool is gone): keeping it would block the deletion forever.
    pub(super) async fn abandon(&self, pool: &AgentPool) {
        let api: Api<AgentPool> = self.namespaced(pool);
        if let Err(error) = apply::abandon_cleanup(&api, pool).await {
            warn!(%error, "could not remove finalizer");
        }
    }
}
