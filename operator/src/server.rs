//! The operator's HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `POST /hooks/azure-devops`.
//!
//! The hook route faces the internet (Azure DevOps Services posts to it), so every connection is
//! bounded by the server library's own settings: hyper's header-read timeout (which also closes
//! idle keep-alive connections: the timer runs whenever the connection waits for a request
//! head), a cap on open connections, and a token-bucket limit on hook requests that answers 429
//! without ever touching the probe and metrics routes.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use crate::hooks::{self, HookVerdict, ServedOrganizations};
use crate::metrics::Metrics;

/// Shared state of the endpoints.
#[derive(Clone)]
pub struct ServerState {
    /// Metrics to render.
    pub metrics: Arc<Metrics>,
    /// Woken by an authorised service hook.
    pub trigger: Arc<Notify>,
    /// Shared secret of the service hook; `None` disables the endpoint.
    pub hook_secret: Option<Arc<str>>,
    /// Set once the operator reached the API server.
    pub ready: Arc<AtomicBool>,
    /// Authorised hook requests beyond this rate are answered 429.
    pub hook_limiter: Arc<DefaultDirectRateLimiter>,
    /// Organizations whose events may trigger a poll.
    pub served: Arc<ServedOrganizations>,
}

/// A token bucket of `per_second` hook requests with bursts of `burst`.
pub fn hook_limiter(per_second: NonZeroU32, burst: NonZeroU32) -> Arc<DefaultDirectRateLimiter> {
    Arc::new(RateLimiter::direct(
        Quota::per_second(per_second).allow_burst(burst),
    ))
}

/// Limits on every connection of a listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A client must send a whole request head within this time, on a new connection and
    /// between two requests of a kept-alive one.
    pub header_read_timeout: Duration,
    /// Open connections; further clients wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(5),
            max_connections: 512,
        }
    }
}

/// Every route: probes, metrics and (unless served on a listener of its own) the hook.
pub fn router(state: ServerState, with_hook: bool) -> Router {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    let router = if with_hook {
        router.route("/hooks/azure-devops", post(hook))
    } else {
        router
    };
    router
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
}

/// Only the hook, for `--hook-addr`: the one port that is exposed outside the cluster.
pub fn hook_router(state: ServerState) -> Router {
    Router::new()
        .route("/hooks/azure-devops", post(hook))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
}

/// Serves `router` on `listener` (HTTP/1.1) until the process ends.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnectionLimits) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: give open connections time to end.
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
}

async fn metrics(State(state): State<ServerState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(state): State<ServerState>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

/// An authorised POST of a `job-state-changed` event for a waiting job of a served
/// organization triggers a poll; the poll reads the truth, so the body is only a filter.
/// Events of running and completed jobs are acknowledged and ignored: they need no new agent,
/// and polling on them would triple the request rate for nothing. A body that is no such event
/// is a client error (400).
async fn hook(State(state): State<ServerState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &state.hook_secret else {
        return (StatusCode::NOT_FOUND, "service hooks are not enabled\n").into_response();
    };
    if !hooks::is_authorized(&headers, secret) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"azp-operator\"")],
            "unauthorized\n",
        )
            .into_response();
    }
    // After authentication, so clients without the secret cannot spend the budget of Azure
    // DevOps' own deliveries.
    if state.hook_limiter.check().is_err() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "too many hook requests\n",
        )
            .into_response();
    }
    match hooks::classify(&body, &state.served) {
        Err(invalid) => (StatusCode::BAD_REQUEST, format!("{invalid}\n")).into_response(),
        Ok(HookVerdict::Foreign) => (
            StatusCode::ACCEPTED,
            "ignored: no AgentPool uses this organization\n",
        )
            .into_response(),
        Ok(HookVerdict::AlreadyServed) => (
            StatusCode::ACCEPTED,
            "ignored: the job already has an agent\n",
        )
            .into_response(),
        Ok(HookVerdict::Poll) => {
            state.trigger.notify_one();
            (StatusCode::ACCEPTED, "poll scheduled\n").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Served {
        base: String,
        addr: std::net::SocketAddr,
        trigger: Arc<Notify>,
        ready: Arc<AtomicBool>,
    }

    async fn serve_with(hook_secret: Option<&str>, limits: ConnectionLimits, burst: u32) -> Served {
        let trigger = Arc::new(Notify::new());
        let ready = Arc::new(AtomicBool::new(false));
        let served = Arc::new(ServedOrganizations::default());
        served.refresh(["https://dev.azure.com/contoso"]);
        let state = ServerState {
            metrics: Metrics::new(),
            trigger: trigger.clone(),
            hook_secret: hook_secret.map(Arc::from),
            ready: ready.clone(),
            hook_limiter: hook_limiter(NonZeroU32::MIN, NonZeroU32::new(burst).unwrap()),
            served,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, router(state, true), limits));
        Served {
            base: format!("http://{addr}"),
            addr,
            trigger,
            ready,
        }
    }

    async fn serve_hooks(hook_secret: Option<&str>) -> Served {
        serve_with(hook_secret, ConnectionLimits::default(), 100).await
    }

    fn event(state: &str, org: &str) -> String {
        serde_json::json!({
            "eventType": hooks::JOB_STATE_CHANGED,
            "resource": {"job": {"state": state, "_links": {"web": {"href": format!("{org}/Web/_build/results?buildId=1")}}}}
        })
        .to_string()
    }

    async fn wakes(
        trigger: &Notify,
        request: impl std::future::Future<Output = u16>,
    ) -> (u16, bool) {
        let notified = trigger.notified();
        let status = request.await;
        let woke = tokio::time::timeout(Duration::from_millis(300), notified)
            .await
            .is_ok();
        (status, woke)
    }

    #[tokio::test]
    async fn hook_with_the_secret_triggers_a_poll_and_others_get_401() {
        let served = serve_hooks(Some("s3cret")).await;
        let http = reqwest::Client::new();
        let url = format!("{}/hooks/azure-devops", served.base);
        let post = |body: String| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                http.post(&url)
                    .header(hooks::SECRET_HEADER, "s3cret")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        let denied = http
            .post(&url)
            .basic_auth("ado", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), 401);
        let notified = served.trigger.notified();
        let accepted = http
            .post(&url)
            .basic_auth("ado", Some("s3cret"))
            .body(event("waiting", "https://dev.azure.com/contoso"))
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 202);
        tokio::time::timeout(Duration::from_secs(1), notified)
            .await
            .expect("the hook must wake the poller");
        // A job that already runs needs no agent; another organization's job is not ours; a
        // body that is no job-state-changed event is refused: none of them wakes the poller.
        for (body, want) in [
            (event("inProgress", "https://dev.azure.com/contoso"), 202),
            (event("waiting", "https://dev.azure.com/fabrikam"), 202),
            ("{}".to_owned(), 400),
            ("not json".to_owned(), 400),
        ] {
            let (status, woke) = wakes(&served.trigger, post(body.clone())).await;
            assert_eq!(status, want, "{body}");
            assert!(!woke, "{body} must not wake the poller");
        }
        let wrong_method = http.get(&url).send().await.unwrap();
        assert_eq!(wrong_method.status(), 405);
    }

    #[tokio::test]
    async fn a_hook_flood_beyond_the_burst_gets_429_and_probes_still_answer() {
        let served = serve_with(Some("s3cret"), ConnectionLimits::default(), 5).await;
        let http = reqwest::Client::new();
        let mut statuses = Vec::new();
        for _ in 0..20 {
            let response = http
                .post(format!("{}/hooks/azure-devops", served.base))
                .header(hooks::SECRET_HEADER, "s3cret")
                .body(event("waiting", "https://dev.azure.com/contoso"))
                .send()
                .await
                .unwrap();
            if response.status() == 429 {
                assert_eq!(response.headers()[header::RETRY_AFTER], "1");
            }
            statuses.push(response.status().as_u16());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == 202).count(),
            5,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            15,
            "{statuses:?}"
        );
        let health = http
            .get(format!("{}/healthz", served.base))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_disconnected() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_millis(500),
            max_connections: 8,
        };
        let served = serve_with(None, limits, 1).await;
        let mut stalled = tokio::net::TcpStream::connect(served.addr).await.unwrap();
        stalled
            .write_all(b"POST /hooks/azure-devops HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(3), stalled.read(&mut buf))
            .await
            .expect("the server must close a stalled connection");
        // Closed, possibly after a 408 answer.
        let n = closed.unwrap_or(0);
        assert!(
            n == 0 || buf[..n].starts_with(b"HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        // An idle kept-alive connection is closed the same way.
        let mut idle = tokio::net::TcpStream::connect(served.addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        let ended =
            tokio::time::timeout(Duration::from_secs(3), idle.read_to_end(&mut response)).await;
        assert!(
            ended.is_ok(),
            "an idle keep-alive connection must be closed"
        );
        assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_until_one_ends() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_millis(800),
            max_connections: 2,
        };
        let served = serve_with(None, limits, 1).await;
        let _a = tokio::net::TcpStream::connect(served.addr).await.unwrap();
        let _b = tokio::net::TcpStream::connect(served.addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        let health = reqwest::get(format!("{}/healthz", served.base))
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "the third connection was served before a slot freed: {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn disabled_hook_is_404_and_readiness_follows_the_flag() {
        let served = serve_hooks(None).await;
        let base = served.base.clone();
        let http = reqwest::Client::new();
        let hook = http
            .post(format!("{base}/hooks/azure-devops"))
            .header(hooks::SECRET_HEADER, "")
            .send()
            .await
            .unwrap();
        assert_eq!(hook.status(), 404);
        let readyz = |base: String| {
            let http = http.clone();
            async move {
                http.get(format!("{base}/readyz"))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(readyz(base.clone()).await, 503);
        served.ready.store(true, Ordering::Relaxed);
        assert_eq!(readyz(base.clone()).await, 200);
        let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(metrics.text().await.unwrap().contains("# EOF"));
    }
}
