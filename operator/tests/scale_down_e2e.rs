//! Idle scale-down end to end with real agents (rule 4): `minIdle: 2` keeps two idle agent
//! pods; lowering it to 0 makes the operator disable each agent in Azure DevOps, mark its pod
//! draining, and only then delete the pod. A busy agent is never touched, and a job queued
//! after the disable goes to a new pod, never to a draining one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::agents::kubelet;
use common::{Harness, PAT, eventually};
use kube::api::{Patch, PatchParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
const DRAINING: &str = "azp.dev/draining";

/// An AgentPool `linux` with `minIdle: 2`, real agents, and the operator running; returns once
/// two idle agents (online, enabled, unassigned) are registered, with their pods by agent name.
async fn two_idle_agents(h: &mut Harness) -> BTreeMap<String, String> {
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"minIdle": 2, "maxAgents": 5, "pollInterval": "5s", "idleTimeout": "10m"}}),
    )
    .await;
    h.start_operator(&["--registration-grace-seconds", "5"])
        .await;
    eventually("two idle agents", WAIT, || async {
        let idle: BTreeSet<String> = h
            .emu
            .agents()
            .into_iter()
            .filter(|a| a.status == "online" && a.enabled && a.assigned_request_id.is_none())
            .map(|a| a.name)
            .collect();
        (idle.len() == 2).then_some(())
    })
    .await;
    pods_by_agent(h).await
}

async fn pods_by_agent(h: &Harness) -> BTreeMap<String, String> {
    h.pods()
        .await
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let agent = p.metadata.annotations.as_ref().unwrap()["azp.dev/agent-name"].clone();
            (agent, p.metadata.name.unwrap())
        })
        .collect()
}

async fn scale_to_zero(h: &Harness) {
    let patch = json!({"spec": {"scaling": {"minIdle": 0, "idleTimeout": "1s"}}});
    h.pools()
        .patch("linux", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// What the test saw happen to one agent and its pod, in order.
#[derive(Debug, Default)]
struct Seen {
    disabled: bool,
    draining: bool,
    deleted: bool,
}

/// Watches `agents` (agent name → pod name) until every pod is gone, checking at each look
/// that a pod is marked draining only after its agent was disabled in Azure DevOps, and
/// deleted only after it was marked.
async fn watch_drain(h: &Harness, agents: &BTreeMap<String, String>) -> BTreeMap<String, Seen> {
    let mut seen: BTreeMap<String, Seen> = agents
        .keys()
        .map(|a| (a.clone(), Seen::default()))
        .collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !seen.values().all(|s| s.deleted) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "drain incomplete: {seen:?}"
        );
        // Pods first, then agents: a mark seen on a pod was set before the agent read.
        let pods = h.pods().await;
        let registered = h.emu.agents();
        for (agent, pod_name) in agents {
            let state = seen.get_mut(agent).unwrap();
            let enabled = registered
                .iter()
                .find(|a| &a.name == agent)
                .map(|a| a.enabled);
            state.disabled |= enabled == Some(false);
            let pod = pods
                .iter()
                .find(|p| p.metadata.name.as_ref() == Some(pod_name));
            let marked = pod.is_some_and(|p| {
                p.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(DRAINING))
            });
            if marked {
                assert!(
                    enabled != Some(true),
                    "{pod_name} marked draining while its agent is enabled"
                );
                state.draining = true;
            }
            if pod.is_none_or(|p| p.metadata.deletion_timestamp.is_some()) && !state.deleted {
                assert!(
                    state.disabled && state.draining,
                    "{pod_name} deleted before it was seen disabled and draining: {state:?}"
                );
                state.deleted = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

/// Only the placeholder stays registered once the drained pods are gone.
async fn only_the_placeholder_left(h: &Harness) {
    eventually("registrations removed", WAIT, || async {
        let names: Vec<String> = h.emu.agents().into_iter().map(|a| a.name).collect();
        (names == ["default.linux.placeholder"]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_agents_are_disabled_marked_and_deleted_while_a_busy_one_finishes_its_job() {
    let mut h = Harness::start(&["Linux"]).await;
    let home = tempfile::tempdir().unwrap();
    let kubelet = kubelet(&h, home.path());
    two_idle_agents(&mut h).await;
    // One idle agent takes a job; minIdle 2 then asks for a third pod.
    let job = h
        .emu
        .queue_job(azp_ado_emulator::QueueJob {
            pool: "Linux".into(),
            duration_seconds: 25,
            ..Default::default()
        })
        .unwrap();
    let busy_agent = eventually("job running", WAIT, || async {
        let view = h.emu.job(job)?;
        (view.state == "running").then_some(view.agent_name?)
    })
    .await;
    eventually("two idle agents again", WAIT, || async {
        let idle = h
            .emu
            .agents()
            .into_iter()
            .filter(|a| a.status == "online" && a.enabled && a.assigned_request_id.is_none())
            .filter(|a| !a.name.ends_with(".placeholder"))
            .count();
        (idle == 2).then_some(())
    })
    .await;
    let mut idle = pods_by_agent(&h).await;
    let busy_pod = idle.remove(&busy_agent).expect("the busy agent has a pod");
    assert_eq!(idle.len(), 2, "{idle:?}");

    scale_to_zero(&h).await;
    let seen = watch_drain(&h, &idle).await;
    assert!(
        seen.values().all(|s| s.disabled && s.draining && s.deleted),
        "{seen:?}"
    );
    // The busy agent was never disabled, its pod never marked, and its job succeeded.
    let busy = h.emu.agents().into_iter().find(|a| a.name == busy_agent);
    assert!(busy.is_none_or(|a| a.enabled), "busy agent disabled");
    let busy_pod_now = h.pods_api().get_opt(&busy_pod).await.unwrap();
    assert!(
        busy_pod_now.is_none_or(|p| !p
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key(DRAINING)),
        "busy pod marked draining"
    );
    eventually("job succeeded", WAIT, || async {
        let view = h.emu.job(job)?;
        (view.state == "finished").then_some(view.result)
    })
    .await
    .filter(|result| result == "succeeded")
    .expect("the busy agent's job must succeed");
    eventually("every pod gone", WAIT, || async {
        h.pods().await.is_empty().then_some(())
    })
    .await;
    only_the_placeholder_left(&h).await;
    kubelet.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_queued_right_after_the_disable_goes_to_a_new_pod_never_a_draining_one() {
    let mut h = Harness::start(&["Linux"]).await;
    let home = tempfile::tempdir().unwrap();
    let kubelet = kubelet(&h, home.path());
    let drained = two_idle_agents(&mut h).await;
    scale_to_zero(&h).await;
    eventually("both agents disabled", WAIT, || async {
        let disabled = h
            .emu
            .agents()
            .into_iter()
            .filter(|a| drained.contains_key(&a.name) && !a.enabled)
            .count();
        (disabled == 2).then_some(())
    })
    .await;
    let job = h
        .emu
        .queue_job(azp_ado_emulator::QueueJob {
            pool: "Linux".into(),
            duration_seconds: 1,
            ..Default::default()
        })
        .unwrap();
    // The emulator reports the job's agent by id (its name goes with the registration).
    let drained_ids: BTreeSet<i32> = h
        .emu
        .agents()
        .into_iter()
        .filter(|a| drained.contains_key(&a.name))
        .map(|a| a.id)
        .collect();
    assert_eq!(drained_ids.len(), 2);
    let (agent_id, result) = eventually("job finished", WAIT, || async {
        let view = h.emu.job(job)?;
        (view.state == "finished").then_some((view.agent_id, view.result))
    })
    .await;
    assert_eq!(result.as_deref(), Some("succeeded"));
    let agent_id = agent_id.expect("the job ran on an agent");
    assert!(
        !drained_ids.contains(&agent_id),
        "job went to draining agent {agent_id}"
    );
    eventually("every pod gone", WAIT, || async {
        h.pods().await.is_empty().then_some(())
    })
    .await;
    only_the_placeholder_left(&h).await;
    kubelet.shutdown().await.unwrap();
}
