//! Service-hook authentication (`POST /hooks/azure-devops`, scaling rule 8).
//!
//! Azure DevOps service hooks can send HTTP Basic credentials or custom headers; either may
//! carry the shared secret. Comparison is constant-time so response timing reveals nothing.

use base64::Engine;
use http::HeaderMap;

/// Header that may carry the shared secret instead of Basic auth.
pub const SECRET_HEADER: &str = "x-azp-hook-secret";

/// Constant-time equality of two byte strings (length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a `job-state-changed` event can mean a job needs an agent, so is worth a poll.
///
/// Only `waiting` (queued for an agent) can: `inProgress` and `completed` jobs already have
/// one, and the pod that ran a completed job wakes the loop itself. Anything unreadable (no
/// body, another event type, a future payload shape) counts as relevant: a missed wake-up
/// costs up to a whole `pollInterval`, an extra poll costs two GETs.
pub fn needs_poll(body: &[u8]) -> bool {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(body) else {
        return true;
    };
    match event
        .pointer("/resource/job/state")
        .and_then(serde_json::Value::as_str)
    {
        Some(state) => state.eq_ignore_ascii_case("waiting"),
        None => true,
    }
}

/// Whether the request carries `secret`, as the Basic password (any user) or in
/// [`SECRET_HEADER`].
pub fn is_authorized(headers: &HeaderMap, secret: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    if let Some(value) = headers.get(SECRET_HEADER).and_then(|v| v.to_str().ok())
        && constant_time_eq(value.trim().as_bytes(), secret.as_bytes())
    {
        return true;
    }
    let Some(basic) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
        return false;
    };
    let password = decoded
        .iter()
        .position(|b| *b == b':')
        .map_or(&decoded[..0], |colon| &decoded[colon + 1..]);
    constant_time_eq(password, secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn only_waiting_jobs_or_unreadable_events_ask_for_a_poll() {
        let event = |state: &str| {
            serde_json::json!({
                "eventType": "ms.vss-pipelines.job-state-changed-event",
                "resource": { "job": { "id": "6d5b8c0e-0000-4000-8000-000000000001", "name": "Build", "state": state } }
            })
            .to_string()
        };
        assert!(needs_poll(event("waiting").as_bytes()));
        assert!(needs_poll(event("Waiting").as_bytes()));
        assert!(!needs_poll(event("inProgress").as_bytes()));
        assert!(!needs_poll(event("completed").as_bytes()));
        assert!(needs_poll(b""));
        assert!(needs_poll(b"not json"));
        assert!(needs_poll(
            br#"{"eventType":"build.complete","resource":{}}"#
        ));
    }

    #[test]
    fn basic_password_or_header_authorize() {
        let basic = base64::engine::general_purpose::STANDARD.encode("ado:s3cret");
        assert!(is_authorized(
            &headers(&[("authorization", &format!("Basic {basic}"))]),
            "s3cret"
        ));
        assert!(is_authorized(
            &headers(&[(SECRET_HEADER, "s3cret")]),
            "s3cret"
        ));
    }

    #[test]
    fn wrong_missing_or_empty_secret_is_refused() {
        let wrong = base64::engine::general_purpose::STANDARD.encode("ado:nope");
        assert!(!is_authorized(
            &headers(&[("authorization", &format!("Basic {wrong}"))]),
            "s3cret"
        ));
        assert!(!is_authorized(&headers(&[]), "s3cret"));
        assert!(!is_authorized(&headers(&[(SECRET_HEADER, "")]), ""));
        let no_colon = base64::engine::general_purpose::STANDARD.encode("s3cret");
        assert!(!is_authorized(
            &headers(&[("authorization", &format!("Basic {no_colon}"))]),
            "s3cret"
        ));
    }
}
