//! When agent pods fail their preflight because BuildKit never answered, the AgentPool gets a
//! `BuildkitUnavailable` condition with the agent's reason and the fix, one Warning Event, and
//! no endless stream of replacement pods (kube-sim's kubelet ends each pod with the agent's
//! termination message).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azp_kube_sim::kubelet::{KubeletConfig, KubeletHandle, SimulatedRuntime};
use common::{Harness, PAT, eventually};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::ResourceExt as _;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buildkit_that_never_answers_is_one_condition_one_event_and_no_pod_storm() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    // What `azp-agent run` writes when its buildkit check fails (exit code 2).
    let message = json!({
        "agentName": "x",
        "outcome": "preflightFailed",
        "exitReason": "preflight failed: buildkit: unix:///run/buildkit/buildkitd.sock: cannot connect: No such file or directory (os error 2) (fix: check the buildkitd sidecar logs)",
        "durationsMs": {"preflight": 5000},
        "failedChecks": ["buildkit"]
    })
    .to_string();
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"maxAgents": 3, "pollInterval": "5s"},
               "buildkit": {"enabled": true},
               "template": {"metadata": {"annotations": {
                   "sim.azp.dev/run-seconds": "1",
                   "sim.azp.dev/exit-code": "2",
                   "sim.azp.dev/termination-message": message}}}}),
    )
    .await;
    let kubelet = KubeletHandle::spawn(
        h.client.clone(),
        KubeletConfig::new("node-1", Arc::new(SimulatedRuntime::new())),
    );
    h.start_operator(&[]).await;
    h.wait_for_placeholder("linux").await;
    for _ in 0..3 {
        h.queue("Linux", &[]);
    }

    let condition = eventually("BuildkitUnavailable", WAIT, || async {
        let status = h.pools().get("linux").await.ok()?.status?;
        status
            .conditions
            .into_iter()
            .find(|c| c.type_ == "BuildkitUnavailable" && c.status == "True")
    })
    .await;
    assert_eq!(condition.reason, "SidecarNotAnswering");
    assert!(
        condition.message.contains("buildkitd.sock: cannot connect")
            && condition.message.contains("user.max_user_namespaces")
            && condition.message.contains("spec.buildkit.mode"),
        "{}",
        condition.message
    );

    // Over three more poll intervals the jobs still wait, but no new pods replace the failed ones.
    let initial: BTreeSet<String> = h.pods().await.iter().map(|p| p.name_any()).collect();
    let mut created_after = BTreeSet::new();
    let watch_from = Instant::now();
    while watch_from.elapsed() < Duration::from_secs(16) {
        for pod in h.pods().await {
            if !initial.contains(&pod.name_any()) {
                created_after.insert(pod.name_any());
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        created_after.len() <= 1,
        "pods kept coming while BuildKit was unavailable: {created_after:?}"
    );

    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    let warnings: Vec<_> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("BuildkitUnavailable"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].type_.as_deref(), Some("Warning"));
    assert!(
        warnings[0]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("cannot connect")),
        "{warnings:?}"
    );
    kubelet.shutdown().await.unwrap();
}
