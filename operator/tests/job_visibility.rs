//! Which pod runs which job: when an agent takes a job, its pod says so in annotations and one
//! Event (pipeline, run, job, the run's page), and the operator counts the job by result and
//! measures how long it ran. Real operator, real agents (kube-sim's process kubelet).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::agents::kubelet_in;
use common::{Harness, NAMESPACE, PAT, eventually};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_names_the_job_it_runs_and_the_job_is_counted_by_result() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"maxAgents": 2, "pollInterval": "5s"}}),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let pods_dir = tempfile::tempdir().unwrap();
    let _kubelet = kubelet_in(&h, home.path(), pods_dir.path());
    h.start_operator(&[]).await;
    h.wait_for_placeholder("linux").await;
    let job = h
        .emu
        .queue_job(azp_ado_emulator::QueueJob {
            pool: "Linux".into(),
            name: Some("Build app".into()),
            duration_seconds: 6,
            ..Default::default()
        })
        .unwrap();

    // While it runs: `kubectl get pod -o yaml` says what the pod is doing.
    let annotations = eventually(
        "the pod's job annotations",
        Duration::from_secs(30),
        || async {
            h.pods().await.into_iter().find_map(|pod| {
                let annotations = pod.metadata.annotations?;
                annotations
                    .contains_key("azp.dev/job-request-id")
                    .then_some(annotations)
            })
        },
    )
    .await;
    assert_eq!(annotations["azp.dev/job-request-id"], job.to_string());
    assert_eq!(annotations["azp.dev/job-name"], "Build app");
    assert_eq!(annotations["azp.dev/pipeline"], "emulator-pipeline");
    assert_eq!(annotations["azp.dev/run"], format!("run-{job}"));
    assert!(
        annotations["azp.dev/run-url"].contains("/_build/results?buildId="),
        "{annotations:?}"
    );
    assert!(annotations.contains_key("azp.dev/job-assigned-at"));
    let pod = annotations["azp.dev/agent-name"]
        .strip_prefix("default.")
        .unwrap()
        .to_owned();

    // One Event names the job, about the AgentPool, related to the pod.
    let started: Vec<Event> = Api::<Event>::namespaced(h.client.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("JobStarted"))
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    let note = started[0].note.clone().unwrap_or_default();
    assert!(
        note.starts_with(&format!(
            "pod {pod} runs job \"Build app\" of pipeline \"emulator-pipeline\", run run-{job} (request {job}): "
        )),
        "{note}"
    );
    assert_eq!(
        started[0].related.as_ref().and_then(|r| r.name.as_deref()),
        Some(pod.as_str())
    );

    // Once it finished: counted by result, with its run time.
    eventually("job finished", Duration::from_secs(60), || async {
        (h.emu.job(job)?.state == "finished").then_some(())
    })
    .await;
    let metrics = eventually("the job counted", Duration::from_secs(30), || async {
        let text = reqwest::get(format!("{}/metrics", h.operators[0].metrics_url))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains(r#"azp_operator_jobs_total{agentpool="default/linux",result="succeeded"} 1"#)
            .then_some(text)
    })
    .await;
    let count = metrics
        .lines()
        .find(|l| l.starts_with(r#"azp_operator_job_run_seconds_count{agentpool="default/linux"}"#))
        .unwrap_or_else(|| panic!("no run time:\n{metrics}"));
    assert!(count.ends_with(" 1"), "{count}");
    let sum: f64 = metrics
        .lines()
        .find(|l| l.starts_with(r#"azp_operator_job_run_seconds_sum{agentpool="default/linux"}"#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((5.0..60.0).contains(&sum), "a 6 s job ran {sum} s");
}
