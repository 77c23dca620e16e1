//! An API server that throttles pod creates (429 with `Retry-After`, as priority and fairness
//! answers under load): the operator keeps at most 8 creates in flight, waits as asked (kube-rs'
//! default retry policy honours `Retry-After`), and ends with exactly one pod per job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azp_kube_sim::Fault;
use common::{Harness, PAT, eventually};
use kube::ResourceExt;
use serde_json::json;

const JOBS: usize = 20;
/// More throttled answers than creates in flight, so some creates meet a 429 twice.
const THROTTLED: usize = 12;
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// `CREATES_IN_FLIGHT` in operator/src/apply.rs.
const IN_FLIGHT: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_pod_creates_back_off_and_converge_without_duplicates() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    // No kubelet: pods stay Pending, so every pod the operator creates stays to be counted.
    h.start_operator(&[]).await;
    eventually("placeholder", Duration::from_secs(40), || async {
        h.placeholder_registered("linux").then_some(())
    })
    .await;
    h.sim.record_requests("POST", "/pods");
    h.sim.inject_fault(Fault::throttle_pod_creates(
        THROTTLED,
        RETRY_AFTER.as_secs(),
    ));
    for _ in 0..JOBS {
        h.queue("Linux", &[]);
    }
    eventually("a pod per job", Duration::from_secs(60), || async {
        (h.pods().await.len() >= JOBS).then_some(())
    })
    .await;
    // One more poll interval (5 s): a create answered late, or retried after it had been
    // applied, would show up now as a 21st pod.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut names: Vec<String> = h.pods().await.iter().map(|p| p.name_any()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), JOBS, "exactly one pod per job: {names:?}");

    let journal = h.sim.journal();
    let throttled: Vec<_> = journal.iter().filter(|e| e.status == 429).collect();
    let created = journal.iter().filter(|e| e.status == 201).count();
    assert_eq!(throttled.len(), THROTTLED, "{journal:?}");
    assert_eq!(created, JOBS, "{journal:?}");
    // After the first 429 every create in flight meets a 429 and waits Retry-After: in the
    // window that follows, no more than the creates in flight reach the API server.
    let first = throttled[0].at;
    let in_window = journal
        .iter()
        .filter(|e| e.at >= first && e.at < first + RETRY_AFTER - Duration::from_millis(100))
        .count();
    assert!(
        in_window <= IN_FLIGHT,
        "{in_window} creates within Retry-After of the first 429"
    );
    // And none of the throttled creates was repeated before Retry-After had passed: the first
    // success after the first 429 came no earlier.
    let first_success_after = journal
        .iter()
        .find(|e| e.at > first && e.status == 201)
        .unwrap();
    assert!(
        first_success_after.at - first >= RETRY_AFTER - Duration::from_millis(100),
        "retried after {:?}",
        first_success_after.at - first
    );
}
