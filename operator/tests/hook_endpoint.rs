//! The service-hook endpoint faces the internet: the real operator binary against stalled
//! clients, a hook flood, malformed bodies and other organizations' events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Harness, PAT, eventually};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const JOB_LIST: &str = "GET /_apis/distributedtask/pools/{poolId}/jobrequests";

fn list_calls(h: &Harness) -> u64 {
    h.emu
        .stats()
        .routes
        .get(JOB_LIST)
        .map_or(0, |by_status| by_status.values().sum())
}

fn event(state: &str, org_url: &str) -> String {
    json!({
        "eventType": "ms.vss-pipelines.job-state-changed-event",
        "resource": {"job": {
            "state": state,
            "_links": {"web": {"href": format!("{org_url}/Web/_build/results?buildId=1")}}
        }}
    })
    .to_string()
}

async fn started(secret: &str, extra: &[&str]) -> (Harness, tempfile::NamedTempFile) {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    // A 10-minute scheduled poll: every list call after start-up was brought forward.
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"maxAgents": 5, "pollInterval": "10m"}}),
    )
    .await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), secret).unwrap();
    let mut args = vec!["--hook-secret-file", file.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    h.start_operator(&args).await;
    eventually("placeholder", Duration::from_secs(30), || async {
        h.placeholder_registered("linux").then_some(())
    })
    .await;
    // Let the start-up polls pass.
    tokio::time::sleep(Duration::from_secs(2)).await;
    (h, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_are_closed_and_health_answers_throughout() {
    let (h, _secret) = started("s3cret", &["--header-read-timeout-seconds", "2"]).await;
    let addr = h.operators[0]
        .metrics_url
        .trim_start_matches("http://")
        .to_owned();
    // 400 clients that send half a request line and stall.
    let mut stalled = Vec::new();
    for _ in 0..400 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"POST /hooks/azure-de").await.unwrap();
        stalled.push(stream);
    }
    let opened = Instant::now();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut slowest = Duration::ZERO;
    while opened.elapsed() < Duration::from_secs(3) {
        let asked = Instant::now();
        let health = http
            .get(format!("{}/healthz", h.operators[0].metrics_url))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        slowest = slowest.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("slowest /healthz with 400 stalled clients: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(100),
        "/healthz took {slowest:?} with 400 stalled clients"
    );
    // Every stalled connection is closed by the server within the header timeout (2 s, read
    // here with a margin for a loaded machine).
    let mut still_open = 0;
    for stream in &mut stalled {
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await {
            Ok(_) => {}
            Err(_) => still_open += 1,
        }
    }
    assert_eq!(
        still_open,
        0,
        "stalled connections still open after {:?}",
        opened.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_get_429_and_bad_or_foreign_events_trigger_no_poll() {
    let (h, _secret) = started("s3cret", &["--hook-rate-limit", "2", "--hook-burst", "5"]).await;
    let url = format!("{}/hooks/azure-devops", h.operators[0].metrics_url);
    let http = reqwest::Client::new();
    let post = |body: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(&url)
                .basic_auth("ado", Some("s3cret"))
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // Malformed bodies and another organization's waiting jobs: answered, never a poll.
    let before = list_calls(&h);
    for (body, want) in [
        ("{}".to_owned(), 400),
        ("not json".to_owned(), 400),
        (
            json!({"eventType": "build.complete", "resource": {}}).to_string(),
            400,
        ),
        (event("waiting", "https://dev.azure.com/fabrikam"), 202),
    ] {
        assert_eq!(post(body.clone()).await, want, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        list_calls(&h),
        before,
        "a malformed or foreign event caused a poll"
    );

    // A flood of valid hooks: 5 at once pass, the rest get 429 until the bucket refills; the
    // polls they cause stay one per --min-poll-spacing-ms.
    tokio::time::sleep(Duration::from_secs(3)).await; // refill the bucket (2/s, burst 5)
    let before = list_calls(&h);
    let flood_started = Instant::now();
    let waiting = event("waiting", &h.emu.org_url());
    let mut accepted = 0;
    let mut limited = 0;
    while flood_started.elapsed() < Duration::from_secs(4) {
        match post(waiting.clone()).await {
            202 => accepted += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let flood = flood_started.elapsed();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let polls = list_calls(&h) - before;
    eprintln!("flood of {flood:?}: {accepted} accepted, {limited} answered 429, {polls} polls");
    assert!(limited > 100, "only {limited} hooks were answered 429");
    // 5 burst + 2/s for ~4 s, with slack for timing.
    assert!(
        (5..=16).contains(&accepted),
        "{accepted} hooks accepted in {flood:?}"
    );
    // The harness runs the operator with --min-poll-spacing-ms 500: two polls a second at most
    // (plus the one at the start of the window).
    assert!(
        polls >= 1 && polls <= 2 * flood.as_secs() + 2,
        "{polls} polls in {flood:?}"
    );
}
