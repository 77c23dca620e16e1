//! The `client_credentials` grant with a federated client assertion, over the workspace's
//! reqwest (rustls/aws-lc-rs).

use std::time::Duration;

use azp_ado::Secret;
use serde::Deserialize;

use super::error::EntraError;

/// Microsoft Entra's public cloud.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The audience Entra requires of a federated assertion.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Azure DevOps' resource id with `/.default`: every permission the principal was granted.
pub const AZURE_DEVOPS_SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Deserialize)]
struct Granted {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct Refusal {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_codes: Vec<u32>,
    #[serde(default)]
    error_description: String,
}

/// What one exchange needs.
pub struct Exchange<'a> {
    /// `https://login.microsoftonline.com` or another cloud's authority.
    pub authority: &'a url::Url,
    /// Tenant id.
    pub tenant_id: &'a str,
    /// Application (client) id.
    pub client_id: &'a str,
    /// The service account token.
    pub assertion: &'a Secret,
    /// The assertion's subject, for the fix in an error message.
    pub subject: &'a str,
}

/// Exchanges the assertion for an Azure DevOps access token and its lifetime.
pub async fn exchange(
    http: &reqwest::Client,
    request: &Exchange<'_>,
) -> Result<(Secret, Duration), EntraError> {
    let url = request
        .authority
        .join(&format!("{}/oauth2/v2.0/token", request.tenant_id))
        .map_err(|e| EntraError::Authority(e.to_string()))?;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", request.client_id)
        .append_pair("scope", AZURE_DEVOPS_SCOPE)
        .append_pair("client_assertion_type", JWT_BEARER)
        .append_pair("client_assertion", request.assertion.expose())
        .finish();
    // reqwest's error Display includes the URL (no secret in it) but never the body.
    let response = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(without_url)?;
    let status = response.status();
    let body = response.bytes().await.map_err(without_url)?;
    if status.is_success() {
        let granted: Granted = serde_json::from_slice(&body).map_err(|_| {
            EntraError::Transport("the token endpoint answered without an access token".into())
        })?;
        return Ok((
            Secret::new(granted.access_token),
            Duration::from_secs(granted.expires_in),
        ));
    }
    match serde_json::from_slice::<Refusal>(&body) {
        Ok(refusal) if !refusal.error_codes.is_empty() => Err(EntraError::Refused {
            code: refusal.error_codes[0],
            description: describe(&refusal),
            client_id: request.client_id.to_owned(),
            subject: request.subject.to_owned(),
        }),
        _ if status.is_server_error() => Err(EntraError::Transport(format!(
            "the token endpoint answered HTTP {status}"
        ))),
        _ => Err(EntraError::Transport(format!(
            "the token endpoint answered HTTP {status} without an Entra error"
        ))),
    }
}

/// Entra's description without the `AADSTSnnn: ` prefix and the trace/correlation ids.
fn describe(refusal: &Refusal) -> String {
    let text = refusal
        .error_description
        .split(" Trace ID:")
        .next()
        .unwrap_or_default();
    let text = text
        .split_once(": ")
        .filter(|(code, _)| code.starts_with("AADSTS"))
        .map_or(text, |(_, rest)| rest);
    if text.is_empty() {
        refusal.error.clone()
    } else {
        text.to_owned()
    }
}

fn without_url(error: reqwest::Error) -> EntraError {
    if error.is_timeout() {
        return EntraError::Transport("the token endpoint timed out".into());
    }
    EntraError::Transport(error.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_loses_its_code_prefix_and_trace_ids() {
        let refusal = Refusal {
            error: "invalid_client".into(),
            error_codes: vec![700213],
            error_description: "AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:ci:x'. Trace ID: 1 Correlation ID: 2 Timestamp: 3".into(),
        };
        assert_eq!(
            describe(&refusal),
            "No matching federated identity record found for presented assertion subject 'system:serviceaccount:ci:x'."
        );
    }
}
