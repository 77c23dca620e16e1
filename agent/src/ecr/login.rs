//! `azp-agent ecr-login`: fetch a token and store it in `$DOCKER_CONFIG/config.json`.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::client::{EcrClientSettings, EcrError, ecr_client, fetch_token};
use super::docker_config::write_registry_auth;
use super::token::refresh_at;

/// What `ecr-login` needs.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// How to reach the ECR API.
    pub client: EcrClientSettings,
    /// Registry host to key the credentials by, instead of the one in `proxyEndpoint`.
    pub registry: Option<String>,
    /// `$DOCKER_CONFIG`.
    pub docker_config_dir: PathBuf,
}

/// What `ecr-login` did (no secret inside).
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// Registry host the credentials were written for.
    pub registry_host: String,
    /// The config file written.
    pub config_path: PathBuf,
    /// Planned expiry of the token (see [`super::token::effective_expiry`]).
    pub expires_at: DateTime<Utc>,
}

/// Fetches one token and writes it.
pub async fn login(options: &LoginOptions) -> Result<LoginOutcome, EcrError> {
    let client = ecr_client(&options.client).await;
    login_with(&client, options).await
}

async fn login_with(
    client: &aws_sdk_ecr::Client,
    options: &LoginOptions,
) -> Result<LoginOutcome, EcrError> {
    let token = fetch_token(client, options.registry.as_deref(), Utc::now()).await?;
    let config_path = write_registry_auth(
        &options.docker_config_dir,
        &token.registry_host,
        &token.auth,
    )?;
    tracing::info!(registry = %token.registry_host, path = %config_path.display(), expires_at = %token.expires_at, "wrote registry credentials");
    Ok(LoginOutcome {
        registry_host: token.registry_host,
        config_path,
        expires_at: token.expires_at,
    })
}

/// Logs in, then keeps refreshing the token before it expires; returns only on an error that
/// persists until the current token has expired. Transient failures are retried every `retry`.
pub async fn watch(options: &LoginOptions, retry: Duration) -> Result<(), EcrError> {
    let client = ecr_client(&options.client).await;
    refresh_loop(
        || async {
            login_with(&client, options)
                .await
                .map(|outcome| outcome.expires_at)
        },
        retry,
        Utc::now,
    )
    .await
}

/// The refresh schedule behind [`watch`]: `refresh` fetches a token and returns its planned
/// expiry. It runs again at [`refresh_at`] of that expiry; a failure is retried every `retry`
/// while the current token is still valid, and returned once it has expired. `now` is the
/// wall clock (injectable so the schedule can be tested with paused time).
pub async fn refresh_loop<F, Fut>(
    mut refresh: F,
    retry: Duration,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<(), EcrError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<DateTime<Utc>, EcrError>>,
{
    let mut expires_at = refresh().await?;
    loop {
        let wait = (refresh_at(expires_at) - now())
            .to_std()
            .unwrap_or_default();
        tokio::time::sleep(wait).await;
        match refresh().await {
            Ok(next) => expires_at = next,
            Err(error) if now() < expires_at => {
                tracing::warn!(%error, "token refresh failed; retrying");
                tokio::time::sleep(retry).await;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecr::token::ASSUMED_LIFETIME;
    use std::cell::Cell;

    /// Wall clock that follows tokio's (paused) clock.
    fn paused_clock() -> impl Fn() -> DateTime<Utc> {
        let start_wall = Utc::now();
        let start = tokio::time::Instant::now();
        move || start_wall + chrono::Duration::from_std(start.elapsed()).unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_once_per_token_lifetime_without_spinning() {
        let clock = paused_clock();
        let calls = Cell::new(0u32);
        let run = refresh_loop(
            || {
                calls.set(calls.get() + 1);
                let expiry = clock() + ASSUMED_LIFETIME;
                async move { Ok(expiry) }
            },
            Duration::from_secs(60),
            &clock,
        );
        // 25 h: the first login, then refreshes at 10.5 h and 21 h.
        let outcome = tokio::time::timeout(Duration::from_secs(25 * 3600), run).await;
        assert!(outcome.is_err(), "the loop must keep running");
        assert_eq!(calls.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn failing_refresh_retries_until_the_token_expires_then_errors() {
        let clock = paused_clock();
        let calls = Cell::new(0u32);
        let result = refresh_loop(
            || {
                calls.set(calls.get() + 1);
                let first = calls.get() == 1;
                let expiry = clock() + ASSUMED_LIFETIME;
                async move {
                    if first {
                        Ok(expiry)
                    } else {
                        Err(EcrError::NoAuthorizationData)
                    }
                }
            },
            Duration::from_secs(60),
            &clock,
        )
        .await;
        assert!(matches!(result, Err(EcrError::NoAuthorizationData)));
        // First failure at expiry - 30 min, then one retry a minute until expiry: 31 failures.
        assert_eq!(calls.get(), 1 + 31);
    }

    #[tokio::test]
    async fn first_login_failure_is_returned_at_once() {
        let result = refresh_loop(
            || async { Err(EcrError::NoAuthorizationData) },
            Duration::from_secs(60),
            Utc::now,
        )
        .await;
        assert!(matches!(result, Err(EcrError::NoAuthorizationData)));
    }
}
