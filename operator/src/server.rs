//! The operator's HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `POST /hooks/azure-devops`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;

use crate::hooks;
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
}

/// The router.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/hooks/azure-devops", post(hook))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
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

/// An authorised POST of a job that waits for an agent (or of anything the operator cannot
/// read) triggers a poll; the poll reads the truth, so the body is only a filter. Events of
/// running and completed jobs are acknowledged and ignored: they need no new agent, and
/// polling on them would triple the request rate for nothing.
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
    if !hooks::needs_poll(&body) {
        return (
            StatusCode::ACCEPTED,
            "ignored: the job already has an agent\n",
        )
            .into_response();
    }
    state.trigger.notify_one();
    (StatusCode::ACCEPTED, "poll scheduled\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve(hook_secret: Option<&str>) -> (String, Arc<Notify>, Arc<AtomicBool>) {
        let trigger = Arc::new(Notify::new());
        let ready = Arc::new(AtomicBool::new(false));
        let state = ServerState {
            metrics: Metrics::new(),
            trigger: trigger.clone(),
            hook_secret: hook_secret.map(Arc::from),
            ready: ready.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        (base, trigger, ready)
    }

    #[tokio::test]
    async fn hook_with_the_secret_triggers_a_poll_and_others_get_401() {
        let (base, trigger, _) = serve(Some("s3cret")).await;
        let http = reqwest::Client::new();
        let url = format!("{base}/hooks/azure-devops");
        let denied = http
            .post(&url)
            .basic_auth("ado", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), 401);
        let notified = trigger.notified();
        let accepted = http
            .post(&url)
            .basic_auth("ado", Some("s3cret"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 202);
        tokio::time::timeout(std::time::Duration::from_secs(1), notified)
            .await
            .expect("the hook must wake the poller");
        // A job that already runs needs no agent: acknowledged, no poll.
        let notified = trigger.notified();
        let running = http
            .post(&url)
            .header(hooks::SECRET_HEADER, "s3cret")
            .body(r#"{"resource":{"job":{"state":"inProgress"}}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(running.status(), 202);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(300), notified)
                .await
                .is_err(),
            "an inProgress event must not wake the poller"
        );
        let wrong_method = http.get(&url).send().await.unwrap();
        assert_eq!(wrong_method.status(), 405);
    }

    #[tokio::test]
    async fn disabled_hook_is_404_and_readiness_follows_the_flag() {
        let (base, _, ready) = serve(None).await;
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
        ready.store(true, Ordering::Relaxed);
        assert_eq!(readyz(base.clone()).await, 200);
        let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(metrics.text().await.unwrap().contains("# EOF"));
    }
}
