//! Startup timeout: pods that never start are deleted and replaced; busy ones never.

use std::time::Duration;

use super::super::fixtures::*;
use super::super::*;

fn settings(timeout_secs: u64) -> PlannerSettings {
    PlannerSettings {
        pod_startup_timeout: Duration::from_secs(timeout_secs),
        ..PlannerSettings::default()
    }
}

/// One pending job, the placeholder, the given agents and pods of `ci/p`, observed at `now`.
fn one_job(agents: Vec<AgentView>, pods: Vec<PodView>, jobs: Vec<JobView>, now: u64) -> Plan {
    let mut all_agents = vec![placeholder(1, "p")];
    all_agents.extend(agents);
    let snap = snapshot(vec![pool("p", &[])], jobs, all_agents, pods, at(now));
    plan(&snap, &settings(60))
        .for_pool(&key("p"))
        .cloned()
        .unwrap()
}

#[test]
fn a_pod_pending_past_the_timeout_is_deleted_and_replaced_in_the_same_plan() {
    let plan = one_job(
        vec![],
        vec![pod("p-stuck", "p").phase(PodPhase::Pending)],
        vec![job(10)],
        61,
    );
    assert_eq!(
        plan.delete_pods,
        [(
            "p-stuck".to_owned(),
            DeleteReason::StartTimeout { waited_secs: 61 }
        )]
    );
    assert!(plan.remove_registrations.is_empty());
    // The stuck pod no longer counts as capacity on its way: the job gets a new pod.
    assert_eq!((plan.create_pods, plan.counts.starting), (1, 0));
    assert!(
        plan.explanations
            .iter()
            .any(|e| e.contains("p-stuck") && e.contains("61s")),
        "{:?}",
        plan.explanations
    );
}

#[test]
fn a_pod_younger_than_the_timeout_still_counts_as_starting() {
    let plan = one_job(
        vec![],
        vec![pod("p-slow", "p").phase(PodPhase::Pending)],
        vec![job(10)],
        59,
    );
    assert!(plan.delete_pods.is_empty());
    assert_eq!((plan.create_pods, plan.counts.starting), (0, 1));
}

#[test]
fn a_running_pod_whose_agent_never_registered_times_out_but_a_registered_one_does_not() {
    let never = one_job(vec![], vec![pod("p-mute", "p")], vec![job(10)], 300);
    assert_eq!(
        never.delete_pods,
        [(
            "p-mute".to_owned(),
            DeleteReason::StartTimeout { waited_secs: 300 }
        )]
    );
    assert_eq!(never.create_pods, 1);

    // Registered but offline on a running pod: it may have been online before; left alone.
    let blip = one_job(
        vec![agent(5, "p", "p-blip").offline()],
        vec![pod("p-blip", "p")],
        vec![job(10)],
        300,
    );
    assert!(blip.delete_pods.is_empty(), "{blip:?}");
    assert!(blip.remove_registrations.is_empty());
    assert_eq!(blip.counts.starting, 1);
}

#[test]
fn a_timed_out_pending_pod_loses_its_registration_too() {
    let plan = one_job(
        vec![agent(5, "p", "p-half").offline()],
        vec![pod("p-half", "p").phase(PodPhase::Pending)],
        vec![job(10)],
        120,
    );
    assert_eq!(
        plan.delete_pods,
        [(
            "p-half".to_owned(),
            DeleteReason::StartTimeout { waited_secs: 120 }
        )]
    );
    assert_eq!(plan.remove_registrations, [(5, RemoveReason::StartTimeout)]);
}

#[test]
fn a_pod_whose_agent_holds_a_job_is_never_timed_out() {
    // Azure DevOps shows the job reserved for the agent, even though the agent list (read a
    // moment earlier) does not have the agent yet and the pod still reads Pending.
    let reserved = one_job(
        vec![],
        vec![pod("p-busy", "p").phase(PodPhase::Pending)],
        vec![job(10).assigned_to(&agent_name("p-busy"))],
        10_000,
    );
    assert!(reserved.delete_pods.is_empty(), "{reserved:?}");
    assert!(reserved.remove_registrations.is_empty());

    let assigned = one_job(
        vec![agent(5, "p", "p-busy").offline().busy(10)],
        vec![pod("p-busy", "p").phase(PodPhase::Pending)],
        vec![],
        10_000,
    );
    assert!(assigned.delete_pods.is_empty(), "{assigned:?}");
    assert!(assigned.remove_registrations.is_empty());
}

#[test]
fn the_default_timeout_is_ten_minutes() {
    let snap = snapshot(
        vec![pool("p", &[])],
        vec![],
        vec![placeholder(1, "p")],
        vec![pod("p-a", "p").phase(PodPhase::Pending)],
        at(599),
    );
    assert!(plan_of(&snap, "p").delete_pods.is_empty());
    let later = PoolSnapshot {
        now: at(600),
        ..snap
    };
    assert_eq!(plan_of(&later, "p").delete_pods.len(), 1);
}

#[test]
fn a_running_pod_whose_minted_agent_never_went_online_is_timed_out() {
    let mut minted = pool("p", &[]);
    minted.minted = true;
    let plan_at = |agent: AgentView| {
        let snap = snapshot(
            vec![minted.clone()],
            vec![job(10)],
            vec![placeholder(1, "p"), agent],
            vec![pod("p-a", "p")],
            at(120),
        );
        plan(&snap, &settings(60))
            .for_pool(&key("p"))
            .cloned()
            .unwrap()
    };
    // Registered by the operator at pod creation and never online since.
    let never = plan_at(
        agent(5, "p", "p-a")
            .offline()
            .registered_at(at(0))
            .idle_since(at(0)),
    );
    assert_eq!(
        never.delete_pods,
        [(
            "p-a".to_owned(),
            DeleteReason::StartTimeout { waited_secs: 120 }
        )]
    );
    assert_eq!(
        never.remove_registrations,
        [(5, RemoveReason::StartTimeout)]
    );
    // It was online once (its status changed since): a blip, left alone.
    let blip = plan_at(
        agent(5, "p", "p-a")
            .offline()
            .registered_at(at(0))
            .idle_since(at(30)),
    );
    assert!(blip.delete_pods.is_empty(), "{blip:?}");
}

#[test]
fn a_pending_pod_that_cannot_start_is_deleted_at_once_with_its_registration() {
    let mut blocked = pod("p-pull", "p").phase(PodPhase::Pending);
    blocked.start_blocked = Some("ImagePullBackOff");
    // Minted: its registration exists and never went online.
    let registration = agent(7, "p", "p-pull").offline();
    let plan = one_job(vec![registration], vec![blocked], vec![job(10)], 5);
    assert_eq!(
        plan.delete_pods,
        [(
            "p-pull".to_owned(),
            DeleteReason::StartBlocked {
                reason: "ImagePullBackOff"
            }
        )]
    );
    assert_eq!(plan.remove_registrations, [(7, RemoveReason::StartTimeout)]);
    // It no longer counts as starting; the job asks for a pod (the start-failure backoff,
    // outside the planner, decides when it is made).
    assert_eq!((plan.create_pods, plan.counts.starting), (1, 0));
    assert!(
        plan.explanations
            .iter()
            .any(|e| e.contains("p-pull") && e.contains("ImagePullBackOff")),
        "{:?}",
        plan.explanations
    );
}

#[test]
fn a_blocked_reason_on_a_running_or_busy_pod_deletes_nothing() {
    // Running: the reason is stale or about a restarting sidecar; the timeout rules apply.
    let mut running = pod("p-run", "p");
    running.start_blocked = Some("ErrImagePull");
    let plan = one_job(vec![], vec![running], vec![job(10)], 5);
    assert!(plan.delete_pods.is_empty(), "{:?}", plan.delete_pods);
    // Busy: never touched, whatever the pod says.
    let mut busy = pod("p-busy", "p").phase(PodPhase::Pending);
    busy.start_blocked = Some("CreateContainerConfigError");
    let plan = one_job(
        vec![agent(8, "p", "p-busy").busy(10)],
        vec![busy],
        vec![job(10).assigned_to(&agent_name("p-busy"))],
        5,
    );
    assert!(plan.delete_pods.is_empty(), "{:?}", plan.delete_pods);
}
