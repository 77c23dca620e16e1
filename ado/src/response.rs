//! Turning a final HTTP answer into success or a typed error (`WrappedException` type keys, status codes,
//! HTML sign-in pages).

use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, StatusCode};

use crate::client::{Answer, Call, NotFound};
use crate::error::{AdoError, PoolLookup};
use crate::models::WrappedException;

/// Maps a final (non-retried) answer to success or a typed error.
pub(crate) fn map_answer(
    status: StatusCode,
    headers: &HeaderMap,
    body: Vec<u8>,
    call: &Call,
) -> Result<Answer, AdoError> {
    let code = status.as_u16();
    if status.is_success() {
        // 203 is how Azure DevOps Services answers an invalid PAT: the HTML sign-in page, "successfully".
        if code == 203 || (!body.is_empty() && !is_json(headers, &body)) {
            return Err(AdoError::BadCredentials { status: code });
        }
        return Ok(Answer { body });
    }
    if code == 401 {
        return Err(AdoError::BadCredentials { status: code });
    }
    if status.is_redirection() {
        let to_sign_in = headers
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|location| {
                location.to_ascii_lowercase().contains("signin") || location.contains("login")
            });
        if to_sign_in {
            return Err(AdoError::BadCredentials { status: code });
        }
        return Err(AdoError::Service {
            status: code,
            type_key: None,
            message: "unexpected redirect".to_owned(),
        });
    }
    let exception: WrappedException = if is_json(headers, &body) {
        serde_json::from_slice(&body).unwrap_or_default()
    } else {
        WrappedException::default()
    };
    let type_key = exception.effective_type_key();
    let message = exception
        .message
        .clone()
        .or_else(|| service_error_header(headers))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    Err(map_error(code, type_key, message, call))
}

fn map_error(status: u16, type_key: Option<String>, message: String, call: &Call) -> AdoError {
    let agent = match &call.not_found {
        NotFound::Agent { pool_id, agent_id } => Some((*pool_id, *agent_id)),
        NotFound::Pool(_) => None,
    };
    let pool = match &call.not_found {
        NotFound::Pool(pool) => pool.clone(),
        NotFound::Agent { pool_id, .. } => PoolLookup::Id(*pool_id),
    };
    let agent_exists = || AdoError::AgentExists {
        name: call.agent_name.clone().unwrap_or_default(),
    };
    match (type_key.as_deref(), status, agent) {
        (Some("TaskAgentPoolNotFoundException"), ..) => AdoError::PoolNotFound { pool },
        (Some("TaskAgentNotFoundException"), _, Some((pool_id, agent_id)))
        | (None, 404, Some((pool_id, agent_id))) => AdoError::AgentNotFound { pool_id, agent_id },
        (Some("TaskAgentExistsException"), ..) => agent_exists(),
        (None, 409, None) if call.agent_name.is_some() => agent_exists(),
        // The emulator's key for "agent still running a job"; the real service's key is not documented, so a bare
        // 409 on DELETE means the same.
        (Some("TaskAgentJobStillRunningException"), _, Some((pool_id, agent_id))) => {
            AdoError::AgentBusy {
                pool_id,
                agent_id,
                message,
            }
        }
        (None, 409, Some((pool_id, agent_id))) if call.method == Method::DELETE => {
            AdoError::AgentBusy {
                pool_id,
                agent_id,
                message,
            }
        }
        (Some("TaskAgentJobNotFoundException"), ..) => AdoError::JobNotFound { message },
        (Some("AccessDeniedException"), ..) | (None, 403, _) => AdoError::AccessDenied { message },
        (None, 404, None) => AdoError::PoolNotFound { pool },
        _ => AdoError::Service {
            status,
            type_key,
            message,
        },
    }
}

fn is_json(headers: &HeaderMap, body: &[u8]) -> bool {
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    !declares_html(headers) && matches!(first, Some(b'{' | b'['))
}

/// The `Content-Type` says HTML (a sign-in or error page, never an API answer).
pub(crate) fn declares_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|content_type| content_type.to_ascii_lowercase().contains("html"))
}

/// `X-TFS-ServiceError`: the URL-encoded message the service sends when the body is not JSON.
fn service_error_header(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get("x-tfs-serviceerror")?.to_str().ok()?;
    let decoded: String = url::form_urlencoded::parse(format!("m={raw}").as_bytes())
        .map(|(_, value)| value.into_owned())
        .collect();
    Some(decoded)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use url::Url;

    fn call(not_found: NotFound, agent_name: Option<&str>) -> Call {
        Call {
            method: Method::GET,
            route: "pools/{poolId}",
            url: Url::parse("https://dev.azure.com/org/").unwrap(),
            body: None,
            not_found,
            agent_name: agent_name.map(str::to_owned),
        }
    }
    #[test]
    fn type_keys_map_to_typed_errors() {
        let pool = || call(NotFound::Pool(PoolLookup::Id(10)), None);
        let agent = || {
            call(
                NotFound::Agent {
                    pool_id: 10,
                    agent_id: 3,
                },
                None,
            )
        };
        let key = |k: &str| Some(k.to_owned());
        assert!(matches!(
            map_error(
                404,
                key("TaskAgentPoolNotFoundException"),
                String::new(),
                &agent()
            ),
            AdoError::PoolNotFound {
                pool: PoolLookup::Id(10)
            }
        ));
        assert!(matches!(
            map_error(
                404,
                key("TaskAgentNotFoundException"),
                String::new(),
                &agent()
            ),
            AdoError::AgentNotFound {
                pool_id: 10,
                agent_id: 3
            }
        ));
        assert!(
            matches!(map_error(409, key("TaskAgentExistsException"), String::new(), &call(NotFound::Pool(PoolLookup::Id(1)), Some("a1"))),
            AdoError::AgentExists { name } if name == "a1")
        );
        assert!(matches!(
            map_error(
                409,
                key("TaskAgentJobStillRunningException"),
                "busy".into(),
                &agent()
            ),
            AdoError::AgentBusy {
                pool_id: 10,
                agent_id: 3,
                ..
            }
        ));
        let delete = Call {
            method: Method::DELETE,
            ..agent()
        };
        assert!(matches!(
            map_error(409, None, "busy".into(), &delete),
            AdoError::AgentBusy { agent_id: 3, .. }
        ));
        assert!(matches!(
            map_error(409, None, "conflict".into(), &agent()),
            AdoError::Service { status: 409, .. }
        ));
        assert!(matches!(
            map_error(
                400,
                key("TaskAgentJobNotFoundException"),
                "gone".into(),
                &pool()
            ),
            AdoError::JobNotFound { .. }
        ));
        assert!(matches!(
            map_error(403, key("AccessDeniedException"), String::new(), &pool()),
            AdoError::AccessDenied { .. }
        ));
        assert!(
            matches!(map_error(400, key("SomethingElseException"), "m".into(), &pool()),
            AdoError::Service { status: 400, type_key: Some(k), .. } if k == "SomethingElseException")
        );
        assert!(matches!(
            map_error(404, None, String::new(), &pool()),
            AdoError::PoolNotFound { .. }
        ));
        assert!(matches!(
            map_error(404, None, String::new(), &agent()),
            AdoError::AgentNotFound { .. }
        ));
    }

    #[test]
    fn html_success_and_203_are_bad_credentials() {
        let mut html = HeaderMap::new();
        html.insert(CONTENT_TYPE, "text/html; charset=utf-8".parse().unwrap());
        let page = b"<html><body>Sign in</body></html>".to_vec();
        let c = call(NotFound::Pool(PoolLookup::Id(1)), None);
        assert!(matches!(
            map_answer(StatusCode::OK, &html, page.clone(), &c),
            Err(AdoError::BadCredentials { status: 200 })
        ));
        assert!(matches!(
            map_answer(
                StatusCode::NON_AUTHORITATIVE_INFORMATION,
                &HeaderMap::new(),
                page,
                &c
            ),
            Err(AdoError::BadCredentials { status: 203 })
        ));
        assert!(map_answer(StatusCode::NO_CONTENT, &HeaderMap::new(), Vec::new(), &c).is_ok());
    }

    #[test]
    fn non_json_error_bodies_use_the_service_error_header() {
        let mut headers = HeaderMap::new();
        headers.insert("X-TFS-ServiceError", "Pool%20is%20busy".parse().unwrap());
        let c = call(NotFound::Pool(PoolLookup::Id(1)), None);
        let err = map_answer(StatusCode::BAD_REQUEST, &headers, b"nope".to_vec(), &c).unwrap_err();
        assert!(
            matches!(err, AdoError::Service { status: 400, ref message, .. } if message == "Pool is busy"),
            "{err:?}"
        );
    }
}
