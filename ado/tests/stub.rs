//! Service behaviours the emulator does not produce, against a small strict axum double:
//! duplicate pool names, sign-in redirects, HTML 200 pages and `X-RateLimit-Delay` without `Retry-After`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use azp_ado::{AdoClient, AdoClientConfig, AdoError, Auth, RetryPolicy, Secret};
use base64::Engine as _;
use serde::Deserialize;

const PAT: &str = "stub-pat";

#[derive(Deserialize)]
struct PoolsQuery {
    #[serde(rename = "poolName")]
    pool_name: String,
}

#[derive(Default)]
struct Counters {
    delayed_calls: AtomicU32,
}

fn error(status: StatusCode, type_key: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"message": message, "typeKey": type_key}).to_string(),
    )
        .into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(":{PAT}"))
    );
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str())
}

/// `GET {org}/_apis/distributedtask/pools?poolName=`: "twin" exists twice (case differs), "redirect" sends the
/// browser sign-in redirect, "html" answers a 200 HTML page, "delayed" is throttled once with only X-RateLimit-Delay.
async fn pools(
    State(counters): State<Arc<Counters>>,
    headers: HeaderMap,
    Query(query): Query<PoolsQuery>,
) -> Response {
    if !authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedRequestException",
            "unauthorized",
        );
    }
    let json = |body: &str| {
        (
            [(header::CONTENT_TYPE, "application/json")],
            body.to_owned(),
        )
            .into_response()
    };
    match query.pool_name.as_str() {
        "twin" => json(r#"{"count":2,"value":[{"id":1,"name":"twin"},{"id":2,"name":"TWIN"}]}"#),
        "redirect" => (
            StatusCode::FOUND,
            [(
                header::LOCATION,
                "https://spsprodweu5.vssps.visualstudio.com/_signin?realm=dev.azure.com",
            )],
        )
            .into_response(),
        "html" => (
            [(header::CONTENT_TYPE, "text/html")],
            "<html>Sign In</html>",
        )
            .into_response(),
        "delayed" if counters.delayed_calls.fetch_add(1, Ordering::SeqCst) == 0 => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("X-RateLimit-Delay", "0.4"),
                ("X-RateLimit-Resource", "Core"),
                (header::CONTENT_TYPE.as_str(), "application/json"),
            ],
            r#"{"message":"TF400733: blocked","typeKey":"RequestBlockedException"}"#,
        )
            .into_response(),
        name => json(&format!(
            r#"{{"count":1,"value":[{{"id":7,"name":"{name}"}}]}}"#
        )),
    }
}

async fn start() -> (AdoClient, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/org/_apis/distributedtask/pools", get(pools))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "RouteNotFoundException",
                "no such route",
            )
        })
        .with_state(counters.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut cfg = AdoClientConfig::new(
        url::Url::parse(&format!("http://127.0.0.1:{port}/org")).unwrap(),
        Auth::Pat(Secret::new(PAT)),
    );
    cfg.allow_insecure_http = true;
    cfg.retry = RetryPolicy {
        base_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    (AdoClient::new(cfg).unwrap(), counters)
}

#[tokio::test]
async fn two_exact_name_matches_are_ambiguous() {
    let (client, _) = start().await;
    let err = client.find_pool("twin").await.unwrap_err();
    assert!(
        matches!(&err, AdoError::AmbiguousPool { name, count: 2 } if name == "twin"),
        "{err:?}"
    );
    assert_eq!(client.find_pool("solo").await.unwrap().id, 7);
}

#[tokio::test]
async fn sign_in_redirects_and_html_pages_are_bad_credentials() {
    let (client, _) = start().await;
    assert!(matches!(
        client.find_pool("redirect").await,
        Err(AdoError::BadCredentials { status: 302 })
    ));
    assert!(matches!(
        client.find_pool("html").await,
        Err(AdoError::BadCredentials { status: 200 })
    ));
}

#[tokio::test]
async fn rate_limit_delay_header_alone_is_honoured() {
    let (client, counters) = start().await;
    let started = Instant::now();
    assert_eq!(client.find_pool("delayed").await.unwrap().name, "delayed");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(counters.delayed_calls.load(Ordering::SeqCst), 2);
}
