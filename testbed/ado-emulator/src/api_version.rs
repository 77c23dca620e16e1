//! `api-version` negotiation as the service does it: out of range, missing `-preview` on an
//! unreleased resource, and missing version on writes are refused with the real exception types.

use axum::http::{HeaderMap, Method, StatusCode, header};

use crate::error::ApiError;
use crate::wire::location::{LOCATIONS, MAX_VERSION};

/// A parsed `api-version` (`7.1`, `7.1-preview`, `5.1-preview.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    /// `(major, minor)`.
    pub number: (u32, u32),
    /// `-preview` given.
    pub preview: bool,
}

fn parse_number(s: &str) -> Option<(u32, u32)> {
    let (major, minor) = s.split_once('.').unwrap_or((s, "0"));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Parses an api-version string.
pub fn parse(raw: &str) -> Option<ApiVersion> {
    let raw = raw.trim();
    let (number, preview) = match raw.split_once('-') {
        None => (raw, false),
        Some((number, suffix)) => {
            let rest = suffix.strip_prefix("preview")?;
            if !(rest.is_empty()
                || rest
                    .strip_prefix('.')
                    .is_some_and(|n| n.parse::<u32>().is_ok()))
            {
                return None;
            }
            (number, true)
        }
    };
    Some(ApiVersion {
        number: parse_number(number)?,
        preview,
    })
}

/// The requested version: query parameter first, then the `Accept` / `Content-Type` media-type parameter.
pub fn requested(query: Option<&str>, headers: &HeaderMap) -> Option<String> {
    let from_query = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.into_owned());
    from_query.or_else(|| {
        [header::ACCEPT, header::CONTENT_TYPE]
            .iter()
            .find_map(|name| {
                let value = headers.get(name)?.to_str().ok()?;
                value.split([';', ',']).find_map(|param| {
                    let (key, v) = param.split_once('=')?;
                    key.trim()
                        .eq_ignore_ascii_case("api-version")
                        .then(|| v.trim().trim_matches('"').to_owned())
                })
            })
    })
}

/// The released version of the resource a route template serves, or `None` for unversioned
/// endpoints (OPTIONS, the OAuth token endpoint, telemetry).
fn released_version(template: &str) -> Option<(u32, u32)> {
    let resource = template
        .split('/')
        .rfind(|s| !s.is_empty() && !s.starts_with('{'))?;
    let location = LOCATIONS
        .iter()
        .find(|l| l.resource_name.eq_ignore_ascii_case(resource))?;
    if location.area == "oauth2" {
        return None;
    }
    parse_number(location.released_version)
}

fn version_error(type_key: &'static str, message: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        type_key,
        type_name: format!(
            "Microsoft.VisualStudio.Services.WebApi.{type_key}, Microsoft.VisualStudio.Services.WebApi"
        ),
        message,
    }
}

/// Checks the request's api-version against the route's resource.
pub fn check(
    method: &Method,
    template: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(released) = released_version(template) else {
        return Ok(());
    };
    let Some(raw) = requested(query, headers) else {
        if matches!(*method, Method::GET | Method::HEAD) {
            return Ok(());
        }
        return Err(version_error(
            "VssVersionNotSpecifiedException",
            format!(
                "No api-version was supplied for the \"{method}\" request. The version must be supplied either as part of the Accept header (e.g. \"application/json; api-version=1.0\") or as a query parameter (e.g. \"?api-version=1.0\")."
            ),
        ));
    };
    let version = parse(&raw)
        .ok_or_else(|| ApiError::bad_request(format!("The api-version '{raw}' is not valid.")))?;
    let max = parse_number(MAX_VERSION).unwrap_or((7, 2));
    if version.number > max {
        return Err(version_error(
            "VssVersionOutOfRangeException",
            format!(
                "The requested REST API version of {}.{} is out of range for this server. The latest REST API version this server supports is {MAX_VERSION}.",
                version.number.0, version.number.1
            ),
        ));
    }
    if !version.preview && version.number > released {
        return Err(version_error(
            "VssInvalidPreviewVersionException",
            format!(
                "The requested version \"{raw}\" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: \"{raw}-preview\""
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_in_every_form_clients_send() {
        assert_eq!(
            parse("7.1"),
            Some(ApiVersion {
                number: (7, 1),
                preview: false
            })
        );
        assert_eq!(
            parse("5.1-preview.1"),
            Some(ApiVersion {
                number: (5, 1),
                preview: true
            })
        );
        assert_eq!(
            parse("7.1-preview"),
            Some(ApiVersion {
                number: (7, 1),
                preview: true
            })
        );
        assert_eq!(
            parse("6"),
            Some(ApiVersion {
                number: (6, 0),
                preview: false
            })
        );
        assert_eq!(parse("7.1-beta"), None);
        assert_eq!(parse("x"), None);
    }

    #[test]
    fn version_comes_from_query_then_accept_then_content_type() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            "application/json; api-version=6.0-preview.2"
                .parse()
                .unwrap(),
        );
        assert_eq!(requested(None, &headers).as_deref(), Some("6.0-preview.2"));
        assert_eq!(
            requested(Some("a=1&api-version=7.1"), &headers).as_deref(),
            Some("7.1")
        );
        let mut content = HeaderMap::new();
        content.insert(
            header::CONTENT_TYPE,
            "application/json;api-version=5.1-preview.1"
                .parse()
                .unwrap(),
        );
        assert_eq!(requested(None, &content).as_deref(), Some("5.1-preview.1"));
    }

    #[test]
    fn unreleased_resources_need_preview_and_writes_need_a_version() {
        let jobs = "/_apis/distributedtask/pools/{poolId}/jobrequests";
        let none = HeaderMap::new();
        assert!(check(&Method::GET, jobs, None, &none).is_ok());
        assert!(check(&Method::GET, jobs, Some("api-version=7.1-preview.1"), &none).is_ok());
        let err = check(&Method::GET, jobs, Some("api-version=7.1"), &none).unwrap_err();
        assert_eq!(err.type_key, "VssInvalidPreviewVersionException");
        let agents = "/_apis/distributedtask/pools/{poolId}/agents/{agentId}";
        assert!(check(&Method::PATCH, agents, Some("api-version=7.1"), &none).is_ok());
        assert_eq!(
            check(&Method::PATCH, agents, None, &none)
                .unwrap_err()
                .type_key,
            "VssVersionNotSpecifiedException"
        );
        assert_eq!(
            check(&Method::GET, agents, Some("api-version=8.0"), &none)
                .unwrap_err()
                .type_key,
            "VssVersionOutOfRangeException"
        );
        assert!(check(&Method::POST, "/_apis/oauth2/token", None, &none).is_ok());
        assert!(
            check(
                &Method::GET,
                "/_apis/connectiondata",
                Some("api-version=1.0"),
                &none
            )
            .is_ok()
        );
        assert!(
            check(
                &Method::GET,
                "/_apis/connectiondata",
                Some("api-version=7.1"),
                &none
            )
            .is_err()
        );
    }
}
