//! Agent OAuth (protocol §6): a JWT client assertion signed with the agent key, exchanged
//! at the token endpoint for a Bearer token that is cached until shortly before it expires.

use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tokio::sync::Mutex;
use url::Url;

use super::error::{ApiError, StandinError};
use super::http::describe_transport_error;
use super::key::AgentKey;
use super::wire::{TokenError, TokenResponse};

/// Lifetime of the client assertion, as `VssOAuthJwtBearerAssertion` uses.
const ASSERTION_LIFETIME_SECS: i64 = 300;
/// Refresh a cached token this long before it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Issues and caches Bearer tokens for one registered agent.
pub struct TokenSource {
    http: reqwest::Client,
    key: AgentKey,
    client_id: String,
    authorization_url: String,
    token_url: Url,
    cached: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    value: String,
    refresh_after: Instant,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A source for the agent `client_id`, asserting audience `authorization_url` and
    /// posting to `token_url` (the `.credentials` `oauthEndpointUrl`).
    pub fn new(
        http: reqwest::Client,
        key: AgentKey,
        client_id: String,
        authorization_url: String,
        token_url: &str,
    ) -> Result<Self, StandinError> {
        let token_url = Url::parse(token_url).map_err(|err| {
            StandinError::Usage(format!("invalid OAuth endpoint URL {token_url}: {err}"))
        })?;
        Ok(Self {
            http,
            key,
            client_id,
            authorization_url,
            token_url,
            cached: Mutex::new(None),
        })
    }

    /// Forgets the cached token (after a 401).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// The cached token if it is still fresh; never contacts the server.
    pub async fn cached_token(&self) -> Option<String> {
        self.cached
            .lock()
            .await
            .as_ref()
            .filter(|token| Instant::now() < token.refresh_after)
            .map(|token| token.value.clone())
    }

    /// A valid access token, fetching a new one when needed.
    pub async fn token(&self) -> Result<String, ApiError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_after
        {
            return Ok(token.value.clone());
        }
        let fresh = self.request_token().await?;
        let value = fresh.access_token.clone();
        let lifetime =
            Duration::from_secs(u64::try_from(fresh.expires_in.unwrap_or(3600)).unwrap_or(0));
        *cached = Some(CachedToken {
            value: fresh.access_token,
            refresh_after: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        });
        Ok(value)
    }

    async fn request_token(&self) -> Result<TokenResponse, ApiError> {
        let url = self.token_url.to_string();
        let assertion = self.client_assertion().map_err(|err| ApiError::OAuth {
            url: url.clone(),
            status: 0,
            description: err.to_string(),
        })?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", &assertion)
            .finish();
        let response = self
            .http
            .post(self.token_url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(|err| ApiError::Transport {
                method: "POST".into(),
                url: url.clone(),
                reason: describe_transport_error(&err),
            })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|err| ApiError::Transport {
            method: "POST".into(),
            url: url.clone(),
            reason: describe_transport_error(&err),
        })?;
        if status.is_success() && status != reqwest::StatusCode::NON_AUTHORITATIVE_INFORMATION {
            return serde_json::from_slice(&bytes).map_err(|err| ApiError::Decode {
                method: "POST".into(),
                url,
                reason: err.to_string(),
            });
        }
        let description = serde_json::from_slice::<TokenError>(&bytes)
            .ok()
            .and_then(|body| body.error_description.or(body.error))
            .unwrap_or_else(|| "no error description".to_string());
        Err(ApiError::OAuth {
            url,
            status: status.as_u16(),
            description,
        })
    }

    /// `base64url(header).base64url(claims).base64url(RS256 signature)`.
    fn client_assertion(&self) -> Result<String, StandinError> {
        let now = chrono::Utc::now().timestamp();
        let header = json!({"typ": "JWT", "alg": "RS256"});
        let claims = json!({
            "sub": self.client_id,
            "iss": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "aud": self.authorization_url,
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.key.sign_rs256(signing_input.as_bytes())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}
