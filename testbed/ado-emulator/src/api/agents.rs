//! `pools/{poolId}/agents[/{agentId}]`: list, get, add, replace, update, delete.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use uuid::Uuid;

use super::{AppState, Query, client_org_url, json_body, path_id, pool_and_id, require_pool};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::oauth::parse_public_key;
use crate::state::agents::AgentView;
use crate::state::{Agent, RsaPublicKey, State as World};
use crate::wire::Collection;
use crate::wire::agent::TaskAgentBody;

fn view(query: &Query) -> ApiResult<AgentView> {
    Ok(AgentView {
        capabilities: query.bool("includecapabilities")?,
        assigned_request: query.bool("includeassignedrequest")?,
        last_completed_request: query.bool("includelastcompletedrequest")?,
        authorization: false,
    })
}

fn registration_view() -> AgentView {
    AgentView {
        capabilities: true,
        authorization: true,
        ..AgentView::default()
    }
}

fn name_taken(state: &World, pool_id: i32, name: &str, except: Option<i32>) -> bool {
    state
        .agents_in_pool(pool_id)
        .any(|a| Some(a.id) != except && a.name.eq_ignore_ascii_case(name))
}

fn pool_name(state: &World, pool_id: i32) -> String {
    state
        .pool(pool_id)
        .map(|p| p.name.clone())
        .unwrap_or_default()
}

fn body_key(body: &TaskAgentBody) -> ApiResult<Option<RsaPublicKey>> {
    body.authorization
        .as_ref()
        .and_then(|a| a.public_key.as_ref())
        .map(|k| parse_public_key(&k.exponent, &k.modulus).map_err(ApiError::bad_request))
        .transpose()
}

/// The start of a write to one agent (PUT, PATCH), in the service's order: path ids, an admin
/// caller, a strict body whose id (if any) is the path's.
fn agent_write(
    caller: &Caller,
    pool: &str,
    agent: &str,
    body: &Bytes,
) -> ApiResult<(i32, i32, TaskAgentBody)> {
    let (pool_id, agent_id) = pool_and_id(pool, agent, "agent id")?;
    caller.require_admin()?;
    let body: TaskAgentBody = json_body(body)?;
    check_body_id(&body, agent_id)?;
    Ok((pool_id, agent_id, body))
}

fn check_body_id(body: &TaskAgentBody, agent_id: i32) -> ApiResult<()> {
    match body.id {
        Some(id) if id != 0 && id != agent_id => Err(ApiError::bad_request(format!(
            "The agent id in the request body ({id}) does not match the agent id in the URL ({agent_id})."
        ))),
        _ => Ok(()),
    }
}

/// 404 `TaskAgentNotFoundException` unless the pool exists and holds agent `agent_id`.
fn agent_in_pool(state: &World, pool_id: i32, agent_id: i32) -> ApiResult<&Agent> {
    require_pool(state, pool_id)?;
    state
        .agents
        .get(&agent_id)
        .filter(|a| a.pool_id == pool_id)
        .ok_or_else(|| ApiError::agent_not_found(agent_id))
}

/// 409 `TaskAgentExistsException` when the body renames the agent to a name another agent
/// of the pool has.
fn check_rename(state: &World, pool_id: i32, agent_id: i32, body: &TaskAgentBody) -> ApiResult<()> {
    match body.name.as_deref() {
        Some(name) if name_taken(state, pool_id, name, Some(agent_id)) => {
            Err(ApiError::agent_exists(&pool_name(state, pool_id), name))
        }
        _ => Ok(()),
    }
}

/// `GET agents?agentName=&includeCapabilities=&includeAssignedRequest=&includeLastCompletedRequest=&demands=`.
pub async fn list(
    caller: Caller,
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((_org, pool)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let pool_id: i32 = path_id(&pool, "pool id")?;
    caller.require_admin()?;
    let query = Query::parse(raw.as_deref());
    let view = view(&query)?;
    let name = query.get("agentname");
    let demands: Vec<String> = query
        .get("demands")
        .map(|d| d.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    let org_url = client_org_url(&shared, &headers);
    let agents = shared.read(|s| {
        require_pool(s, pool_id)?;
        Ok::<_, ApiError>(
            s.agents_in_pool(pool_id)
                .filter(|a| name.is_none_or(|n| a.name.eq_ignore_ascii_case(n)))
                .filter(|a| crate::assign::satisfies_all(&demands, a))
                .map(|a| a.to_wire(s, &org_url, view))
                .collect::<Vec<_>>(),
        )
    })?;
    Ok(Json(Collection::new(agents)).into_response())
}

/// `GET agents/{agentId}`: admin, or the agent itself.
pub async fn get(
    caller: Caller,
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((_org, pool, agent)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (pool_id, agent_id) = pool_and_id(&pool, &agent, "agent id")?;
    caller.require_agent(pool_id, agent_id)?;
    let view = view(&Query::parse(raw.as_deref()))?;
    let org_url = client_org_url(&shared, &headers);
    let agent = shared
        .read(|s| agent_in_pool(s, pool_id, agent_id).map(|a| a.to_wire(s, &org_url, view)))?;
    Ok(Json(agent).into_response())
}

/// `POST agents`: registers an agent (keyed → OAuth client; keyless → placeholder, always offline).
pub async fn add(
    caller: Caller,
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((_org, pool)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let pool_id: i32 = path_id(&pool, "pool id")?;
    caller.require_admin()?;
    let body: TaskAgentBody = json_body(&body)?;
    let name = body
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("The agent name is required."))?;
    let key = body_key(&body)?;
    let org_url = client_org_url(&shared, &headers);
    let authorization_url = format!("{org_url}/_apis/oauth2/token");
    let agent = shared.mutate(|s| {
        require_pool(s, pool_id)?;
        if name_taken(s, pool_id, &name, None) {
            return Err(ApiError::agent_exists(&pool_name(s, pool_id), &name));
        }
        let id = s.next_agent_id;
        s.next_agent_id += 1;
        let now = Utc::now();
        let keyed = key.is_some();
        let agent = Agent {
            id,
            pool_id,
            name,
            version: body.version.clone(),
            os_description: body.os_description.clone(),
            enabled: body.enabled.unwrap_or(true),
            provisioning_state: body
                .provisioning_state
                .clone()
                .unwrap_or_else(|| "Provisioned".to_owned()),
            max_parallelism: body.max_parallelism.unwrap_or(1),
            system_capabilities: body.system_capabilities.clone().unwrap_or_default(),
            user_capabilities: body.user_capabilities.clone().unwrap_or_default(),
            created_on: now,
            status_changed_on: now,
            key,
            client_id: keyed.then(Uuid::new_v4),
            authorization_url: keyed.then_some(authorization_url),
            session: None,
            last_completed_request: None,
        };
        tracing::info!(agent_id = id, pool_id, name = %agent.name, keyed, "agent registered");
        let wire = agent.to_wire(s, &org_url, registration_view());
        s.agents.insert(id, agent);
        Ok(wire)
    })?;
    Ok(Json(agent).into_response())
}

/// `PUT agents/{agentId}`: replaces the registration (new key, same id and client id).
pub async fn replace(
    caller: Caller,
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((_org, pool, agent)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let (pool_id, agent_id, body) = agent_write(&caller, &pool, &agent, &body)?;
    let key = body_key(&body)?;
    let org_url = client_org_url(&shared, &headers);
    let authorization_url = format!("{org_url}/_apis/oauth2/token");
    let agent = shared.mutate(|s| {
        agent_in_pool(s, pool_id, agent_id)?;
        check_rename(s, pool_id, agent_id, &body)?;
        let new_key = key.is_some();
        if new_key {
            // The old key's holder must not keep working: drop its tokens and its session.
            s.revoke_tokens_of(agent_id);
            s.end_session_of(agent_id);
        }
        let Some(agent) = s.agents.get_mut(&agent_id) else {
            return Err(ApiError::agent_not_found(agent_id));
        };
        apply(agent, &body, true);
        if let Some(key) = key {
            agent.key = Some(key);
            agent.client_id.get_or_insert_with(Uuid::new_v4);
            agent.authorization_url = Some(authorization_url);
        }
        let agent = agent.clone();
        Ok(agent.to_wire(s, &org_url, registration_view()))
    })?;
    Ok(Json(agent).into_response())
}

/// Applies body fields; `replace` also resets capabilities that the body omits.
fn apply(agent: &mut Agent, body: &TaskAgentBody, replace: bool) {
    if let Some(name) = &body.name {
        agent.name.clone_from(name);
    }
    if let Some(v) = &body.version {
        agent.version = Some(v.clone());
    }
    if let Some(v) = &body.os_description {
        agent.os_description = Some(v.clone());
    }
    if let Some(v) = body.enabled {
        agent.enabled = v;
    }
    if let Some(v) = body.max_parallelism {
        agent.max_parallelism = v;
    }
    if let Some(v) = &body.provisioning_state {
        agent.provisioning_state.clone_from(v);
    }
    let replace_caps = |current: &mut BTreeMap<String, String>,
                        new: &Option<BTreeMap<String, String>>| match new {
        Some(caps) => current.clone_from(caps),
        None if replace => current.clear(),
        None => {}
    };
    replace_caps(&mut agent.system_capabilities, &body.system_capabilities);
    // The official agent's --replace PUT omits user capabilities; keep them then (inferred).
    if body.user_capabilities.is_some() {
        replace_caps(&mut agent.user_capabilities, &body.user_capabilities);
    }
}

/// `PATCH agents/{agentId}`: partial update, e.g. `{"id":5,"enabled":false}`.
pub async fn update(
    caller: Caller,
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((_org, pool, agent)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let (pool_id, agent_id, body) = agent_write(&caller, &pool, &agent, &body)?;
    if body
        .authorization
        .as_ref()
        .is_some_and(|a| a.public_key.is_some())
    {
        return Err(ApiError::bad_request(
            "Use PUT to replace an agent's public key.",
        ));
    }
    let org_url = client_org_url(&shared, &headers);
    let agent = shared.mutate(|s| {
        agent_in_pool(s, pool_id, agent_id)?;
        check_rename(s, pool_id, agent_id, &body)?;
        let Some(agent) = s.agents.get_mut(&agent_id) else {
            return Err(ApiError::agent_not_found(agent_id));
        };
        apply(agent, &body, false);
        let agent = agent.clone();
        Ok(agent.to_wire(
            s,
            &org_url,
            AgentView {
                capabilities: true,
                ..AgentView::default()
            },
        ))
    })?;
    Ok(Json(agent).into_response())
}

/// `DELETE agents/{agentId}`: refused while the agent holds a job.
pub async fn delete(
    caller: Caller,
    State(shared): State<AppState>,
    Path((_org, pool, agent)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let (pool_id, agent_id) = pool_and_id(&pool, &agent, "agent id")?;
    caller.require_admin()?;
    shared.mutate(|s| {
        let agent = agent_in_pool(s, pool_id, agent_id)?;
        if let Some(job) = s.active_job_of(agent_id) {
            tracing::info!(
                agent_id,
                request_id = job.request_id,
                "agent holds a job; delete refused"
            );
            return Err(ApiError::agent_busy(&agent.name, &pool_name(s, pool_id)));
        }
        s.end_session_of(agent_id);
        s.revoke_tokens_of(agent_id);
        s.agents.remove(&agent_id);
        tracing::info!(agent_id, pool_id, "agent deleted");
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
