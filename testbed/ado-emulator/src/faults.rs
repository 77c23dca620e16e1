//! Fault injection for `_apis` requests: rate limits, server errors, latency, bad-PAT pages, throttling.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::ApiError;

/// `POST /_emulator/faults` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// `rateLimit`, `serverError`, `latency`, `badPat`, `throttle`.
    pub kind: String,
    /// Apply to the next N matching requests.
    pub count: Option<u32>,
    /// Apply for this many seconds from now.
    pub duration_seconds: Option<f64>,
    /// Only requests whose path contains this substring.
    pub route: Option<String>,
    /// `rateLimit`: `Retry-After` seconds (default 1).
    pub retry_after_seconds: Option<u64>,
    /// `serverError`: status (500–599, default 503).
    pub status: Option<u16>,
    /// `latency`: added delay in milliseconds.
    pub ms: Option<u64>,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 + rate-limit headers + TF400733.
    RateLimit {
        /// Retry-After seconds.
        retry_after_seconds: u64,
    },
    /// 5xx with a WrappedException.
    ServerError {
        /// Status code.
        status: u16,
    },
    /// Delay before handling.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// 203 + HTML sign-in page.
    BadPat,
    /// Normal answer plus `X-RateLimit-Delay` / low `X-RateLimit-Remaining`.
    Throttle,
}

/// An installed fault.
#[derive(Debug, Clone)]
pub struct ActiveFault {
    /// Behaviour.
    pub fault: Fault,
    /// Remaining uses when count-limited.
    pub remaining: Option<u32>,
    /// End of the window when time-limited.
    pub until: Option<DateTime<Utc>>,
    /// Path substring filter.
    pub route: Option<String>,
}

impl FaultSpec {
    /// Validates the spec into an active fault.
    pub fn activate(self, now: DateTime<Utc>) -> Result<ActiveFault, String> {
        let fault = match self.kind.as_str() {
            "rateLimit" => Fault::RateLimit {
                retry_after_seconds: self.retry_after_seconds.unwrap_or(1),
            },
            "serverError" => {
                let status = self.status.unwrap_or(503);
                if !(500..=599).contains(&status) {
                    return Err(format!("serverError status must be 500-599, got {status}"));
                }
                Fault::ServerError { status }
            }
            "latency" => Fault::Latency {
                ms: self.ms.ok_or("latency needs \"ms\"")?,
            },
            "badPat" => Fault::BadPat,
            "throttle" => Fault::Throttle,
            other => return Err(format!("unknown fault kind {other:?}")),
        };
        if self.count.is_some() && self.duration_seconds.is_some() {
            return Err("give either count or durationSeconds, not both".to_owned());
        }
        let until = match self.duration_seconds {
            Some(s) if s.is_finite() && s > 0.0 => {
                Some(now + chrono::Duration::milliseconds((s * 1000.0) as i64))
            }
            Some(_) => return Err("durationSeconds must be positive".to_owned()),
            None => None,
        };
        if self.count == Some(0) {
            return Err("count must be at least 1".to_owned());
        }
        Ok(ActiveFault {
            fault,
            remaining: self.count,
            until,
            route: self.route,
        })
    }
}

/// The faults that apply to a request on `path`, consuming one use of each count-limited fault.
/// The OAuth endpoint is only affected when a fault's route filter names it.
pub fn take_matching(faults: &mut Vec<ActiveFault>, path: &str, now: DateTime<Utc>) -> Vec<Fault> {
    faults.retain(|f| f.until.is_none_or(|t| t > now) && f.remaining != Some(0));
    let is_oauth = path.contains("/oauth2/");
    let mut hits = Vec::new();
    for fault in faults.iter_mut() {
        let matches = match &fault.route {
            Some(filter) => path.contains(filter.as_str()),
            None => !is_oauth,
        };
        if !matches {
            continue;
        }
        if let Some(n) = fault.remaining.as_mut() {
            *n -= 1;
        }
        hits.push(fault.fault.clone());
    }
    faults.retain(|f| f.remaining != Some(0));
    hits
}

/// Adds the `X-RateLimit-*` headers Azure DevOps sends while throttling.
pub fn rate_limit_headers(response: &mut Response, remaining: u32, delay: f64) {
    let reset = (Utc::now().timestamp() + 300).to_string();
    let headers = response.headers_mut();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("X-RateLimit-Resource", "Core".to_owned());
    put("X-RateLimit-Delay", format!("{delay:.3}"));
    put("X-RateLimit-Limit", "200".to_owned());
    put("X-RateLimit-Remaining", remaining.to_string());
    put("X-RateLimit-Reset", reset);
}

/// The answer a terminal fault gives instead of the handler's (`None` for latency and throttle).
pub fn fault_response(fault: &Fault) -> Option<Response> {
    match fault {
        Fault::RateLimit {
            retry_after_seconds,
        } => {
            let error = ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                type_key: "RequestBlockedException",
                type_name: "Microsoft.TeamFoundation.Framework.Server.RequestBlockedException, Microsoft.TeamFoundation.Framework.Server".to_owned(),
                message: "TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'.".to_owned(),
            };
            let mut response = error.into_response();
            rate_limit_headers(&mut response, 0, *retry_after_seconds as f64);
            if let Ok(v) = HeaderValue::from_str(&retry_after_seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Some(response)
        }
        Fault::ServerError { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let error = ApiError {
                status,
                type_key: "VssServiceException",
                type_name: "Microsoft.VisualStudio.Services.Common.VssServiceException, Microsoft.VisualStudio.Services.Common".to_owned(),
                message: format!("TF246020: The service is temporarily unavailable ({status}, injected fault)."),
            };
            Some(error.into_response())
        }
        Fault::BadPat => {
            // What Azure DevOps Services does for an invalid PAT: a 203 sign-in page, not a 401.
            let html = "<!DOCTYPE html><html><head><title>Azure DevOps Services | Sign In</title></head>\
                        <body><form id=\"signInForm\" action=\"https://app.vssps.visualstudio.com/_signin\">Sign In</form></body></html>";
            Some(
                (
                    StatusCode::NON_AUTHORITATIVE_INFORMATION,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    html,
                )
                    .into_response(),
            )
        }
        Fault::Latency { .. } | Fault::Throttle => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str) -> FaultSpec {
        FaultSpec {
            kind: kind.to_owned(),
            count: Some(2),
            duration_seconds: None,
            route: None,
            retry_after_seconds: None,
            status: None,
            ms: None,
        }
    }

    #[test]
    fn count_limited_fault_is_used_up() {
        let now = Utc::now();
        let mut faults = vec![spec("badPat").activate(now).unwrap()];
        assert_eq!(
            take_matching(&mut faults, "/o/_apis/x", now),
            vec![Fault::BadPat]
        );
        assert_eq!(
            take_matching(&mut faults, "/o/_apis/x", now),
            vec![Fault::BadPat]
        );
        assert!(take_matching(&mut faults, "/o/_apis/x", now).is_empty());
    }

    #[test]
    fn oauth_endpoint_is_spared_unless_named() {
        let now = Utc::now();
        let mut faults = vec![spec("throttle").activate(now).unwrap()];
        assert!(take_matching(&mut faults, "/o/_apis/oauth2/token", now).is_empty());
        let mut named = spec("throttle");
        named.route = Some("oauth2".to_owned());
        let mut faults = vec![named.activate(now).unwrap()];
        assert_eq!(
            take_matching(&mut faults, "/o/_apis/oauth2/token", now),
            vec![Fault::Throttle]
        );
    }

    #[test]
    fn invalid_specs_are_rejected() {
        let now = Utc::now();
        assert!(spec("nope").activate(now).is_err());
        let mut bad = spec("serverError");
        bad.status = Some(404);
        assert!(bad.activate(now).is_err());
        assert!(spec("latency").activate(now).is_err());
    }
}
