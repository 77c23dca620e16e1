//! `GET pools`, `GET pools/{poolId}`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};

use super::{AppState, Query, path_id};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::{Pool, State as World};
use crate::wire::pool::TaskAgentPool;
use crate::wire::{Collection, format_time};

fn to_wire(state: &World, pool: &Pool) -> TaskAgentPool {
    TaskAgentPool {
        id: pool.id,
        scope: pool.scope.to_string(),
        name: pool.name.clone(),
        is_hosted: false,
        is_legacy: false,
        pool_type: "automation",
        options: "none",
        size: i32::try_from(state.agents_in_pool(pool.id).count()).unwrap_or(i32::MAX),
        created_on: format_time(pool.created_on),
        auto_provision: true,
        auto_size: true,
        auto_update: true,
    }
}

/// `GET pools[?poolName=&poolType=|?poolIds=1,2]`; unknown parameters (KEDA's `poolID`) are ignored.
pub async fn list(
    caller: Caller,
    State(shared): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let query = Query::parse(raw.as_deref());
    let ids: Option<Vec<i32>> = query
        .get("poolids")
        .map(|v| {
            v.split(',')
                .map(|id| path_id::<i32>(id.trim(), "pool id"))
                .collect::<ApiResult<_>>()
        })
        .transpose()?;
    let automation = match query.get("pooltype") {
        None => true,
        Some(t) if t.eq_ignore_ascii_case("automation") => true,
        Some(t) if t.eq_ignore_ascii_case("deployment") => false,
        Some(t) => {
            return Err(ApiError::bad_request(format!(
                "The value '{t}' is not valid for poolType."
            )));
        }
    };
    let name = query.get("poolname");
    let pools = shared.read(|s| {
        s.pools
            .iter()
            .filter(|_| automation)
            .filter(|p| name.is_none_or(|n| p.name.eq_ignore_ascii_case(n)))
            .filter(|p| ids.as_ref().is_none_or(|ids| ids.contains(&p.id)))
            .map(|p| to_wire(s, p))
            .collect()
    });
    Ok(Json(Collection::new(pools)).into_response())
}

/// `GET pools/{poolId}`.
pub async fn get(
    caller: Caller,
    State(shared): State<AppState>,
    Path((_org, pool_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let pool_id: i32 = path_id(&pool_id, "pool id")?;
    let pool = shared.read(|s| s.pool(pool_id).map(|p| to_wire(s, p)));
    pool.map(|p| Json(p).into_response())
        .ok_or_else(|| ApiError::pool_not_found(pool_id))
}
