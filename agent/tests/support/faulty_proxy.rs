//! A proxy in front of the real docker-registry that answers chosen requests with the error a
//! registry gives, and forwards everything else unchanged: how build-push meets a registry that
//! fails, without a registry that fails on its own only now and then.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Which requests fail, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The first `times` blob upload commits (`PUT …/blobs/uploads/…?digest=`) are answered as
    /// docker-registry answers an upload that raced another upload of the same layer.
    DigestInvalidOnBlobCommit { times: usize },
    /// Every manifest `PUT` is refused as a registry refuses a user without push rights.
    DeniedOnManifestPut,
}

struct Shared {
    backend: String,
    front: String,
    fault: Fault,
    /// Requests the fault was applied to.
    injected: AtomicUsize,
    client: reqwest::Client,
}

/// A running proxy; stops when dropped.
pub struct FaultyProxy {
    /// `127.0.0.1:<port>`, to use as the registry host.
    pub host: String,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

impl FaultyProxy {
    /// Starts a proxy on a free port that forwards to `backend` (`127.0.0.1:<port>`).
    pub fn start(backend: &str, fault: Fault) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            backend: backend.to_owned(),
            front: host.clone(),
            fault,
            injected: AtomicUsize::new(0),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        });
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        runtime.spawn(async move { axum::serve(listener, router).await });
        Self {
            host,
            shared,
            _runtime: runtime,
        }
    }

    /// How many requests were answered with the fault.
    pub fn injected(&self) -> usize {
        self.shared.injected.load(Ordering::SeqCst)
    }
}

/// The registry's error body: `{"errors":[{code, message, detail}]}`.
fn registry_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]});
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn injected_fault(shared: &Shared, method: &Method, path: &str, query: &str) -> Option<Response> {
    match shared.fault {
        Fault::DigestInvalidOnBlobCommit { times } => {
            let commit = *method == Method::PUT
                && path.contains("/blobs/uploads/")
                && query.contains("digest=");
            let take = commit
                && shared
                    .injected
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                        (n < times).then_some(n + 1)
                    })
                    .is_ok();
            take.then(|| {
                registry_error(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                )
            })
        }
        Fault::DeniedOnManifestPut => (*method == Method::PUT && path.contains("/manifests/"))
            .then(|| {
                shared.injected.fetch_add(1, Ordering::SeqCst);
                registry_error(
                    StatusCode::FORBIDDEN,
                    "DENIED",
                    "requested access to the resource is denied",
                )
            }),
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let Ok(body) = axum::body::to_bytes(body, 1 << 30).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Some(response) = injected_fault(&shared, &parts.method, &path, &query) {
        return response;
    }
    let url = match query.as_str() {
        "" => format!("http://{}{path}", shared.backend),
        query => format!("http://{}{path}?{query}", shared.backend),
    };
    let mut forwarded = shared.client.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if ![
            header::HOST,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
        ]
        .contains(name)
        {
            forwarded = forwarded.header(name, value);
        }
    }
    let Ok(answer) = forwarded.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
        ]
        .contains(name)
        {
            continue;
        }
        // Upload locations are absolute URLs of the backend; the client must stay on the proxy.
        let value = match (name == header::LOCATION, value.to_str()) {
            (true, Ok(location)) => {
                HeaderValue::from_str(&location.replacen(&shared.backend, &shared.front, 1))
                    .unwrap_or_else(|_| value.clone())
            }
            _ => value.clone(),
        };
        response = response.header(name, value);
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
