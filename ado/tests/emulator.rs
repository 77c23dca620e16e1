//! The client against the Azure DevOps emulator: happy paths, error mapping, retries, timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azp_ado::{
    AdoClient, AdoClientConfig, AdoError, AgentPatch, AgentQuery, AgentStatus, AttemptOutcome,
    Auth, JobRequest, MatchedAgent, NewAgent, PoolLookup, RetryPolicy, Secret,
};
use azp_ado_emulator::RunningEmulator;
use common::*;
use serde_json::json;

const JOBREQUESTS: &str = "GET /_apis/distributedtask/pools/{poolId}/jobrequests";

fn placeholder(name: &str) -> NewAgent {
    NewAgent {
        name: name.to_owned(),
        version: "4.261.0".to_owned(),
        os_description: Some("Linux".to_owned()),
        enabled: Some(true),
        max_parallelism: Some(1),
        provisioning_state: Some("Provisioned".to_owned()),
        user_capabilities: HashMap::from([("buildkit".to_owned(), "true".to_owned())]),
        ..NewAgent::default()
    }
}

#[tokio::test]
async fn pools_are_found_by_name_and_id_and_missing_ones_are_typed() {
    let emulator = start_emulator().await;
    let client = client(&emulator);

    let linux = client.find_pool("linux").await.unwrap();
    assert_eq!((linux.id, linux.name.as_str()), (10, "linux"));
    assert_eq!(client.find_pool("WINDOWS").await.unwrap().id, 11);
    assert_eq!(client.get_pool(11).await.unwrap().name, "windows");

    let missing = client.find_pool("mac").await.unwrap_err();
    assert!(
        matches!(&missing, AdoError::PoolNotFound { pool: PoolLookup::Name(n) } if n == "mac"),
        "{missing:?}"
    );
    assert_eq!(missing.reason(), "PoolNotFound");
    let missing_id = client.get_pool(99).await.unwrap_err();
    assert!(
        matches!(
            missing_id,
            AdoError::PoolNotFound {
                pool: PoolLookup::Id(99)
            }
        ),
        "{missing_id:?}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn agents_are_added_listed_patched_disabled_and_deleted() {
    let emulator = start_emulator().await;
    let client = client(&emulator);

    let added = client.add_agent(10, &placeholder("pod-a")).await.unwrap();
    assert_eq!(added.name, "pod-a");
    let other = client.add_agent(10, &placeholder("pod-b")).await.unwrap();

    let duplicate = client
        .add_agent(10, &placeholder("pod-a"))
        .await
        .unwrap_err();
    assert!(
        matches!(&duplicate, AdoError::AgentExists { name } if name == "pod-a"),
        "{duplicate:?}"
    );

    let all = client
        .list_agents(10, &AgentQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let by_name = client
        .list_agents(
            10,
            &AgentQuery {
                name: Some("pod-b".into()),
                ..AgentQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_name.iter().map(|a| a.id).collect::<Vec<_>>(), [other.id]);
    assert!(
        client
            .list_agents(11, &AgentQuery::default())
            .await
            .unwrap()
            .is_empty()
    );

    let with_caps = AgentQuery {
        include_capabilities: true,
        include_assigned_request: true,
        ..AgentQuery::default()
    };
    let read = client.get_agent(10, added.id, &with_caps).await.unwrap();
    assert_eq!(
        read.user_capabilities.get("buildkit").map(String::as_str),
        Some("true")
    );
    assert_eq!(read.status, Some(AgentStatus::Offline));
    assert_eq!(read.assigned_request, None);

    let patch = AgentPatch {
        user_capabilities: Some(HashMap::from([(
            "azp.dev/agentpool".to_owned(),
            "linux-small".to_owned(),
        )])),
        ..AgentPatch::default()
    };
    client.update_agent(10, added.id, &patch).await.unwrap();
    let reread = client.get_agent(10, added.id, &with_caps).await.unwrap();
    assert_eq!(
        reread
            .user_capabilities
            .get("azp.dev/agentpool")
            .map(String::as_str),
        Some("linux-small")
    );

    let disabled = client.set_agent_enabled(10, added.id, false).await.unwrap();
    assert_eq!(disabled.enabled, Some(false));
    assert_eq!(
        client
            .get_agent(10, added.id, &AgentQuery::default())
            .await
            .unwrap()
            .enabled,
        Some(false)
    );
    assert_eq!(
        client
            .set_agent_enabled(10, added.id, true)
            .await
            .unwrap()
            .enabled,
        Some(true)
    );

    let found = client.find_agent(10, "POD-A").await.unwrap();
    assert_eq!(found.map(|a| a.id), Some(added.id));
    assert_eq!(client.find_agent(10, "pod-z").await.unwrap(), None);

    client.delete_agent(10, added.id).await.unwrap();
    let again = client.delete_agent(10, added.id).await.unwrap_err();
    assert!(
        matches!(again, AdoError::AgentNotFound { pool_id: 10, agent_id } if agent_id == added.id),
        "{again:?}"
    );
    let gone = client
        .get_agent(10, added.id, &AgentQuery::default())
        .await
        .unwrap_err();
    assert_eq!(gone.reason(), "AgentNotFound");
    assert_eq!(
        client
            .list_agents(10, &AgentQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn pending_job_requests_come_from_exactly_one_request_per_call() {
    let emulator = start_emulator().await;
    let client = client(&emulator);
    // The service fails a job at once when no registered agent matches its demands: register an offline placeholder.
    let registered = client
        .add_agent(10, &placeholder("placeholder"))
        .await
        .unwrap();
    let first = queue_job(&emulator, "linux", &["buildkit"]).await;
    let second = queue_job(&emulator, "linux", &[]).await;
    queue_job(&emulator, "windows", &[]).await;

    let before = total(&emulator).await;
    let requests = client.list_pending_job_requests(10).await.unwrap();
    assert_eq!(
        total(&emulator).await - before,
        1,
        "exactly one HTTP request per call"
    );
    assert_eq!(count(&emulator, JOBREQUESTS, 200).await, 1);

    let mut ids: Vec<i64> = requests.iter().map(|r| r.request_id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [first, second]);
    assert!(requests.iter().all(|r| r.is_pending() && !r.is_running()));
    let with_demand = requests.iter().find(|r| r.request_id == first).unwrap();
    assert_eq!(with_demand.demands, ["buildkit"]);
    assert_eq!(with_demand.pool_id, Some(10));
    assert!(with_demand.queue_time.is_some());
    assert!(
        with_demand
            .matched_agents
            .iter()
            .flatten()
            .any(|a| a.id == registered.id)
    );

    let unknown = client.list_pending_job_requests(12).await.unwrap_err();
    assert!(
        matches!(
            unknown,
            AdoError::PoolNotFound {
                pool: PoolLookup::Id(12)
            }
        ),
        "{unknown:?}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn wrong_pat_is_bad_credentials_401_and_not_retried() {
    let emulator = start_emulator().await;
    let wrong = AdoClient::new(test_config(
        &emulator,
        Auth::Pat(Secret::new("not-the-pat")),
    ))
    .unwrap();
    let err = wrong.find_pool("linux").await.unwrap_err();
    assert!(
        matches!(err, AdoError::BadCredentials { status: 401 }),
        "{err:?}"
    );
    assert_eq!(err.reason(), "BadCredentials");
    assert_eq!(total(&emulator).await, 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn sign_in_page_with_203_is_bad_credentials() {
    let emulator = start_emulator().await;
    let client = client(&emulator);
    inject_fault(&emulator, json!({"kind": "badPat", "count": 1})).await;
    let err = client.list_pending_job_requests(10).await.unwrap_err();
    assert!(
        matches!(err, AdoError::BadCredentials { status: 203 }),
        "{err:?}"
    );
    assert_eq!(count(&emulator, JOBREQUESTS, 203).await, 1);
    // The fault is used up: the same client works again.
    assert!(
        client
            .list_pending_job_requests(10)
            .await
            .unwrap()
            .is_empty()
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_waited_out_and_retried() {
    let emulator = start_emulator().await;
    let client = client(&emulator);
    inject_fault(
        &emulator,
        json!({"kind": "rateLimit", "count": 1, "retryAfterSeconds": 1, "route": "jobrequests"}),
    )
    .await;
    let started = Instant::now();
    client.list_pending_job_requests(10).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After not honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(count(&emulator, JOBREQUESTS, 429).await, 1);
    assert_eq!(count(&emulator, JOBREQUESTS, 200).await, 1);
    emulator.shutdown().await;
}

#[tokio::test]
async fn rate_limit_outlasting_the_budget_returns_rate_limited_with_the_hint() {
    let emulator = start_emulator().await;
    let client = client(&emulator);
    // Retry-After 0 keeps retrying cheap; the fault outlasts max_attempts (3).
    inject_fault(
        &emulator,
        json!({"kind": "rateLimit", "count": 10, "retryAfterSeconds": 0}),
    )
    .await;
    let err = client.list_pending_job_requests(10).await.unwrap_err();
    assert!(
        matches!(err, AdoError::RateLimited { retry_after: Some(d) } if d == Duration::ZERO),
        "{err:?}"
    );
    assert_eq!(
        count(&emulator, JOBREQUESTS, 429).await,
        3,
        "attempts must equal max_attempts"
    );
    assert_eq!(err.reason(), "RateLimited");
    emulator.shutdown().await;
}

#[tokio::test]
async fn retry_after_longer_than_max_delay_ends_the_call_at_once() {
    let emulator = start_emulator().await;
    let client = client(&emulator);
    inject_fault(
        &emulator,
        json!({"kind": "rateLimit", "count": 5, "retryAfterSeconds": 60}),
    )
    .await;
    let started = Instant::now();
    let err = client.find_pool("linux").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)), "{err:?}");
    assert_eq!(total(&emulator).await, 1);
    let snapshot = client.rate_limit().unwrap();
    assert_eq!(snapshot.retry_after, Some(Duration::from_secs(60)));
    assert_eq!(snapshot.remaining, Some(0));
    emulator.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried_for_reads_but_not_for_registration() {
    let emulator = start_emulator().await;
    let client = client(&emulator);
    inject_fault(
        &emulator,
        json!({"kind": "serverError", "status": 503, "count": 2, "route": "jobrequests"}),
    )
    .await;
    client.list_pending_job_requests(10).await.unwrap();
    assert_eq!(count(&emulator, JOBREQUESTS, 503).await, 2);
    assert_eq!(count(&emulator, JOBREQUESTS, 200).await, 1);

    inject_fault(
        &emulator,
        json!({"kind": "serverError", "status": 502, "count": 1, "route": "agents"}),
    )
    .await;
    let err = client
        .add_agent(10, &placeholder("pod-x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AdoError::Unavailable { status: 502, .. }),
        "{err:?}"
    );
    assert_eq!(
        count(
            &emulator,
            "POST /_apis/distributedtask/pools/{poolId}/agents",
            502
        )
        .await,
        1
    );

    inject_fault(
        &emulator,
        json!({"kind": "serverError", "status": 500, "count": 5}),
    )
    .await;
    let exhausted = client.get_pool(10).await.unwrap_err();
    assert!(
        matches!(exhausted, AdoError::Unavailable { status: 500, .. }),
        "{exhausted:?}"
    );
    assert_eq!(
        count(&emulator, "GET /_apis/distributedtask/pools/{poolId}", 500).await,
        3
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn latency_beyond_the_request_timeout_is_a_timeout() {
    let emulator = start_emulator().await;
    let mut cfg = test_config(&emulator, Auth::Pat(Secret::new(PAT)));
    cfg.request_timeout = Duration::from_millis(300);
    let client = AdoClient::new(cfg).unwrap();
    inject_fault(
        &emulator,
        json!({"kind": "latency", "ms": 2000, "count": 1}),
    )
    .await;
    let started = Instant::now();
    let err = client.list_pending_job_requests(10).await.unwrap_err();
    assert!(
        matches!(
            err,
            AdoError::Timeout {
                route: "pools/{poolId}/jobrequests",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_transient());
    emulator.shutdown().await;
}

#[tokio::test]
async fn plain_http_is_refused_unless_allowed() {
    let emulator = start_emulator().await;
    let mut cfg = test_config(&emulator, Auth::Pat(Secret::new(PAT)));
    cfg.allow_insecure_http = false;
    let err = AdoClient::new(cfg).unwrap_err();
    assert!(matches!(err, AdoError::InvalidConfig { .. }), "{err:?}");
    assert!(err.to_string().contains("clear text"), "{err}");
    assert_eq!(total(&emulator).await, 0);
    emulator.shutdown().await;
}

#[tokio::test]
async fn bearer_token_source_is_asked_before_every_request() {
    let emulator = start_emulator().await;
    let source = CountingTokenSource::new(BEARER);
    let client = AdoClient::new(test_config(&emulator, Auth::Bearer(source.clone()))).unwrap();
    client.find_pool("linux").await.unwrap();
    client
        .list_agents(10, &AgentQuery::default())
        .await
        .unwrap();
    assert_eq!(source.calls(), 2);
    // Retries are new requests: a fresh token each time (it may have been rotated meanwhile).
    inject_fault(
        &emulator,
        json!({"kind": "serverError", "status": 503, "count": 1}),
    )
    .await;
    client.get_pool(10).await.unwrap();
    assert_eq!(source.calls(), 4);

    let stale = CountingTokenSource::new("expired-token");
    let rejected = AdoClient::new(test_config(&emulator, Auth::Bearer(stale))).unwrap();
    assert!(matches!(
        rejected.get_pool(10).await,
        Err(AdoError::BadCredentials { status: 401 })
    ));
    emulator.shutdown().await;
}

#[tokio::test]
async fn throttle_headers_are_recorded_in_the_rate_limit_snapshot() {
    let emulator = start_emulator().await;
    let client = client(&emulator);
    assert_eq!(client.rate_limit(), None);
    inject_fault(&emulator, json!({"kind": "throttle", "count": 1})).await;
    client.list_pending_job_requests(10).await.unwrap();
    let snapshot = client.rate_limit().unwrap();
    assert_eq!(snapshot.limit, Some(200));
    assert_eq!(snapshot.remaining, Some(5));
    assert_eq!(snapshot.delay, Some(Duration::from_millis(2500)));
    assert_eq!(snapshot.resource.as_deref(), Some("Core"));
    assert!(
        snapshot
            .reset
            .is_some_and(|reset| reset > snapshot.observed_at)
    );

    // The next answer carries no rate-limit headers: the pressure is gone.
    client.list_pending_job_requests(10).await.unwrap();
    let calm = client.rate_limit().unwrap();
    assert_eq!((calm.remaining, calm.delay), (None, None));
    assert!(calm.observed_at >= snapshot.observed_at);
    emulator.shutdown().await;
}

#[tokio::test]
async fn observer_sees_every_attempt_with_its_route_template() {
    let emulator = start_emulator().await;
    let observer = Arc::new(RecordingObserver::default());
    let mut cfg: AdoClientConfig = test_config(&emulator, Auth::Pat(Secret::new(PAT)));
    cfg.observer = Some(observer.clone());
    cfg.retry = RetryPolicy {
        base_delay: Duration::from_millis(1),
        ..cfg.retry
    };
    let client = AdoClient::new(cfg).unwrap();
    inject_fault(
        &emulator,
        json!({"kind": "serverError", "status": 503, "count": 1, "route": "jobrequests"}),
    )
    .await;
    client.list_pending_job_requests(10).await.unwrap();
    client.delete_agent(10, 4242).await.unwrap_err();

    let seen: Vec<_> = observer
        .attempts
        .lock()
        .unwrap()
        .iter()
        .map(|a| (a.method, a.route, a.attempt, a.outcome))
        .collect();
    assert_eq!(
        seen,
        [
            (
                "GET",
                "pools/{poolId}/jobrequests",
                1,
                AttemptOutcome::Status(503)
            ),
            (
                "GET",
                "pools/{poolId}/jobrequests",
                2,
                AttemptOutcome::Status(200)
            ),
            (
                "DELETE",
                "pools/{poolId}/agents/{agentId}",
                1,
                AttemptOutcome::Status(404)
            ),
        ]
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_agent_holding_a_job_shows_it_and_refuses_deletion() {
    let emulator = start_emulator().await;
    let client = client(&emulator);
    let online = common::agent_play::register_online(&emulator, &client, 10, "pod-busy").await;
    let agent = online.agent.clone();
    let request_id = queue_job(&emulator, "linux", &[]).await;
    assert!(
        !online.poll().await.is_null(),
        "the online agent receives the queued job"
    );

    let jobs = client.list_pending_job_requests(10).await.unwrap();
    let job = jobs.iter().find(|j| j.request_id == request_id).unwrap();
    assert!(job.is_running() && !job.is_pending(), "{job:?}");
    assert_eq!(job.reserved_agent.as_ref().map(|a| a.id), Some(agent.id));

    let busy = AgentQuery {
        include_assigned_request: true,
        ..AgentQuery::default()
    };
    let read = client.get_agent(10, agent.id, &busy).await.unwrap();
    assert_eq!(read.status, Some(AgentStatus::Online));
    assert_eq!(
        read.assigned_request.map(|r| r.request_id),
        Some(request_id)
    );

    let err = client.delete_agent(10, agent.id).await.unwrap_err();
    assert!(
        matches!(err, AdoError::AgentBusy { pool_id: 10, agent_id, .. } if agent_id == agent.id),
        "{err:?}"
    );
    assert_eq!(err.reason(), "AgentBusy");
    emulator.shutdown().await;
}

/// The raw job-request list of pool 10, as the emulator sends it.
async fn raw_job_list(emulator: &RunningEmulator) -> Vec<u8> {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/_apis/distributedtask/pools/10/jobrequests?completedRequestCount=0&api-version=7.1-preview.1",
            emulator.org_url()
        ))
        .basic_auth("", Some(PAT))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_large_job_list_decoded_while_it_arrives_equals_the_whole_body_decoded() {
    let emulator = start_emulator().await;
    let client = client(&emulator);
    let mut agent_ids = Vec::new();
    for n in 0..40 {
        let agent = client
            .add_agent(10, &placeholder(&format!("agent-{n:03}")))
            .await
            .unwrap();
        agent_ids.push(agent.id);
    }
    for _ in 0..60 {
        queue_job(&emulator, "linux", &["buildkit"]).await;
    }
    let body = raw_job_list(&emulator).await;
    // Big enough to arrive in many chunks, so chunk boundaries fall inside values.
    assert!(body.len() > 256 * 1024, "{} bytes", body.len());
    let whole: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let expected: Vec<JobRequest> = whole["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| serde_json::from_value(job.clone()).unwrap())
        .collect();
    assert_eq!(expected.len(), 60);

    let streamed = client.list_pending_job_requests(10).await.unwrap();
    assert_eq!(streamed, expected);
    // Every job matches every agent; only the ids are kept, in the service's order.
    let matched: Vec<i32> = streamed[0]
        .matched_agents
        .iter()
        .flatten()
        .map(|a| a.id)
        .collect();
    assert_eq!(matched, agent_ids);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_job_list_over_the_limit_is_refused_and_one_at_the_limit_is_read() {
    let emulator = start_emulator().await;
    let registered = client(&emulator)
        .add_agent(10, &placeholder("placeholder"))
        .await
        .unwrap();
    for _ in 0..5 {
        queue_job(&emulator, "linux", &["buildkit"]).await;
    }
    let size = raw_job_list(&emulator).await.len() as u64;
    let limited = |limit: u64| {
        let mut cfg = test_config(&emulator, Auth::Pat(Secret::new(PAT)));
        cfg.max_job_list_bytes = limit;
        AdoClient::new(cfg).unwrap()
    };
    let at_limit = limited(size).list_pending_job_requests(10).await.unwrap();
    assert_eq!(at_limit.len(), 5);
    assert_eq!(
        at_limit[0].matched_agents.as_deref(),
        Some(&[MatchedAgent { id: registered.id }][..])
    );

    let err = limited(size - 1)
        .list_pending_job_requests(10)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AdoError::JobListTooLarge { limit, read } if limit == size - 1 && read == size),
        "{err:?}"
    );
    assert_eq!(err.reason(), "JobListTooLarge");
    assert!(!err.is_transient(), "a retry would read the same list");
    emulator.shutdown().await;
}
