//! Spec rollouts: idle agents of an old spec are replaced surge-first, busy ones are left to
//! finish, and minIdle never drops on the way.

use super::super::fixtures::*;
use super::super::*;

/// AgentPool `p` with minIdle 2 whose spec was edited after pods `old0`/`old1` were made;
/// `new` lists pods made from the current spec, each `(name, online)`.
fn rollout(old_idle: u32, new: &[(&str, bool)], pending: u32, max_agents: u32) -> PoolSnapshot {
    let mut agents = vec![placeholder(1, "p")];
    let mut pods = Vec::new();
    for i in 0..old_idle {
        let name = format!("old{i}");
        agents.push(agent(10 + i64::from(i), "p", &name).idle_since(at(590)));
        pods.push(pod(&name, "p"));
    }
    for (i, (name, online)) in new.iter().enumerate() {
        let id = 20 + i64::try_from(i).unwrap();
        if *online {
            agents.push(agent(id, "p", name).idle_since(at(595)));
        }
        pods.push(pod(name, "p").spec(Some("spec-2")).created_at(at(580)));
    }
    let jobs = (0..pending).map(|i| job(1000 + i64::from(i))).collect();
    let pools = vec![pool("p", &[]).min_idle(2).max_agents(max_agents).edited()];
    snapshot(pools, jobs, agents, pods, at(600))
}

#[test]
fn an_edit_creates_replacements_first_and_retires_nothing_yet() {
    let plan = plan_of(&rollout(2, &[], 0, 10), "p");
    assert_eq!(plan.create_pods, 2, "{:?}", plan.explanations);
    assert!(plan.disable_agents.is_empty(), "{:?}", plan.explanations);
    assert_eq!(plan.counts.outdated, 2);
    assert_eq!(plan.counts.idle, 2);
    assert!(
        plan.explanations.iter().any(|e| e.contains("old spec")),
        "{:?}",
        plan.explanations
    );
}

#[test]
fn starting_replacements_do_not_retire_old_agents() {
    let plan = plan_of(&rollout(2, &[("new0", false), ("new1", false)], 0, 10), "p");
    assert_eq!(plan.create_pods, 0, "{:?}", plan.explanations);
    assert!(plan.disable_agents.is_empty(), "{:?}", plan.explanations);
}

#[test]
fn each_online_replacement_retires_one_old_agent_at_once() {
    // One replacement online: one old agent goes, without waiting for idleTimeout (10m).
    let plan = plan_of(&rollout(2, &[("new0", true), ("new1", false)], 0, 10), "p");
    assert_eq!(plan.disable_agents, vec![10], "{:?}", plan.explanations);
    assert_eq!(plan.create_pods, 0);
    // Both online: both old agents go; the two new ones are the minIdle.
    let plan = plan_of(&rollout(2, &[("new0", true), ("new1", true)], 0, 10), "p");
    assert_eq!(plan.disable_agents, vec![10, 11], "{:?}", plan.explanations);
}

#[test]
fn old_agents_go_before_current_ones_even_when_those_are_idle_longer() {
    let mut snap = rollout(1, &[("new0", true), ("new1", true), ("new2", true)], 0, 10);
    for agent in &mut snap.agents {
        if agent.name.contains("new") {
            // Idle past idleTimeout, and longer than the old agent.
            agent.last_active = at(0);
        }
    }
    let plan = plan_of(&snap, "p");
    // Surplus 2: the old agent first, then the longest-idle current one.
    assert_eq!(plan.disable_agents, vec![10, 20], "{:?}", plan.explanations);
}

#[test]
fn old_idle_agents_still_count_for_pending_jobs() {
    // 1 pending job, minIdle 2, 2 old idle agents: one of them may take the job, so only
    // minIdle needs new pods, and nothing is retired while the job is servable.
    let plan = plan_of(&rollout(2, &[], 1, 10), "p");
    assert_eq!(plan.create_pods, 2, "{:?}", plan.explanations);
    assert!(plan.disable_agents.is_empty());
}

#[test]
fn at_max_agents_no_gap_is_opened() {
    // maxAgents 2 with 2 old idle agents: no room for a replacement, and retiring one would
    // leave fewer than minIdle idle.
    let plan = plan_of(&rollout(2, &[], 0, 2), "p");
    assert_eq!(plan.create_pods, 0);
    assert!(plan.disable_agents.is_empty(), "{:?}", plan.explanations);
    // maxAgents 3: one replacement at a time.
    let plan = plan_of(&rollout(2, &[], 0, 3), "p");
    assert_eq!(plan.create_pods, 1);
    let plan = plan_of(&rollout(2, &[("new0", true)], 0, 3), "p");
    assert_eq!(plan.disable_agents, vec![10], "{:?}", plan.explanations);
}

#[test]
fn busy_agents_of_an_old_spec_are_left_alone_and_counted() {
    let mut snap = rollout(0, &[("new0", true), ("new1", true)], 0, 10);
    snap.agents.push(agent(30, "p", "old-busy").busy(7));
    snap.jobs
        .push(job(7).assigned_to(&agent_name("old-busy")).received());
    snap.pods.push(pod("old-busy", "p"));
    let plan = plan_of(&snap, "p");
    assert!(plan.disable_agents.is_empty(), "{:?}", plan.explanations);
    assert!(plan.delete_pods.is_empty(), "{:?}", plan.explanations);
    assert_eq!(plan.create_pods, 0);
    assert_eq!(plan.counts.outdated, 1);
    assert_eq!(plan.counts.running, 1);
}

#[test]
fn pods_without_a_spec_hash_are_outdated_and_pods_of_the_current_one_are_not() {
    let mut snap = rollout(0, &[("new0", true), ("new1", true)], 0, 10);
    snap.agents
        .push(agent(30, "p", "legacy").idle_since(at(590)));
    snap.pods.push(pod("legacy", "p").spec(None));
    let plan = plan_of(&snap, "p");
    assert_eq!(plan.counts.outdated, 1);
    assert_eq!(plan.disable_agents, vec![30], "{:?}", plan.explanations);

    // Without an edit nothing is outdated and nothing is retired early.
    let mut snap = rollout(2, &[], 0, 10);
    snap.pools[0].spec_hash = SPEC.to_owned();
    let plan = plan_of(&snap, "p");
    assert_eq!(plan.counts.outdated, 0);
    assert_eq!(plan.create_pods, 0);
    assert!(plan.disable_agents.is_empty());
}

#[test]
fn a_scaling_only_view_change_keeps_pods_current() {
    // The hash ignores spec.scaling (see AgentPoolSpec::pod_spec_hash); the planner only
    // compares hashes, so a minIdle edit is a plain scale-up, not a rollout.
    let mut snap = rollout(2, &[], 0, 10);
    snap.pools[0].spec_hash = SPEC.to_owned();
    snap.pools[0].scaling.min_idle = 3;
    let plan = plan_of(&snap, "p");
    assert_eq!(plan.create_pods, 1);
    assert_eq!(plan.counts.outdated, 0);
}
