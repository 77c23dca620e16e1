//! A small Azure DevOps client with the official agent's wire habits: `api-version` in the
//! `Accept` header, Basic `VstsAgent:<PAT>` for configuration, OAuth Bearer for the listener.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::AGENT_VERSION;
use super::error::{ApiError, StandinError};
use super::oauth::TokenSource;
use super::wire::WrappedException;

/// api-versions the agent's generated client asks for (protocol §0).
pub mod api_version {
    /// Agents.
    pub const AGENTS: &str = "6.0-preview.2";
    /// Pools, sessions, job requests, message deletion.
    pub const POOLS: &str = "5.1-preview.1";
    /// GET messages.
    pub const MESSAGES: &str = "6.0-preview.1";
    /// Location (connectionData).
    pub const LOCATION: &str = "1.0";
}

/// How requests authenticate.
#[derive(Clone)]
pub enum Credential {
    /// `Authorization: Basic base64(VstsAgent:<PAT>)`, precomputed.
    Basic(String),
    /// Agent OAuth via its RSA key.
    OAuth(Arc<TokenSource>),
}

impl Credential {
    /// Basic credential for a PAT, with the user name the real agent sends.
    pub fn pat(token: &str) -> Self {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("VstsAgent:{token}"));
        Self::Basic(format!("Basic {encoded}"))
    }
}

/// A client bound to one organization / collection URL.
#[derive(Clone)]
pub struct AdoClient {
    http: reqwest::Client,
    base: String,
    credential: Credential,
}

/// Builds the shared HTTP client (timeouts as the agent's defaults, optional private CA).
pub fn build_http_client(ca_cert: Option<&Path>) -> Result<reqwest::Client, StandinError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(format!(
            "VSServices/16.255.0 (NetStandard; Linux) VstsAgentCore-linux-x64/{AGENT_VERSION} (azp-agent-standin)"
        ))
        .connect_timeout(Duration::from_secs(30))
        // VSTS_HTTP_TIMEOUT defaults to 100 s; long polls are held for less than that.
        .timeout(Duration::from_secs(100));
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|source| StandinError::io(path, source))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
            StandinError::CorruptFile {
                path: path.to_path_buf(),
                reason: format!("not a PEM certificate bundle: {err}"),
            }
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|err| StandinError::Usage(format!("cannot build HTTP client: {err}")))
}

/// Successful response: status and body bytes.
pub struct Reply {
    /// HTTP status (2xx).
    pub status: StatusCode,
    /// Body.
    pub body: Vec<u8>,
}

impl AdoClient {
    /// A client for `base_url` (e.g. `https://dev.azure.com/org`).
    pub fn new(http: reqwest::Client, base_url: &str, credential: Credential) -> Self {
        Self {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            credential,
        }
    }

    /// The organization URL this client talks to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Builds `{base}/{path}?{query}`.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, ApiError> {
        let raw = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let mut url = Url::parse(&raw).map_err(|err| ApiError::Transport {
            method: "-".into(),
            url: raw.clone(),
            reason: format!("invalid URL: {err}"),
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends one request and returns the 2xx reply; maps other statuses to [`ApiError::Status`].
    ///
    /// OAuth follows `VssOAuthCredential`: without a cached token the request goes out
    /// anonymously, and only a 401 whose `WWW-Authenticate` offers `Bearer` starts the token
    /// request (then one retry). A server that forgets the challenge fails here as it would
    /// fail the real agent.
    pub async fn exchange(
        &self,
        method: Method,
        url: Url,
        api_version: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, ApiError> {
        let source = match &self.credential {
            Credential::Basic(header) => {
                return self
                    .send_once(&method, &url, api_version, body, Some(header.clone()))
                    .await;
            }
            Credential::OAuth(source) => source,
        };
        let cached = source.cached_token().await;
        let first = self
            .send_once(
                &method,
                &url,
                api_version,
                body.clone(),
                cached.as_ref().map(|token| format!("Bearer {token}")),
            )
            .await;
        match first {
            Err(ApiError::Status {
                status: 401,
                bearer_challenge: true,
                ..
            }) => {
                if cached.is_some() {
                    source.invalidate().await;
                }
                let token = source.token().await?;
                self.send_once(
                    &method,
                    &url,
                    api_version,
                    body,
                    Some(format!("Bearer {token}")),
                )
                .await
            }
            outcome => outcome,
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        api_version: &str,
        body: Option<Vec<u8>>,
        authorization: Option<String>,
    ) -> Result<Reply, ApiError> {
        let mut request = self.http.request(method.clone(), url.clone()).header(
            reqwest::header::ACCEPT,
            format!("application/json;api-version={api_version}"),
        );
        if let Some(authorization) = authorization {
            request = request.header(reqwest::header::AUTHORIZATION, authorization);
        }
        if let Some(body) = body {
            request = request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    format!("application/json; charset=utf-8; api-version={api_version}"),
                )
                .body(body);
        }
        let response = request.send().await.map_err(|err| ApiError::Transport {
            method: method.to_string(),
            url: url.to_string(),
            reason: describe_transport_error(&err),
        })?;
        let status = response.status();
        let bearer_challenge = status == StatusCode::UNAUTHORIZED
            && response
                .headers()
                .get_all(reqwest::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .any(|value| value.to_ascii_lowercase().contains("bearer"));
        let service_error = response
            .headers()
            .get("X-TFS-ServiceError")
            .and_then(|value| value.to_str().ok())
            .map(|value| {
                url::form_urlencoded::parse(format!("m={value}").as_bytes())
                    .next()
                    .map(|(_, decoded)| decoded.into_owned())
                    .unwrap_or_default()
            });
        let bytes = response.bytes().await.map_err(|err| ApiError::Transport {
            method: method.to_string(),
            url: url.to_string(),
            reason: describe_transport_error(&err),
        })?;
        // 203 is Azure DevOps' HTML sign-in page for a bad PAT: a failure, not a success.
        if status.is_success() && status != StatusCode::NON_AUTHORITATIVE_INFORMATION {
            return Ok(Reply {
                status,
                body: bytes.to_vec(),
            });
        }
        let wrapped: Option<WrappedException> = serde_json::from_slice(&bytes).ok();
        let message = wrapped
            .as_ref()
            .and_then(|w| w.message.clone())
            .or(service_error)
            .unwrap_or_else(|| excerpt(&bytes));
        Err(ApiError::Status {
            method: method.to_string(),
            url: url.to_string(),
            status: status.as_u16(),
            type_key: wrapped.and_then(|w| w.type_key),
            message,
            bearer_challenge,
        })
    }

    /// GET and decode JSON.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        api_version: &str,
    ) -> Result<T, ApiError> {
        let url = self.url(path, query)?;
        let reply = self
            .exchange(Method::GET, url.clone(), api_version, None)
            .await?;
        decode(&Method::GET, &url, &reply.body)
    }

    /// Sends `body` as JSON and decodes the JSON answer.
    pub async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        api_version: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let url = self.url(path, query)?;
        let encoded = serde_json::to_vec(body).map_err(|err| ApiError::Decode {
            method: method.to_string(),
            url: url.to_string(),
            reason: format!("cannot encode request: {err}"),
        })?;
        let reply = self
            .exchange(method.clone(), url.clone(), api_version, Some(encoded))
            .await?;
        decode(&method, &url, &reply.body)
    }

    /// A request whose answer body does not matter (DELETEs).
    pub async fn send_no_content(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        api_version: &str,
    ) -> Result<(), ApiError> {
        let url = self.url(path, query)?;
        self.exchange(method, url, api_version, None)
            .await
            .map(|_| ())
    }

    /// POSTs plain text to an absolute URL with this client's credential (emulator log upload).
    pub async fn post_text(&self, url: Url, text: String) -> Result<(), ApiError> {
        let authorization = match &self.credential {
            Credential::Basic(header) => header.clone(),
            Credential::OAuth(source) => format!("Bearer {}", source.token().await?),
        };
        let response = self
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(reqwest::header::AUTHORIZATION, authorization)
            .body(text)
            .send()
            .await
            .map_err(|err| ApiError::Transport {
                method: "POST".into(),
                url: url.to_string(),
                reason: describe_transport_error(&err),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let bytes = response.bytes().await.unwrap_or_default();
        Err(ApiError::Status {
            method: "POST".into(),
            url: url.to_string(),
            status: status.as_u16(),
            type_key: None,
            message: excerpt(&bytes),
            bearer_challenge: false,
        })
    }
}

/// Decodes a JSON body, naming the request on failure.
pub fn decode<T: DeserializeOwned>(method: &Method, url: &Url, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| ApiError::Decode {
        method: method.to_string(),
        url: url.to_string(),
        reason: err.to_string(),
    })
}

/// First 200 characters of a body, for error messages.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return "(empty body)".to_string();
    }
    trimmed.chars().take(200).collect()
}

/// The cause chain of a reqwest error without repeating the URL (already in our message).
pub(super) fn describe_transport_error(err: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        causes.push(inner.to_string());
        source = inner.source();
    }
    if err.is_timeout() {
        causes.insert(0, "timed out".to_string());
    }
    if causes.is_empty() {
        err.to_string()
    } else {
        causes.join(": ")
    }
}
