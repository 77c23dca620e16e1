//! Registrations of AgentPools that no longer exist.

use std::collections::BTreeSet;
use std::time::Duration;

use super::super::fixtures::*;
use super::super::*;

fn scope(watched: Option<&str>, existing: &[PoolKey]) -> OrphanScope {
    OrphanScope {
        watched_namespace: watched.map(str::to_owned),
        existing_pools: existing.iter().cloned().collect::<BTreeSet<_>>(),
    }
}

/// `ci/live` exists; agents are observed at `now` with a 120 s registration grace.
fn orphans_of(agents: Vec<AgentView>, scope: Option<OrphanScope>, now: u64) -> Vec<AgentId> {
    let mut snap = snapshot(vec![pool("live", &[])], vec![], agents, vec![], at(now));
    snap.orphan_scope = scope;
    let settings = PlannerSettings {
        registration_grace: Duration::from_secs(120),
        ..PlannerSettings::default()
    };
    plan(&snap, &settings)
        .orphaned_registrations
        .into_iter()
        .map(|orphan| orphan.id)
        .collect()
}

#[test]
fn offline_idle_old_registrations_of_a_deleted_agent_pool_are_orphans() {
    let agents = vec![
        agent(1, "gone", "gone-aaaaa").offline(),
        placeholder(2, "gone"),
        // The live AgentPool's agents are its own plan's business.
        agent(3, "live", "live-bbbbb").offline(),
        placeholder(4, "live"),
    ];
    let found = orphans_of(agents, Some(scope(Some("ci"), &[key("live")])), 200);
    assert_eq!(found, [1, 2]);
}

#[test]
fn online_busy_or_young_orphans_are_left_alone() {
    let agents = vec![
        agent(1, "gone", "gone-online"),
        agent(2, "gone", "gone-busy").offline().busy(77),
        agent(3, "gone", "gone-young")
            .offline()
            .registered_at(at(150)),
        agent(4, "gone", "gone-old").offline(),
    ];
    let found = orphans_of(agents, Some(scope(Some("ci"), &[key("live")])), 200);
    assert_eq!(found, [4]);
}

#[test]
fn an_agent_pool_on_another_azure_devops_pool_still_counts_as_existing() {
    // `ci/moved` points at another Azure DevOps pool now: it exists, its agents are not orphans.
    let agents = vec![agent(1, "moved", "moved-aaaaa").offline()];
    let found = orphans_of(
        agents,
        Some(scope(Some("ci"), &[key("live"), key("moved")])),
        200,
    );
    assert!(found.is_empty());
}

#[test]
fn unwatched_namespaces_hand_registered_agents_and_no_scope_are_never_swept() {
    let mut foreign = agent(1, "gone", "x-aaaaa").offline();
    foreign.owner = Some(PoolKey::new("other-team", "gone"));
    let by_hand = agent(2, "gone", "vm-1").offline().unowned();
    let agents = vec![foreign.clone(), by_hand.clone()];
    assert!(orphans_of(agents.clone(), Some(scope(Some("ci"), &[key("live")])), 200).is_empty());
    // Watching all namespaces makes `other-team` ours; the hand-registered agent stays.
    assert_eq!(
        orphans_of(agents.clone(), Some(scope(None, &[key("live")])), 200),
        [1]
    );
    // Without a scope (the sweep's inputs unknown) nothing is an orphan.
    assert!(orphans_of(agents, None, 200).is_empty());
}
