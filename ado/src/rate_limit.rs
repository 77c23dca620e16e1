//! Rate-limit headers (`Retry-After`, `X-RateLimit-*`) and their snapshot.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The rate-limit headers of the most recent response (all `None` when the service sent none, i.e. no pressure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSnapshot {
    /// When the response was received.
    pub observed_at: DateTime<Utc>,
    /// `X-RateLimit-Limit` (TSTUs per window).
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset` (epoch seconds) as a time.
    pub reset: Option<DateTime<Utc>>,
    /// `X-RateLimit-Delay`: how long the service delayed this request.
    pub delay: Option<Duration>,
    /// `X-RateLimit-Resource`: which limit applies.
    pub resource: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl RateLimitSnapshot {
    /// Reads the headers of one response.
    pub(crate) fn from_headers(headers: &HeaderMap, observed_at: DateTime<Utc>) -> Self {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
        };
        Self {
            observed_at,
            limit: text("x-ratelimit-limit").and_then(|raw| raw.parse().ok()),
            remaining: text("x-ratelimit-remaining").and_then(|raw| raw.parse().ok()),
            reset: text("x-ratelimit-reset")
                .and_then(|raw| raw.parse::<i64>().ok())
                .and_then(|epoch| DateTime::from_timestamp(epoch, 0)),
            delay: text("x-ratelimit-delay").and_then(parse_seconds),
            resource: text("x-ratelimit-resource").map(str::to_owned),
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|raw| parse_retry_after(raw, observed_at)),
        }
    }

    /// The longer of `Retry-After` and `X-RateLimit-Delay`: the server's hint for the next attempt.
    pub fn server_hint(&self) -> Option<Duration> {
        match (self.retry_after, self.delay) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Parses a non-negative number of seconds, fractions allowed (`"0.5"`).
pub(crate) fn parse_seconds(raw: &str) -> Option<Duration> {
    let seconds: f64 = raw.trim().parse().ok()?;
    (seconds.is_finite() && (0.0..1e9).contains(&seconds)).then(|| Duration::from_secs_f64(seconds))
}

/// Parses `Retry-After`: delta-seconds or an HTTP date (a date in the past means "now").
pub(crate) fn parse_retry_after(raw: &str, now: DateTime<Utc>) -> Option<Duration> {
    parse_seconds(raw).or_else(|| {
        let date = DateTime::parse_from_rfc2822(raw.trim())
            .ok()?
            .with_timezone(&Utc);
        Some((date - now).to_std().unwrap_or(Duration::ZERO))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use reqwest::header::HeaderValue;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now()),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:42 GMT", now()),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-3", now()), None);
        assert_eq!(parse_retry_after("soon", now()), None);
    }

    #[test]
    fn snapshot_reads_every_rate_limit_header() {
        let mut headers = HeaderMap::new();
        headers.insert("X-RateLimit-Limit", HeaderValue::from_static("200"));
        headers.insert("X-RateLimit-Remaining", HeaderValue::from_static("12"));
        headers.insert("X-RateLimit-Reset", HeaderValue::from_static("1767225600"));
        headers.insert("X-RateLimit-Delay", HeaderValue::from_static("2.5"));
        headers.insert("X-RateLimit-Resource", HeaderValue::from_static("Core"));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("4"));
        let snapshot = RateLimitSnapshot::from_headers(&headers, now());
        assert_eq!(snapshot.limit, Some(200));
        assert_eq!(snapshot.remaining, Some(12));
        assert_eq!(snapshot.reset, Some(now()));
        assert_eq!(snapshot.delay, Some(Duration::from_millis(2500)));
        assert_eq!(snapshot.resource.as_deref(), Some("Core"));
        assert_eq!(snapshot.server_hint(), Some(Duration::from_secs(4)));
    }

    #[test]
    fn snapshot_without_headers_is_empty() {
        let snapshot = RateLimitSnapshot::from_headers(&HeaderMap::new(), now());
        assert_eq!(snapshot.server_hint(), None);
        assert_eq!(snapshot.remaining, None);
    }
}
