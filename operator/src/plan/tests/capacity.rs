//! Rules 3 and 4: capacity on its way counts; never kill a busy agent.

use super::super::fixtures::*;
use super::super::*;

/// A pool `p` with `pending` jobs, `starting` pods without agents, `idle` online idle agents
/// and `busy` agents running jobs.
fn scenario(
    pending: u32,
    min_idle: u32,
    starting: u32,
    idle: u32,
    busy: u32,
    max_agents: u32,
) -> PoolSnapshot {
    let mut jobs = Vec::new();
    let mut agents = vec![placeholder(1, "p")];
    let mut pods = Vec::new();
    for i in 0..pending {
        jobs.push(job(1000 + i64::from(i)));
    }
    for i in 0..starting {
        // Created recently: still well inside the startup timeout.
        pods.push(pod(&format!("p-s{i}"), "p").created_at(at(580)));
    }
    for i in 0..idle {
        let name = format!("p-i{i}");
        agents.push(agent(100 + i64::from(i), "p", &name).idle_since(at(590)));
        pods.push(pod(&name, "p"));
    }
    for i in 0..busy {
        let name = format!("p-b{i}");
        let request = 2000 + i64::from(i);
        agents.push(agent(200 + i64::from(i), "p", &name).busy(request));
        jobs.push(job(request).assigned_to(&agent_name(&name)).received());
        pods.push(pod(&name, "p"));
    }
    let pools = vec![pool("p", &[]).min_idle(min_idle).max_agents(max_agents)];
    snapshot(pools, jobs, agents, pods, at(600))
}

#[test]
fn new_pods_are_pending_plus_min_idle_minus_capacity_on_its_way() {
    // (pending, minIdle, starting, idle, busy, maxAgents) → pods to create
    type Inputs = (u32, u32, u32, u32, u32, u32);
    let table: &[(Inputs, u32)] = &[
        ((5, 0, 2, 0, 0, 10), 3),
        ((0, 2, 0, 0, 0, 10), 2),
        ((0, 2, 1, 1, 0, 10), 0),
        ((3, 0, 0, 5, 0, 10), 0),
        ((3, 1, 1, 1, 4, 10), 2),
        ((10, 0, 0, 0, 8, 10), 2),
        ((5, 0, 0, 0, 10, 10), 0),
        ((0, 0, 0, 0, 0, 10), 0),
        ((1000, 0, 0, 0, 0, 1000), 1000),
    ];
    for &((pending, min_idle, starting, idle, busy, max), expected) in table {
        let plan = plan_of(&scenario(pending, min_idle, starting, idle, busy, max), "p");
        assert_eq!(
            plan.create_pods, expected,
            "pending {pending}, minIdle {min_idle}, starting {starting}, idle {idle}, busy {busy}, max {max}: {:?}",
            plan.explanations
        );
        assert_eq!(
            plan.counts,
            Counts {
                queued: pending,
                running: busy,
                idle,
                starting,
                outdated: 0,
            }
        );
    }
}

#[test]
fn scale_up_is_explained_with_its_inputs() {
    let plan = plan_of(&scenario(5, 0, 2, 0, 0, 10), "p");
    assert!(
        plan.explanations
            .iter()
            .any(|e| e.starts_with("scale up 3: 5 pending") && e.contains("2 starting")),
        "{:?}",
        plan.explanations
    );
    let capped = plan_of(&scenario(5, 0, 0, 0, 10, 10), "p");
    assert!(
        capped
            .explanations
            .iter()
            .any(|e| e.contains("capped by maxAgents 10")),
        "{:?}",
        capped.explanations
    );
}

#[test]
fn finished_and_terminating_pods_do_not_count_against_max_agents() {
    let mut snap = scenario(2, 0, 0, 0, 0, 2);
    snap.pods
        .push(pod("p-done", "p").phase(PodPhase::Succeeded));
    snap.pods.push(pod("p-failed", "p").phase(PodPhase::Failed));
    snap.pods.push(pod("p-gone", "p").deleting());
    assert_eq!(plan_of(&snap, "p").create_pods, 2);
}

#[test]
fn agent_that_finished_its_job_is_neither_idle_nor_starting() {
    // run.sh --once completed; the pod is still Running while azp-agent deregisters.
    let mut snap = scenario(1, 0, 0, 0, 0, 10);
    snap.agents
        .push(agent(50, "p", "p-f").offline().completed(77));
    snap.pods.push(pod("p-f", "p"));
    let plan = plan_of(&snap, "p");
    assert_eq!(plan.counts.idle, 0);
    assert_eq!(plan.counts.starting, 0);
    assert_eq!(plan.create_pods, 1);
}

#[test]
fn surplus_idle_agents_past_the_timeout_are_disabled_oldest_first() {
    let pools = vec![pool("p", &[]).min_idle(1).idle_timeout(600)];
    let agents = vec![
        placeholder(1, "p"),
        agent(10, "p", "p-old").idle_since(at(0)),
        agent(11, "p", "p-mid").idle_since(at(100)),
        agent(12, "p", "p-new").idle_since(at(1_000)),
    ];
    let pods = vec![pod("p-old", "p"), pod("p-mid", "p"), pod("p-new", "p")];
    let plan = plan_of(&snapshot(pools, vec![], agents, pods, at(1_200)), "p");
    // Three idle, minIdle 1: two surplus; both idle ≥ 600 s.
    assert_eq!(plan.disable_agents, [10, 11]);
    assert!(plan.delete_pods.is_empty(), "pods go only after a re-read");
    assert_eq!(plan.create_pods, 0);
}

#[test]
fn idle_agents_younger_than_the_timeout_are_kept() {
    let pools = vec![pool("p", &[]).idle_timeout(600)];
    let agents = vec![
        placeholder(1, "p"),
        agent(10, "p", "p-a").idle_since(at(700)),
    ];
    let plan = plan_of(
        &snapshot(pools, vec![], agents, vec![pod("p-a", "p")], at(1_200)),
        "p",
    );
    assert!(plan.disable_agents.is_empty());
}

#[test]
fn idle_agent_that_could_take_a_pending_job_is_kept_even_if_counted_elsewhere() {
    // The job is counted for the more specific "exact", but "broad"'s idle agent can take it.
    let pools = vec![
        pool("broad", &[("docker", "1"), ("gpu", "1")]).idle_timeout(0),
        pool("exact", &[("docker", "1")]),
    ];
    let agents = vec![
        placeholder(1, "broad"),
        placeholder(2, "exact"),
        agent(10, "broad", "broad-a"),
    ];
    let snap = snapshot(
        pools,
        vec![job(5).demands(&["docker"])],
        agents,
        vec![pod("broad-a", "broad")],
        at(10_000),
    );
    let set = plan(&snap, &PlannerSettings::default());
    assert!(
        set.for_pool(&key("broad"))
            .unwrap()
            .disable_agents
            .is_empty()
    );
    assert_eq!(set.for_pool(&key("exact")).unwrap().counts.queued, 1);
}

#[test]
fn draining_pod_is_deleted_only_while_its_agent_is_still_unassigned() {
    let pools = vec![pool("p", &[])];
    let agents = vec![
        placeholder(1, "p"),
        agent(10, "p", "p-unassigned").disabled(),
        agent(11, "p", "p-took-a-job").disabled().busy(99),
    ];
    let pods = vec![
        pod("p-unassigned", "p").draining(),
        pod("p-took-a-job", "p").draining(),
    ];
    let jobs = vec![job(99).assigned_to(&agent_name("p-took-a-job"))];
    let plan = plan_of(&snapshot(pools, jobs, agents, pods, at(10)), "p");
    assert_eq!(
        plan.delete_pods,
        [("p-unassigned".to_owned(), DeleteReason::ScaleDown)]
    );
    assert_eq!(plan.counts.running, 1);
    assert_eq!(plan.counts.idle, 0);
}

#[test]
fn disabled_agent_without_the_annotation_is_still_drained() {
    // The controller disabled the agent but crashed before annotating the pod.
    let agents = vec![placeholder(1, "p"), agent(10, "p", "p-a").disabled()];
    let plan = plan_of(
        &snapshot(
            vec![pool("p", &[])],
            vec![],
            agents,
            vec![pod("p-a", "p")],
            at(10),
        ),
        "p",
    );
    assert_eq!(
        plan.delete_pods,
        [("p-a".to_owned(), DeleteReason::ScaleDown)]
    );
    assert_eq!(plan.counts.idle, 0);
}

#[test]
fn busy_agents_are_never_disabled_or_deleted_however_long_ago_they_started() {
    let pools = vec![pool("p", &[]).idle_timeout(0)];
    let agents = vec![
        placeholder(1, "p"),
        agent(10, "p", "p-a").busy(5).idle_since(at(0)),
    ];
    let pods = vec![pod("p-a", "p")];
    let plan = plan_of(
        &snapshot(
            pools,
            vec![job(5).assigned_to(&agent_name("p-a")).received()],
            agents,
            pods,
            at(100_000),
        ),
        "p",
    );
    assert!(plan.disable_agents.is_empty());
    assert!(plan.delete_pods.is_empty());
    assert!(plan.remove_registrations.is_empty());
    assert_eq!(plan.counts.running, 1);
}
