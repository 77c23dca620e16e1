//! Typed Azure DevOps REST client (agent pools, agents, job requests).
//!
//! ```no_run
//! # async fn demo() -> Result<(), azp_ado::AdoError> {
//! use azp_ado::{AdoClient, AdoClientConfig, Auth, Secret};
//! let url = url::Url::parse("https://dev.azure.com/contoso").map_err(|e| azp_ado::AdoError::InvalidConfig { message: e.to_string() })?;
//! let client = AdoClient::new(AdoClientConfig::new(url, Auth::Pat(Secret::new("pat"))))?;
//! let pool = client.find_pool("eks-linux").await?;
//! let pending = client.list_pending_job_requests(pool.id).await?.into_iter().filter(|r| r.is_pending()).count();
//! # let _ = pending; Ok(()) }
//! ```
//!
//! TLS: reqwest 0.13's `rustls` feature brings its own aws-lc-rs provider and uses it when no process-wide default
//! is installed, so binaries need no crypto-provider setup for this client.

mod api;
mod auth;
mod body;
mod client;
mod config;
mod error;
mod models;
mod observer;
mod rate_limit;
mod response;
mod retry;
mod secret;

pub use api::AgentQuery;
pub use auth::{Auth, BoxFuture, TokenSource};
pub use client::AdoClient;
pub use config::{AdoClientConfig, DEFAULT_MAX_JOB_LIST_BYTES, RetryPolicy};
pub use error::{AdoError, PoolLookup};
pub use models::{
    Agent, AgentAuthorization, AgentPatch, AgentPublicKey, AgentRef, AgentStatus, JobRequest, Link,
    MatchedAgent, NewAgent, OrchestrationOwner, OwnerLinks, Pool, PoolType, TaskResult,
};
pub use observer::{AttemptOutcome, RequestAttempt, RequestObserver};
pub use rate_limit::RateLimitSnapshot;
pub use secret::Secret;
