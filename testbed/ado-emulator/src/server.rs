//! The HTTP server: routing, the `_apis` middleware (org check, faults, stats), lifecycle.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, options, post};
use axum::{Router, ServiceExt};
use chrono::Utc;
use tokio::task::JoinHandle;
use tower::Layer;

use crate::api::{self, AppState};
use crate::config::EmulatorConfig;
use crate::control::{self, AgentInfo, ControlError, JobView, QueueJob};
use crate::error::{ApiError, EmulatorError};
use crate::faults::{Fault, fault_response, rate_limit_headers, take_matching};
use crate::state::Shared;
use crate::stats::{Stats, route_template};

const POOL: &str = "/{org}/_apis/distributedtask/pools/{poolId}";

fn apis_router() -> Router<AppState> {
    use api::{agents, jobrequests, location, messages, oauth, pools, sessions};
    Router::new()
        .route(
            "/{org}/_apis/connectiondata",
            get(location::connection_data),
        )
        .route("/{org}/_apis", options(location::options))
        .route("/{org}/_apis/", options(location::options))
        .route("/{org}/_apis/resourceareas", get(location::resource_areas))
        .route(
            "/{org}/_apis/featureflags/{name}",
            get(location::feature_flag),
        )
        .route(
            "/{org}/_apis/customerintelligence/events",
            post(location::telemetry),
        )
        .route("/{org}/_apis/oauth2/token", post(oauth::token))
        .route("/{org}/_apis/distributedtask/pools", get(pools::list))
        .route(POOL, get(pools::get))
        .route(
            &format!("{POOL}/agents"),
            get(agents::list).post(agents::add),
        )
        .route(
            &format!("{POOL}/agents/{{agentId}}"),
            get(agents::get)
                .put(agents::replace)
                .patch(agents::update)
                .delete(agents::delete),
        )
        .route(&format!("{POOL}/sessions"), post(sessions::create))
        .route(
            &format!("{POOL}/sessions/{{sessionId}}"),
            axum::routing::delete(sessions::delete),
        )
        .route(&format!("{POOL}/messages"), get(messages::get))
        .route(
            &format!("{POOL}/messages/{{messageId}}"),
            axum::routing::delete(messages::delete),
        )
        .route(&format!("{POOL}/jobrequests"), get(jobrequests::list))
        .route(
            &format!("{POOL}/jobrequests/{{requestId}}"),
            get(jobrequests::get).patch(jobrequests::patch),
        )
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::route_not_found(method.as_str(), uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

fn is_apis(path: &str) -> bool {
    path.split('/')
        .nth(2)
        .is_some_and(|s| s.eq_ignore_ascii_case("_apis"))
}

/// Azure DevOps routes are case-insensitive (`connectionData` vs `connectiondata`): lower-case
/// `_apis` paths before routing. Path values are ids and GUIDs, so nothing meaningful is lost.
async fn lowercase_apis_path(mut request: Request) -> Request {
    let uri = request.uri();
    if is_apis(uri.path()) && uri.path().chars().any(|c| c.is_ascii_uppercase()) {
        let rebuilt = match uri.query() {
            Some(q) => format!("{}?{q}", uri.path().to_ascii_lowercase()),
            None => uri.path().to_ascii_lowercase(),
        };
        if let Ok(new_uri) = rebuilt.parse::<Uri>() {
            *request.uri_mut() = new_uri;
        }
    }
    request
}

/// Org check, fault injection and per-route counting for every `_apis` request.
async fn apis_layer(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let template = route_template(
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let response = if !is_apis(&path) {
        // Outside `_apis` and `/_emulator`: nothing lives here.
        return ApiError::route_not_found(method.as_str(), &path).into_response();
    } else if !path
        .split('/')
        .nth(1)
        .is_some_and(|org| org.eq_ignore_ascii_case(&shared.cfg.org))
    {
        ApiError::route_not_found(method.as_str(), &path).into_response()
    } else {
        let faults = shared.mutate(|s| take_matching(&mut s.faults, &path, Utc::now()));
        let delay: u64 = faults
            .iter()
            .map(|f| {
                if let Fault::Latency { ms } = f {
                    *ms
                } else {
                    0
                }
            })
            .sum();
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        match faults.iter().find_map(fault_response) {
            Some(response) => response,
            None => {
                let checked = crate::api_version::check(
                    &method,
                    &template,
                    request.uri().query(),
                    request.headers(),
                );
                let mut response = match checked {
                    Ok(()) => next.run(request).await,
                    Err(e) => e.into_response(),
                };
                if faults.contains(&Fault::Throttle) {
                    rate_limit_headers(&mut response, 5, 2.5);
                }
                response
            }
        }
    };
    let body_bytes = axum::body::HttpBody::size_hint(response.body()).exact();
    shared.mutate(|s| {
        s.stats
            .record(method.as_str(), &template, response.status().as_u16());
        if let Some(bytes) = body_bytes {
            s.stats.record_body(method.as_str(), &template, bytes);
        }
    });
    response
}

/// Periodically expires sessions, abandons jobs with lapsed locks and drops old tokens.
async fn sweep(shared: Arc<Shared>) {
    let idle = chrono::Duration::from_std(shared.cfg.session_idle_timeout)
        .unwrap_or(chrono::Duration::minutes(3));
    let mut tick = tokio::time::interval(shared.cfg.sweep_interval);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Utc::now();
        shared.mutate(|s| {
            s.expire_idle_sessions(now, idle);
            s.abandon_expired_locks(now);
            s.tokens.retain(|_, t| t.expires > now);
        });
    }
}

fn validate(cfg: &EmulatorConfig) -> Result<(), EmulatorError> {
    if cfg.pools.is_empty() {
        return Err(EmulatorError::Config(
            "at least one pool is required".to_owned(),
        ));
    }
    if cfg.pat.is_empty() {
        return Err(EmulatorError::Config(
            "the PAT must not be empty".to_owned(),
        ));
    }
    if cfg.org.is_empty() || cfg.org.contains('/') || cfg.org.starts_with('_') {
        return Err(EmulatorError::Config(format!(
            "invalid organization name {:?}",
            cfg.org
        )));
    }
    for (i, name) in cfg.pools.iter().enumerate() {
        if cfg.pools[..i].iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(EmulatorError::Config(format!(
                "duplicate pool name {name:?}"
            )));
        }
    }
    Ok(())
}

/// A running emulator; dropping it stops serving (without waiting), `shutdown` stops and waits.
pub struct RunningEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

impl Drop for RunningEmulator {
    // A test that forgets `shutdown` must not leave a server and its sweeper running.
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// Binds `listen` (use `127.0.0.1:0` in tests) and starts serving.
    pub async fn start(
        cfg: EmulatorConfig,
        listen: SocketAddr,
    ) -> Result<RunningEmulator, EmulatorError> {
        validate(&cfg)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: listen,
                source,
            })?;
        let (shared, hook_events) = Shared::new(cfg, format!("http://{addr}"));
        let shared = Arc::new(shared);
        tokio::spawn(crate::hooks::deliver(shared.clone(), hook_events));
        tokio::spawn(sweep(shared.clone()));
        let app = control::router()
            .route(
                "/{tenant}/oauth2/v2.0/token",
                axum::routing::post(crate::entra::token::token),
            )
            .merge(apis_router())
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(
                shared.clone(),
                apis_or_control,
            ))
            .with_state(shared.clone());
        let app = middleware::map_request(lowercase_apis_path).layer(app);
        let shutdown = shared.shutdown.clone();
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app.into_make_service())
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "emulator server stopped");
            }
        });
        tracing::info!(%addr, org = %shared.cfg.org, pools = ?shared.cfg.pools, "emulator listening");
        Ok(RunningEmulator {
            shared,
            addr,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `http://127.0.0.1:PORT/{org}`.
    pub fn org_url(&self) -> String {
        crate::urls::org_url(&self.shared.base_url, &self.shared.cfg.org)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving: held long-polls answer 202 at once, then the server drains.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        let Some(server) = self.server.take() else {
            return;
        };
        if let Err(e) = server.await {
            tracing::warn!(error = %e, "emulator server task failed");
        }
    }

    /// Same as `POST /_emulator/jobs`.
    pub fn queue_job(&self, job: QueueJob) -> Result<i64, ControlError> {
        control::queue_job(&self.shared, job)
    }

    /// Same as `GET /_emulator/jobs/{id}`.
    pub fn job(&self, request_id: i64) -> Option<JobView> {
        control::job(&self.shared, request_id)
    }

    /// Same as `GET /_emulator/jobs`.
    pub fn jobs(&self) -> Vec<JobView> {
        control::jobs(&self.shared)
    }

    /// Same as `GET /_emulator/agents`.
    pub fn agents(&self) -> Vec<AgentInfo> {
        control::agents(&self.shared)
    }

    /// Same as `GET /_emulator/stats`.
    pub fn stats(&self) -> Stats {
        control::stats(&self.shared)
    }

    /// Same as `POST /_emulator/jobs/{id}/cancel`.
    pub fn cancel_job(&self, request_id: i64) -> Result<String, ControlError> {
        control::cancel_job(&self.shared, request_id)
    }
}

/// Control routes pass straight through; everything else gets the `_apis` treatment.
async fn apis_or_control(state: State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with("/_emulator/") || path == "/_emulator" || crate::entra::is_token_path(path)
    {
        next.run(request).await
    } else {
        apis_layer(state, request, next).await
    }
}
