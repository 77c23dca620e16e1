//! Azure DevOps is reachable and the PAT is accepted: look the agent pool up by name.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azp_ado::{AdoClient, AdoClientConfig, AdoError, Auth, RetryPolicy, Secret};
use futures::future::BoxFuture;

use super::{Check, CheckResult};

/// Where and how to reach Azure DevOps.
#[derive(Debug, Clone, Default)]
pub struct AdoSettings {
    /// Organization or collection URL (`AZP_URL`); `None` skips the check.
    pub url: Option<String>,
    /// Agent pool name (`AZP_POOL`).
    pub pool: Option<String>,
    /// Mounted PAT file (`AZP_TOKEN_FILE`).
    pub pat_file: Option<PathBuf>,
    /// PEM CA bundle for a private-CA Azure DevOps Server.
    pub ca_bundle_file: Option<PathBuf>,
    /// Allow `http://` (local tests only).
    pub allow_insecure_http: bool,
}

/// Looks the pool up; the seam that lets the check be tested without a server.
pub trait PoolProbe: Send + Sync {
    /// Returns `(pool id, pool name)`.
    fn find_pool(&self) -> BoxFuture<'_, Result<(i32, String), AdoError>>;
}

struct ClientProbe {
    client: AdoClient,
    pool: String,
}

impl PoolProbe for ClientProbe {
    fn find_pool(&self) -> BoxFuture<'_, Result<(i32, String), AdoError>> {
        Box::pin(async move {
            self.client
                .find_pool(&self.pool)
                .await
                .map(|pool| (pool.id, pool.name))
        })
    }
}

/// The `azure-devops` check.
pub struct AdoCheck {
    /// URL shown in results (never carries credentials: `AZP_URL` has none).
    pub url: String,
    /// The probe, or why it could not be built (a fix-worthy configuration problem).
    pub probe: Result<Arc<dyn PoolProbe>, CheckResult>,
}

impl AdoCheck {
    /// Builds the check from settings; `None` when Azure DevOps is not configured (check skipped).
    pub fn from_settings(settings: &AdoSettings, timeout: Duration) -> Option<Self> {
        let url = settings.url.clone()?;
        let probe = build_probe(settings, &url, timeout);
        Some(Self {
            url: display_url(&url),
            probe,
        })
    }
}

fn build_probe(
    settings: &AdoSettings,
    url: &str,
    timeout: Duration,
) -> Result<Arc<dyn PoolProbe>, CheckResult> {
    let pool = settings.pool.clone().ok_or_else(|| {
        CheckResult::fail("AZP_POOL is not set", "set AZP_POOL to the agent pool name")
    })?;
    let pat_file = settings.pat_file.clone().ok_or_else(|| {
        CheckResult::fail(
            "AZP_TOKEN_FILE is not set",
            "mount the PAT Secret and set AZP_TOKEN_FILE",
        )
    })?;
    let pat = std::fs::read_to_string(&pat_file).map_err(|error| {
        CheckResult::fail(
            format!("cannot read the PAT file {}: {error}", pat_file.display()),
            "check the PAT Secret volume mount and its file mode",
        )
    })?;
    let organization_url = reqwest::Url::parse(url).map_err(|error| {
        CheckResult::fail(
            format!("AZP_URL is not a URL: {error}"),
            "use https://dev.azure.com/<org>",
        )
    })?;
    let mut config = AdoClientConfig::new(organization_url, Auth::Pat(Secret::new(pat.trim())));
    config.retry = RetryPolicy::none();
    config.request_timeout = timeout;
    config.allow_insecure_http = settings.allow_insecure_http;
    if let Some(path) = &settings.ca_bundle_file {
        let pem = std::fs::read(path).map_err(|error| {
            CheckResult::fail(
                format!("cannot read CA bundle {}: {error}", path.display()),
                "check the CA bundle mount",
            )
        })?;
        config.ca_bundle_pem = Some(pem);
    }
    let client = AdoClient::new(config).map_err(|error| {
        CheckResult::fail(
            error.to_string(),
            "fix AZP_URL (https only) and the CA bundle",
        )
    })?;
    Ok(Arc::new(ClientProbe { client, pool }))
}

/// The URL without any user info, so a credential pasted into `AZP_URL` never reaches the report.
fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "<unparsable AZP_URL>".to_owned(),
    }
}

/// The fix for each failure class.
fn fix_for(error: &AdoError) -> &'static str {
    match error {
        AdoError::BadCredentials { .. } => {
            "renew the PAT in the Secret; it needs the Agent Pools (Read & manage) scope"
        }
        AdoError::AccessDenied { .. } => {
            "grant the PAT's user Administrator or Service Account role on the agent pool"
        }
        AdoError::PoolNotFound { .. } | AdoError::AmbiguousPool { .. } => {
            "create the pool in Organization settings > Agent pools, or fix AZP_POOL"
        }
        AdoError::Transport { .. } | AdoError::Timeout { .. } => {
            "allow egress to the Azure DevOps host on 443 (NetworkPolicy, proxy, firewall) and check DNS"
        }
        _ => "check the Azure DevOps URL and service health",
    }
}

impl Check for AdoCheck {
    fn name(&self) -> &'static str {
        "azure-devops"
    }

    fn run(&self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move {
            let probe = match &self.probe {
                Ok(probe) => probe,
                Err(failure) => return failure.clone(),
            };
            match probe.find_pool().await {
                Ok((id, name)) => CheckResult::pass(format!(
                    "{}: pool {name:?} (id {id}) found, credentials accepted",
                    self.url
                )),
                Err(error) => CheckResult::fail(format!("{}: {error}", self.url), fix_for(&error)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::Status;

    struct Answer(Result<(i32, String), AdoError>);
    impl PoolProbe for Answer {
        fn find_pool(&self) -> BoxFuture<'_, Result<(i32, String), AdoError>> {
            Box::pin(async move { self.0.clone() })
        }
    }

    fn check(answer: Result<(i32, String), AdoError>) -> AdoCheck {
        AdoCheck {
            url: "https://dev.azure.com/contoso".into(),
            probe: Ok(Arc::new(Answer(answer))),
        }
    }

    #[tokio::test]
    async fn found_pool_passes_with_its_id() {
        let result = check(Ok((7, "eks-linux".into()))).run().await;
        assert_eq!(result.status, Status::Pass);
        assert!(result.detail.contains("id 7"), "{}", result.detail);
    }

    #[tokio::test]
    async fn rejected_pat_and_missing_pool_fail_with_different_fixes() {
        let bad_pat = check(Err(AdoError::BadCredentials { status: 401 }))
            .run()
            .await;
        assert_eq!(bad_pat.status, Status::Fail);
        assert!(bad_pat.fix.unwrap_or_default().contains("PAT"));
        let no_pool = check(Err(AdoError::PoolNotFound {
            pool: azp_ado::PoolLookup::Name("x".into()),
        }))
        .run()
        .await;
        assert!(no_pool.fix.unwrap_or_default().contains("AZP_POOL"));
        let offline = check(Err(AdoError::Transport {
            route: "pools",
            message: "dns".into(),
        }))
        .run()
        .await;
        assert!(offline.fix.unwrap_or_default().contains("egress"));
    }

    #[test]
    fn credentials_in_the_url_are_not_shown() {
        let shown = display_url("https://me:secret-pat@dev.azure.com/contoso");
        assert_eq!(shown, "https://dev.azure.com/contoso");
    }

    #[test]
    fn unset_url_skips_and_missing_pat_file_fails_before_any_request() {
        assert!(AdoCheck::from_settings(&AdoSettings::default(), Duration::from_secs(1)).is_none());
        let settings = AdoSettings {
            url: Some("https://dev.azure.com/contoso".into()),
            pool: Some("p".into()),
            pat_file: Some("/nonexistent/token".into()),
            ..AdoSettings::default()
        };
        let built = AdoCheck::from_settings(&settings, Duration::from_secs(1));
        let failure = built.and_then(|c| c.probe.err());
        assert!(failure.is_some_and(|f| f.detail.contains("/nonexistent/token")));
    }

    #[test]
    fn plain_http_organization_is_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let pat = dir.path().join("token");
        std::fs::write(&pat, "secret-pat\n").unwrap_or_else(|e| panic!("{e}"));
        let mut settings = AdoSettings {
            url: Some("http://127.0.0.1:1/org".into()),
            pool: Some("p".into()),
            pat_file: Some(pat),
            ..AdoSettings::default()
        };
        let refused =
            AdoCheck::from_settings(&settings, Duration::from_secs(1)).map(|c| c.probe.is_err());
        assert_eq!(refused, Some(true));
        settings.allow_insecure_http = true;
        let allowed =
            AdoCheck::from_settings(&settings, Duration::from_secs(1)).map(|c| c.probe.is_ok());
        assert_eq!(allowed, Some(true));
    }
}
