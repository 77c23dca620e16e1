//! Credential-leak checks shared by the redaction tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::time::Duration;

use azp_ado::{AdoClient, AdoError, AgentQuery, Auth, NewAgent, Secret};
use base64::Engine as _;
use serde_json::json;

use super::*;

pub const WRONG_PAT: &str = "wrong-pat-Zx81secret";

/// Every way a credential could show up in text: raw, and inside a Basic header.
pub fn forbidden() -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(format!(":{s}"));
    vec![
        PAT.to_owned(),
        WRONG_PAT.to_owned(),
        BEARER.to_owned(),
        b64(PAT),
        b64(WRONG_PAT),
    ]
}

pub fn assert_clean(label: &str, text: &str) {
    for secret in forbidden() {
        assert!(
            !text.contains(&secret),
            "{label} leaks a credential: {text}"
        );
    }
}

/// Produces one error of as many kinds as the emulator can provoke.
pub async fn provoke_errors(emulator: &azp_ado_emulator::RunningEmulator) -> Vec<AdoError> {
    let good = client(emulator);
    let wrong = AdoClient::new(test_config(emulator, Auth::Pat(Secret::new(WRONG_PAT)))).unwrap();
    let mut errors = Vec::new();
    errors.push(wrong.find_pool("linux").await.unwrap_err());
    inject_fault(emulator, json!({"kind": "badPat", "count": 1})).await;
    errors.push(good.find_pool("linux").await.unwrap_err());
    errors.push(good.find_pool("nope").await.unwrap_err());
    errors.push(good.delete_agent(10, 777).await.unwrap_err());
    let agent = NewAgent {
        name: "dup".into(),
        version: "1.0.0".into(),
        ..NewAgent::default()
    };
    good.add_agent(10, &agent).await.unwrap();
    errors.push(good.add_agent(10, &agent).await.unwrap_err());
    inject_fault(
        emulator,
        json!({"kind": "rateLimit", "count": 3, "retryAfterSeconds": 0}),
    )
    .await;
    errors.push(good.list_pending_job_requests(10).await.unwrap_err());
    inject_fault(
        emulator,
        json!({"kind": "serverError", "status": 503, "count": 3}),
    )
    .await;
    errors.push(
        good.list_agents(10, &AgentQuery::default())
            .await
            .unwrap_err(),
    );
    let mut slow = test_config(emulator, Auth::Pat(Secret::new(PAT)));
    slow.request_timeout = Duration::from_millis(200);
    inject_fault(emulator, json!({"kind": "latency", "ms": 800, "count": 1})).await;
    errors.push(
        AdoClient::new(slow)
            .unwrap()
            .get_pool(10)
            .await
            .unwrap_err(),
    );

    // Nothing listens on a port we just released: a connection error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut unreachable = test_config(emulator, Auth::Pat(Secret::new(PAT)));
    unreachable.organization_url = url::Url::parse(&format!("http://{closed}/contoso")).unwrap();
    errors.push(
        AdoClient::new(unreachable)
            .unwrap()
            .get_pool(10)
            .await
            .unwrap_err(),
    );

    let mut insecure = test_config(emulator, Auth::Pat(Secret::new(PAT)));
    insecure.allow_insecure_http = false;
    errors.push(AdoClient::new(insecure).unwrap_err());
    let mut with_userinfo = test_config(emulator, Auth::Pat(Secret::new(PAT)));
    with_userinfo.organization_url =
        url::Url::parse(&format!("https://user:{PAT}@dev.azure.com/contoso")).unwrap();
    errors.push(AdoClient::new(with_userinfo).unwrap_err());
    errors
}
