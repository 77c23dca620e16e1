//! Service-hook delivery to a local receiver.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{DEFAULT_POOL, Emu};

type Received = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hooks/azure-devops",
            post(|State(store): State<Received>, headers: HeaderMap, Json(body): Json<Value>| async move {
                store.lock().unwrap().push((headers, body));
                StatusCode::OK
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hooks/azure-devops"), received)
}

#[tokio::test]
async fn job_state_changes_are_posted_to_registered_hooks() {
    let emu = Emu::default().await;
    let (url, received) = receiver().await;
    let hook = json!({"url": url, "basicAuth": {"username": "hook", "password": "s3cret"}, "headers": {"X-Test": "yes"}});
    let response = emu.post_control("hooks", &hook).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    emu.session(&agent).await;
    let id = emu.queue(json!({"pool": "Default", "name": "build"})).await;
    emu.wait_state(id, "assigned").await;
    emu.patch_job(&agent, id, json!({})).await;
    emu.patch_job(&agent, id, json!({"result": "succeeded"}))
        .await;

    let mut events = Vec::new();
    for _ in 0..100 {
        events = received.lock().unwrap().clone();
        if events.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let states: Vec<_> = events
        .iter()
        .map(|(_, e)| e["resource"]["job"]["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["waiting", "inProgress", "completed"]);
    let (headers, last) = &events[2];
    assert_eq!(
        last["eventType"],
        "ms.vss-pipelines.job-state-changed-event"
    );
    assert_eq!(last["publisherId"], "pipelines");
    assert_eq!(last["resource"]["job"]["result"], "succeeded");
    assert_eq!(last["resource"]["job"]["name"], "build");
    assert_eq!(headers["authorization"], "Basic aG9vazpzM2NyZXQ=");
    assert_eq!(headers["x-test"], "yes");
    let text = last.to_string();
    assert!(
        !text.contains("poolId") && !text.contains("demands") && !text.contains("requestId"),
        "the real event has none of these: {text}"
    );
}

#[tokio::test]
async fn hook_registration_is_validated() {
    let emu = Emu::default().await;
    for hook in [
        json!({"url": "not a url"}),
        json!({"url": "ftp://x/y"}),
        json!({"url": "http://x/", "extra": 1}),
    ] {
        let response = emu.post_control("hooks", &hook).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{hook}");
    }
}
