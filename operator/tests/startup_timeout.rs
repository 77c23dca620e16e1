//! Startup timeout: a pod that never gets an agent online is deleted with a `PodStartTimeout`
//! Event and replaced while its job still waits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use azp_kube_sim::kubelet::{KubeletConfig, KubeletHandle, SimulatedRuntime};
use common::{Harness, PAT, eventually};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// Queues one job, waits for its pod, then for that pod to be replaced by another one;
/// returns the first pod's name once the `PodStartTimeout` Event names it.
async fn first_pod_is_replaced(h: &Harness, wait_for_phase: Option<&str>) -> String {
    h.wait_for_placeholder("linux").await;
    let job = h.queue("Linux", &[]);
    let first = eventually("a pod", WAIT, || async {
        let pod = h.pods().await.into_iter().next()?;
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        match wait_for_phase {
            Some(wanted) if phase.as_deref() != Some(wanted) => None,
            _ => pod.metadata.name,
        }
    })
    .await;
    eventually("a replacement pod", WAIT, || async {
        let pods = h.pods().await;
        let first_gone = !pods
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(first.as_str()));
        let replaced = pods.iter().any(|p| {
            p.metadata.name.as_deref() != Some(first.as_str())
                && p.metadata.deletion_timestamp.is_none()
        });
        (first_gone && replaced).then_some(())
    })
    .await;
    // The job was never harmed: it still waits for an agent.
    assert_eq!(h.emu.job(job).unwrap().state, "queued");
    let events: Api<Event> = Api::namespaced(h.client.clone(), common::NAMESPACE);
    let note = eventually("a PodStartTimeout event", WAIT, || async {
        let events = events.list(&Default::default()).await.ok()?.items;
        events
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("PodStartTimeout"))
            .filter_map(|e| e.note)
            .find(|note| note.contains(&first))
    })
    .await;
    assert!(note.contains("not started after"), "{note}");
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_stuck_pending_is_deleted_and_replaced_after_the_startup_timeout() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    // No kubelet: every pod stays Pending.
    h.start_operator(&["--pod-startup-timeout-seconds", "3"])
        .await;
    first_pod_is_replaced(&h, None).await;
    let logs = h.operators[0].logs.lock().unwrap().clone();
    assert!(logs.contains("pod never started"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_pod_whose_agent_never_registers_is_replaced() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    // The simulated kubelet runs containers that never register an agent.
    let kubelet = KubeletHandle::spawn(
        h.client.clone(),
        KubeletConfig::new("node-1", Arc::new(SimulatedRuntime::new())),
    );
    h.start_operator(&["--pod-startup-timeout-seconds", "3"])
        .await;
    first_pod_is_replaced(&h, Some("Running")).await;
    kubelet.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_timeout_reached_a_pending_pod_is_kept() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    h.start_operator(&["--pod-startup-timeout-seconds", "600"])
        .await;
    h.wait_for_placeholder("linux").await;
    h.queue("Linux", &[]);
    let first = eventually("a pod", WAIT, || async {
        h.pods().await.into_iter().next()?.metadata.name
    })
    .await;
    // A poll interval (5 s) later the same pod is still there and nothing else was created.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let names: Vec<_> = h
        .pods()
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(names, [first]);
}
