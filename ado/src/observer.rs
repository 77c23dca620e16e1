//! Per-attempt hook for metrics ("requests by route and status") without parsing URLs.

use std::time::Duration;

/// How one HTTP attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The server answered with this status.
    Status(u16),
    /// The attempt hit the request timeout.
    Timeout,
    /// Connection-level failure.
    Transport,
}

impl AttemptOutcome {
    /// A metric label: the status code, `"timeout"` or `"transport"`.
    pub fn label(&self) -> String {
        match self {
            AttemptOutcome::Status(status) => status.to_string(),
            AttemptOutcome::Timeout => "timeout".to_owned(),
            AttemptOutcome::Transport => "transport".to_owned(),
        }
    }
}

/// One HTTP attempt, as reported to a [`RequestObserver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAttempt {
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// Route template, e.g. `pools/{poolId}/jobrequests`.
    pub route: &'static str,
    /// 1 for the first attempt of a call.
    pub attempt: u32,
    /// Status or failure kind.
    pub outcome: AttemptOutcome,
    /// Wall time of the attempt.
    pub duration: Duration,
}

/// Receives every HTTP attempt the client makes (retries included).
pub trait RequestObserver: Send + Sync {
    /// Called once per attempt, after it completed or failed. Must not block.
    fn on_attempt(&self, attempt: &RequestAttempt);
}
