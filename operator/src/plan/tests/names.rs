//! The plan names what it acts on: apply needs no lookups of its own.

use std::time::Duration;

use super::super::fixtures::*;
use super::super::*;

fn named(name: &str, pod: Option<&str>) -> NamedAgent {
    NamedAgent {
        name: name.to_owned(),
        pod: pod.map(str::to_owned),
    }
}

#[test]
fn disabled_agents_are_named_with_their_live_pods() {
    let pools = vec![pool("p", &[]).idle_timeout(600)];
    let agents = vec![
        placeholder(1, "p"),
        agent(10, "p", "p-old").idle_since(at(0)),
        agent(11, "p", "p-new").idle_since(at(1_000)),
    ];
    let pods = vec![pod("p-old", "p"), pod("p-new", "p")];
    let plan = plan_of(&snapshot(pools, vec![], agents, pods, at(1_200)), "p");
    assert_eq!(plan.disable_agents, [10]);
    assert_eq!(
        plan.names.agent(10),
        Some(&named(&agent_name("p-old"), Some("p-old")))
    );
    // Only what the plan acts on is named.
    assert_eq!(plan.names.agent(11), None);
}

#[test]
fn a_removed_registration_whose_pod_is_gone_names_the_pod_its_name_encodes() {
    let grace = PlannerSettings::default().registration_grace;
    let agents = vec![
        placeholder(1, "p"),
        agent(10, "p", "p-gone").offline().registered_at(at(0)),
    ];
    let plan = plan_of(
        &snapshot(vec![pool("p", &[])], vec![], agents, vec![], at(0) + grace),
        "p",
    );
    assert_eq!(plan.remove_registrations, [(10, RemoveReason::PodGone)]);
    // The Event for the removal still says which pod the agent belonged to.
    assert_eq!(
        plan.names.agent(10),
        Some(&named(&agent_name("p-gone"), Some("p-gone")))
    );
}

#[test]
fn a_pod_deleted_for_the_startup_timeout_is_named_with_the_agent_it_registers_as() {
    let settings = PlannerSettings {
        pod_startup_timeout: Duration::from_secs(60),
        ..PlannerSettings::default()
    };
    let snap = snapshot(
        vec![pool("p", &[])],
        vec![job(10)],
        vec![placeholder(1, "p")],
        vec![pod("p-mute", "p")],
        at(300),
    );
    let plan = plan(&snap, &settings).for_pool(&key("p")).cloned().unwrap();
    assert_eq!(plan.delete_pods.len(), 1);
    // apply re-reads this agent right before the deletion, in case it took a job meanwhile.
    assert_eq!(
        plan.names.agent_of_pod("p-mute"),
        Some(agent_name("p-mute").as_str())
    );
    assert_eq!(plan.names.agent_of_pod("p-other"), None);
}
