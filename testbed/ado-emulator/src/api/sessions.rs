//! `pools/{poolId}/sessions[/{sessionId}]`.

use std::collections::VecDeque;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use uuid::Uuid;

use super::{AppState, client_org_url, json_body, path_id, pool_and_id, require_pool};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::Session;
use crate::wire::session::{TaskAgentSession, TaskAgentSessionBody};

/// `POST sessions`: 409 when the agent already has a live session; the agent goes online.
pub async fn create(
    caller: Caller,
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((_org, pool)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let pool_id: i32 = path_id(&pool, "pool id")?;
    let body: TaskAgentSessionBody = json_body(&body)?;
    let agent_id = body.agent.id;
    caller.require_agent(pool_id, agent_id)?;
    let org_url = client_org_url(&shared, &headers);
    let session = shared.mutate(|s| {
        require_pool(s, pool_id)?;
        let Some(agent) = s.agents.get_mut(&agent_id).filter(|a| a.pool_id == pool_id) else {
            return Err(ApiError::agent_not_found(agent_id));
        };
        if agent.session.is_some() {
            return Err(ApiError::session_conflict(&agent.name));
        }
        let id = Uuid::new_v4();
        let now = Utc::now();
        agent.session = Some(id);
        agent.status_changed_on = now;
        // The listener rescans capabilities and version at start; the session refreshes them (inferred).
        if let Some(caps) = &body.system_capabilities {
            agent.system_capabilities.clone_from(caps);
        }
        if let Some(v) = &body.agent.version {
            agent.version = Some(v.clone());
        }
        if let Some(v) = &body.agent.os_description {
            agent.os_description = Some(v.clone());
        }
        let owner_name = body.owner_name.clone().unwrap_or_default();
        let reference = agent.reference(&org_url);
        s.sessions.insert(
            id,
            Session {
                id,
                agent_id,
                pool_id,
                owner_name: owner_name.clone(),
                system_capabilities: body.system_capabilities.clone(),
                last_poll: now,
                active_polls: 0,
                messages: VecDeque::new(),
            },
        );
        tracing::info!(agent_id, session_id = %id, "session created; agent online");
        Ok(TaskAgentSession {
            session_id: id.to_string(),
            owner_name,
            agent: reference,
            system_capabilities: body.system_capabilities.clone(),
        })
    })?;
    Ok(Json(session).into_response())
}

/// `DELETE sessions/{sessionId}`: the agent goes offline.
pub async fn delete(
    caller: Caller,
    State(shared): State<AppState>,
    Path((_org, pool, session)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let (pool_id, session_id): (i32, Uuid) = pool_and_id(&pool, &session, "session id")?;
    caller.require_pool(pool_id)?;
    shared.mutate(|s| {
        require_pool(s, pool_id)?;
        let Some(session) = s.sessions.get(&session_id).filter(|x| x.pool_id == pool_id) else {
            return Err(ApiError::session_expired(session_id));
        };
        let agent_id = session.agent_id;
        caller.require_agent(pool_id, agent_id)?;
        s.end_session_of(agent_id);
        tracing::info!(agent_id, session_id = %session_id, "session deleted; agent offline");
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
