//! `?watch=true`: a stream of JSON watch events, with history replay, bookmarks and 410 Gone.
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::api::{Cluster, present};
use crate::error::ApiError;
use crate::registry::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{EventKind, StoredEvent};

/// Parameters of one watch request.
#[derive(Debug, Clone)]
pub struct WatchParams {
    /// Namespace filter (None: all namespaces).
    pub namespace: Option<String>,
    /// `resourceVersion` ("" / "0": start with the current state as ADDED events).
    pub resource_version: String,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// Representation asked for in `Accept`.
    pub view: super::render::View,
}

struct Filter {
    rt: ResourceType,
    params: WatchParams,
}

impl Filter {
    fn selects(&self, obj: &Value) -> bool {
        self.params.labels.matches(obj) && self.params.fields.matches(obj)
    }

    /// The event this watch sees for a stored change, if any.
    fn translate(&self, e: &StoredEvent) -> Option<(&'static str, Value)> {
        if (e.key.group.as_str(), e.key.resource.as_str()) != self.rt.storage() {
            return None;
        }
        if let Some(ns) = &self.params.namespace
            && &e.key.namespace != ns
        {
            return None;
        }
        // Selectors see the object as this API version shows it (Events are converted).
        let object = present(e.object.clone(), &self.rt);
        let now = self.selects(&object);
        let before = e
            .previous
            .as_ref()
            .is_some_and(|p| self.selects(&present(p.clone(), &self.rt)));
        let kind = match (e.kind, before, now) {
            (EventKind::Added, _, true) => "ADDED",
            (EventKind::Modified, true, true) => "MODIFIED",
            (EventKind::Modified, false, true) => "ADDED",
            (EventKind::Modified, true, false) => "DELETED",
            (EventKind::Deleted, _, true) => EventKind::Deleted.as_str(),
            _ => return None,
        };
        Some((kind, self.render(object)))
    }

    fn render(&self, obj: Value) -> Value {
        super::render::object(self.params.view, &self.rt, present(obj, &self.rt))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Value {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"type": "BOOKMARK", "object": {"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta}})
    }
}

fn line(v: &Value) -> Result<Bytes, Infallible> {
    let mut s = v.to_string();
    s.push('\n');
    Ok(Bytes::from(s))
}

fn stream_response(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Starts a watch; an invalid resourceVersion is a 400, a too-old one a 410 `ERROR` event.
pub fn watch(
    cluster: Arc<Cluster>,
    rt: ResourceType,
    params: WatchParams,
) -> Result<Response, ApiError> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let filter = Filter { rt, params };
    let interval = cluster.config.bookmark_interval;
    // timeoutSeconds=0 means "the server's default", as on a real server.
    let timeout = filter
        .params
        .timeout
        .filter(|t| !t.is_zero())
        .unwrap_or(cluster.config.max_watch_timeout)
        .min(cluster.config.max_watch_timeout);

    let mut initial = Vec::new();
    let (start, from_rv) = {
        let st = cluster.store.lock();
        let rv = filter.params.resource_version.as_str();
        let from_snapshot = rv.is_empty() || rv == "0" || filter.params.send_initial_events;
        let from_rv = if from_snapshot {
            let (group, resource) = filter.rt.storage();
            for (_, obj) in st.list(group, resource, filter.params.namespace.as_deref()) {
                let obj = present(obj.clone(), &filter.rt);
                if filter.selects(&obj) {
                    initial.push(json!({"type": "ADDED", "object": filter.render(obj)}));
                }
            }
            st.current_rv()
        } else {
            rv.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?
        };
        (st.watch_from(from_rv).ok_or(st.compacted_rv()), from_rv)
    };

    let start = match start {
        Ok(s) => s,
        Err(compacted) => {
            let gone = ApiError::gone(format!("too old resource version: {from_rv} ({compacted})"));
            let event = json!({"type": "ERROR", "object": gone.status_json()});
            let body = Body::from(format!("{event}\n"));
            return Ok(stream_response(body));
        }
    };

    let stopping = cluster.stopping.clone();
    let epoch = cluster.watch_token();
    tokio::spawn(async move {
        let mut last_rv = from_rv;
        let mut live = start.live;
        for ev in initial {
            if tx.send(line(&ev)).await.is_err() {
                return;
            }
        }
        if filter.params.send_initial_events && filter.params.bookmarks {
            let _ = tx.send(line(&filter.bookmark(last_rv, true))).await;
        }
        for e in start.backlog {
            last_rv = last_rv.max(e.rv);
            if let Some((kind, obj)) = filter.translate(&e)
                && tx
                    .send(line(&json!({"type": kind, "object": obj})))
                    .await
                    .is_err()
            {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = stopping.cancelled() => return,
                _ = epoch.cancelled() => return,
                _ = ticker.tick(), if filter.params.bookmarks => {
                    if tx.send(line(&filter.bookmark(last_rv, false))).await.is_err() {
                        return;
                    }
                }
                received = live.recv() => match received {
                    Ok(e) => {
                        if e.rv <= last_rv {
                            continue;
                        }
                        last_rv = e.rv;
                        if let Some((kind, obj)) = filter.translate(&e)
                            && tx.send(line(&json!({"type": kind, "object": obj}))).await.is_err()
                        {
                            return;
                        }
                    }
                    // Too slow a reader: end the stream; the client resumes from its last resourceVersion.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(stream_response(Body::from_stream(body)))
}
