//! The real operator binary against kube-sim and the Azure DevOps emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Harness, PAT, eventually};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_get_exactly_that_many_pods() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    // No kubelet runs here: pods stay Pending, which must show as Degraded after 3 s.
    h.start_operator(&["--log-format", "json", "--pod-startup-warning-seconds", "3"])
        .await;
    h.wait_for_placeholder("linux").await;
    for _ in 0..3 {
        h.queue("Linux", &[]);
    }
    eventually("3 pods", WAIT, || async {
        (h.pods().await.len() == 3).then_some(())
    })
    .await;
    // Two more poll intervals must not add a single pod: pending pods are capacity (rule 3).
    tokio::time::sleep(Duration::from_secs(11)).await;
    let pods = h.pods().await;
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        let annotations = pod.metadata.annotations.as_ref().unwrap();
        let agent = &annotations["azp.dev/agent-name"];
        assert_eq!(
            agent,
            &format!("default.{}", pod.metadata.name.as_ref().unwrap())
        );
        assert_eq!(annotations["karpenter.sh/do-not-disrupt"], "true");
    }
    let pool = h.pools().get("linux").await.unwrap();
    let status = pool.status.unwrap();
    assert_eq!((status.queued, status.starting), (3, 3));
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "True", "{ready:?}");
    let degraded = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap();
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "PodsNotStarting")
    );
    // The jobs still wait (not failed fast) thanks to the placeholder.
    assert!(h.emu.jobs().iter().all(|j| j.state == "queued"));

    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    let events = events.list(&Default::default()).await.unwrap().items;
    let reasons: Vec<_> = events.iter().filter_map(|e| e.reason.clone()).collect();
    assert!(reasons.iter().any(|r| r == "ScaledUp"), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r == "PlaceholderRegistered"),
        "{reasons:?}"
    );
    // The PAT appears nowhere: not in Events, status, pods or logs (debug level).
    let mut everything = serde_json::to_string(&events).unwrap();
    everything += &serde_json::to_string(&pods).unwrap();
    everything += &serde_json::to_string(&h.pools().get("linux").await.unwrap()).unwrap();
    let logs = h.operators[0].logs.lock().unwrap().clone();
    assert!(
        logs.contains("scaled up") && logs.contains("\"level\":\"DEBUG\""),
        "logs not captured"
    );
    // Each line of a pass names the pass, and lines about the queue name their Azure DevOps pool.
    let scaled_up = logs
        .lines()
        .find(|line| line.contains("scaled up"))
        .expect("a scaled-up line");
    let line: serde_json::Value = serde_json::from_str(scaled_up).unwrap();
    let spans = line["spans"].as_array().expect("spans on the line");
    assert_eq!(spans[0]["name"], "pass", "{line}");
    assert_eq!(spans[1]["name"], "ado_pool", "{line}");
    assert_eq!(spans[1]["pool"], "linux", "{line}");
    everything += &logs;
    assert!(!everything.contains(PAT), "PAT leaked");
    assert!(!everything.contains(&base64_of_pat()), "encoded PAT leaked");
}

fn base64_of_pat() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!(":{PAT}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_agent_pool_removes_its_pods_and_registrations_then_it_goes() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    h.start_operator(&[]).await;
    h.wait_for_placeholder("linux").await;
    h.queue("Linux", &[]);
    h.queue("Linux", &[]);
    eventually("2 pods", WAIT, || async {
        (h.pods().await.len() == 2).then_some(())
    })
    .await;
    let pool = h.pools().get("linux").await.unwrap();
    assert!(
        pool.metadata
            .finalizers
            .unwrap()
            .contains(&"azp.dev/cleanup".to_owned())
    );
    h.pools()
        .delete("linux", &Default::default())
        .await
        .unwrap();
    eventually("AgentPool gone", WAIT, || async {
        h.pools()
            .get_opt("linux")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(h.pods().await.is_empty());
    assert!(
        !h.placeholder_registered("linux"),
        "placeholder must go with the AgentPool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_to_zero_keeps_the_placeholder_and_a_new_job_gets_a_pod() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    h.start_operator(&[]).await;
    h.wait_for_placeholder("linux").await;
    // Nothing queued: zero pods, one offline placeholder.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(h.pods().await.is_empty());
    let placeholders: Vec<_> = h
        .emu
        .agents()
        .into_iter()
        .filter(|a| a.name.ends_with(".placeholder"))
        .collect();
    assert_eq!(placeholders.len(), 1);
    assert_eq!(placeholders[0].status, "offline");
    assert_eq!(
        placeholders[0]
            .system_capabilities
            .get("AZP_AGENTPOOL")
            .map(String::as_str),
        Some("default/linux")
    );
    let job = h.queue("Linux", &[]);
    assert_eq!(h.emu.job(job).unwrap().state, "queued", "job failed fast");
    eventually("a pod", WAIT, || async {
        (h.pods().await.len() == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pat_is_a_condition_and_creates_no_pods() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", "wrong").await;
    h.agent_pool("linux", "Linux", json!({})).await;
    h.start_operator(&[]).await;
    let reason = eventually("BadCredentials condition", WAIT, || async {
        let pool = h.pools().get("linux").await.ok()?;
        let ready = pool
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.status == "False")?;
        Some(ready.reason)
    })
    .await;
    assert_eq!(reason, "BadCredentials");
    assert!(h.pods().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_agent_pool_is_rejected_with_the_schema_message() {
    let h = Harness::start(&["Linux"]).await;
    let bad: azp_operator::crd::AgentPool = serde_json::from_value(json!({
        "apiVersion": "azp.dev/v1alpha1", "kind": "AgentPool",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {
            "organization": "https://dev.azure.com/contoso", "pool": "Linux",
            "auth": {"patSecretRef": {"name": "azp-pat"}},
            "agent": {"image": "a"},
            "scaling": {"minIdle": 5, "maxAgents": 2}
        }
    }))
    .unwrap();
    let error = h
        .pools()
        .create(&Default::default(), &bad)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("minIdle must not exceed maxAgents"), "{text}");
}

async fn ready_reason(h: &Harness, name: &str) -> Option<(String, String)> {
    let pool = h.pools().get(name).await.ok()?;
    let ready = pool
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some((ready.status, ready.reason))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_secret_then_unknown_pool_are_conditions_and_it_recovers() {
    let mut h = Harness::start(&["Linux"]).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    h.agent_pool("ghost", "NoSuchPool", json!({})).await;
    h.start_operator(&[]).await;
    eventually("SecretNotFound", WAIT, || async {
        (ready_reason(&h, "linux").await? == ("False".into(), "SecretNotFound".into()))
            .then_some(())
    })
    .await;
    assert!(h.pods().await.is_empty());
    // The Secret appears: the operator recovers by itself at its next poll.
    h.pat_secret("azp-pat", PAT).await;
    eventually("Ready", WAIT, || async {
        (ready_reason(&h, "linux").await? == ("True".into(), "Serving".into())).then_some(())
    })
    .await;
    eventually("ghost: PoolNotFound", WAIT, || async {
        (ready_reason(&h, "ghost").await? == ("False".into(), "PoolNotFound".into())).then_some(())
    })
    .await;
    let pods = h.pods().await;
    assert!(
        pods.iter()
            .all(|p| p.metadata.labels.as_ref().unwrap()["azp.dev/pool"] == "linux"),
        "no pod for an AgentPool whose Azure DevOps pool does not exist"
    );
}
