//! Spec rollouts end to end with real agents: after an edit of `spec.agent.env`, idle agents
//! of the old spec are replaced (a new pod first, then the old agent is disabled, its pod
//! marked and deleted), the busy agent of the old spec finishes its job untouched, there are
//! never fewer than `minIdle` (2) idle or starting agents, and `status.outdated` goes to 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::agents::kubelet;
use common::{Harness, PAT, eventually};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
const SPEC_HASH: &str = "azp.dev/spec-hash";
const AGENT_NAME: &str = "azp.dev/agent-name";
const DRAINING: &str = "azp.dev/draining";

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// Live pods: neither finished nor being deleted.
fn live(pods: &[Pod]) -> impl Iterator<Item = &Pod> {
    pods.iter().filter(|p| {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        p.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
    })
}

/// Idle or starting agents: live pods (but `busy_pod`) whose agent is not registered yet, or
/// registered, enabled and without a job (online or on its way there).
fn idle_or_starting(pods: &[Pod], agents: &[azp_ado_emulator::AgentInfo], busy_pod: &str) -> usize {
    live(pods)
        .filter(|pod| pod.metadata.name.as_deref() != Some(busy_pod))
        .filter(|pod| {
            let name = annotation(pod, AGENT_NAME).unwrap();
            match agents.iter().find(|a| a.name == name) {
                None => true,
                Some(agent) => {
                    agent.enabled
                        && agent.assigned_request_id.is_none()
                        && annotation(pod, DRAINING).is_none()
                }
            }
        })
        .count()
}

async fn outdated(h: &Harness) -> u32 {
    let pool = h.pools().get("linux").await.unwrap();
    pool.status.map_or(0, |s| s.outdated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_env_edit_replaces_idle_agents_surge_first_and_lets_the_busy_one_finish() {
    let mut h = Harness::start(&["Linux"]).await;
    let home = tempfile::tempdir().unwrap();
    let kubelet = kubelet(&h, home.path());
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"minIdle": 2, "maxAgents": 6, "pollInterval": "5s", "idleTimeout": "10m"}}),
    )
    .await;
    h.start_operator(&["--registration-grace-seconds", "5"])
        .await;
    let idle_agents = |h: &Harness| {
        h.emu
            .agents()
            .into_iter()
            .filter(|a| a.status == "online" && a.enabled && a.assigned_request_id.is_none())
            .filter(|a| !a.name.ends_with(".placeholder"))
            .count()
    };
    eventually("two idle agents", WAIT, || async {
        (idle_agents(&h) == 2).then_some(())
    })
    .await;
    // One agent takes a long job; minIdle brings a third pod, all on the first spec.
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
    eventually("two idle agents besides the busy one", WAIT, || async {
        (idle_agents(&h) == 2).then_some(())
    })
    .await;
    let before = h.pods().await;
    let old_hash = annotation(&before[0], SPEC_HASH)
        .expect("pods carry the spec hash")
        .to_owned();
    let old_pods: BTreeMap<String, String> = live(&before)
        .map(|p| {
            assert_eq!(annotation(p, SPEC_HASH), Some(old_hash.as_str()));
            (
                annotation(p, AGENT_NAME).unwrap().to_owned(),
                p.metadata.name.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(old_pods.len(), 3, "{old_pods:?}");
    let busy_pod = old_pods[&busy_agent].clone();

    let edit = json!({"spec": {"agent": {"env": [{"name": "ROLLOUT", "value": "2"}]}}});
    h.pools()
        .patch("linux", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();

    // Watch until the old idle pods are gone and two idle agents run the new spec, checking
    // at every look that minIdle holds and the busy pod is never touched.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut max_outdated = 0;
    let mut min_seen = usize::MAX;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout incomplete: {:?}",
            h.pods()
                .await
                .iter()
                .map(|p| (&p.metadata.name, annotation(p, SPEC_HASH)))
                .collect::<Vec<_>>()
        );
        let pods = h.pods().await;
        let agents = h.emu.agents();
        let count = idle_or_starting(&pods, &agents, &busy_pod);
        min_seen = min_seen.min(count);
        assert!(
            count >= 2,
            "only {count} idle or starting agents during the rollout"
        );
        if let Some(pod) = pods
            .iter()
            .find(|p| p.metadata.name.as_ref() == Some(&busy_pod))
        {
            assert!(
                annotation(pod, DRAINING).is_none(),
                "busy pod marked draining"
            );
            assert!(
                pod.metadata.deletion_timestamp.is_none()
                    || h.emu.job(job).unwrap().state == "finished"
            );
        }
        if let Some(agent) = agents.iter().find(|a| a.name == busy_agent) {
            assert!(agent.enabled, "busy agent disabled");
        }
        max_outdated = max_outdated.max(outdated(&h).await);
        let old_idle_left = live(&pods)
            .filter(|p| {
                let name = p.metadata.name.as_ref().unwrap();
                name != &busy_pod && old_pods.values().any(|old| old == name)
            })
            .count();
        let new_idle = live(&pods)
            .filter(|p| annotation(p, SPEC_HASH) != Some(old_hash.as_str()))
            .filter(|p| {
                let name = annotation(p, AGENT_NAME).unwrap();
                agents.iter().any(|a| {
                    a.name == name
                        && a.status == "online"
                        && a.enabled
                        && a.assigned_request_id.is_none()
                })
            })
            .count();
        if old_idle_left == 0 && new_idle >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(max_outdated >= 1, "status never showed the outdated agents");

    // The busy agent's job finishes on the old spec, and then nothing outdated is left.
    let result = eventually("job finished", WAIT, || async {
        let view = h.emu.job(job)?;
        (view.state == "finished").then_some(view.result)
    })
    .await;
    assert_eq!(result.as_deref(), Some("succeeded"));
    eventually("status.outdated back to 0", WAIT, || async {
        (outdated(&h).await == 0).then_some(())
    })
    .await;
    let pods = h.pods().await;
    let hashes: BTreeSet<&str> = live(&pods)
        .filter_map(|p| annotation(p, SPEC_HASH))
        .collect();
    assert_eq!(hashes.len(), 1, "{hashes:?}");
    assert!(!hashes.contains(old_hash.as_str()));
    kubelet.shutdown().await.unwrap();
}
