//! The HTTP core: URL building, authentication, retries, rate-limit bookkeeping and error mapping.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde::de::{DeserializeOwned, IgnoredAny};
use url::Url;

use crate::auth::Auth;
use crate::body::{self, BodyError};
use crate::config::{AdoClientConfig, RetryPolicy};
use crate::error::{AdoError, PoolLookup};
use crate::observer::{AttemptOutcome, RequestAttempt, RequestObserver};
use crate::rate_limit::RateLimitSnapshot;
use crate::response::{declares_html, map_answer};
use crate::retry::next_delay;

/// A typed Azure DevOps REST client. Cheap to clone (shared connection pool and rate-limit snapshot).
#[derive(Clone)]
pub struct AdoClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Organization/collection URL, path ending in `/`.
    base: Url,
    auth: Auth,
    request_timeout: Duration,
    retry: RetryPolicy,
    observer: Option<Arc<dyn RequestObserver>>,
    rate_limit: Mutex<Option<RateLimitSnapshot>>,
    max_job_list_bytes: u64,
}

/// What a 404 (or a missing-object type key) means for a call.
#[derive(Debug, Clone)]
pub(crate) enum NotFound {
    /// The pool addressed by the route does not exist.
    Pool(PoolLookup),
    /// The agent addressed by the route does not exist.
    Agent { pool_id: i32, agent_id: i32 },
}

/// One logical call (possibly several HTTP attempts).
pub(crate) struct Call {
    pub method: Method,
    /// Route template, used for logs and metrics instead of the URL.
    pub route: &'static str,
    pub url: Url,
    pub body: Option<Vec<u8>>,
    pub not_found: NotFound,
    /// Set on agent registration so a 409 maps to [`AdoError::AgentExists`].
    pub agent_name: Option<String>,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub body: Vec<u8>,
}

/// What one attempt read: the whole body, or the value decoded while the body arrived.
enum Received<T> {
    Body(Vec<u8>),
    Decoded(T),
}

impl AdoClient {
    /// Validates the configuration and builds the HTTP client.
    ///
    /// Refuses `http://` unless `allow_insecure_http` is set, URLs with embedded credentials, queries or fragments,
    /// and CA bundles without a certificate.
    pub fn new(config: AdoClientConfig) -> Result<Self, AdoError> {
        let base =
            normalise_organization_url(&config.organization_url, config.allow_insecure_http)?;
        let mut builder = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            // A redirect from Azure DevOps is a sign-in page or a misconfigured URL; following it could carry the
            // credential elsewhere, so the answer is handled as an error instead.
            .redirect(reqwest::redirect::Policy::none());
        if !config.allow_insecure_http {
            builder = builder.https_only(true);
        }
        if let Some(pem) = &config.ca_bundle_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|_| {
                AdoError::InvalidConfig {
                    message: "the CA bundle is not valid PEM".to_owned(),
                }
            })?;
            if certs.is_empty() {
                return Err(AdoError::InvalidConfig {
                    message: "the CA bundle contains no certificate".to_owned(),
                });
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|err| AdoError::InvalidConfig {
            message: format!(
                "cannot build the HTTP client: {}",
                error_chain(&err.without_url())
            ),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                auth: config.auth,
                request_timeout: config.request_timeout,
                retry: config.retry,
                observer: config.observer,
                rate_limit: Mutex::new(None),
                max_job_list_bytes: config.max_job_list_bytes,
            }),
        })
    }

    /// The normalised organization URL (path ends with `/`).
    pub fn organization_url(&self) -> &Url {
        &self.inner.base
    }

    /// Rate-limit headers of the most recent response; `None` before the first response.
    pub fn rate_limit(&self) -> Option<RateLimitSnapshot> {
        self.inner
            .rate_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The configured [`AdoClientConfig::max_job_list_bytes`].
    pub(crate) fn max_job_list_bytes(&self) -> u64 {
        self.inner.max_job_list_bytes
    }

    /// `{org}/_apis/distributedtask/{segments...}` with each segment escaped.
    pub(crate) fn distributedtask_url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["_apis", "distributedtask"])
                .extend(segments);
        }
        url
    }

    /// Runs a call and decodes its JSON body.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, AdoError> {
        let route = call.route;
        let answer = self.execute(call).await?;
        serde_json::from_slice(&answer.body).map_err(|err| AdoError::Decode {
            route,
            message: err.to_string(),
        })
    }

    /// Runs a call and decodes its JSON body while it arrives, never holding it whole; a body
    /// over `limit` bytes is [`AdoError::JobListTooLarge`] (see [`crate::body`]; the job-request
    /// list is the only answer that can grow that large, and the only one read this way).
    pub(crate) async fn json_streamed<T>(&self, call: Call, limit: u64) -> Result<T, AdoError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let route = call.route;
        match self.run::<T>(call, Some(limit)).await? {
            Received::Decoded(value) => Ok(value),
            // An empty success answer: the same decode error the buffered path gives.
            Received::Body(body) => serde_json::from_slice(&body).map_err(|err| AdoError::Decode {
                route,
                message: err.to_string(),
            }),
        }
    }

    /// Runs a call with retries; returns the body of a 2xx JSON (or empty) answer.
    pub(crate) async fn execute(&self, call: Call) -> Result<Answer, AdoError> {
        match self.run::<IgnoredAny>(call, None).await? {
            Received::Body(body) => Ok(Answer { body }),
            // Without a limit nothing is decoded while it arrives.
            Received::Decoded(_) => Ok(Answer { body: Vec::new() }),
        }
    }

    /// Runs a call with retries. With `stream_limit`, a 2xx JSON answer is decoded into `T`
    /// while it arrives and every body of the call is refused above the limit; without it,
    /// bodies are read whole.
    async fn run<T>(&self, call: Call, stream_limit: Option<u64>) -> Result<Received<T>, AdoError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let idempotent = matches!(
            call.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        let mut waited = Duration::ZERO;
        let mut attempt = 1u32;
        loop {
            let (status, headers, received) =
                self.attempt::<T>(&call, attempt, stream_limit).await?;
            let hint = self.record_rate_limit(&headers);
            let body = match received {
                Received::Decoded(value) => return Ok(Received::Decoded(value)),
                Received::Body(body) => body,
            };
            let transient = match status.as_u16() {
                429 => AdoError::RateLimited { retry_after: hint },
                500 | 502 | 503 | 504 => {
                    let unavailable = AdoError::Unavailable {
                        status: status.as_u16(),
                        retry_after: hint,
                    };
                    // A POST/PATCH may have been applied before the failure: repeating it is the caller's decision.
                    if !idempotent {
                        return Err(unavailable);
                    }
                    unavailable
                }
                _ => {
                    return map_answer(status, &headers, body, &call)
                        .map(|a| Received::Body(a.body));
                }
            };
            let Some(delay) = next_delay(
                &self.inner.retry,
                attempt,
                hint,
                waited,
                rand::random::<f64>(),
            ) else {
                tracing::warn!(method = %call.method, route = call.route, status = status.as_u16(), attempt,
                    "azure devops retry budget spent");
                return Err(transient);
            };
            tracing::info!(method = %call.method, route = call.route, status = status.as_u16(), attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "azure devops asked to back off; retrying");
            tokio::time::sleep(delay).await;
            waited += delay;
            attempt += 1;
        }
    }

    /// One HTTP attempt: authenticate, send, read the body (or decode it while it arrives, see
    /// [`Self::run`]), report to the observer.
    async fn attempt<T>(
        &self,
        call: &Call,
        attempt: u32,
        stream_limit: Option<u64>,
    ) -> Result<(StatusCode, HeaderMap, Received<T>), AdoError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let authorization = self.inner.auth.header_value().await?;
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/json")
            .timeout(self.inner.request_timeout);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let started = Instant::now();
        // An error after the status line carries that status: the observer counts the answer.
        let result = async {
            let response = request
                .send()
                .await
                .map_err(|err| (None, BodyError::Read(err)))?;
            let status = response.status();
            let headers = response.headers().clone();
            let received = match stream_limit {
                Some(limit)
                    if status.is_success()
                        && status.as_u16() != 203
                        && !declares_html(&headers) =>
                {
                    body::decode_streamed(response, limit)
                        .await
                        .map(Received::Decoded)
                }
                limit => body::read_limited(response, limit)
                    .await
                    .map(Received::Body),
            }
            .map_err(|err| (Some(status), err))?;
            Ok::<_, (Option<StatusCode>, BodyError)>((status, headers, received))
        }
        .await;
        let duration = started.elapsed();
        let outcome = match &result {
            Ok((status, ..)) => AttemptOutcome::Status(status.as_u16()),
            Err((_, BodyError::Read(err))) if err.is_timeout() => AttemptOutcome::Timeout,
            Err((_, BodyError::Read(_))) => AttemptOutcome::Transport,
            // The answer came: what went wrong is its body.
            Err((status, _)) => AttemptOutcome::Status(status.map_or(0, |s| s.as_u16())),
        };
        let method = method_name(&call.method);
        tracing::debug!(method, route = call.route, outcome = %outcome.label(), attempt,
            elapsed_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX), "azure devops request");
        if let Some(observer) = &self.inner.observer {
            observer.on_attempt(&RequestAttempt {
                method,
                route: call.route,
                attempt,
                outcome,
                duration,
            });
        }
        result.map_err(|(_, err)| match err {
            BodyError::Read(err) if err.is_timeout() => AdoError::Timeout {
                route: call.route,
                timeout: self.inner.request_timeout,
            },
            BodyError::Read(err) => AdoError::Transport {
                route: call.route,
                message: error_chain(&err.without_url()),
            },
            BodyError::TooLarge { limit, read } => AdoError::JobListTooLarge { limit, read },
            BodyError::Decode(message) => AdoError::Decode {
                route: call.route,
                message,
            },
            BodyError::NotJson => AdoError::BadCredentials { status: 200 },
        })
    }

    fn record_rate_limit(&self, headers: &HeaderMap) -> Option<Duration> {
        let snapshot = RateLimitSnapshot::from_headers(headers, Utc::now());
        let hint = snapshot.server_hint();
        if snapshot.remaining == Some(0) || snapshot.delay.is_some() {
            tracing::info!(remaining = ?snapshot.remaining, delay = ?snapshot.delay, resource = ?snapshot.resource,
                "azure devops reports rate-limit pressure");
        }
        *self
            .inner
            .rate_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(snapshot);
        hint
    }
}

impl fmt::Debug for AdoClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdoClient")
            .field("organization_url", &self.inner.base.as_str())
            .field("auth", &self.inner.auth)
            .field("request_timeout", &self.inner.request_timeout)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// The URL without user info, query or fragment (safe to print).
pub(crate) fn redacted_url(url: &Url) -> String {
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.set_query(None);
    clean.set_fragment(None);
    clean.to_string()
}

fn normalise_organization_url(url: &Url, allow_insecure_http: bool) -> Result<Url, AdoError> {
    let invalid = |message: String| Err(AdoError::InvalidConfig { message });
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http => {}
        "http" => {
            return invalid(format!(
                "refusing plain http organization URL {}: the credential would be sent in clear text \
                 (use https, or allow insecure http for local testing only)",
                redacted_url(url)
            ));
        }
        other => return invalid(format!("unsupported URL scheme {other:?} (expected https)")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return invalid(format!(
            "organization URL must not contain credentials: {}",
            redacted_url(url)
        ));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || url.cannot_be_a_base()
        || url.host().is_none()
    {
        return invalid(format!(
            "organization URL must be a plain base URL: {}",
            redacted_url(url)
        ));
    }
    let mut base = url.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}

/// Display of an error and its sources, joined by `: `.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn organization_urls_are_normalised_and_unsafe_ones_refused() {
        let url = |raw: &str| Url::parse(raw).unwrap();
        assert_eq!(
            normalise_organization_url(&url("https://dev.azure.com/org"), false)
                .unwrap()
                .as_str(),
            "https://dev.azure.com/org/"
        );
        assert_eq!(
            normalise_organization_url(&url("https://dev.azure.com/org/"), false)
                .unwrap()
                .as_str(),
            "https://dev.azure.com/org/"
        );
        assert_eq!(
            normalise_organization_url(&url("https://host/tfs/DefaultCollection"), false)
                .unwrap()
                .as_str(),
            "https://host/tfs/DefaultCollection/"
        );
        assert!(matches!(
            normalise_organization_url(&url("http://host/org"), false),
            Err(AdoError::InvalidConfig { .. })
        ));
        assert!(normalise_organization_url(&url("http://host/org"), true).is_ok());
        assert!(normalise_organization_url(&url("ftp://host/org"), true).is_err());
        assert!(normalise_organization_url(&url("https://host/org?x=1"), false).is_err());
        let with_credentials =
            normalise_organization_url(&url("https://user:hunter2pat@host/org"), false)
                .unwrap_err();
        assert!(!with_credentials.to_string().contains("hunter2pat"));
    }
}
