//! Registrations of AgentPools that no longer exist are swept by their Azure DevOps pool's
//! group; agents of unwatched namespaces and hand-registered agents are never touched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use azp_ado::{AdoClient, AdoClientConfig, Auth, NewAgent, Secret};
use common::{Harness, PAT, eventually};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn registration(name: &str, owner: Option<&str>) -> NewAgent {
    NewAgent {
        name: name.into(),
        version: "4.0.0".into(),
        system_capabilities: owner
            .map(|owner| HashMap::from([("AZP_AGENTPOOL".to_owned(), owner.to_owned())]))
            .unwrap_or_default(),
        ..NewAgent::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_of_a_deleted_agent_pool_are_removed_and_counted() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    let mut config = AdoClientConfig::new(
        url::Url::parse(&h.emu.org_url()).unwrap(),
        Auth::Pat(Secret::new(PAT)),
    );
    config.allow_insecure_http = true;
    let client = AdoClient::new(config).unwrap();
    let pool = client.find_pool("Linux").await.unwrap();
    // `default/gone` was deleted while no operator ran (its finalizer removed by hand): its
    // pod's agent and its placeholder stay registered.
    for agent in [
        registration("default.gone-aaaaa", Some("default/gone")),
        registration("default.gone.placeholder", Some("default/gone")),
        // Owned by an AgentPool in a namespace this operator does not watch.
        registration("other.gone-bbbbb", Some("other/gone")),
        // Registered by hand.
        registration("vm-agent-1", None),
    ] {
        client.add_agent(pool.id, &agent).await.unwrap();
    }
    h.start_operator(&["--registration-grace-seconds", "0"])
        .await;
    // The sweep and the live AgentPool's placeholder registration are independent steps:
    // wait for both, then check that nothing else was touched.
    eventually(
        "orphans removed and the placeholder registered",
        WAIT,
        || async {
            let names: Vec<String> = h.emu.agents().into_iter().map(|a| a.name).collect();
            (!names.iter().any(|n| n.starts_with("default.gone"))
                && names.iter().any(|n| n == "default.linux.placeholder"))
            .then_some(())
        },
    )
    .await;
    let names: Vec<String> = h.emu.agents().into_iter().map(|a| a.name).collect();
    for kept in [
        "other.gone-bbbbb",
        "vm-agent-1",
        "default.linux.placeholder",
    ] {
        assert!(
            names.contains(&kept.to_owned()),
            "{kept} removed: {names:?}"
        );
    }
    let metrics = reqwest::get(format!("{}/metrics", h.operators[0].metrics_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"azp_operator_orphaned_registrations_removed_total{pool="linux"} 2"#),
        "{metrics}"
    );
    let logs = h.operators[0].logs.lock().unwrap().clone();
    assert!(
        logs.contains("removed registration of an AgentPool that no longer exists")
            && logs.contains("default/gone"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_young_orphan_waits_for_the_registration_grace() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool("linux", "Linux", json!({})).await;
    let mut config = AdoClientConfig::new(
        url::Url::parse(&h.emu.org_url()).unwrap(),
        Auth::Pat(Secret::new(PAT)),
    );
    config.allow_insecure_http = true;
    let client = AdoClient::new(config).unwrap();
    let pool = client.find_pool("Linux").await.unwrap();
    client
        .add_agent(
            pool.id,
            &registration("default.new-aaaaa", Some("default/new")),
        )
        .await
        .unwrap();
    // An AgentPool may be created a moment after its first agent shows up in our list.
    h.start_operator(&["--registration-grace-seconds", "600"])
        .await;
    h.wait_for_placeholder("linux").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        h.emu.agents().iter().any(|a| a.name == "default.new-aaaaa"),
        "a registration younger than the grace was removed"
    );
}
