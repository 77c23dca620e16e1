//! Shared helpers: start the emulator, build clients, drive the control API.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod agent_play;
pub mod leaks;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azp_ado::{
    AdoClient, AdoClientConfig, AdoError, Auth, BoxFuture, RequestAttempt, RequestObserver,
    RetryPolicy, Secret, TokenSource,
};
use azp_ado_emulator::{EmulatorConfig, RunningEmulator};
use serde_json::{Value, json};

pub const PAT: &str = "pat-7Hq2xZsecretvalue";
pub const BEARER: &str = "entra-token-Q9w8e7secret";

/// Pools "linux" (id 10) and "windows" (id 11).
pub async fn start_emulator() -> RunningEmulator {
    let cfg = EmulatorConfig {
        pat: PAT.to_owned(),
        pools: vec!["linux".to_owned(), "windows".to_owned()],
        bearer_token: Some(BEARER.to_owned()),
        // Short idle long-polls keep the agent-playing tests fast.
        long_poll: Duration::from_millis(300),
        sweep_interval: Duration::from_millis(50),
        ..EmulatorConfig::default()
    };
    RunningEmulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Fast retries so tests stay short; 2 s timeout.
pub fn test_config(emulator: &RunningEmulator, auth: Auth) -> AdoClientConfig {
    let mut cfg = AdoClientConfig::new(url::Url::parse(&emulator.org_url()).unwrap(), auth);
    cfg.allow_insecure_http = true;
    cfg.request_timeout = Duration::from_secs(2);
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
        max_total_wait: Duration::from_secs(10),
    };
    cfg
}

pub fn client(emulator: &RunningEmulator) -> AdoClient {
    AdoClient::new(test_config(emulator, Auth::Pat(Secret::new(PAT)))).unwrap()
}

/// `POST /_emulator/faults`.
pub async fn inject_fault(emulator: &RunningEmulator, fault: Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator/faults", emulator.base_url()))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "fault {fault} refused: {}",
        response.text().await.unwrap()
    );
}

/// `GET /_emulator/stats` → count for `"METHOD template"` and status.
pub async fn count(emulator: &RunningEmulator, route: &str, status: u16) -> u64 {
    let stats: Value = reqwest::get(format!("{}/_emulator/stats", emulator.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["routes"][route][status.to_string()]
        .as_u64()
        .unwrap_or(0)
}

/// `GET /_emulator/stats` → total `_apis` requests.
pub async fn total(emulator: &RunningEmulator) -> u64 {
    let stats: Value = reqwest::get(format!("{}/_emulator/stats", emulator.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["total"].as_u64().unwrap()
}

/// `POST /_emulator/jobs` → request id.
pub async fn queue_job(emulator: &RunningEmulator, pool: &str, demands: &[&str]) -> i64 {
    let response = reqwest::Client::new()
        .post(format!("{}/_emulator/jobs", emulator.base_url()))
        .json(
            &json!({"pool": pool, "demands": demands, "durationSeconds": 1, "result": "succeeded"}),
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    response.json::<Value>().await.unwrap()["requestId"]
        .as_i64()
        .unwrap()
}

/// A token source that counts how often it is asked.
pub struct CountingTokenSource {
    pub token: String,
    pub calls: AtomicUsize,
}

impl CountingTokenSource {
    pub fn new(token: &str) -> Arc<Self> {
        Arc::new(Self {
            token: token.to_owned(),
            calls: AtomicUsize::new(0),
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenSource for CountingTokenSource {
    fn token(&self) -> BoxFuture<'_, Result<Secret, AdoError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(Secret::new(self.token.clone())) })
    }
}

/// Records every attempt the client reports.
#[derive(Default)]
pub struct RecordingObserver {
    pub attempts: Mutex<Vec<RequestAttempt>>,
}

impl RequestObserver for RecordingObserver {
    fn on_attempt(&self, attempt: &RequestAttempt) {
        self.attempts.lock().unwrap().push(attempt.clone());
    }
}
