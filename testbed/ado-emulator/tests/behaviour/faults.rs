//! Fault injection and per-route statistics.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{DEFAULT_POOL, Emu, Exchange as _};

async fn add_fault(emu: &Emu, fault: Value) {
    let response = emu.post_control("faults", &fault).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{fault}");
}

async fn stats(emu: &Emu) -> Value {
    emu.http.get(emu.control("stats")).fetch_json().await
}

#[tokio::test]
async fn rate_limit_answers_429_with_headers_then_recovers() {
    let emu = Emu::default().await;
    add_fault(
        &emu,
        json!({"kind": "rateLimit", "count": 2, "retryAfterSeconds": 3, "route": "jobrequests"}),
    )
    .await;
    let path = format!("distributedtask/pools/{DEFAULT_POOL}/jobrequests");
    // The route filter spares other routes.
    assert_eq!(
        emu.admin(Method::GET, "distributedtask/pools")
            .fetch_status()
            .await,
        StatusCode::OK
    );
    for _ in 0..2 {
        let response = emu.admin(Method::GET, &path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let headers = response.headers();
        assert_eq!(headers["retry-after"], "3");
        assert_eq!(headers["x-ratelimit-remaining"], "0");
        for name in [
            "x-ratelimit-resource",
            "x-ratelimit-delay",
            "x-ratelimit-limit",
            "x-ratelimit-reset",
        ] {
            assert!(headers.contains_key(name), "{name} missing");
        }
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().starts_with("TF400733"));
    }
    assert_eq!(
        emu.admin(Method::GET, &path).fetch_status().await,
        StatusCode::OK
    );
    let stats = stats(&emu).await;
    assert_eq!(
        stats["routes"]["GET /_apis/distributedtask/pools/{poolId}/jobrequests"],
        json!({"200": 1, "429": 2})
    );
    assert_eq!(
        stats["routes"]["GET /_apis/distributedtask/pools"],
        json!({"200": 1})
    );
    assert_eq!(stats["total"], 4);
}

#[tokio::test]
async fn server_error_bad_pat_and_throttle_faults() {
    let emu = Emu::default().await;
    add_fault(
        &emu,
        json!({"kind": "serverError", "status": 503, "count": 1}),
    )
    .await;
    let response = emu
        .admin(Method::GET, "distributedtask/pools")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.json::<Value>().await.unwrap()["typeKey"].is_string());

    add_fault(&emu, json!({"kind": "badPat", "count": 1})).await;
    let response = emu
        .admin(Method::GET, "distributedtask/pools")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NON_AUTHORITATIVE_INFORMATION);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("Sign In"));

    add_fault(&emu, json!({"kind": "throttle", "count": 1})).await;
    let response = emu
        .admin(Method::GET, "distributedtask/pools")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-ratelimit-delay"));
    assert!(
        response.json::<Value>().await.unwrap()["count"].is_number(),
        "throttled answers still carry the data"
    );

    let clean = emu
        .admin(Method::GET, "distributedtask/pools")
        .send()
        .await
        .unwrap();
    assert_eq!(clean.status(), StatusCode::OK);
    assert!(
        !clean.headers().contains_key("x-ratelimit-delay"),
        "rate-limit headers only during faults"
    );
}

#[tokio::test]
async fn latency_window_delays_requests_until_it_ends() {
    let emu = Emu::default().await;
    add_fault(
        &emu,
        json!({"kind": "latency", "ms": 600, "durationSeconds": 1.0}),
    )
    .await;
    let started = Instant::now();
    assert_eq!(
        emu.admin(Method::GET, "distributedtask/pools")
            .fetch_status()
            .await,
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(600));
    // The control API is never faulted.
    let started = Instant::now();
    emu.http.get(emu.control("stats")).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(400));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    emu.admin(Method::GET, "distributedtask/pools")
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "window over"
    );
}

#[tokio::test]
async fn faults_can_be_cleared_and_invalid_ones_are_refused() {
    let emu = Emu::default().await;
    add_fault(&emu, json!({"kind": "serverError", "status": 500})).await;
    assert_eq!(
        emu.admin(Method::GET, "distributedtask/pools")
            .fetch_status()
            .await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        emu.http.delete(emu.control("faults")).fetch_status().await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        emu.admin(Method::GET, "distributedtask/pools")
            .fetch_status()
            .await,
        StatusCode::OK
    );
    for fault in [
        json!({"kind": "explode"}),
        json!({"kind": "latency"}),
        json!({"kind": "badPat", "count": 1, "durationSeconds": 2}),
        json!({"kind": "badPat", "colour": "red"}),
    ] {
        let response = emu.post_control("faults", &fault).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{fault}");
    }
}

#[tokio::test]
async fn oauth_endpoint_is_only_faulted_when_named() {
    let emu = Emu::default().await;
    let agent = emu.register(DEFAULT_POOL, "worker", json!({})).await;
    add_fault(&emu, json!({"kind": "serverError", "status": 503})).await;
    let assertion = agent
        .key
        .fresh_assertion(&agent.client_id, &agent.authorization_url)
        .unwrap();
    assert!(emu.fetch_token(&agent, &assertion).await.is_ok());
    add_fault(
        &emu,
        json!({"kind": "rateLimit", "count": 1, "route": "oauth2"}),
    )
    .await;
    let response = emu
        .http
        .post(&agent.authorization_url)
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn stats_count_by_route_template_and_reset() {
    let emu = Emu::default().await;
    for pool in [10, 11, 10] {
        emu.admin(
            Method::GET,
            &format!("distributedtask/pools/{pool}/jobrequests?completedRequestCount=0"),
        )
        .send()
        .await
        .unwrap();
    }
    emu.http
        .get(emu.api("distributedtask/pools"))
        .send()
        .await
        .unwrap();
    emu.http.get(emu.control("jobs")).send().await.unwrap();
    let counted = stats(&emu).await;
    assert_eq!(
        counted["routes"]["GET /_apis/distributedtask/pools/{poolId}/jobrequests"],
        json!({"200": 3})
    );
    assert_eq!(
        counted["routes"]["GET /_apis/distributedtask/pools"],
        json!({"401": 1})
    );
    assert_eq!(counted["total"], 4, "control calls are not counted");
    // The size of the largest answer per route: the job list's JSON, not the 401's.
    let largest = &counted["largestBodyBytes"];
    assert!(
        largest["GET /_apis/distributedtask/pools/{poolId}/jobrequests"]
            .as_u64()
            .is_some_and(|bytes| bytes >= r#"{"count":0,"value":[]}"#.len() as u64),
        "{largest}"
    );
    assert_eq!(emu.emu.stats().total, 4);
    assert_eq!(
        emu.http
            .post(emu.control("stats/reset"))
            .fetch_status()
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        stats(&emu).await,
        json!({"total": 0, "routes": {}, "largestBodyBytes": {}})
    );
}
