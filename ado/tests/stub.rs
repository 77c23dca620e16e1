//! Service behaviours the emulator does not produce, against a small strict axum double:
//! duplicate pool names, sign-in redirects, HTML 200 pages and `X-RateLimit-Delay` without `Retry-After`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use azp_ado::{
    AdoClient, AdoClientConfig, AdoError, Auth, JobRequest, MatchedAgent, RetryPolicy, Secret,
};
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

/// A job-request list of `jobs` jobs, each matching `agents` agents, in the service's full shape:
/// every field the client does not keep is there too (nested objects and arrays included).
fn job_list_body(jobs: i64, agents: i32) -> String {
    let matched: Vec<serde_json::Value> = (1..=agents)
        .map(|id| {
            serde_json::json!({
                "_links": {"self": {"href": format!("https://dev.azure.com/org/_apis/distributedtask/pools/1/agents/{id}")},
                           "web": {"href": "https://dev.azure.com/org/_settings/agentpools"}},
                "id": id, "name": format!("agent-{id:04}"), "version": "4.261.0", "osDescription": "Linux 6.1",
                "enabled": true, "status": "offline", "provisioningState": "Provisioned", "accessPoint": "CodexAccessMapping"
            })
        })
        .collect();
    let value: Vec<serde_json::Value> = (1..=jobs)
        .map(|id| {
            serde_json::json!({
                "requestId": id, "queueTime": "2026-12-03T10:00:00.1234567Z", "serviceOwner": "00025394-6065-48ca-87d9-7f5672854ef7",
                "hostId": "41a18c7d", "scopeId": "02696e26", "planType": "Build", "planId": format!("plan-{id}"),
                "jobId": format!("job-{id}"), "jobName": "Build", "demands": ["maven", "Agent.Version -gtVersion 2.182.1"],
                "matchedAgents": matched, "matchesAllAgentsInPool": false,
                "definition": {"_links": {"web": {"href": "https://dev.azure.com/org/p/_build/definition?definitionId=3"}}, "id": 3, "name": "CI"},
                "owner": {"_links": {"web": {"href": format!("https://dev.azure.com/org/p/_build/results?buildId={id}")}}, "id": id, "name": format!("20261203.{id}")},
                "data": {"ParallelismTag": "Private", "IsScheduledKey": "False"},
                "agentSpecification": {"vmImage": "ubuntu-latest", "extra": [1, 2, {"deep": null}]},
                "poolId": 1, "orchestrationId": format!("plan-{id}.build.__default"), "priority": 0
            })
        })
        .collect();
    serde_json::json!({"count": jobs, "value": value}).to_string()
}

/// `GET .../pools/{poolId}/jobrequests`, sent in 1 KiB chunks without `Content-Length` (as a
/// chunked answer from Azure DevOps arrives): pool 1 a list of 100 jobs × 30 agents, pool 2 a
/// 200 "success" whose body is a sign-in page although it claims to be JSON.
async fn job_requests(Path(pool): Path<i32>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedRequestException",
            "unauthorized",
        );
    }
    let body = match pool {
        1 => job_list_body(100, 30),
        2 => "   <html>Sign In</html>".to_owned(),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "TaskAgentPoolNotFoundException",
                "no pool",
            );
        }
    };
    let chunks: Vec<Result<Vec<u8>, std::convert::Infallible>> = body
        .as_bytes()
        .chunks(1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(futures::stream::iter(chunks)),
    )
        .into_response()
}

async fn start() -> (AdoClient, Arc<Counters>) {
    start_with_limit(azp_ado::DEFAULT_MAX_JOB_LIST_BYTES).await
}

async fn start_with_limit(max_job_list_bytes: u64) -> (AdoClient, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/org/_apis/distributedtask/pools", get(pools))
        .route(
            "/org/_apis/distributedtask/pools/{pool}/jobrequests",
            get(job_requests),
        )
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
    cfg.max_job_list_bytes = max_job_list_bytes;
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

#[tokio::test]
async fn a_chunked_job_list_is_decoded_as_a_whole_one_keeping_only_matched_agent_ids() {
    let (client, _) = start().await;
    let streamed = client.list_pending_job_requests(1).await.unwrap();
    let body = job_list_body(100, 30);
    let whole: serde_json::Value = serde_json::from_str(&body).unwrap();
    let expected: Vec<JobRequest> = whole["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| serde_json::from_value(job.clone()).unwrap())
        .collect();
    assert_eq!(streamed, expected);
    let job = &streamed[41];
    assert_eq!(job.request_id, 42);
    assert_eq!(
        job.owner.as_ref().unwrap().name.as_deref(),
        Some("20261203.42")
    );
    assert_eq!(job.demands, ["maven", "Agent.Version -gtVersion 2.182.1"]);
    let ids: Vec<MatchedAgent> = (1..=30).map(|id| MatchedAgent { id }).collect();
    assert_eq!(job.matched_agents.as_deref(), Some(ids.as_slice()));
}

#[tokio::test]
async fn a_chunked_job_list_over_the_limit_stops_being_read_at_the_limit() {
    let size = job_list_body(100, 30).len() as u64;
    let limit = size / 3;
    let (client, _) = start_with_limit(limit).await;
    let err = client.list_pending_job_requests(1).await.unwrap_err();
    let AdoError::JobListTooLarge { limit: said, read } = err else {
        panic!("{err:?}")
    };
    assert_eq!(said, limit);
    // No Content-Length: the limit is found while reading, within one chunk of it.
    assert!(
        read > limit && read <= limit + 1024 && read < size,
        "{read} of {size}"
    );
    assert!(err.to_string().contains(&limit.to_string()));
}

#[tokio::test]
async fn a_json_labelled_sign_in_page_is_bad_credentials_not_a_decode_error() {
    let (client, _) = start().await;
    assert!(matches!(
        client.list_pending_job_requests(2).await,
        Err(AdoError::BadCredentials { status: 200 })
    ));
}
