//! `pools/{poolId}/jobrequests[/{requestId}]`: list shapes, get, renew/finish.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::{AppState, Query, client_org_url, json_body, path_id, pool_and_id, require_pool};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::{Job, JobResult};
use crate::wire::Collection;
use crate::wire::job::JobRequestPatch;

/// The plain list shows this many finished requests when `completedRequestCount` is absent (inferred).
const RECENT_FINISHED: usize = 50;
/// `$top` is capped like the real service (keda#6819).
const TOP_CAP: usize = 200;

/// `GET jobrequests[?completedRequestCount=N][&agentId=][&agentIds=][&$top=N]`.
pub async fn list(
    caller: Caller,
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((_org, pool)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let pool_id: i32 = path_id(&pool, "pool id")?;
    caller.require_pool(pool_id)?;
    let query = Query::parse(raw.as_deref());
    let top: Option<usize> = query.int("$top")?;
    let completed: Option<usize> = query.int("completedrequestcount")?;
    let mut agent_ids: Vec<i32> = query.int::<i32>("agentid")?.into_iter().collect();
    if let Some(list) = query.get("agentids") {
        for id in list.split(',') {
            agent_ids.push(path_id(id.trim(), "agent id")?);
        }
    }
    let org_url = client_org_url(&shared, &headers);
    let requests = shared.read(|s| {
        require_pool(s, pool_id)?;
        let in_scope = |j: &&Job| {
            j.pool_id == pool_id
                && (agent_ids.is_empty()
                    || j.reserved_agent.is_some_and(|a| agent_ids.contains(&a)))
        };
        let wire = if let Some(top) = top {
            // Paged shape: newest first, finished included, no matchedAgents, capped at 200.
            s.jobs
                .values()
                .rev()
                .filter(in_scope)
                .take(top.min(TOP_CAP))
                .map(|j| j.to_wire(s, &org_url, false))
                .collect()
        } else {
            let keep_finished = completed.unwrap_or(RECENT_FINISHED);
            let finished: Vec<i64> = s
                .jobs
                .values()
                .rev()
                .filter(in_scope)
                .filter(|j| j.result.is_some())
                .take(keep_finished)
                .map(|j| j.request_id)
                .collect();
            s.jobs
                .values()
                .filter(in_scope)
                .filter(|j| j.result.is_none() || finished.contains(&j.request_id))
                .map(|j| j.to_wire(s, &org_url, true))
                .collect()
        };
        Ok::<_, ApiError>(wire)
    })?;
    Ok(Json(Collection::new(requests)).into_response())
}

/// `GET jobrequests/{requestId}`.
pub async fn get(
    caller: Caller,
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((_org, pool, request)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let (pool_id, request_id): (i32, i64) = pool_and_id(&pool, &request, "request id")?;
    caller.require_pool(pool_id)?;
    let org_url = client_org_url(&shared, &headers);
    let job = shared.read(|s| {
        require_pool(s, pool_id)?;
        s.jobs
            .get(&request_id)
            .filter(|j| j.pool_id == pool_id)
            .map(|j| j.to_wire(s, &org_url, true))
            .ok_or_else(|| ApiError::job_not_found(request_id))
    })?;
    Ok(Json(job).into_response())
}

/// `PATCH jobrequests/{requestId}?lockToken=`: renew the lock (no `result`) or finish (with `result`).
pub async fn patch(
    caller: Caller,
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((_org, pool, request)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let (pool_id, request_id): (i32, i64) = pool_and_id(&pool, &request, "request id")?;
    let query = Query::parse(raw.as_deref());
    // Any GUID is accepted: the official agent always sends the empty GUID.
    let lock_token = query
        .get("locktoken")
        .ok_or_else(|| ApiError::bad_request("The lockToken parameter is required."))?;
    let _: Uuid = path_id(lock_token, "lock token")?;
    caller.require_pool(pool_id)?;
    let patch: JobRequestPatch = json_body(&body)?;
    if patch.request_id.is_some_and(|id| id != request_id) {
        return Err(ApiError::bad_request(
            "The request id in the body does not match the URL.",
        ));
    }
    let result = patch
        .result
        .as_deref()
        .map(|r| {
            JobResult::parse(r)
                .ok_or_else(|| ApiError::bad_request(format!("'{r}' is not a valid TaskResult.")))
        })
        .transpose()?;
    let lock = chrono::Duration::from_std(shared.cfg.lock_duration)
        .unwrap_or(chrono::Duration::minutes(10));
    let org_url = client_org_url(&shared, &headers);
    let job = shared.mutate(|s| {
        require_pool(s, pool_id)?;
        let job = s
            .jobs
            .get(&request_id)
            .filter(|j| j.pool_id == pool_id && j.result.is_none())
            .ok_or_else(|| ApiError::job_not_found(request_id))?;
        if let Caller::Agent { agent_id, .. } = caller
            && job.reserved_agent != Some(agent_id)
        {
            return Err(ApiError::access_denied(format!(
                "Job request {request_id} is not reserved for agent {agent_id}."
            )));
        }
        let done = match result {
            Some(result) => s.finish_job(request_id, result, None),
            None => s.renew_job(request_id, lock),
        };
        if !done {
            return Err(ApiError::job_not_found(request_id));
        }
        s.jobs
            .get(&request_id)
            .map(|j| j.to_wire(s, &org_url, false))
            .ok_or_else(|| ApiError::job_not_found(request_id))
    })?;
    Ok(Json(job).into_response())
}
