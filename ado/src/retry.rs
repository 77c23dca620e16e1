//! Backoff arithmetic, kept pure so it can be tested without a clock.

use std::time::Duration;

use crate::config::RetryPolicy;

/// Decides how long to wait before the next attempt, or `None` to give up now.
///
/// * `failed_attempt`: 1-based number of the attempt that just failed.
/// * `server_hint`: `Retry-After` / `X-RateLimit-Delay`, honoured exactly when present. A hint longer than
///   `max_delay` ends the call at once: sleeping through it would only hold the caller, and the error carries the hint.
/// * `waited_so_far`: total already slept in this call.
/// * `jitter`: a number in `[0, 1]`; the computed backoff is spread over `[half, full]` to avoid retry storms.
pub(crate) fn next_delay(
    policy: &RetryPolicy,
    failed_attempt: u32,
    server_hint: Option<Duration>,
    waited_so_far: Duration,
    jitter: f64,
) -> Option<Duration> {
    if failed_attempt >= policy.max_attempts {
        return None;
    }
    let delay = match server_hint {
        Some(hint) if hint > policy.max_delay => return None,
        Some(hint) => hint,
        None => jittered_backoff(policy, failed_attempt, jitter),
    };
    (waited_so_far.saturating_add(delay) <= policy.max_total_wait).then_some(delay)
}

/// `base * 2^(attempt-1)`, capped at `max_delay`, then scaled into `[50 %, 100 %]` by `jitter`.
fn jittered_backoff(policy: &RetryPolicy, failed_attempt: u32, jitter: f64) -> Duration {
    let exponent = failed_attempt.saturating_sub(1).min(20);
    let full = policy
        .base_delay
        .saturating_mul(1 << exponent)
        .min(policy.max_delay);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        1.0
    };
    full.div_f64(2.0)
        .saturating_add(full.div_f64(2.0).mul_f64(jitter))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_total_wait: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_doubles_within_jitter_bounds_and_is_capped() {
        let p = policy();
        for attempt in 1..=5u32 {
            let full = Duration::from_millis(100 * (1 << (attempt - 1))).min(p.max_delay);
            let low = next_delay(&p, attempt, None, Duration::ZERO, 0.0);
            let high = next_delay(&p, attempt, None, Duration::ZERO, 1.0);
            assert_eq!(low, Some(full / 2), "attempt {attempt}");
            assert_eq!(high, Some(full), "attempt {attempt}");
        }
        assert_eq!(
            next_delay(&p, 5, None, Duration::ZERO, 1.0),
            Some(p.max_delay)
        );
    }

    #[test]
    fn stops_after_max_attempts() {
        let p = policy();
        assert!(next_delay(&p, 5, None, Duration::ZERO, 0.5).is_some());
        assert_eq!(next_delay(&p, 6, None, Duration::ZERO, 0.5), None);
        assert_eq!(
            next_delay(&RetryPolicy::none(), 1, None, Duration::ZERO, 0.5),
            None
        );
    }

    #[test]
    fn server_hint_is_honoured_exactly_or_ends_the_call_when_too_long() {
        let p = policy();
        assert_eq!(
            next_delay(&p, 1, Some(Duration::from_millis(700)), Duration::ZERO, 0.0),
            Some(Duration::from_millis(700))
        );
        assert_eq!(
            next_delay(
                &p,
                1,
                Some(Duration::from_millis(1001)),
                Duration::ZERO,
                0.0
            ),
            None
        );
    }

    #[test]
    fn total_wait_budget_is_never_exceeded() {
        let p = RetryPolicy {
            max_total_wait: Duration::from_millis(250),
            ..policy()
        };
        assert_eq!(
            next_delay(&p, 1, Some(Duration::from_millis(200)), Duration::ZERO, 0.0),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            next_delay(
                &p,
                2,
                Some(Duration::from_millis(200)),
                Duration::from_millis(200),
                0.0
            ),
            None
        );
        let mut waited = Duration::ZERO;
        let mut attempt = 1;
        while let Some(delay) = next_delay(&p, attempt, None, waited, 1.0) {
            waited += delay;
            attempt += 1;
        }
        assert!(waited <= p.max_total_wait);
        assert!(attempt > 1);
    }

    #[test]
    fn out_of_range_jitter_is_clamped() {
        let p = policy();
        assert_eq!(
            next_delay(&p, 1, None, Duration::ZERO, 7.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            next_delay(&p, 1, None, Duration::ZERO, f64::NAN),
            Some(Duration::from_millis(100))
        );
    }
}
