//! Rule 2: each pending job is counted for exactly one AgentPool.

use super::super::fixtures::*;
use super::super::*;

fn queued(set: &PlanSet) -> Vec<(String, u32)> {
    set.plans
        .iter()
        .map(|p| (p.pool.to_string(), p.counts.queued))
        .collect()
}

#[test]
fn job_matching_two_pools_counts_for_the_most_specific_one_only() {
    let pools = vec![
        pool("plain-build", &[("buildkit", "true")]),
        pool("gpu-build", &[("buildkit", "true"), ("gpu", "a10")]),
    ];
    let jobs = vec![
        job(1).demands(&["buildkit"]),
        job(2).demands(&["buildkit", "gpu"]),
    ];
    let set = plan(
        &snapshot(pools, jobs, vec![], vec![], at(10)),
        &PlannerSettings::default(),
    );
    assert_eq!(
        queued(&set),
        [("ci/gpu-build".into(), 1), ("ci/plain-build".into(), 1)]
    );
    assert_eq!(set.for_pool(&key("plain-build")).unwrap().create_pods, 1);
    assert_eq!(set.for_pool(&key("gpu-build")).unwrap().create_pods, 1);
}

#[test]
fn equally_specific_pools_are_ordered_by_namespace_then_name() {
    let table: &[(&[(&str, &str)], &str)] = &[
        // (namespace, name) of two equally specific pools → winner
        (&[("beta", "a"), ("alpha", "z")], "alpha/z"),
        (&[("ci", "b"), ("ci", "a")], "ci/a"),
    ];
    for (pools, winner) in table {
        let pools = pools
            .iter()
            .map(|(ns, name)| pool(name, &[("docker", "1")]).in_namespace(ns))
            .collect();
        let set = plan(
            &snapshot(
                pools,
                vec![job(1).demands(&["docker"])],
                vec![],
                vec![],
                at(1),
            ),
            &PlannerSettings::default(),
        );
        let counted: Vec<String> = set
            .plans
            .iter()
            .filter(|p| p.counts.queued == 1)
            .map(|p| p.pool.to_string())
            .collect();
        assert_eq!(counted, [winner.to_string()]);
    }
}

#[test]
fn azure_devops_matched_agents_decide_over_local_demand_matching() {
    let a = pool("a", &[]);
    let b = pool("b", &[("gpu", "1")]);
    let placeholder_a = placeholder(100, "a");
    let pod_agent_b = agent(7, "b", "b-x1");
    let jobs = vec![
        // Demands say only b could serve, but Azure DevOps matched a's placeholder.
        job(1).demands(&["gpu"]).matched(&[placeholder_a.id]),
        // A job matched to b's running agent only.
        job(2).matched(&[pod_agent_b.id]),
        // Matched only an agent of some other tool: nobody here serves it.
        job(3).matched(&[999]),
    ];
    let snap = snapshot(
        vec![a, b],
        jobs,
        vec![placeholder_a, placeholder(101, "b"), pod_agent_b],
        vec![pod("b-x1", "b")],
        at(5),
    );
    let set = plan(&snap, &PlannerSettings::default());
    assert_eq!(set.for_pool(&key("a")).unwrap().counts.queued, 1);
    assert_eq!(set.for_pool(&key("b")).unwrap().counts.queued, 1);
    assert_eq!(set.unservable_jobs, [3]);
}

#[test]
fn an_empty_match_list_is_unservable_but_a_missing_one_falls_back_to_demands() {
    let a = pool("a", &[]);
    let jobs = vec![
        // Azure DevOps computed no match: no pod could take it, so none is created.
        job(1).matched(&[]),
        // Azure DevOps did not say: the demands (none) decide, and `a` serves it.
        job(2),
    ];
    let snap = snapshot(vec![a], jobs, vec![placeholder(100, "a")], vec![], at(5));
    let set = plan(&snap, &PlannerSettings::default());
    let plan_a = set.for_pool(&key("a")).unwrap();
    assert_eq!(plan_a.counts.queued, 1);
    assert_eq!(plan_a.create_pods, 1);
    assert_eq!(set.unservable_jobs, [1]);
}

#[test]
fn a_matched_id_counts_only_for_the_agent_pool_that_owns_that_agent() {
    // Agent ids, not names, decide: an agent of another tool that happens to carry the
    // placeholder's name (another id) is not ours.
    let ours = placeholder(100, "a");
    let snap = snapshot(
        vec![pool("a", &[])],
        vec![job(1).matched(&[ours.id]), job(2).matched(&[101])],
        vec![ours],
        vec![],
        at(1),
    );
    assert_eq!(plan_of(&snap, "a").counts.queued, 1);
}

#[test]
fn job_nobody_can_serve_is_reported_not_counted() {
    let snap = snapshot(
        vec![pool("linux", &[("buildkit", "true")])],
        vec![
            job(1).demands(&["Agent.OS -equals Windows_NT"]),
            job(2).demands(&["buildkit"]),
        ],
        vec![],
        vec![],
        at(1),
    );
    let set = plan(&snap, &PlannerSettings::default());
    assert_eq!(set.unservable_jobs, [1]);
    let linux = set.for_pool(&key("linux")).unwrap();
    assert_eq!(linux.counts.queued, 1);
    assert_eq!(linux.create_pods, 1);
}

#[test]
fn sixty_jobs_across_three_overlapping_pools_are_each_counted_once() {
    let pools = vec![
        pool("small", &[("buildkit", "true")]),
        pool("medium", &[("buildkit", "true"), ("docker", "true")]),
        pool(
            "large",
            &[("buildkit", "true"), ("docker", "true"), ("gpu", "a10")],
        ),
    ];
    let demand_sets: [&[&str]; 5] = [
        &[],
        &["buildkit"],
        &["docker"],
        &["gpu", "Agent.Version -gtVersion 3.0.0"],
        &["buildkit -equals true", "Agent.OS -equals Linux"],
    ];
    let jobs: Vec<JobView> = (0..60)
        .map(|i| job(i).demands(demand_sets[usize::try_from(i).unwrap() % demand_sets.len()]))
        .collect();
    let snap = snapshot(pools.clone(), jobs, vec![], vec![], at(100));
    let set = plan(&snap, &PlannerSettings::default());
    let total: u32 = set.plans.iter().map(|p| p.counts.queued).sum();
    assert_eq!(total, 60);
    assert!(set.unservable_jobs.is_empty());
    // [] [buildkit] [buildkit -equals] → small; [docker] → medium; [gpu] → large.
    assert_eq!(
        queued(&set),
        [
            ("ci/large".into(), 12),
            ("ci/medium".into(), 12),
            ("ci/small".into(), 36)
        ]
    );
    // Each AgentPool's maxAgents (10) caps its own creation independently.
    let created: Vec<u32> = set.plans.iter().map(|p| p.create_pods).collect();
    assert_eq!(created, [10, 10, 10]);
}

#[test]
fn only_unassigned_unreceived_unfinished_jobs_are_pending() {
    let snap = snapshot(
        vec![pool("a", &[])],
        vec![
            job(1),
            job(2).assigned_to(&agent_name("a-elsewhere")),
            job(3).received(),
            job(4).finished(),
        ],
        vec![],
        vec![],
        at(1),
    );
    let plan = plan_of(&snap, "a");
    assert_eq!(plan.counts.queued, 1);
    assert_eq!(plan.create_pods, 1);
}

#[test]
fn deleting_pool_takes_no_jobs() {
    let snap = snapshot(
        vec![pool("old", &[]).deleting(), pool("new", &[("x", "1")])],
        vec![job(1)],
        vec![],
        vec![],
        at(1),
    );
    let set = plan(&snap, &PlannerSettings::default());
    assert_eq!(set.for_pool(&key("old")).unwrap().counts.queued, 0);
    assert_eq!(set.for_pool(&key("old")).unwrap().create_pods, 0);
    assert_eq!(set.for_pool(&key("new")).unwrap().counts.queued, 1);
}
