//! Handlers of the `/{org}/_apis/...` surface, plus shared input parsing.

pub mod agents;
pub mod jobrequests;
pub mod location;
pub mod messages;
pub mod oauth;
pub mod pools;
pub mod sessions;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};
use crate::state::{Shared, State};
use crate::urls::{org_url, request_base};

/// Shared state as handlers receive it.
pub type AppState = Arc<Shared>;

/// Query parameters with lower-cased names (the service treats names case-insensitively:
/// KEDA sends `poolID`).
#[derive(Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
                .collect(),
        )
    }

    /// A parameter by (lower-case) name; empty values count as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A boolean parameter (`true`/`false`, any case, as .NET `bool.ToString()` sends `True`).
    pub fn bool(&self, name: &str) -> ApiResult<bool> {
        match self.get(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::bad_request(format!(
                "The value '{v}' is not valid for {name}."
            ))),
        }
    }

    /// An integer parameter.
    pub fn int<T: std::str::FromStr>(&self, name: &str) -> ApiResult<Option<T>> {
        self.get(name)
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    ApiError::bad_request(format!("The value '{v}' is not valid for {name}."))
                })
            })
            .transpose()
    }
}

/// Parses a JSON body strictly: malformed JSON or wrong field types → 400 `ArgumentException`.
pub fn json_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "Value cannot be null. Parameter name: body",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request body is invalid: {e}")))
}

/// Parses a path id.
pub fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> ApiResult<T> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("The value '{raw}' is not a valid {what}.")))
}

/// Parses the pool id and one more id of a `pools/{poolId}/{resource}/{id}` path, pool first.
pub fn pool_and_id<T: std::str::FromStr>(pool: &str, id: &str, what: &str) -> ApiResult<(i32, T)> {
    Ok((path_id(pool, "pool id")?, path_id(id, what)?))
}

/// The org URL as this client addresses the emulator.
pub fn client_org_url(shared: &Shared, headers: &HeaderMap) -> String {
    org_url(
        &request_base(headers, shared.cfg.public_url.as_deref(), &shared.base_url),
        &shared.cfg.org,
    )
}

/// 404 `TaskAgentPoolNotFoundException` unless the pool exists.
pub fn require_pool(state: &State, pool_id: i32) -> ApiResult<()> {
    state
        .pool(pool_id)
        .map(|_| ())
        .ok_or_else(|| ApiError::pool_not_found(pool_id))
}
