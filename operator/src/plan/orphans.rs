//! Registrations whose AgentPool no longer exists.
//!
//! An AgentPool deleted while the operator was down, with its finalizer removed by hand,
//! leaves registrations that belong to no plan. The sweep of the Azure DevOps pool they are in
//! removes them, under the same proofs as rule 5: the ownership capability names an AgentPool
//! in a namespace this operator watches that does not exist, the agent is offline, holds no
//! job, and is older than the registration grace (an AgentPool may have been created a moment
//! ago and not be in our list yet). Agents owned by unwatched namespaces belong to another
//! operator installation; agents without the capability were registered by hand.

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::index::PoolIndex;
use super::{AgentId, PlannerSettings, PoolKey, PoolSnapshot};

/// Which AgentPools exist, beyond the ones of this Azure DevOps pool.
#[derive(Clone, Debug, Default)]
pub struct OrphanScope {
    /// The namespace the operator watches, or `None` for all namespaces.
    pub watched_namespace: Option<String>,
    /// Every AgentPool the operator sees, whichever Azure DevOps pool it points at.
    pub existing_pools: BTreeSet<PoolKey>,
}

impl OrphanScope {
    fn watches(&self, namespace: &str) -> bool {
        self.watched_namespace
            .as_deref()
            .is_none_or(|watched| watched == namespace)
    }
}

/// A registration to remove because its AgentPool is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrphanedRegistration {
    /// Agent id.
    pub id: AgentId,
    /// Agent name.
    pub name: String,
    /// The AgentPool its ownership capability names.
    pub owner: PoolKey,
}

/// Orphaned registrations among the snapshot's agents; none without a scope.
pub(crate) fn find_orphans(
    snapshot: &PoolSnapshot,
    index: &PoolIndex<'_>,
    settings: &PlannerSettings,
) -> Vec<OrphanedRegistration> {
    let Some(scope) = &snapshot.orphan_scope else {
        return Vec::new();
    };
    snapshot
        .agents
        .iter()
        .filter_map(|agent| {
            let owner = agent.owner.as_ref()?;
            let orphaned = scope.watches(&owner.namespace)
                && !scope.existing_pools.contains(owner)
                && !snapshot.pools.iter().any(|pool| &pool.key == owner)
                && !agent.online
                && !index.is_busy(&agent.name)
                && older_than_grace(agent.created, snapshot.now, settings);
            orphaned.then(|| OrphanedRegistration {
                id: agent.id,
                name: agent.name.clone(),
                owner: owner.clone(),
            })
        })
        .collect()
}

fn older_than_grace(created: SystemTime, now: SystemTime, settings: &PlannerSettings) -> bool {
    now.duration_since(created).unwrap_or_default() >= settings.registration_grace
}
