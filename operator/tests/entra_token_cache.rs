//! The workload identity token source against kube-sim's TokenRequest and the emulator's
//! Entra endpoint: a token is reused while fresh and replaced before it expires.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use azp_ado_emulator::{EmulatorConfig, RunningEmulator};
use azp_kube_sim::{KubeSimConfig, RunningKubeSim};
use azp_operator::crd::WorkloadIdentity;
use azp_operator::entra::{IdentityKey, WorkloadIdentitySource};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0d9c2a5e-3c4b-4e7a-9f1d-6b2a8c3e5f70";

#[tokio::test]
async fn an_access_token_is_reused_while_fresh_and_replaced_before_it_expires() {
    let sim = RunningKubeSim::start(KubeSimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let emulator =
        RunningEmulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let kube = sim.client().await;
    Api::<ServiceAccount>::namespaced(kube.clone(), "default")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "azp"}})).unwrap(),
        )
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let control = |path: &str, body: serde_json::Value| {
        let request = http
            .post(format!("{}/_emulator/entra/{path}", emulator.base_url()))
            .json(&body);
        async move { assert!(request.send().await.unwrap().status().is_success()) }
    };
    control(
        "applications",
        json!({"tenantId": TENANT, "clientId": CLIENT, "organizationMember": true, "poolAdministrator": true,
               "federatedCredentials": [{"issuer": sim.url(), "subject": "system:serviceaccount:default:azp"}]}),
    )
    .await;
    // Two-second tokens: the source must replace them one second (half the lifetime) early.
    control("token-lifetime", json!({"seconds": 2})).await;

    let identity = WorkloadIdentity {
        tenant_id: TENANT.into(),
        client_id: CLIENT.into(),
        service_account_name: "azp".into(),
    };
    let source = WorkloadIdentitySource::new(
        IdentityKey::new("default", &identity),
        kube,
        reqwest::Client::new(),
        format!("{}/", emulator.base_url()).parse().unwrap(),
    );
    let first = source.access_token().await.unwrap();
    let again = source.access_token().await.unwrap();
    assert_eq!(
        first.expose(),
        again.expose(),
        "a fresh token was not reused"
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    // 1.2 s in, 0.8 s before expiry: inside the margin, so a new token (a later `iat`).
    let refreshed = source.access_token().await.unwrap();
    assert_ne!(
        first.expose(),
        refreshed.expose(),
        "the token was not refreshed"
    );
    let status = http
        .get(format!(
            "{}/_apis/distributedtask/pools?api-version=7.1",
            emulator.org_url()
        ))
        .bearer_auth(refreshed.expose())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "the refreshed token is not accepted");
}
