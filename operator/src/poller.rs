//! The shared Azure DevOps poll of one pool (scaling rule 1) and its backoff (rule 7).
//!
//! One poll reads the pool's unfinished job requests and its agents: two GETs per Azure DevOps
//! pool per interval, however many AgentPools point at it. The interval is the smallest
//! `pollInterval` of those AgentPools; errors and rate-limit hints stretch it.

use std::time::Duration;

use azp_ado::{AdoClient, AdoError, Agent, AgentQuery, JobRequest, RateLimitSnapshot};

/// Longest wait between polls when Azure DevOps keeps failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// One observation of an Azure DevOps pool.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Unfinished job requests.
    pub jobs: Vec<JobRequest>,
    /// Registered agents with capabilities, assigned and last completed requests.
    pub agents: Vec<Agent>,
}

/// Reads the queue and the agents of `pool_id`: exactly two GETs when they succeed.
pub async fn observe_pool(client: &AdoClient, pool_id: i32) -> Result<Observation, AdoError> {
    let jobs = client.list_pending_job_requests(pool_id).await?;
    let agents = client
        .list_agents(
            pool_id,
            &AgentQuery {
                include_capabilities: true,
                include_assigned_request: true,
                include_last_completed_request: true,
                ..AgentQuery::default()
            },
        )
        .await?;
    Ok(Observation { jobs, agents })
}

/// When to poll next, from consecutive failures and the server's hints.
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    failures: u32,
    throttled: bool,
    /// The kind of the last failure: the doubling counts failures of one kind only.
    last_reason: Option<&'static str>,
}

impl Backoff {
    /// Consecutive failed polls.
    #[cfg(test)]
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether the next poll must wait for its scheduled time whatever wakes the loop: after
    /// a failure, or when the server asked for a slower rate. Triggers (hooks, pod events)
    /// may bring a poll forward only when neither holds (rule 7).
    pub fn holds_triggers(&self) -> bool {
        self.failures > 0 || self.throttled
    }

    /// A poll succeeded: the next one comes after `interval`, unless the rate-limit headers
    /// ask for more (a delay hint, or a budget nearly spent).
    pub fn succeeded(
        &mut self,
        interval: Duration,
        rate_limit: Option<&RateLimitSnapshot>,
    ) -> Duration {
        self.failures = 0;
        self.throttled = false;
        self.last_reason = None;
        let Some(snapshot) = rate_limit else {
            return interval;
        };
        let mut wait = interval.max(snapshot.server_hint().unwrap_or_default());
        // Under 10 % of the budget left: halve the poll rate until the window resets.
        if let (Some(limit), Some(remaining)) = (snapshot.limit, snapshot.remaining)
            && limit > 0
            && remaining.saturating_mul(10) < limit
        {
            wait = wait.max(interval * 2);
        }
        self.throttled = wait > interval;
        wait.min(MAX_BACKOFF)
    }

    /// A poll failed: exponential backoff from `interval` (doubling per consecutive failure,
    /// capped at [`MAX_BACKOFF`]), never shorter than the server's `Retry-After`.
    ///
    /// A failure of another kind than the last one starts the doubling again: after a bad PAT
    /// is fixed, a 429 asking for one second must not inherit the bad PAT's long wait.
    pub fn failed(&mut self, interval: Duration, error: &AdoError) -> Duration {
        let reason = error.reason();
        self.failures = if self.last_reason == Some(reason) {
            self.failures.saturating_add(1)
        } else {
            1
        };
        self.last_reason = Some(reason);
        let exponent = self.failures.saturating_sub(1).min(16);
        let backoff = interval.saturating_mul(1u32 << exponent).min(MAX_BACKOFF);
        backoff
            .max(error.retry_after().unwrap_or_default())
            .min(MAX_BACKOFF.max(error.retry_after().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_limited(after: Option<u64>) -> AdoError {
        AdoError::RateLimited {
            retry_after: after.map(Duration::from_secs),
        }
    }

    #[test]
    fn failures_double_the_wait_up_to_the_cap_and_success_resets() {
        let interval = Duration::from_secs(10);
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..7)
            .map(|_| backoff.failed(interval, &rate_limited(None)).as_secs())
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(backoff.succeeded(interval, None), interval);
        assert_eq!(backoff.failures(), 0);
        assert_eq!(backoff.failed(interval, &rate_limited(None)), interval);
    }

    #[test]
    fn another_kind_of_failure_starts_the_doubling_again() {
        let interval = Duration::from_secs(5);
        let mut backoff = Backoff::default();
        let bad_pat = AdoError::BadCredentials { status: 401 };
        assert_eq!(backoff.failed(interval, &bad_pat).as_secs(), 5);
        assert_eq!(backoff.failed(interval, &bad_pat).as_secs(), 10);
        assert_eq!(backoff.failed(interval, &bad_pat).as_secs(), 20);
        // The PAT was fixed; the service now throttles and asks for 1 s.
        assert_eq!(
            backoff.failed(interval, &rate_limited(Some(1))).as_secs(),
            5
        );
        assert_eq!(backoff.failures(), 1);
        assert!(backoff.holds_triggers());
    }

    #[test]
    fn retry_after_is_never_undercut() {
        let mut backoff = Backoff::default();
        let wait = backoff.failed(Duration::from_secs(5), &rate_limited(Some(90)));
        assert_eq!(wait, Duration::from_secs(90));
    }

    #[test]
    fn a_nearly_spent_budget_slows_polling_even_on_success() {
        let now = chrono::Utc::now();
        let snapshot = |remaining| RateLimitSnapshot {
            observed_at: now,
            limit: Some(200),
            remaining: Some(remaining),
            reset: None,
            delay: None,
            resource: None,
            retry_after: None,
        };
        let interval = Duration::from_secs(15);
        let mut backoff = Backoff::default();
        assert_eq!(backoff.succeeded(interval, Some(&snapshot(150))), interval);
        assert!(!backoff.holds_triggers());
        assert_eq!(
            backoff.succeeded(interval, Some(&snapshot(5))),
            interval * 2
        );
        assert!(
            backoff.holds_triggers(),
            "a hook must not undo the slow-down"
        );
        let delayed = RateLimitSnapshot {
            delay: Some(Duration::from_secs(40)),
            ..snapshot(150)
        };
        assert_eq!(
            backoff.succeeded(interval, Some(&delayed)),
            Duration::from_secs(40)
        );
    }
}
