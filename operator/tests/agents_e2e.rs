//! End to end with real agents: the operator binary, kube-sim's process kubelet running the
//! real `azp-agent` in every pod, and `azp-agent-standin` installed as the official agent,
//! against the Azure DevOps emulator.
//!
//! `azp-agent` and the stand-in are binaries of other packages, so they are built once per
//! test run with `cargo build` (set `AZP_AGENT_BIN` / `AZP_STANDIN_BIN` to use prebuilt ones).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::agents::kubelet;
use common::{Harness, PAT, eventually};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_agents_run_the_queued_jobs_and_their_pods_are_counted_and_removed() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    // The `register` init container path (minted registrations: minted_e2e.rs).
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"maxAgents": 5, "pollInterval": "5s"}, "registration": "pod"}),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let kubelet = kubelet(&h, home.path());
    h.start_operator(&["--registration-grace-seconds", "5"])
        .await;
    h.wait_for_placeholder("linux").await;
    let jobs: Vec<i64> = (0..2)
        .map(|_| {
            h.emu
                .queue_job(azp_ado_emulator::QueueJob {
                    pool: "Linux".into(),
                    duration_seconds: 1,
                    ..Default::default()
                })
                .unwrap()
        })
        .collect();
    eventually("both jobs succeeded", Duration::from_secs(90), || async {
        jobs.iter()
            .all(|id| {
                h.emu.job(*id).is_some_and(|j| {
                    j.state == "finished" && j.result.as_deref() == Some("succeeded")
                })
            })
            .then_some(())
    })
    .await;
    let status = eventually("outcomes recorded", Duration::from_secs(60), || async {
        let status = h.pools().get("linux").await.ok()?.status?;
        (status.jobs_succeeded >= 2).then_some(status)
    })
    .await;
    assert_eq!(status.jobs_failed, 0, "{status:?}");
    // Two jobs, two JobFinished events, each with its own pod and job (kube-runtime's
    // recorder used to fold the second into the first: one event, count 2, the first note).
    let events = job_finished_events(&h).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let mut jobs_seen = Vec::new();
    for event in &events {
        let pod = event.related.as_ref().and_then(|r| r.name.clone()).unwrap();
        let note = event.note.clone().unwrap();
        assert!(note.starts_with(&format!("pod {pod}: job ")), "{note}");
        assert!(note.contains("Succeeded"), "{note}");
        assert_eq!(event.type_.as_deref(), Some("Normal"));
        assert_eq!(event.series, None, "{event:#?}");
        assert_eq!(
            event.regarding.as_ref().and_then(|r| r.name.as_deref()),
            Some("linux"),
            "kubectl describe agentpool lists it"
        );
        jobs_seen.push(note);
    }
    assert_ne!(jobs_seen[0], jobs_seen[1]);
    for id in &jobs {
        assert!(
            jobs_seen
                .iter()
                .any(|note| note.contains(&format!("job {id} "))),
            "job {id}: {jobs_seen:?}"
        );
    }
    eventually("finished pods removed", Duration::from_secs(60), || async {
        h.pods().await.is_empty().then_some(())
    })
    .await;
    // The operator removed each finished pod's registration (the `agent` container, which
    // ran the job, has no PAT to deregister with); only the placeholder stays.
    let names: Vec<String> = h.emu.agents().into_iter().map(|a| a.name).collect();
    assert_eq!(names, vec!["default.linux.placeholder".to_owned()]);
    kubelet.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_deleted_mid_job_leaves_no_registration_behind() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"maxAgents": 1, "pollInterval": "5s"}}),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let kubelet = kubelet(&h, home.path());
    h.start_operator(&["--registration-grace-seconds", "5"])
        .await;
    h.wait_for_placeholder("linux").await;
    let job = h
        .emu
        .queue_job(azp_ado_emulator::QueueJob {
            pool: "Linux".into(),
            duration_seconds: 120,
            ..Default::default()
        })
        .unwrap();
    let agent_name = eventually("job running", Duration::from_secs(60), || async {
        let view = h.emu.job(job)?;
        (view.state == "running").then_some(view.agent_name?)
    })
    .await;
    let pod = h.pods().await.into_iter().next().unwrap();
    assert_eq!(
        pod.metadata.annotations.as_ref().unwrap()["azp.dev/agent-name"],
        agent_name
    );
    h.pods_api()
        .delete(pod.metadata.name.as_ref().unwrap(), &Default::default())
        .await
        .unwrap();
    eventually("registration removed", Duration::from_secs(60), || async {
        (!h.emu.agents().iter().any(|a| a.name == agent_name)).then_some(())
    })
    .await;
    eventually("job no longer running", Duration::from_secs(60), || async {
        (h.emu.job(job)?.state == "finished").then_some(())
    })
    .await;
    assert!(h.placeholder_registered("linux"));
    kubelet.shutdown().await.unwrap();
}

async fn job_finished_events(h: &Harness) -> Vec<Event> {
    Api::<Event>::namespaced(h.client.clone(), common::NAMESPACE)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("JobFinished"))
        .collect()
}
