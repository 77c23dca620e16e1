//! Typed errors of the Azure DevOps client.

use std::fmt;
use std::time::Duration;

/// Which pool a lookup was about (by name or by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolLookup {
    /// `find_pool(name)`.
    Name(String),
    /// Any call addressed to `pools/{poolId}`.
    Id(i32),
}

impl fmt::Display for PoolLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolLookup::Name(name) => write!(f, "named {name:?}"),
            PoolLookup::Id(id) => write!(f, "with id {id}"),
        }
    }
}

/// Everything that can go wrong talking to Azure DevOps.
///
/// No variant ever carries a credential: messages are built from route templates, status codes and server texts.
///
/// Not `#[non_exhaustive]`: the operator maps every variant to a condition reason with an
/// exhaustive match, so a new variant must be given its reason there.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdoError {
    /// The client configuration is unusable (bad URL, insecure scheme, bad CA bundle...).
    #[error("invalid Azure DevOps client configuration: {message}")]
    InvalidConfig {
        /// What is wrong.
        message: String,
    },
    /// The credential was rejected: 401, 203 (the Services sign-in page) or an HTML/non-JSON success page.
    #[error(
        "Azure DevOps rejected the credential (HTTP {status}); check the PAT or token and its expiry"
    )]
    BadCredentials {
        /// The HTTP status that revealed it.
        status: u16,
    },
    /// The identity is known but lacks permission (403 or `AccessDeniedException`).
    #[error("access denied by Azure DevOps: {message}")]
    AccessDenied {
        /// The server's message.
        message: String,
    },
    /// The pool does not exist (or is not visible to this identity).
    #[error("agent pool {pool} not found")]
    PoolNotFound {
        /// The pool that was looked up.
        pool: PoolLookup,
    },
    /// More than one pool matched the name exactly.
    #[error("agent pool name {name:?} is ambiguous: {count} pools match")]
    AmbiguousPool {
        /// The name that was looked up.
        name: String,
        /// How many pools matched.
        count: usize,
    },
    /// The agent does not exist in the pool. Callers deleting an agent treat this as done.
    #[error("agent {agent_id} not found in pool {pool_id}")]
    AgentNotFound {
        /// The pool id.
        pool_id: i32,
        /// The agent id (0 when the agent was addressed by name).
        agent_id: i32,
    },
    /// An agent with this name is already registered in the pool.
    #[error("an agent named {name:?} already exists in the pool")]
    AgentExists {
        /// The agent name.
        name: String,
    },
    /// The agent is running a job and cannot be deleted (retry after the job finished).
    #[error("agent {agent_id} in pool {pool_id} is running a job and cannot be removed: {message}")]
    AgentBusy {
        /// The pool id.
        pool_id: i32,
        /// The agent id.
        agent_id: i32,
        /// The server's message.
        message: String,
    },
    /// The job request does not exist.
    #[error("job request not found: {message}")]
    JobNotFound {
        /// The server's message.
        message: String,
    },
    /// Any other error answer from the service.
    #[error("Azure DevOps answered HTTP {status}{}: {message}", type_key.as_deref().map(|k| format!(" ({k})")).unwrap_or_default())]
    Service {
        /// HTTP status.
        status: u16,
        /// `WrappedException.typeKey`, when the body had one.
        type_key: Option<String>,
        /// The server's message (or a description of the unexpected answer).
        message: String,
    },
    /// Still rate-limited (429) after the retry budget was spent.
    #[error("Azure DevOps rate limit hit; retry after {}", describe_hint(*retry_after))]
    RateLimited {
        /// The server's last `Retry-After`/`X-RateLimit-Delay` hint.
        retry_after: Option<Duration>,
    },
    /// Still failing with 5xx after the retry budget was spent.
    #[error("Azure DevOps unavailable (HTTP {status}); retry after {}", describe_hint(*retry_after))]
    Unavailable {
        /// Last HTTP status.
        status: u16,
        /// The server's last `Retry-After` hint.
        retry_after: Option<Duration>,
    },
    /// The request did not complete within the configured timeout.
    #[error("request to {route} timed out after {timeout:?}")]
    Timeout {
        /// Route template of the request.
        route: &'static str,
        /// The configured timeout.
        timeout: Duration,
    },
    /// Connection-level failure (DNS, TCP, TLS). The message never contains the URL.
    #[error("could not reach Azure DevOps ({route}): {message}")]
    Transport {
        /// Route template of the request.
        route: &'static str,
        /// Error chain without URL.
        message: String,
    },
    /// A success answer whose JSON did not have the expected shape.
    #[error("unexpected response body from {route}: {message}")]
    Decode {
        /// Route template of the request.
        route: &'static str,
        /// The parse error.
        message: String,
    },
    /// The pool's job-request list is larger than the configured limit
    /// ([`crate::AdoClientConfig::max_job_list_bytes`]); it was dropped unread past the limit.
    #[error(
        "the pool's job-request list is larger than the limit of {limit} bytes ({read} bytes read or declared); \
         raise the job-list size limit if this many queued jobs are expected"
    )]
    JobListTooLarge {
        /// The limit in bytes.
        limit: u64,
        /// Bytes read (or declared by `Content-Length`) when the limit was crossed.
        read: u64,
    },
    /// The bearer token source failed.
    #[error("could not obtain an access token: {message}")]
    Token {
        /// What went wrong (must not contain the token).
        message: String,
    },
}

fn describe_hint(hint: Option<Duration>) -> String {
    match hint {
        Some(duration) => format!("{:.1}s", duration.as_secs_f64()),
        None => "an unspecified delay".to_owned(),
    }
}

impl AdoError {
    /// A stable CamelCase name usable as a Kubernetes condition reason and as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            AdoError::InvalidConfig { .. } => "InvalidConfig",
            AdoError::BadCredentials { .. } => "BadCredentials",
            AdoError::AccessDenied { .. } => "AccessDenied",
            AdoError::PoolNotFound { .. } => "PoolNotFound",
            AdoError::AmbiguousPool { .. } => "AmbiguousPool",
            AdoError::AgentNotFound { .. } => "AgentNotFound",
            AdoError::AgentExists { .. } => "AgentExists",
            AdoError::AgentBusy { .. } => "AgentBusy",
            AdoError::JobNotFound { .. } => "JobNotFound",
            AdoError::Service { .. } => "ServiceError",
            AdoError::RateLimited { .. } => "RateLimited",
            AdoError::Unavailable { .. } => "Unavailable",
            AdoError::Timeout { .. } => "Timeout",
            AdoError::Transport { .. } => "TransportError",
            AdoError::Decode { .. } => "UnexpectedResponse",
            AdoError::Token { .. } => "TokenError",
            AdoError::JobListTooLarge { .. } => "JobListTooLarge",
        }
    }

    /// The server's hint for when to try again, if the error is transient and the server gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AdoError::RateLimited { retry_after } | AdoError::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// True for errors a later retry may cure (rate limits, 5xx, timeouts, connection errors).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AdoError::RateLimited { .. }
                | AdoError::Unavailable { .. }
                | AdoError::Timeout { .. }
                | AdoError::Transport { .. }
        )
    }
}
