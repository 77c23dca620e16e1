//! Fault injection for tests: make the API server fail requests, end watches, forget history —
//! the things a real control plane does under load or during upgrades.
use std::sync::Mutex;

use crate::error::ApiError;

/// Requests matching `method` (any when None) and containing `path_contains` fail with `code`,
/// `times` times.
#[derive(Debug, Clone)]
pub struct Fault {
    /// HTTP method to match (`"POST"`, ...); None matches every method.
    pub method: Option<String>,
    /// Substring of the request path to match, e.g. `"/pods"`.
    pub path_contains: String,
    /// Status code to answer: 409, 429, 500, 503 or 504 (others answer as 500 InternalError with that code).
    pub code: u16,
    /// How many matching requests fail.
    pub times: usize,
    /// For 429/503: the `Retry-After` seconds to send.
    pub retry_after_seconds: Option<u64>,
}

impl Fault {
    /// The API server's priority-and-fairness answer to the next `times` pod creates:
    /// 429 `TooManyRequests` with `Retry-After: retry_after_seconds` (the header, and
    /// `retryAfterSeconds` in the Status details). It matches every `POST` whose path contains
    /// `/pods`: pod creates, and evictions or bindings if a test sends them.
    pub fn throttle_pod_creates(times: usize, retry_after_seconds: u64) -> Self {
        Self {
            method: Some("POST".into()),
            path_contains: "/pods".into(),
            code: 429,
            times,
            retry_after_seconds: Some(retry_after_seconds),
        }
    }

    fn error(&self) -> ApiError {
        let reason = match self.code {
            409 => "Conflict",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        };
        let mut e = ApiError::injected(
            self.code,
            reason,
            format!("kube-sim injected fault: {reason}"),
        );
        if let Some(s) = self.retry_after_seconds {
            e.details = Some(serde_json::json!({"retryAfterSeconds": s}));
        }
        e
    }
}

/// The active faults.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<Fault>>,
}

impl Faults {
    /// Adds a rule.
    pub fn add(&self, fault: Fault) {
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fault);
    }

    /// Consumes one use of the first matching rule and returns its error.
    pub fn check(&self, method: &str, path: &str) -> Option<ApiError> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let i = rules.iter().position(|f| {
            f.times > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && path.contains(&f.path_contains)
        })?;
        rules[i].times -= 1;
        let error = rules[i].error();
        if rules[i].times == 0 {
            rules.remove(i);
        }
        Some(error)
    }
}
