//! A broken pod configuration backs off and says so: an AgentPool whose image has no
//! `azp-agent` gets pods at growing intervals, then `Ready=False` (`PodsFailing`) with the
//! kubelet's reason and no further pods; after the spec is fixed the job runs at once. Real
//! operator (backoff shortened by its flags), real agents for the fixed spec.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::agents::{BROKEN_IMAGE, kubelet_in};
use common::{Harness, PAT, eventually};
use kube::api::{Patch, PatchParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_of_a_broken_image_back_off_then_the_pool_says_why_and_recovers_when_fixed() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool(
        "linux",
        "Linux",
        json!({"agent": {"image": BROKEN_IMAGE}, "scaling": {"maxAgents": 2, "pollInterval": "5s"}}),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let pods_dir = tempfile::tempdir().unwrap();
    let _kubelet = kubelet_in(&h, home.path(), pods_dir.path());
    h.start_operator(&[
        "--start-backoff-initial-seconds",
        "1",
        "--start-backoff-max-seconds",
        "30",
    ])
    .await;
    h.wait_for_placeholder("linux").await;
    let job = h.queue("Linux", &[]);

    // Watch pod creations until the AgentPool gives up.
    let started = Instant::now();
    let mut seen: Vec<(String, Duration)> = Vec::new();
    let mut names = BTreeSet::new();
    let ready = loop {
        for pod in h.pods().await {
            let name = pod.metadata.name.clone().unwrap();
            if names.insert(name.clone()) {
                seen.push((name, started.elapsed()));
            }
        }
        let status = h.pools().get("linux").await.unwrap().status;
        if let Some(ready) = status.as_ref().and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == "Ready" && c.status == "False")
        }) {
            break ready.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "never gave up; pods: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready.reason, "PodsFailing", "{ready:?}");
    assert!(
        ready
            .message
            .starts_with("5 agent pod(s) in a row ended before taking a job"),
        "{ready:?}"
    );
    assert!(ready.message.contains("StartError"), "{ready:?}");
    assert_eq!(seen.len(), 5, "one pod per failure: {seen:?}");
    // The gaps grow: each pod waited at least the doubled delay after the previous one's end.
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1].1 - w[0].1).collect();
    for (gap, least) in gaps.iter().zip([1u64, 2, 4, 8]) {
        assert!(*gap >= Duration::from_secs(least), "gaps {gaps:?}");
    }
    let status = h.pools().get("linux").await.unwrap().status.unwrap();
    assert_eq!(status.start_failures.as_ref().unwrap().consecutive, 5);

    // Given up: no pod for a while (the next probe comes only after 30 s).
    tokio::time::sleep(Duration::from_secs(4)).await;
    // (The last failed pod may still be there until the operator removes it: only new ones count.)
    let new: Vec<String> = h
        .pods()
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .filter(|name| !names.contains(name))
        .collect();
    assert!(new.is_empty(), "a pod was created after giving up: {new:?}");
    assert_eq!(h.emu.job(job).unwrap().state, "queued");

    // Fixed spec: a new generation starts afresh, the job runs.
    h.pools()
        .patch(
            "linux",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"agent": {"image": "azp-agent:test"}}})),
        )
        .await
        .unwrap();
    eventually(
        "the job ran after the fix",
        Duration::from_secs(60),
        || async { h.emu.job(job)?.result },
    )
    .await;
    let fixed = Instant::now();
    loop {
        let status = h.pools().get("linux").await.unwrap().status.unwrap();
        let ready = status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if status.start_failures.is_none() && ready {
            break;
        }
        assert!(
            fixed.elapsed() < Duration::from_secs(30),
            "not Ready again after the fix: {status:#?}\n{}",
            h.operators[0]
                .logs
                .lock()
                .unwrap()
                .lines()
                .filter(|l| l.contains("status"))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
