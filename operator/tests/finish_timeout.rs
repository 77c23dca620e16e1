//! Finish timeout: a pod whose agent has run its job and exited but that keeps running,
//! because the template adds a regular container that never exits (a log shipper, a debug
//! shell: on a real kubelet such a container keeps the pod Running; native sidecars would be
//! stopped), is deleted `--pod-finish-timeout-seconds` after the agent's exit with a
//! `PodFinishTimeout` Event. Its outcome is counted once and its registration removed.
//! Real operator, real agent in kube-sim's process kubelet.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::agents::kubelet;
use common::{Harness, NAMESPACE, PAT, eventually};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
const TIMEOUT_SECS: u64 = 3;

/// The `agent` container has terminated while the pod is still Running.
fn agent_exited_pod_running(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    let agent_terminated = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.name == "agent" && c.state.as_ref().is_some_and(|s| s.terminated.is_some()));
    agent_terminated && status.and_then(|s| s.phase.as_deref()) == Some("Running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_keeps_running_after_its_agent_exited_is_deleted_after_the_finish_timeout() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"maxAgents": 1, "pollInterval": "5s"},
        "template": {"spec": {"containers": [
            {"name": "log-shipper", "image": "busybox:1.36", "command": ["sleep", "3600"]}
        ]}}}),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let _kubelet = kubelet(&h, home.path());
    let timeout = TIMEOUT_SECS.to_string();
    h.start_operator(&["--pod-finish-timeout-seconds", &timeout])
        .await;
    eventually("placeholder", WAIT, || async {
        h.placeholder_registered("linux").then_some(())
    })
    .await;
    let job = h.queue("Linux", &[]);

    // The agent runs the job and exits; the pod stays Running for the log shipper.
    let stuck = eventually("the agent exited, the pod still Running", WAIT, || async {
        h.pods()
            .await
            .into_iter()
            .find(agent_exited_pod_running)
            .and_then(|pod| pod.metadata.name)
    })
    .await;
    assert_eq!(h.emu.job(job).unwrap().result.as_deref(), Some("succeeded"));

    // Deleted after the timeout, with an Event naming it and how long its agent was gone.
    eventually("the stuck pod deleted", WAIT, || async {
        let pods = h.pods().await;
        (!pods
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(stuck.as_str())))
        .then_some(())
    })
    .await;
    let events: Api<Event> = Api::namespaced(h.client.clone(), NAMESPACE);
    let note = eventually("a PodFinishTimeout event", WAIT, || async {
        let events = events.list(&ListParams::default()).await.ok()?.items;
        events
            .into_iter()
            .filter(|e| {
                e.reason.as_deref() == Some("PodFinishTimeout")
                    && e.type_.as_deref() == Some("Warning")
            })
            .filter_map(|e| e.note)
            .find(|note| note.contains(&stuck))
    })
    .await;
    assert!(
        note.contains(&format!("finish timeout {TIMEOUT_SECS}s")),
        "{note}"
    );
    let waited: u64 = note
        .split("exited ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("no wait in {note}"));
    assert!(waited >= TIMEOUT_SECS, "{note}");

    // Counted once; its registration is gone, only the placeholder is left.
    let status = h.pools().get("linux").await.unwrap().status.unwrap();
    assert_eq!((status.jobs_succeeded, status.jobs_failed), (1, 0));
    let agents: Vec<String> = h.emu.agents().into_iter().map(|a| a.name).collect();
    assert_eq!(agents, [format!("{NAMESPACE}.linux.placeholder")]);
    // A second look after more passes: still counted once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = h.pools().get("linux").await.unwrap().status.unwrap();
    assert_eq!((status.jobs_succeeded, status.jobs_failed), (1, 0));
}
