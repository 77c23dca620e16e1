//! Rules 5 and 6: registrations, finished pods, placeholders, deletion.

use std::time::Duration;

use super::super::fixtures::*;
use super::super::*;

fn one_pool(agents: Vec<AgentView>, pods: Vec<PodView>, now: std::time::SystemTime) -> Plan {
    plan_of(
        &snapshot(vec![pool("p", &[])], vec![], agents, pods, now),
        "p",
    )
}

#[test]
fn offline_registration_without_a_pod_is_removed_after_the_grace_period() {
    let grace = PlannerSettings::default().registration_grace;
    let registered = at(0);
    let agents = || {
        vec![
            placeholder(1, "p"),
            agent(10, "p", "p-a").offline().registered_at(registered),
        ]
    };
    // Just registered: the pod may not be in the informer cache yet.
    let young = one_pool(
        agents(),
        vec![],
        registered + grace - Duration::from_secs(1),
    );
    assert!(young.remove_registrations.is_empty());
    let old = one_pool(agents(), vec![], registered + grace);
    assert_eq!(old.remove_registrations, [(10, RemoveReason::PodGone)]);
}

#[test]
fn a_minted_registration_without_its_pod_is_removed_without_grace() {
    let registered = at(0);
    let agents = vec![
        placeholder(1, "p"),
        agent(10, "p", "p-a").offline().registered_at(registered),
    ];
    let mut minted = pool("p", &[]);
    minted.minted = true;
    // The operator mints right before creating the pod and lists pods afresh every pass:
    // a minted registration without a pod belongs to a pod that was never created.
    let plan = plan_of(
        &snapshot(
            vec![minted.clone()],
            vec![],
            agents.clone(),
            vec![],
            registered + Duration::from_secs(1),
        ),
        "p",
    );
    assert_eq!(plan.remove_registrations, [(10, RemoveReason::PodGone)]);
    // With its pod (not started yet) it stays.
    let plan = plan_of(
        &snapshot(
            vec![minted],
            vec![],
            agents,
            vec![pod("p-a", "p").phase(PodPhase::Pending)],
            registered + Duration::from_secs(1),
        ),
        "p",
    );
    assert!(plan.remove_registrations.is_empty());
}

#[test]
fn offline_registration_of_a_finished_pod_is_removed_at_once() {
    let agents = vec![
        placeholder(1, "p"),
        agent(10, "p", "p-a").offline().registered_at(at(100)),
    ];
    let plan = one_pool(
        agents,
        vec![pod("p-a", "p").phase(PodPhase::Failed)],
        at(101),
    );
    assert_eq!(plan.remove_registrations, [(10, RemoveReason::PodFinished)]);
}

#[test]
fn registrations_that_must_never_be_removed() {
    let now = at(10_000);
    let cases: Vec<(&str, AgentView, Vec<PodView>)> = vec![
        (
            "placeholder",
            placeholder(1, "p").registered_at(at(0)),
            vec![],
        ),
        ("online without pod", agent(10, "p", "p-a"), vec![]),
        (
            "offline but assigned",
            agent(11, "p", "p-b").offline().busy(5),
            vec![],
        ),
        (
            "offline with live pod (starting)",
            agent(12, "p", "p-c").offline(),
            vec![pod("p-c", "p")],
        ),
        (
            "not ours",
            agent(13, "p", "p-d").offline().unowned(),
            vec![],
        ),
        (
            "another AgentPool's",
            agent(14, "other", "other-e").offline(),
            vec![],
        ),
    ];
    for (label, agent, pods) in cases {
        let plan = one_pool(vec![agent], pods, now);
        assert!(
            plan.remove_registrations.is_empty(),
            "{label}: {:?}",
            plan.remove_registrations
        );
    }
}

#[test]
fn finished_pods_are_deleted_once_their_outcome_is_recorded() {
    let agents = vec![placeholder(1, "p")];
    let pods = vec![
        pod("p-ok", "p").phase(PodPhase::Succeeded).recorded(),
        pod("p-bad", "p").phase(PodPhase::Failed).recorded(),
        pod("p-unread", "p").phase(PodPhase::Succeeded),
        pod("p-going", "p")
            .phase(PodPhase::Succeeded)
            .recorded()
            .deleting(),
    ];
    let plan = one_pool(agents, pods, at(10));
    assert_eq!(
        plan.delete_pods,
        [
            ("p-ok".to_owned(), DeleteReason::Finished),
            ("p-bad".to_owned(), DeleteReason::Finished)
        ]
    );
}

#[test]
fn placeholder_is_ensured_only_when_missing() {
    assert!(one_pool(vec![], vec![], at(1)).ensure_placeholder);
    let with = one_pool(vec![placeholder(1, "p")], vec![], at(1));
    assert!(!with.ensure_placeholder);
    assert!(with.remove_registrations.is_empty());
}

#[test]
fn duplicate_placeholders_from_a_registration_race_keep_the_oldest() {
    let plan = one_pool(
        vec![placeholder(9, "p"), placeholder(4, "p")],
        vec![],
        at(1),
    );
    assert!(!plan.ensure_placeholder);
    assert_eq!(
        plan.remove_registrations,
        [(9, RemoveReason::DuplicatePlaceholder)]
    );
}

#[test]
fn scale_to_zero_keeps_the_placeholder_and_no_pods() {
    let plan = one_pool(vec![placeholder(1, "p")], vec![], at(1));
    assert_eq!(plan.create_pods, 0);
    assert!(plan.remove_registrations.is_empty());
    assert!(!plan.ensure_placeholder);
    assert_eq!(plan.counts, Counts::default());
}

#[test]
fn deleting_pool_cleans_up_everything_except_running_jobs() {
    let pools = vec![pool("p", &[]).deleting().min_idle(3)];
    let agents = vec![
        placeholder(1, "p"),
        agent(10, "p", "p-idle"),
        agent(11, "p", "p-busy").busy(7),
        agent(12, "p", "p-stale").offline(),
    ];
    let pods = vec![
        pod("p-idle", "p"),
        pod("p-busy", "p"),
        pod("p-starting", "p"),
        pod("p-done", "p").phase(PodPhase::Succeeded),
    ];
    let jobs = vec![job(7).assigned_to(&agent_name("p-busy")).received(), job(8)];
    let plan = plan_of(&snapshot(pools, jobs, agents, pods, at(5)), "p");
    assert_eq!(plan.create_pods, 0, "minIdle and pending jobs ignored");
    assert!(!plan.ensure_placeholder);
    let deleted: Vec<&str> = plan.delete_pods.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(deleted, ["p-idle", "p-starting", "p-done"]);
    assert!(
        plan.delete_pods
            .iter()
            .all(|(_, r)| *r == DeleteReason::PoolDeleting)
    );
    assert_eq!(
        plan.remove_registrations,
        [
            (1, RemoveReason::PoolDeleting),
            (10, RemoveReason::PoolDeleting),
            (12, RemoveReason::PoolDeleting)
        ]
    );
    assert!(!plan.deletion_complete);
    assert_eq!(plan.counts.running, 1);
}

#[test]
fn deleting_pool_with_nothing_left_may_drop_its_finalizer() {
    let pools = vec![pool("p", &[]).deleting()];
    let plan = plan_of(&snapshot(pools, vec![], vec![], vec![], at(5)), "p");
    assert!(plan.deletion_complete);
    assert!(plan.remove_registrations.is_empty() && plan.delete_pods.is_empty());
}

#[test]
fn a_finished_pod_stays_until_its_registration_is_gone() {
    let done = || pod("p-a", "p").phase(PodPhase::Succeeded).recorded();
    // Plan 1: the registration is still listed, so it is removed and the pod is kept.
    let first = one_pool(
        vec![
            placeholder(1, "p"),
            agent(10, "p", "p-a").offline().registered_at(at(100)),
        ],
        vec![done()],
        at(101),
    );
    assert_eq!(
        first.remove_registrations,
        [(10, RemoveReason::PodFinished)]
    );
    assert!(first.delete_pods.is_empty(), "{:?}", first.delete_pods);
    // Plan 2: the registration is gone from the agent list, so the pod goes.
    let second = one_pool(vec![placeholder(1, "p")], vec![done()], at(102));
    assert!(second.remove_registrations.is_empty());
    assert_eq!(
        second.delete_pods,
        [("p-a".to_owned(), DeleteReason::Finished)]
    );
}

#[test]
fn an_agent_still_online_after_its_pod_finished_is_removed() {
    // The agent process was killed with its pod; Azure DevOps keeps showing it online until
    // the session times out. The agent container has no PAT, so nobody else removes it.
    let plan = one_pool(
        vec![
            placeholder(1, "p"),
            agent(10, "p", "p-a").registered_at(at(100)),
        ],
        vec![pod("p-a", "p").phase(PodPhase::Failed).recorded()],
        at(101),
    );
    assert_eq!(plan.remove_registrations, [(10, RemoveReason::PodFinished)]);
    assert!(plan.delete_pods.is_empty());
}

#[test]
fn a_finished_pod_whose_agent_still_holds_a_job_keeps_both() {
    // Azure DevOps has not released the job yet, and a busy agent is never removed (rule
    // 5); the pod stays as the proof that the registration is stale until it is released.
    let plan = one_pool(
        vec![placeholder(1, "p"), agent(10, "p", "p-a").busy(7)],
        vec![pod("p-a", "p").phase(PodPhase::Failed).recorded()],
        at(101),
    );
    assert!(plan.remove_registrations.is_empty());
    assert!(plan.delete_pods.is_empty());
}

#[test]
fn a_same_named_registration_of_another_owner_does_not_hold_the_pod() {
    let plan = one_pool(
        vec![
            placeholder(1, "p"),
            agent(10, "p", "p-a").offline().unowned(),
        ],
        vec![pod("p-a", "p").phase(PodPhase::Succeeded).recorded()],
        at(101),
    );
    assert!(plan.remove_registrations.is_empty());
    assert_eq!(
        plan.delete_pods,
        [("p-a".to_owned(), DeleteReason::Finished)]
    );
}

/// A pod whose agent exited at `at(100)` while another container keeps it Running.
fn finishing_pod() -> PodView {
    pod("p-a", "p").agent_exited_at(at(100))
}

#[test]
fn a_running_pod_whose_agent_exited_is_deleted_after_the_finish_timeout() {
    let timeout = PlannerSettings::default().pod_finish_timeout;
    let recorded = || vec![finishing_pod().recorded()];
    let early = one_pool(
        vec![placeholder(1, "p")],
        recorded(),
        at(100) + timeout - Duration::from_secs(1),
    );
    assert!(early.delete_pods.is_empty(), "{early:?}");
    assert!(
        early
            .explanations
            .iter()
            .any(|e| e.contains("keep pod p-a: its agent exited 299s ago")),
        "{:?}",
        early.explanations
    );
    let due = one_pool(vec![placeholder(1, "p")], recorded(), at(100) + timeout);
    assert_eq!(
        due.delete_pods,
        [(
            "p-a".to_owned(),
            DeleteReason::FinishTimeout { waited_secs: 300 }
        )]
    );
    // Not recorded yet: its outcome would be lost, so it stays whatever the wait.
    let unrecorded = one_pool(vec![placeholder(1, "p")], vec![finishing_pod()], at(10_000));
    assert!(unrecorded.delete_pods.is_empty());
}

#[test]
fn the_registration_of_a_pod_whose_agent_exited_goes_at_once_and_the_pod_waits_for_it() {
    // Azure DevOps may still show the agent online: the process is gone all the same.
    let agents = vec![placeholder(1, "p"), agent(10, "p", "p-a").completed(7)];
    let plan = one_pool(agents, vec![finishing_pod().recorded()], at(101));
    assert_eq!(plan.remove_registrations, [(10, RemoveReason::PodFinished)]);
    // Past the timeout with the registration still listed: kept until it is gone.
    let agents = vec![placeholder(1, "p"), agent(10, "p", "p-a").offline()];
    let late = one_pool(agents, vec![finishing_pod().recorded()], at(10_000));
    assert_eq!(late.remove_registrations, [(10, RemoveReason::PodFinished)]);
    assert!(late.delete_pods.is_empty(), "{late:?}");
}

#[test]
fn a_pod_whose_agent_exited_is_no_capacity_and_a_finished_one_is_no_timeout() {
    // maxAgents 1: the finishing pod does not hold the slot a pending job needs.
    let pools = vec![pool("p", &[]).max_agents(1)];
    let plan = plan_of(
        &snapshot(
            pools,
            vec![job(5)],
            vec![placeholder(1, "p")],
            vec![finishing_pod()],
            at(101),
        ),
        "p",
    );
    assert_eq!((plan.create_pods, plan.counts.starting), (1, 0));
    // Succeeded after the agent exited: an ordinary finished pod, at once.
    let done = one_pool(
        vec![placeholder(1, "p")],
        vec![finishing_pod().phase(PodPhase::Succeeded).recorded()],
        at(101),
    );
    assert_eq!(
        done.delete_pods,
        [("p-a".to_owned(), DeleteReason::Finished)]
    );
}
