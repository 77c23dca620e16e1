//! The test-control API under `/_emulator` (no auth, never faulted, not counted in stats).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::faults::FaultSpec;
use crate::hooks::HookTarget;
use crate::state::jobs::{NewJob, job_state_name};
use crate::state::{Job, JobResult, Shared, State as World};
use crate::stats::Stats;
use crate::wire::format_time;

/// `POST /_emulator/jobs` body.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueJob {
    /// Pool name.
    pub pool: String,
    /// Demands (`name`, `name -equals value`, `Agent.Version -gtVersion x.y.z`).
    #[serde(default)]
    pub demands: Vec<String>,
    /// How long the stand-in runs it.
    #[serde(default)]
    pub duration_seconds: u64,
    /// `succeeded` (default) or `failed`.
    pub result: Option<String>,
    /// Optional shell script step.
    pub script: Option<String>,
    /// Optional job name.
    pub name: Option<String>,
}

/// A job as the control API reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// Request id.
    pub request_id: i64,
    /// Pool name.
    pub pool: String,
    /// `queued`, `assigned`, `running`, `finished`.
    pub state: String,
    /// Result once finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Why it failed without running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Reserved agent id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<i32>,
    /// Reserved agent name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Queue time.
    pub queue_time: String,
    /// Assignment time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assign_time: Option<String>,
    /// First renewal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receive_time: Option<String>,
    /// Finish time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
    /// Log uploaded by the stand-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// A `JobCancellation` was sent to the agent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_requested: bool,
}

/// An agent as the control API reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AgentInfo {
    /// Agent id.
    pub id: i32,
    /// Name.
    pub name: String,
    /// Pool id.
    pub pool_id: i32,
    /// Pool name.
    pub pool: String,
    /// Enabled.
    pub enabled: bool,
    /// `online` / `offline`.
    pub status: String,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Registered with a public key.
    pub keyed: bool,
    /// System capabilities.
    pub system_capabilities: BTreeMap<String, String>,
    /// User capabilities.
    pub user_capabilities: BTreeMap<String, String>,
    /// Unfinished job reserved for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_request_id: Option<i64>,
    /// Last finished job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_completed_request_id: Option<i64>,
}

/// A control-API failure: status + `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError(pub StatusCode, pub String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn not_found(what: impl std::fmt::Display) -> ControlError {
    ControlError(StatusCode::NOT_FOUND, format!("{what} not found"))
}

pub(crate) fn bad(message: impl Into<String>) -> ControlError {
    ControlError(StatusCode::BAD_REQUEST, message.into())
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ControlError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid body: {e}")))
}

/// Job view from state.
pub fn job_view(s: &World, job: &Job) -> JobView {
    let agent = job.reserved_agent.and_then(|id| s.agents.get(&id));
    JobView {
        request_id: job.request_id,
        pool: s
            .pool(job.pool_id)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        state: job_state_name(job).to_owned(),
        result: job.result.map(|r| r.as_str().to_owned()),
        status_message: job.status_message.clone(),
        agent_id: job.reserved_agent,
        agent_name: agent.map(|a| a.name.clone()),
        queue_time: format_time(job.queue_time),
        assign_time: job.assign_time.map(format_time),
        receive_time: job.receive_time.map(format_time),
        finish_time: job.finish_time.map(format_time),
        log: job.log.clone(),
        cancel_requested: job.cancel_requested,
    }
}

/// Queues a job (the control route and `RunningEmulator::queue_job`).
pub fn queue_job(shared: &Shared, req: QueueJob) -> Result<i64, ControlError> {
    let wanted = match req.result.as_deref() {
        None => JobResult::Succeeded,
        Some(r) => match JobResult::parse(r) {
            Some(r @ (JobResult::Succeeded | JobResult::Failed)) => r,
            _ => {
                return Err(bad(format!(
                    "result must be succeeded or failed, got {r:?}"
                )));
            }
        },
    };
    if req.demands.iter().any(|d| d.trim().is_empty()) {
        return Err(bad("demands must not be empty strings"));
    }
    shared.mutate(|s| {
        let pool = s
            .pool_by_name(&req.pool)
            .cloned()
            .ok_or_else(|| bad(format!("unknown pool {:?}", req.pool)))?;
        Ok(s.queue_job(NewJob {
            pool_id: pool.id,
            pool_name: pool.name,
            demands: req.demands,
            duration_seconds: req.duration_seconds,
            wanted_result: wanted,
            script: req.script,
            name: req.name,
        }))
    })
}

/// All jobs.
pub fn jobs(shared: &Shared) -> Vec<JobView> {
    shared.read(|s| s.jobs.values().map(|j| job_view(s, j)).collect())
}

/// One job.
pub fn job(shared: &Shared, id: i64) -> Option<JobView> {
    shared.read(|s| s.jobs.get(&id).map(|j| job_view(s, j)))
}

/// All agents.
pub fn agents(shared: &Shared) -> Vec<AgentInfo> {
    shared.read(|s| {
        s.agents
            .values()
            .map(|a| AgentInfo {
                id: a.id,
                name: a.name.clone(),
                pool_id: a.pool_id,
                pool: s
                    .pool(a.pool_id)
                    .map(|p| p.name.clone())
                    .unwrap_or_default(),
                enabled: a.enabled,
                status: if a.is_online() { "online" } else { "offline" }.to_owned(),
                version: a.version.clone(),
                keyed: a.key.is_some(),
                system_capabilities: a.system_capabilities.clone(),
                user_capabilities: a.user_capabilities.clone(),
                assigned_request_id: s.active_job_of(a.id).map(|j| j.request_id),
                last_completed_request_id: a.last_completed_request,
            })
            .collect()
    })
}

/// Request counters.
pub fn stats(shared: &Shared) -> Stats {
    shared.read(|s| s.stats.clone())
}

/// Cancels a job: queued → finished `canceled`; assigned/running → `JobCancellation` to the agent.
pub fn cancel_job(shared: &Shared, id: i64) -> Result<String, ControlError> {
    shared.mutate(|s| {
        let job = s
            .jobs
            .get(&id)
            .ok_or_else(|| not_found(format!("job {id}")))?;
        if job.result.is_some() {
            return Err(ControlError(
                StatusCode::CONFLICT,
                format!("job {id} is already finished"),
            ));
        }
        match job.reserved_agent {
            None => {
                s.finish_job(id, JobResult::Canceled, None);
                Ok("finished".to_owned())
            }
            Some(agent_id) => {
                let body =
                    json!({ "jobId": job.job_id.to_string(), "timeout": "00:05:00" }).to_string();
                if let Some(job) = s.jobs.get_mut(&id) {
                    job.cancel_requested = true;
                }
                if s.push_message(agent_id, "JobCancellation", body, None) {
                    Ok("cancellationSent".to_owned())
                } else {
                    // No session to tell: the lock will expire and abandon the job.
                    Err(ControlError(
                        StatusCode::CONFLICT,
                        format!("agent {agent_id} has no session"),
                    ))
                }
            }
        }
    })
}

async fn post_job(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ControlError> {
    let id = queue_job(&shared, parse(&body)?)?;
    Ok((StatusCode::CREATED, Json(json!({ "requestId": id }))).into_response())
}

async fn list_jobs(State(shared): State<Arc<Shared>>) -> Json<Vec<JobView>> {
    Json(jobs(&shared))
}

async fn get_job(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<i64>,
) -> Result<Json<JobView>, ControlError> {
    job(&shared, id)
        .map(Json)
        .ok_or_else(|| not_found(format!("job {id}")))
}

async fn post_log(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<StatusCode, ControlError> {
    let text = String::from_utf8(body.to_vec()).map_err(|_| bad("log must be UTF-8 text"))?;
    shared.mutate(|s| {
        let job = s
            .jobs
            .get_mut(&id)
            .ok_or_else(|| not_found(format!("job {id}")))?;
        job.log.get_or_insert_with(String::new).push_str(&text);
        Ok(StatusCode::NO_CONTENT)
    })
}

async fn post_cancel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ControlError> {
    let outcome = cancel_job(&shared, id)?;
    Ok(Json(json!({ "requestId": id, "outcome": outcome })))
}

async fn list_agents(State(shared): State<Arc<Shared>>) -> Json<Vec<AgentInfo>> {
    Json(agents(&shared))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefreshBody {
    target_version: Option<String>,
}

async fn post_refresh(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<i32>,
    body: Bytes,
) -> Result<StatusCode, ControlError> {
    let body: RefreshBody = if body.is_empty() {
        RefreshBody::default()
    } else {
        parse(&body)?
    };
    shared.mutate(|s| {
        let agent = s
            .agents
            .get(&id)
            .ok_or_else(|| not_found(format!("agent {id}")))?;
        let target = body
            .target_version
            .or_else(|| agent.version.clone())
            .unwrap_or_else(|| "4.261.0".to_owned());
        let message =
            json!({ "agentId": id, "targetVersion": target, "timeout": "00:05:00" }).to_string();
        if s.push_message(id, "AgentRefresh", message, None) {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ControlError(
                StatusCode::CONFLICT,
                format!("agent {id} has no session"),
            ))
        }
    })
}

async fn get_stats(State(shared): State<Arc<Shared>>) -> Json<Stats> {
    Json(stats(&shared))
}

async fn reset_stats(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.mutate(|s| s.stats = Stats::default());
    StatusCode::NO_CONTENT
}

async fn post_fault(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<StatusCode, ControlError> {
    let spec: FaultSpec = parse(&body)?;
    let fault = spec.activate(Utc::now()).map_err(bad)?;
    shared.mutate(|s| s.faults.push(fault));
    Ok(StatusCode::CREATED)
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.mutate(|s| s.faults.clear());
    StatusCode::NO_CONTENT
}

async fn post_hook(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<StatusCode, ControlError> {
    let target: HookTarget = parse(&body)?;
    let url = url::Url::parse(&target.url).map_err(|e| bad(format!("invalid url: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("hook url must be http or https"));
    }
    shared.mutate(|s| s.hooks.push(target));
    Ok(StatusCode::CREATED)
}

async fn clear_hooks(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.mutate(|s| s.hooks.clear());
    StatusCode::NO_CONTENT
}

async fn control_not_found() -> ControlError {
    not_found("control route")
}

/// The `/_emulator` router.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/jobs", post(post_job).get(list_jobs))
        .route("/_emulator/jobs/{id}", get(get_job))
        .route("/_emulator/jobs/{id}/log", post(post_log))
        .route("/_emulator/jobs/{id}/cancel", post(post_cancel))
        .route("/_emulator/agents", get(list_agents))
        .route("/_emulator/agents/{id}/refresh", post(post_refresh))
        .route("/_emulator/stats", get(get_stats))
        .route("/_emulator/stats/reset", post(reset_stats))
        .route("/_emulator/faults", post(post_fault).delete(clear_faults))
        .route("/_emulator/hooks", post(post_hook).delete(clear_hooks))
        .merge(crate::entra::control::router())
        .route("/_emulator/{*rest}", axum::routing::any(control_not_found))
}
