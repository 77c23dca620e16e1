//! Pod and registration lifecycle (rules 5 and 7): outcomes recorded, finished pods removed,
//! orphaned registrations swept, rate-limit storms survived.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use azp_ado::{AdoClient, AdoClientConfig, Auth, NewAgent, Secret};
use azp_kube_sim::kubelet::{KubeletConfig, KubeletHandle, SimulatedRuntime};
use common::{Harness, PAT, eventually};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(40);

fn ado(h: &Harness) -> AdoClient {
    let mut config = AdoClientConfig::new(
        url::Url::parse(&h.emu.org_url()).unwrap(),
        Auth::Pat(Secret::new(PAT)),
    );
    config.allow_insecure_http = true;
    AdoClient::new(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_registrations_of_this_agent_pool_are_swept_and_others_kept() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    let client = ado(&h);
    let pool = client.find_pool("Linux").await.unwrap();
    let register = |name: &str, owner: Option<&str>| {
        let mut capabilities = HashMap::new();
        if let Some(owner) = owner {
            capabilities.insert("AZP_AGENTPOOL".to_owned(), owner.to_owned());
        }
        NewAgent {
            name: name.into(),
            version: "4.0.0".into(),
            system_capabilities: capabilities,
            ..NewAgent::default()
        }
    };
    // A registration whose pod died (no pod exists), one of another AgentPool, one by hand.
    client
        .add_agent(
            pool.id,
            &register("default.linux-dead1", Some("default/linux")),
        )
        .await
        .unwrap();
    client
        .add_agent(pool.id, &register("other.x-abcde", Some("other/x")))
        .await
        .unwrap();
    client
        .add_agent(pool.id, &register("vm-agent-1", None))
        .await
        .unwrap();
    h.start_operator(&["--registration-grace-seconds", "0"])
        .await;
    eventually("orphan removed", WAIT, || async {
        (!h.emu
            .agents()
            .iter()
            .any(|a| a.name == "default.linux-dead1"))
        .then_some(())
    })
    .await;
    let names: Vec<String> = h.emu.agents().into_iter().map(|a| a.name).collect();
    assert!(names.contains(&"other.x-abcde".to_owned()), "{names:?}");
    assert!(names.contains(&"vm-agent-1".to_owned()), "{names:?}");
    assert!(
        names.contains(&"default.linux.placeholder".to_owned()),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_pods_are_counted_then_removed() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    let message = json!({"agentName": "x", "requestId": 1, "outcome": "failed"}).to_string();
    // The simulated kubelet runs each pod for 1 s and ends it with this termination message.
    h.agent_pool(
        "linux",
        "Linux",
        // `registration: pod`: a simulated pod that never registers leaves no registration,
        // so each finished pod can go at once (a minted one waits one poll for its
        // registration to be removed first).
        json!({"scaling": {"maxAgents": 1, "pollInterval": "5s"}, "registration": "pod",
               "template": {"metadata": {"annotations": {
                   "sim.azp.dev/run-seconds": "1",
                   "sim.azp.dev/exit-code": "1",
                   "sim.azp.dev/termination-message": message}}}}),
    )
    .await;
    let kubelet = KubeletHandle::spawn(
        h.client.clone(),
        KubeletConfig::new("node-1", Arc::new(SimulatedRuntime::new())),
    );
    h.start_operator(&[]).await;
    h.wait_for_placeholder("linux").await;
    h.queue("Linux", &[]);
    let failed = eventually("a failure recorded", WAIT, || async {
        let status = h.pools().get("linux").await.ok()?.status?;
        (status.jobs_failed >= 1).then_some(status.jobs_failed)
    })
    .await;
    assert!(failed >= 1);
    // Recorded pods are deleted; with maxAgents 1 at most one pod exists at any time.
    eventually("recorded pods deleted", WAIT, || async {
        let pods = h.pods().await;
        (pods.len() <= 1
            && pods.iter().all(|p| {
                !p.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("azp.dev/outcome-recorded"))
                    || p.metadata.deletion_timestamp.is_some()
            }))
        .then_some(())
    })
    .await;
    kubelet.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_storm_bounds_requests_even_when_hooks_hammer_and_recovers() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "hook").unwrap();
    h.start_operator(&["--hook-secret-file", secret.path().to_str().unwrap()])
        .await;
    h.wait_for_placeholder("linux").await;
    let http = reqwest::Client::new();
    let base = h.emu.base_url();
    http.post(format!("{base}/_emulator/stats/reset"))
        .send()
        .await
        .unwrap();
    let storm = Duration::from_secs(15);
    http.post(format!("{base}/_emulator/faults"))
        .json(&json!({"kind": "rateLimit", "durationSeconds": storm.as_secs(), "retryAfterSeconds": 1}))
        .send()
        .await
        .unwrap();
    h.queue("Linux", &[]);
    // Service hooks every 250 ms: without backoff each would cause a poll every 500 ms
    // (the minimum spacing), ~30 polls of up to 3 attempts in this storm.
    let hook_url = format!("{}/hooks/azure-devops", h.operators[0].metrics_url);
    let waiting = json!({
        "eventType": "ms.vss-pipelines.job-state-changed-event",
        "resource": {"job": {"state": "waiting"}}
    })
    .to_string();
    let started = std::time::Instant::now();
    let mut saw_rate_limited = false;
    while started.elapsed() < storm {
        let accepted = http
            .post(&hook_url)
            .basic_auth("ado", Some("hook"))
            .body(waiting.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 202);
        if let Some(status) = h.pools().get("linux").await.unwrap().status {
            saw_rate_limited |= status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "False" && c.reason == "RateLimited");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let during = h.emu.stats().total;
    eprintln!("requests during a {storm:?} rate-limit storm with hooks every 250 ms: {during}");
    assert!(saw_rate_limited, "Ready=False/RateLimited never reported");
    assert!(during <= 9, "{during} requests during a {storm:?} storm");
    assert!(
        h.pods().await.is_empty(),
        "no pods may be created in a storm"
    );
    eventually(
        "recovery: the job gets its pod",
        Duration::from_secs(60),
        || async { (h.pods().await.len() == 1).then_some(()) },
    )
    .await;
    // The pass that creates the pod writes its status after creating it: wait for that write
    // rather than read once (seen under load: the read came between the two).
    eventually("Ready=True after the storm", WAIT, || async {
        let status = h.pools().get("linux").await.ok()?.status?;
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pod_loses_its_registration_and_its_job_gets_a_new_pod() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    // The `register` path: the test plays the agent that registers from the pod.
    h.agent_pool("linux", "Linux", json!({"registration": "pod"}))
        .await;
    h.start_operator(&["--registration-grace-seconds", "0"])
        .await;
    h.wait_for_placeholder("linux").await;
    h.queue("Linux", &[]);
    let pod = eventually("a pod", WAIT, || async {
        h.pods().await.into_iter().next()
    })
    .await;
    let pod_name = pod.metadata.name.clone().unwrap();
    let agent_name = pod.metadata.annotations.as_ref().unwrap()["azp.dev/agent-name"].clone();
    // Play the pod's agent: registered with the ownership capability the pod's env carries,
    // then gone offline when the pod dies.
    let client = ado(&h);
    let pool = client.find_pool("Linux").await.unwrap();
    client
        .add_agent(
            pool.id,
            &NewAgent {
                name: agent_name.clone(),
                version: "4.0.0".into(),
                system_capabilities: HashMap::from([(
                    "AZP_AGENTPOOL".to_owned(),
                    "default/linux".to_owned(),
                )]),
                ..NewAgent::default()
            },
        )
        .await
        .unwrap();
    h.pods_api()
        .delete(&pod_name, &Default::default())
        .await
        .unwrap();
    eventually("registration removed", WAIT, || async {
        (!h.emu.agents().iter().any(|a| a.name == agent_name)).then_some(())
    })
    .await;
    let replacement = eventually("a replacement pod", WAIT, || async {
        let pods = h.pods().await;
        (pods.len() == 1 && pods[0].metadata.name.as_deref() != Some(&pod_name))
            .then(|| pods[0].metadata.name.clone())
    })
    .await;
    assert!(replacement.is_some());
    assert!(h.placeholder_registered("linux"), "placeholder must stay");
}
