//! Service hooks: `ms.vss-pipelines.job-state-changed-event` POSTs to registered URLs.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::state::{JobResult, Shared};
use crate::wire::format_time;

/// Job state as the event names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookJobState {
    /// Queued, waiting for an agent.
    Waiting,
    /// Received by an agent.
    InProgress,
    /// Finished.
    Completed,
}

impl HookJobState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::InProgress => "inProgress",
            Self::Completed => "completed",
        }
    }
}

/// One job state change.
#[derive(Debug, Clone)]
pub struct HookEvent {
    /// Request id (not in the payload; the real event has none either).
    pub request_id: i64,
    /// Job id.
    pub job_id: Uuid,
    /// Plan (run) id.
    pub plan_id: Uuid,
    /// Project id.
    pub scope_id: Uuid,
    /// Job name.
    pub job_name: String,
    /// New state.
    pub state: HookJobState,
    /// Result when completed.
    pub result: Option<JobResult>,
    /// Start time.
    pub start_time: Option<DateTime<Utc>>,
    /// Finish time.
    pub finish_time: Option<DateTime<Utc>>,
}

/// Basic credentials for a hook target.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookBasicAuth {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for HookBasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookBasicAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A registered hook receiver (`POST /_emulator/hooks` body).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HookTarget {
    /// Receiver URL.
    pub url: String,
    /// Optional Basic credentials.
    pub basic_auth: Option<HookBasicAuth>,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for HookTarget {
    // Header values may carry credentials; show only their names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookTarget")
            .field("url", &self.url)
            .field("basic_auth", &self.basic_auth)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The event payload (ado-protocol.md §9): no poolId, no demands, no requestId.
pub fn payload(event: &HookEvent, org_url: &str) -> Value {
    let state = event.state.as_str();
    let result = event.result.map(JobResult::as_str);
    let text = match result {
        Some(r) => format!("Job {} {state} ({r}).", event.job_name),
        None => format!("Job {} {state}.", event.job_name),
    };
    let mut job = json!({
        "_links": {
            "web": { "href": format!("{org_url}/_build/results?buildId=1") },
            "pipeline.web": { "href": format!("{org_url}/_build/definition?definitionId=1") },
        },
        "id": event.job_id.to_string(),
        "name": event.job_name,
        "state": state,
    });
    if let Some(r) = result {
        job["result"] = json!(r);
    }
    if let Some(t) = event.start_time {
        job["startTime"] = json!(format_time(t));
    }
    if let Some(t) = event.finish_time {
        job["finishTime"] = json!(format_time(t));
    }
    json!({
        "subscriptionId": Uuid::new_v4().to_string(),
        "notificationId": 1,
        "id": Uuid::new_v4().to_string(),
        "eventType": "ms.vss-pipelines.job-state-changed-event",
        "publisherId": "pipelines",
        "message": { "text": text, "html": text, "markdown": text },
        "detailedMessage": { "text": text, "html": text, "markdown": text },
        "resource": {
            "job": job,
            "stage": { "id": Uuid::nil().to_string(), "name": "__default", "displayName": null, "state": state },
            "run": {
                "pipeline": { "url": format!("{org_url}/_apis/pipelines/1"), "id": 1, "revision": 1, "name": "emulator-pipeline", "folder": "\\" },
                "state": state,
                "id": 1,
                "name": format!("run-{}", event.plan_id),
            },
            "pipeline": { "url": format!("{org_url}/_apis/pipelines/1"), "id": 1, "revision": 1, "name": "emulator-pipeline", "folder": "\\" },
            "repositories": [],
            "projectId": event.scope_id.to_string(),
        },
        "resourceVersion": "5.1-preview.1",
        "resourceContainers": {
            "collection": { "id": Uuid::nil().to_string() },
            "account": { "id": Uuid::nil().to_string() },
            "project": { "id": event.scope_id.to_string() },
        },
        "createdDate": format_time(Utc::now()),
    })
}

/// Delivers events in order, fire-and-forget, until the channel closes.
pub async fn deliver(shared: Arc<Shared>, mut events: mpsc::UnboundedReceiver<HookEvent>) {
    let client = match reqwest::Client::builder()
        .timeout(shared.cfg.hook_timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build hook client; hooks disabled");
            return;
        }
    };
    let org_url = crate::urls::org_url(
        shared.cfg.public_url.as_deref().unwrap_or(&shared.base_url),
        &shared.cfg.org,
    );
    while let Some(event) = events.recv().await {
        let targets = shared.read(|s| s.hooks.clone());
        if targets.is_empty() {
            continue;
        }
        let body = payload(&event, &org_url);
        for target in targets {
            let mut request = client.post(&target.url).json(&body);
            if let Some(auth) = &target.basic_auth {
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", auth.username, auth.password));
                request = request.header("Authorization", format!("Basic {token}"));
            }
            for (name, value) in &target.headers {
                request = request.header(name, value);
            }
            match request.send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(url = %target.url, status = %r.status(), "hook receiver refused event")
                }
                Err(e) => tracing::warn!(url = %target.url, error = %e, "hook delivery failed"),
            }
        }
    }
}
