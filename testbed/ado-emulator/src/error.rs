//! Errors: `EmulatorError` for the library API, `ApiError` for `WrappedException` HTTP answers.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Failure to start the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listen address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The configuration is unusable (e.g. no pools, empty PAT).
    #[error("invalid emulator configuration: {0}")]
    Config(String),
}

/// The assembly every DistributedTask exception type lives in.
const TASK_AGENT_ASSEMBLY: &str = "Microsoft.TeamFoundation.DistributedTask.WebApi";

/// An Azure DevOps error answer: status code + `WrappedException` body (ado-protocol.md §0).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `typeKey`, the short exception name clients branch on.
    pub type_key: &'static str,
    /// Fully-qualified `typeName` (namespace + assembly, no version).
    pub type_name: String,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    fn task_agent(status: StatusCode, type_key: &'static str, message: String) -> Self {
        Self {
            status,
            type_key,
            type_name: format!("{TASK_AGENT_ASSEMBLY}.{type_key}, {TASK_AGENT_ASSEMBLY}"),
            message,
        }
    }

    fn framework(
        status: StatusCode,
        namespace: &str,
        type_key: &'static str,
        message: String,
    ) -> Self {
        Self {
            status,
            type_key,
            type_name: format!("{namespace}.{type_key}, {namespace}"),
            message,
        }
    }

    /// 404 `TaskAgentPoolNotFoundException`.
    pub fn pool_not_found(pool: impl std::fmt::Display) -> Self {
        Self::task_agent(
            StatusCode::NOT_FOUND,
            "TaskAgentPoolNotFoundException",
            format!("Agent pool {pool} could not be found."),
        )
    }

    /// 404 `TaskAgentNotFoundException`.
    pub fn agent_not_found(agent: impl std::fmt::Display) -> Self {
        Self::task_agent(
            StatusCode::NOT_FOUND,
            "TaskAgentNotFoundException",
            format!("Agent {agent} could not be found."),
        )
    }

    /// 409 `TaskAgentExistsException` with the real service's message text.
    pub fn agent_exists(pool: &str, name: &str) -> Self {
        Self::task_agent(
            StatusCode::CONFLICT,
            "TaskAgentExistsException",
            format!("Pool {pool} already contains an agent with name {name}."),
        )
    }

    /// 409 `TaskAgentSessionConflictException`.
    pub fn session_conflict(agent: &str) -> Self {
        Self::task_agent(
            StatusCode::CONFLICT,
            "TaskAgentSessionConflictException",
            format!("A session for agent {agent} already exists."),
        )
    }

    /// 400 `TaskAgentSessionExpiredException` (400 per the server's exception map; the agent
    /// branches on the type key and re-creates its session).
    pub fn session_expired(session: impl std::fmt::Display) -> Self {
        Self::task_agent(
            StatusCode::BAD_REQUEST,
            "TaskAgentSessionExpiredException",
            format!("The session {session} has expired or does not exist."),
        )
    }

    /// 404 `TaskAgentJobNotFoundException`.
    pub fn job_not_found(request_id: i64) -> Self {
        Self::task_agent(
            StatusCode::NOT_FOUND,
            "TaskAgentJobNotFoundException",
            format!("No job request with id {request_id} is active."),
        )
    }

    /// 400 `TaskAgentJobStillRunningException`: the agent holds a job and cannot be deleted
    /// (status from the server's exception map, message as `config.sh remove` prints it).
    pub fn agent_busy(agent: &str, pool: &str) -> Self {
        Self::task_agent(
            StatusCode::BAD_REQUEST,
            "TaskAgentJobStillRunningException",
            format!("Agent \"{agent}\" is running a job for pool \"{pool}\""),
        )
    }

    /// 400 `ArgumentException` for malformed input.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            type_key: "ArgumentException",
            type_name: "System.ArgumentException, mscorlib".to_owned(),
            message: message.into(),
        }
    }

    /// 403 `AccessDeniedException`: authenticated, but not allowed to touch this resource.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::task_agent(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            message.into(),
        )
    }

    /// 404 for an `_apis` route the emulator does not implement.
    pub fn route_not_found(method: &str, path: &str) -> Self {
        Self::framework(
            StatusCode::NOT_FOUND,
            "Microsoft.VisualStudio.Services.WebApi",
            "VssResourceNotFoundException",
            format!(
                "TF400898: The API resource {method} {path} is not implemented by the emulator."
            ),
        )
    }

    /// 405 for a known route with the wrong method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::framework(
            StatusCode::METHOD_NOT_ALLOWED,
            "Microsoft.VisualStudio.Services.WebApi",
            "VssMethodNotAllowedException",
            format!("The requested resource does not support http method '{method}' ({path})."),
        )
    }

    /// 401 body; the `WWW-Authenticate` header is added by the auth layer.
    pub fn unauthorized() -> Self {
        Self::framework(
            StatusCode::UNAUTHORIZED,
            "Microsoft.TeamFoundation.Framework.Server",
            "UnauthorizedRequestException",
            "TF400813: The user is not authorized to access this resource.".to_owned(),
        )
    }

    /// The JSON body in the `WrappedException` shape.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "$id": "1",
            "innerException": null,
            "message": self.message,
            "typeName": self.type_name,
            "typeKey": self.type_key,
            "errorCode": 0,
            "eventId": 3000,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        // Non-JSON-aware clients read the message from this header (ado-protocol.md §0).
        let encoded: String =
            url::form_urlencoded::byte_serialize(self.message.as_bytes()).collect();
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            response.headers_mut().insert("X-TFS-ServiceError", value);
        }
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response
    }
}

/// Result type of every `_apis` handler.
pub type ApiResult<T> = Result<T, ApiError>;
