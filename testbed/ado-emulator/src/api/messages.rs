//! `GET messages` (long poll, peek semantics) and `DELETE messages/{id}`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use uuid::Uuid;

use super::{AppState, Query, path_id, require_pool};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::State as World;
use crate::wire::session::TaskAgentMessage;

fn session_id(query: &Query) -> ApiResult<Uuid> {
    let raw = query
        .get("sessionid")
        .ok_or_else(|| ApiError::bad_request("The sessionId parameter is required."))?;
    path_id(raw, "session id")
}

/// Checks that the session exists in this pool and belongs to the caller.
fn check_session(s: &World, caller: Caller, pool_id: i32, session_id: Uuid) -> ApiResult<()> {
    require_pool(s, pool_id)?;
    let session = s
        .sessions
        .get(&session_id)
        .filter(|x| x.pool_id == pool_id)
        .ok_or_else(|| ApiError::session_expired(session_id))?;
    caller.require_agent(pool_id, session.agent_id)
}

/// Marks a poll as started or finished; both count as liveness.
fn track_poll(s: &mut World, session_id: Uuid, starting: bool) {
    if let Some(session) = s.sessions.get_mut(&session_id) {
        session.last_poll = Utc::now();
        if starting {
            session.active_polls += 1;
        } else {
            session.active_polls = session.active_polls.saturating_sub(1);
        }
    }
}

fn first_message(s: &World, session_id: Uuid, after: Option<i64>) -> Option<TaskAgentMessage> {
    let session = s.sessions.get(&session_id)?;
    session
        .messages
        .iter()
        .find(|m| after.is_none_or(|last| m.id > last))
        .map(|m| TaskAgentMessage {
            message_id: m.id,
            message_type: m.message_type.clone(),
            body: m.body.clone(),
        })
}

/// Ends a held poll however the handler ends. The server drops the handler when the client
/// goes away mid-hold (an agent process killed while polling); a poll counted as active for
/// ever would exempt the session from the idle timeout and keep a dead agent online.
struct HeldPoll {
    shared: AppState,
    session_id: Uuid,
}

impl Drop for HeldPoll {
    fn drop(&mut self) {
        self.shared
            .mutate(|s| track_poll(s, self.session_id, false));
    }
}

/// `GET messages?sessionId=&lastMessageId=`: the first undeleted message newer than
/// `lastMessageId`, or 202 with an empty body after `long_poll`.
pub async fn get(
    caller: Caller,
    State(shared): State<AppState>,
    Path((_org, pool)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let pool_id: i32 = path_id(&pool, "pool id")?;
    let query = Query::parse(raw.as_deref());
    let session_id = session_id(&query)?;
    let last: Option<i64> = query.int("lastmessageid")?;
    caller.require_pool(pool_id)?;
    // Subscribe before the first look so a message queued in between still wakes us.
    let mut changed = shared.subscribe();
    shared.mutate(|s| {
        check_session(s, caller, pool_id, session_id)?;
        track_poll(s, session_id, true);
        Ok::<_, ApiError>(())
    })?;
    let held = HeldPoll {
        shared: shared.clone(),
        session_id,
    };
    let deadline = tokio::time::Instant::now() + shared.cfg.long_poll;
    let outcome = loop {
        let found = shared.read(|s| {
            if !s.sessions.contains_key(&session_id) {
                return Err(ApiError::session_expired(session_id));
            }
            Ok(first_message(s, session_id, last))
        });
        match found {
            Err(e) => break Err(e),
            Ok(Some(message)) => break Ok(Some(message)),
            Ok(None) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break Ok(None),
            _ = shared.shutdown.cancelled() => break Ok(None),
            r = changed.changed() => if r.is_err() { break Ok(None) },
        }
    };
    drop(held);
    match outcome? {
        Some(message) => Ok(Json(message).into_response()),
        None => Ok(StatusCode::ACCEPTED.into_response()),
    }
}

/// `DELETE messages/{messageId}?sessionId=`: idempotent (an already deleted id is fine, inferred).
pub async fn delete(
    caller: Caller,
    State(shared): State<AppState>,
    Path((_org, pool, message)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let pool_id: i32 = path_id(&pool, "pool id")?;
    let message_id: i64 = path_id(&message, "message id")?;
    let session_id = session_id(&Query::parse(raw.as_deref()))?;
    caller.require_pool(pool_id)?;
    shared.mutate(|s| {
        check_session(s, caller, pool_id, session_id)?;
        if let Some(session) = s.sessions.get_mut(&session_id) {
            session.messages.retain(|m| m.id != message_id);
        }
        Ok::<_, ApiError>(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
