//! `spec.caBundle` is trusted by the operator itself: an Azure DevOps organization behind a
//! TLS proxy whose certificate only a freshly made private CA vouches for (the system trusts
//! nothing of it). The AgentPools whose caBundle (a ConfigMap, a Secret) holds that CA are
//! served; one without it reports `TransportError`, as the operator did for all of them
//! before it read the bundle.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azp_ado_emulator::tls::PrivateCa;
use common::{Harness, NAMESPACE, PAT, eventually};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(40);

/// `(reason, message)` of the AgentPool's `AzureDevOpsReachable` condition once it has one.
async fn reachable(h: &Harness, name: &str) -> (String, String, String) {
    eventually(&format!("{name}: AzureDevOpsReachable"), WAIT, || async {
        let pool = h.pools().get(name).await.ok()?;
        let condition = pool
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "AzureDevOpsReachable")?;
        Some((condition.status, condition.reason, condition.message))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_trusts_the_private_ca_its_agent_pools_reference() {
    let mut h = Harness::start(&["Linux", "Windows", "Mac"]).await;
    let ca = PrivateCa::new("azp-operator test private CA").unwrap();
    let ca_pem = ca.ca_pem.clone();
    let port = ca.proxy(h.emu.local_addr()).await.unwrap();
    let org_path = url::Url::parse(&h.emu.org_url()).unwrap().path().to_owned();
    let organization = format!("https://localhost:{port}{org_path}");
    h.pat_secret("azp-pat", PAT).await;
    let config_map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "org-ca", "namespace": NAMESPACE},
        "data": {"ca.crt": ca_pem}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(h.client.clone(), NAMESPACE)
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "org-ca-secret", "namespace": NAMESPACE},
        "stringData": {"bundle.pem": ca_pem}
    }))
    .unwrap();
    Api::<Secret>::namespaced(h.client.clone(), NAMESPACE)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    h.agent_pool(
        "via-configmap",
        "Linux",
        json!({"organization": organization,
               "caBundle": {"configMapRef": {"name": "org-ca", "key": "ca.crt"}}}),
    )
    .await;
    h.agent_pool(
        "via-secret",
        "Windows",
        json!({"organization": organization,
               "caBundle": {"secretRef": {"name": "org-ca-secret", "key": "bundle.pem"}}}),
    )
    .await;
    h.agent_pool("no-bundle", "Mac", json!({"organization": organization}))
        .await;
    h.start_operator(&[]).await;

    for name in ["via-configmap", "via-secret"] {
        let (status, reason, message) = reachable(&h, name).await;
        assert_eq!(status, "True", "{name}: {reason}: {message}");
        eventually(&format!("{name}: placeholder over TLS"), WAIT, || async {
            h.placeholder_registered(name).then_some(())
        })
        .await;
    }
    let (status, reason, message) = reachable(&h, "no-bundle").await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "TransportError"),
        "{message}"
    );
    assert!(!h.placeholder_registered("no-bundle"));

    // Served through the CA: a queued job gets a pod.
    h.queue("Linux", &[]);
    eventually("a pod for the job", WAIT, || async {
        (!h.pods().await.is_empty()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_empty_ca_bundle_is_a_condition_naming_it() {
    let mut h = Harness::start(&["Linux", "Windows"]).await;
    h.pat_secret("azp-pat", PAT).await;
    let config_map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "not-pem", "namespace": NAMESPACE},
        "data": {"ca.crt": "hello"}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(h.client.clone(), NAMESPACE)
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
    h.agent_pool(
        "missing",
        "Linux",
        json!({"caBundle": {"configMapRef": {"name": "nowhere", "key": "ca.crt"}}}),
    )
    .await;
    h.agent_pool(
        "garbage",
        "Windows",
        json!({"caBundle": {"configMapRef": {"name": "not-pem", "key": "ca.crt"}}}),
    )
    .await;
    h.start_operator(&[]).await;
    for (name, expected, names) in [
        ("missing", "CaBundleNotFound", "\"nowhere\""),
        ("garbage", "CaBundleInvalid", "\"not-pem\""),
    ] {
        let (reason, message) = eventually(&format!("{name}: Ready=False"), WAIT, || async {
            let pool = h.pools().get(name).await.ok()?;
            let ready = pool
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready" && c.status == "False")?;
            Some((ready.reason, ready.message))
        })
        .await;
        assert_eq!(reason, expected, "{message}");
        assert!(message.contains(names), "{message}");
    }
    assert!(!h.placeholder_registered("missing"));
}
