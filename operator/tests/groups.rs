//! Several AgentPools on one Azure DevOps pool (rules 1 and 2) and two operator replicas.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Harness, PAT, eventually};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(40);

async fn pods_by_pool(h: &Harness) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for pod in h.pods().await {
        let pool = pod.metadata.labels.unwrap()["azp.dev/pool"].clone();
        *counts.entry(pool).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_jobs_over_three_overlapping_pools_are_each_counted_once() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("generic", "Linux", json!({"capabilities": {"java": "17"}}))
        .await;
    h.agent_pool(
        "java",
        "Linux",
        json!({"capabilities": {"java": "17", "maven": "3"}}),
    )
    .await;
    h.agent_pool(
        "docker",
        "Linux",
        json!({"capabilities": {"java": "17", "maven": "3", "docker": "true"}}),
    )
    .await;
    h.start_operator(&[]).await;
    eventually("three placeholders", WAIT, || async {
        ["generic", "java", "docker"]
            .iter()
            .all(|p| h.placeholder_registered(p))
            .then_some(())
    })
    .await;
    // Every job below is satisfiable by more than one AgentPool except the docker ones.
    for _ in 0..20 {
        h.queue("Linux", &["java"]);
        h.queue("Linux", &["maven"]);
        h.queue("Linux", &["docker", "java"]);
    }
    let expected: BTreeMap<String, usize> = [("docker", 20), ("generic", 20), ("java", 20)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    eventually("60 pods split 20/20/20", WAIT, || async {
        (pods_by_pool(&h).await == expected).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        pods_by_pool(&h).await,
        expected,
        "no pod may be added later"
    );
    let mut queued = 0;
    for name in ["generic", "java", "docker"] {
        let status = h.pools().get(name).await.unwrap().status.unwrap();
        assert_eq!(status.queued, 20, "{name}");
        queued += status.queued;
    }
    assert_eq!(queued, 60, "every pending job counted exactly once");

    // Rule 1: one jobrequests GET per poll for all three AgentPools.
    let metrics = reqwest::get(format!("{}/metrics", h.operators[0].metrics_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let polls: u64 = metrics
        .lines()
        .find(|l| l.starts_with("azp_operator_polls_total{") && l.contains("result=\"ok\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("poll counter");
    let stats = h.emu.stats();
    let job_gets: u64 = stats
        .routes
        .iter()
        .filter(|(route, _)| route.starts_with("GET") && route.ends_with("/jobrequests"))
        .flat_map(|(_, by_status)| by_status.values())
        .sum();
    // A poll may be in flight between the two reads (its GET counted, its poll not yet).
    assert!(polls >= 2, "{polls}");
    assert!(
        job_gets == polls || job_gets == polls + 1,
        "{job_gets} jobrequests GETs for {polls} polls: one per poll, not one per AgentPool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_leader_and_the_other_takes_over() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    let election = [
        "--leader-election",
        "--lease-duration-seconds",
        "3",
        "--leader-election-namespace",
        "default",
    ];
    let mut first = election.to_vec();
    first.extend(["--identity", "replica-a"]);
    let mut second = election.to_vec();
    second.extend(["--identity", "replica-b"]);
    h.start_operator(&first).await;
    h.start_operator(&second).await;
    h.wait_for_placeholder("linux").await;
    for _ in 0..4 {
        h.queue("Linux", &[]);
    }
    eventually("4 pods", WAIT, || async {
        (h.pods().await.len() == 4).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(h.pods().await.len(), 4, "two replicas must not both scale");
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), "default");
    let holder = leases
        .get("azp-operator-leader")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    assert!(holder == "replica-a" || holder == "replica-b", "{holder}");

    // The leader dies: the other replica takes over after the lease expires.
    let leader_index = usize::from(holder == "replica-b");
    let mut leader = h.operators.remove(leader_index);
    leader.child.kill().await.unwrap();
    h.queue("Linux", &[]);
    eventually("takeover creates the 5th pod", WAIT, || async {
        (h.pods().await.len() == 5).then_some(())
    })
    .await;
    let new_holder = leases
        .get("azp-operator-leader")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap();
    assert_ne!(new_holder, holder);
}
