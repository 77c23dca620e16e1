//! Service hooks (`POST /hooks/azure-devops`, scaling rule 8): authentication and what an
//! event asks for.
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

/// The `eventType` of the only event the hook endpoint takes.
pub const JOB_STATE_CHANGED: &str = "ms.vss-pipelines.job-state-changed-event";

/// What a well-formed `job-state-changed` event asks of the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookVerdict {
    /// A job of a served organization waits for an agent: worth a poll.
    Poll,
    /// The job already has an agent (`inProgress`, `completed`): the pod that ran a completed
    /// job wakes the loop itself.
    AlreadyServed,
    /// The event names an organization no AgentPool of this operator uses.
    Foreign,
}

/// Why a body is not a `job-state-changed` event (answered 400, triggers nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHook {
    /// Not JSON, or not a JSON object.
    #[error("the body is not a JSON object")]
    NotJson,
    /// Another event type (or none).
    #[error("not a {JOB_STATE_CHANGED} event")]
    WrongEventType,
    /// `resource.job.state` is missing.
    #[error("the event has no resource.job.state")]
    NoJobState,
}

/// Reads a service-hook body. The payload carries no pool id (ado-protocol.md §9), so the
/// operator filters by organization: the URLs in the event (`resourceContainers.*.baseUrl`, the
/// job's and pipeline's links) must belong to an organization some AgentPool uses. An event
/// without any URL cannot be placed and counts as served: a missed wake-up costs up to a
/// whole `pollInterval`, an extra poll two GETs.
pub fn classify(body: &[u8], served: &ServedOrganizations) -> Result<HookVerdict, InvalidHook> {
    let event: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| InvalidHook::NotJson)?;
    if !event.is_object() {
        return Err(InvalidHook::NotJson);
    }
    if event.get("eventType").and_then(serde_json::Value::as_str) != Some(JOB_STATE_CHANGED) {
        return Err(InvalidHook::WrongEventType);
    }
    let state = event
        .pointer("/resource/job/state")
        .and_then(serde_json::Value::as_str)
        .ok_or(InvalidHook::NoJobState)?;
    let urls: Vec<&str> = [
        "/resourceContainers/account/baseUrl",
        "/resourceContainers/collection/baseUrl",
        "/resourceContainers/project/baseUrl",
        "/resource/job/_links/web/href",
        "/resource/run/pipeline/url",
        "/resource/pipeline/url",
    ]
    .iter()
    .filter_map(|pointer| event.pointer(pointer).and_then(serde_json::Value::as_str))
    .collect();
    if !urls.is_empty() && !urls.iter().any(|url| served.serves(url)) {
        return Ok(HookVerdict::Foreign);
    }
    if state.eq_ignore_ascii_case("waiting") {
        Ok(HookVerdict::Poll)
    } else {
        Ok(HookVerdict::AlreadyServed)
    }
}

/// The organization URLs the AgentPools of this operator use, refreshed by every reconcile
/// pass; the hook endpoint reads it to ignore events of other organizations.
#[derive(Debug, Default)]
pub struct ServedOrganizations {
    prefixes: std::sync::RwLock<Vec<String>>,
}

impl ServedOrganizations {
    /// Replaces the set with the organizations of the AgentPools just listed.
    pub fn refresh<'a>(&self, organizations: impl IntoIterator<Item = &'a str>) {
        let mut prefixes: Vec<String> = organizations.into_iter().map(normalize).collect();
        prefixes.sort();
        prefixes.dedup();
        if let Ok(mut guard) = self.prefixes.write() {
            *guard = prefixes;
        }
    }

    /// Whether `url` lies under one of the organizations.
    pub fn serves(&self, url: &str) -> bool {
        let url = normalize(url);
        self.prefixes.read().is_ok_and(|prefixes| {
            prefixes.iter().any(|org| {
                url.strip_prefix(org.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
        })
    }
}

/// Lower case, no trailing slash, and the legacy `https://{org}.visualstudio.com` form as
/// `https://dev.azure.com/{org}` (Azure DevOps sends either in events).
fn normalize(url: &str) -> String {
    let url = url.trim().trim_end_matches('/').to_ascii_lowercase();
    if let Some(rest) = url.strip_prefix("https://")
        && let Some((host, path)) = rest.split_once('/').or(Some((rest, "")))
        && let Some(org) = host.strip_suffix(".visualstudio.com")
    {
        let path = if path.is_empty() {
            String::new()
        } else {
            format!("/{path}")
        };
        return format!("https://dev.azure.com/{org}{path}");
    }
    url
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

    fn served(orgs: &[&str]) -> ServedOrganizations {
        let served = ServedOrganizations::default();
        served.refresh(orgs.iter().copied());
        served
    }

    fn event(state: &str, href: Option<&str>) -> String {
        let mut job = serde_json::json!({
            "id": "6d5b8c0e-0000-4000-8000-000000000001", "name": "Build", "state": state
        });
        if let Some(href) = href {
            job["_links"] = serde_json::json!({"web": {"href": href}});
        }
        serde_json::json!({"eventType": JOB_STATE_CHANGED, "resource": {"job": job}}).to_string()
    }

    #[test]
    fn only_waiting_jobs_of_served_organizations_ask_for_a_poll() {
        let served = served(&["https://dev.azure.com/contoso"]);
        let classify = |body: String| classify(body.as_bytes(), &served);
        let ours = Some("https://dev.azure.com/contoso/Web/_build/results?buildId=7");
        assert_eq!(classify(event("waiting", ours)), Ok(HookVerdict::Poll));
        assert_eq!(classify(event("Waiting", None)), Ok(HookVerdict::Poll));
        assert_eq!(
            classify(event("inProgress", ours)),
            Ok(HookVerdict::AlreadyServed)
        );
        assert_eq!(
            classify(event("completed", ours)),
            Ok(HookVerdict::AlreadyServed)
        );
        // Another organization, and one whose name merely starts like ours.
        for foreign in [
            "https://dev.azure.com/fabrikam/Web/_build/results?buildId=7",
            "https://dev.azure.com/contoso-labs/Web/_build/results?buildId=7",
        ] {
            assert_eq!(
                classify(event("waiting", Some(foreign))),
                Ok(HookVerdict::Foreign)
            );
        }
        // The legacy host form of the same organization is ours.
        assert_eq!(
            classify(event(
                "waiting",
                Some("https://Contoso.visualstudio.com/Web/_build")
            )),
            Ok(HookVerdict::Poll)
        );
    }

    #[test]
    fn bodies_that_are_not_job_state_changed_events_are_invalid() {
        let served = served(&["https://dev.azure.com/contoso"]);
        assert_eq!(classify(b"", &served), Err(InvalidHook::NotJson));
        assert_eq!(classify(b"not json", &served), Err(InvalidHook::NotJson));
        assert_eq!(classify(b"[1,2]", &served), Err(InvalidHook::NotJson));
        assert_eq!(classify(b"{}", &served), Err(InvalidHook::WrongEventType));
        assert_eq!(
            classify(br#"{"eventType":"build.complete","resource":{}}"#, &served),
            Err(InvalidHook::WrongEventType)
        );
        assert_eq!(
            classify(
                br#"{"eventType":"ms.vss-pipelines.job-state-changed-event","resource":{}}"#,
                &served
            ),
            Err(InvalidHook::NoJobState)
        );
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
