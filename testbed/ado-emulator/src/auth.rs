//! Who is calling: the PAT / static bearer holder (admin) or a registered agent's access token.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::Utc;

use crate::error::ApiError;
use crate::state::Shared;
use crate::urls::request_base;

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// PAT (Basic) or the configured static bearer token: may manage everything.
    Admin,
    /// A Microsoft Entra access token of a service principal that is a member of the
    /// organization; management needs the Administrator role on the agent pools.
    ServicePrincipal {
        /// Whether the principal administers the agent pools.
        pool_administrator: bool,
    },
    /// A registered agent's access token: scoped to that agent and its pool.
    Agent {
        /// Agent id.
        agent_id: i32,
        /// The agent's pool.
        pool_id: i32,
    },
}

impl Caller {
    /// Management calls (pools, agent registration): PAT/Entra only.
    pub fn require_admin(self) -> Result<(), ApiError> {
        match self {
            Self::Admin
            | Self::ServicePrincipal {
                pool_administrator: true,
            } => Ok(()),
            Self::ServicePrincipal { .. } => Err(not_pool_administrator()),
            Self::Agent { .. } => Err(ApiError::access_denied(
                "An agent token cannot perform management calls.",
            )),
        }
    }

    /// Pool-scoped agent calls (sessions, messages, job requests).
    pub fn require_pool(self, pool_id: i32) -> Result<(), ApiError> {
        match self {
            Self::Agent { pool_id: own, .. } if own != pool_id => Err(ApiError::access_denied(
                format!("This agent's token is not valid for pool {pool_id}."),
            )),
            Self::ServicePrincipal {
                pool_administrator: false,
            } => Err(not_pool_administrator()),
            _ => Ok(()),
        }
    }

    /// Calls about one agent: its own token or admin.
    pub fn require_agent(self, pool_id: i32, agent_id: i32) -> Result<(), ApiError> {
        self.require_pool(pool_id)?;
        match self {
            Self::Agent { agent_id: own, .. } if own != agent_id => Err(ApiError::access_denied(
                format!("This agent's token is not valid for agent {agent_id}."),
            )),
            _ => Ok(()),
        }
    }
}

/// The service's 403 for an identity without a role on the agent pools.
fn not_pool_administrator() -> ApiError {
    ApiError::access_denied(
        "Access denied. The service principal needs Manage permissions for agent pools to perform the action. For more information, contact the Azure DevOps Server administrator.",
    )
}

/// Constant-time-ish comparison so a PAT is not guessable by timing.
fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Resolves the `Authorization` header; `None` when absent or invalid.
pub fn authenticate(shared: &Shared, headers: &HeaderMap) -> Option<Caller> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credential)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_user, password) = decoded.split_once(':')?;
        return secret_eq(password, &shared.cfg.pat).then_some(Caller::Admin);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    if shared
        .cfg
        .bearer_token
        .as_deref()
        .is_some_and(|t| secret_eq(credential, t))
    {
        return Some(Caller::Admin);
    }
    // Entra access tokens are JWTs; agent tokens are opaque.
    if credential.split('.').count() == 3
        && let Some(principal) = shared.entra.principal(credential)
    {
        // A valid token of a service principal the organization does not know: 401, as
        // Azure DevOps answers (TF400813).
        return principal
            .organization_member
            .then_some(Caller::ServicePrincipal {
                pool_administrator: principal.pool_administrator,
            });
    }
    shared.read(|s| {
        let token = s.tokens.get(credential)?;
        if token.expires <= Utc::now() {
            return None;
        }
        let agent = s.agents.get(&token.agent_id)?;
        Some(Caller::Agent {
            agent_id: agent.id,
            pool_id: agent.pool_id,
        })
    })
}

/// The 401 answer with the challenge the official clients need to start OAuth.
pub fn challenge(shared: &Shared, headers: &HeaderMap) -> Response {
    let base = request_base(headers, shared.cfg.public_url.as_deref(), &shared.base_url);
    let mut response = ApiError::unauthorized().into_response();
    let value = format!(
        "Bearer authorization_uri=https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000, Basic realm=\"{base}/\", TFS-Federated"
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        authenticate(shared, &parts.headers).ok_or_else(|| challenge(shared, &parts.headers))
    }
}
