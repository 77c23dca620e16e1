//! Client configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::auth::Auth;
use crate::observer::RequestObserver;

/// How hard the client retries rate-limited (429) and unavailable (5xx) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total HTTP attempts per call, including the first (1 = never retry).
    pub max_attempts: u32,
    /// First backoff step when the server gives no hint; doubles per attempt.
    pub base_delay: Duration,
    /// Longest single wait; a server hint above it ends the call at once with the hint.
    pub max_delay: Duration,
    /// Longest total time spent waiting between attempts of one call.
    pub max_total_wait: Duration,
}

impl RetryPolicy {
    /// No retries: every failure is returned to the caller immediately.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

impl Default for RetryPolicy {
    /// 3 attempts, 1 s base, 30 s per wait, 30 s in total: short enough that one reconcile/poll never blocks
    /// longer than about two poll intervals, and the operator's own poll loop is the outer retry.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_total_wait: Duration::from_secs(30),
        }
    }
}

/// Everything [`crate::AdoClient::new`] needs.
#[derive(Clone)]
pub struct AdoClientConfig {
    /// `https://dev.azure.com/{org}` or `https://host/tfs/{collection}`; a trailing slash is tolerated.
    pub organization_url: Url,
    /// Credentials.
    pub auth: Auth,
    /// Per-attempt timeout (connect + send + read body).
    pub request_timeout: Duration,
    /// Retry budget for 429/5xx.
    pub retry: RetryPolicy,
    /// Allow `http://` organizations (local tests only: the credential would travel in clear text).
    pub allow_insecure_http: bool,
    /// Extra PEM root certificates (Azure DevOps Server behind a private CA); system roots stay trusted.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Called once per HTTP attempt (metrics).
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Largest job-request list body accepted, in bytes; a larger one is
    /// [`crate::AdoError::JobListTooLarge`] instead of memory the process cannot spare.
    pub max_job_list_bytes: u64,
}

/// Default of [`AdoClientConfig::max_job_list_bytes`]: 64 MiB. The list is decoded while it
/// arrives, so the limit bounds reading time and traffic rather than memory; it is far above
/// what a few hundred queued jobs send (see docs/benchmarks.md for measured sizes).
pub const DEFAULT_MAX_JOB_LIST_BYTES: u64 = 64 * 1024 * 1024;

impl AdoClientConfig {
    /// A configuration with defaults: 10 s timeout, default retry policy, HTTPS only, no extra CAs.
    pub fn new(organization_url: Url, auth: Auth) -> Self {
        Self {
            organization_url,
            auth,
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
            ca_bundle_pem: None,
            user_agent: concat!("azp-operator/", env!("CARGO_PKG_VERSION")).to_owned(),
            observer: None,
            max_job_list_bytes: DEFAULT_MAX_JOB_LIST_BYTES,
        }
    }
}

impl fmt::Debug for AdoClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdoClientConfig")
            .field(
                "organization_url",
                &crate::client::redacted_url(&self.organization_url),
            )
            .field("auth", &self.auth)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field(
                "ca_bundle_pem",
                &self
                    .ca_bundle_pem
                    .as_ref()
                    .map(|pem| format!("{} bytes", pem.len())),
            )
            .field("user_agent", &self.user_agent)
            .field("observer", &self.observer.is_some())
            .field("max_job_list_bytes", &self.max_job_list_bytes)
            .finish()
    }
}
