//! Delays of the real agent, shortened for tests through environment variables:
//! - `AZP_STANDIN_POLL_DELAY_MS`: replaces the random 5–15 s pause after an empty (202) poll,
//!   and also every retry pause (poll errors 15–30 s, session conflicts 30 s, first lock
//!   renewal 1–10 s, finish 5 s), so one knob makes a whole test fast.
//! - `AZP_STANDIN_KEEPALIVE_MS`: interval of the keep-alive `GET messages` (default 30 s).

use std::ops::RangeInclusive;
use std::time::Duration;

use rand::Rng as _;

/// Environment variable shortening every pause.
pub const POLL_DELAY_ENV: &str = "AZP_STANDIN_POLL_DELAY_MS";
/// Environment variable for the keep-alive interval.
pub const KEEPALIVE_ENV: &str = "AZP_STANDIN_KEEPALIVE_MS";

/// The pauses the listener and job runner use.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    fast: Option<Duration>,
    keepalive: Duration,
}

impl Timing {
    /// Reads the knobs from the process environment.
    pub fn from_env() -> Self {
        let millis = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
        };
        Self {
            fast: millis(POLL_DELAY_ENV),
            keepalive: millis(KEEPALIVE_ENV).unwrap_or(Duration::from_secs(30)),
        }
    }

    fn pick(&self, real_secs: RangeInclusive<u64>) -> Duration {
        match self.fast {
            Some(fast) => fast,
            None => Duration::from_millis(
                rand::rng().random_range(real_secs.start() * 1000..=real_secs.end() * 1000),
            ),
        }
    }

    /// Pause after a poll that returned no message.
    pub fn idle_poll_delay(&self) -> Duration {
        self.pick(5..=15)
    }

    /// Pause after a failed poll.
    pub fn poll_error_backoff(&self) -> Duration {
        self.pick(15..=30)
    }

    /// Pause between session-creation attempts.
    pub fn session_retry(&self) -> Duration {
        self.pick(30..=30)
    }

    /// Pause between attempts of the first (gating) lock renewal.
    pub fn first_renew_backoff(&self) -> Duration {
        self.pick(1..=10)
    }

    /// Pause between attempts to report a job finished.
    pub fn finish_retry(&self) -> Duration {
        self.pick(5..=5)
    }

    /// Interval of keep-alive polls.
    pub fn keepalive(&self) -> Duration {
        self.keepalive
    }
}
