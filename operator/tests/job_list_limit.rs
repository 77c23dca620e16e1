//! A job-request list over `--max-job-list-bytes` fails the poll like an Azure DevOps error:
//! `Ready=False` with reason `JobListTooLarge`, one Warning Event, and no pod is created or
//! deleted from it. Once the list fits again, the operator carries on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azp_ado::{AdoClient, AdoClientConfig, Auth, Secret};
use common::{Harness, PAT, eventually};
use k8s_openapi::api::events::v1::Event;
use kube::{Api, ResourceExt};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(40);
/// Room for a handful of jobs (each with its matched agents) but not for 40.
const LIMIT: u64 = 16 * 1024;

/// The size of the pool's job-request list as the emulator sends it now.
async fn job_list_bytes(h: &Harness) -> u64 {
    let mut config = AdoClientConfig::new(
        url::Url::parse(&h.emu.org_url()).unwrap(),
        Auth::Pat(Secret::new(PAT)),
    );
    config.allow_insecure_http = true;
    let pool = AdoClient::new(config)
        .unwrap()
        .find_pool("Linux")
        .await
        .unwrap()
        .id;
    let body = reqwest::Client::new()
        .get(format!(
            "{}/_apis/distributedtask/pools/{pool}/jobrequests?completedRequestCount=0&api-version=7.1-preview.1",
            h.emu.org_url()
        ))
        .basic_auth("", Some(PAT))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    body.len() as u64
}

fn ready_reason(pool: &azp_operator::crd::AgentPool) -> Option<(String, String)> {
    pool.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.reason.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_job_list_is_reported_and_changes_no_pod() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    // No kubelet: pods stay Pending, so the only pod changes are the operator's own.
    h.start_operator(&["--max-job-list-bytes", &LIMIT.to_string()])
        .await;
    eventually("placeholder", WAIT, || async {
        h.placeholder_registered("linux").then_some(())
    })
    .await;

    // The last good view: one job, one pod.
    h.queue("Linux", &[]);
    let first = eventually("a pod for the first job", WAIT, || async {
        let pods = h.pods().await;
        (pods.len() == 1).then(|| pods[0].name_any())
    })
    .await;
    assert!(job_list_bytes(&h).await < LIMIT);

    let burst: Vec<i64> = (0..40).map(|_| h.queue("Linux", &[])).collect();
    let size = job_list_bytes(&h).await;
    assert!(size > LIMIT, "the list must exceed the limit: {size} bytes");
    eventually("Ready=False/JobListTooLarge", WAIT, || async {
        let pool = h.pools().get("linux").await.unwrap();
        (ready_reason(&pool) == Some(("False".into(), "JobListTooLarge".into()))).then_some(())
    })
    .await;
    // Two more poll intervals (5 s): every poll fails the same way, and nothing is acted on.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let pods: Vec<String> = h.pods().await.iter().map(|p| p.name_any()).collect();
    assert_eq!(
        pods,
        std::slice::from_ref(&first),
        "no pod created or deleted from a refused list"
    );
    let pool = h.pools().get("linux").await.unwrap();
    assert_eq!(
        ready_reason(&pool),
        Some(("False".into(), "JobListTooLarge".into()))
    );
    let events: Vec<Event> = Api::<Event>::namespaced(h.client.clone(), common::NAMESPACE)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let too_large: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("JobListTooLarge"))
        .collect();
    assert_eq!(
        too_large.len(),
        1,
        "one Event per episode, not one per poll"
    );
    let note = too_large[0].note.as_deref().unwrap_or_default();
    assert!(note.contains(&LIMIT.to_string()), "{note}");
    let logs = h.operators[0].logs.lock().unwrap().clone();
    assert!(
        logs.contains("poll failed; backing off") && logs.contains("JobListTooLarge"),
        "the failure is logged"
    );

    // The queue shrinks below the limit again: the operator scales for what is left.
    for id in &burst[2..] {
        h.emu.cancel_job(*id).unwrap();
    }
    assert!(job_list_bytes(&h).await < LIMIT);
    eventually(
        "Ready again and a pod per waiting job",
        Duration::from_secs(60),
        || async {
            let pool = h.pools().get("linux").await.unwrap();
            let ready = ready_reason(&pool).is_some_and(|(status, _)| status == "True");
            (ready && h.pods().await.len() == 3).then_some(())
        },
    )
    .await;
    assert!(h.pods().await.iter().any(|p| p.name_any() == first));
}
