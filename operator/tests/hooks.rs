//! Rule 8: an Azure DevOps service hook triggers an immediate poll.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Harness, PAT, eventually};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_hook_brings_the_next_poll_forward() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    // A 10-minute safety-net poll: only the hook can explain a pod within seconds.
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"maxAgents": 5, "pollInterval": "10m"}}),
    )
    .await;
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "hook-s3cret\n").unwrap();
    h.start_operator(&["--hook-secret-file", secret.path().to_str().unwrap()])
        .await;
    eventually("placeholder", Duration::from_secs(30), || async {
        h.placeholder_registered("linux").then_some(())
    })
    .await;
    let url = format!("{}/hooks/azure-devops", h.operators[0].metrics_url);
    let http = reqwest::Client::new();
    let denied = http
        .post(&url)
        .basic_auth("ado", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    // Let the start-up polls (first pass, then the one the initial watch events ask for) pass;
    // after them, without a hook, nothing happens before the 10-minute poll.
    tokio::time::sleep(Duration::from_secs(2)).await;
    h.queue("Linux", &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(h.pods().await.is_empty(), "polled without a hook");
    http.post(format!("{}/_emulator/hooks", h.emu.base_url()))
        .json(&json!({"url": url, "basicAuth": {"username": "ado", "password": "hook-s3cret"}}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let started = Instant::now();
    h.queue("Linux", &[]);
    eventually(
        "pods for both jobs soon after the hook",
        Duration::from_secs(20),
        || async { (h.pods().await.len() == 2).then_some(()) },
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(20));
}
