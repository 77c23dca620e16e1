//! Which checks run, from the command-line / environment settings.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::ado::{AdoCheck, AdoSettings};
use super::buildkit::BuildkitCheck;
use super::buildkit_tls::BuildkitTlsCheck;
use super::dns::Resolver;
use super::endpoints::{PrivateDnsCheck, TcpReachableCheck};
use super::identity::{
    AwsChainProbe, CredentialProbe, ExpectedIdentity, IdentityCheck, IdentitySource,
};
use super::{Check, CheckResult};

/// Settings that decide the checks.
#[derive(Debug, Clone)]
pub struct PreflightSettings {
    /// ECR must be reached only through private addresses (VPC endpoints).
    pub require_private_endpoint: bool,
    /// AWS region (for default ECR API and S3 host names).
    pub region: Option<String>,
    /// ECR API endpoint URL override.
    pub api_endpoint: Option<String>,
    /// ECR registry host (`host[:port]`).
    pub registry: Option<String>,
    /// S3 layer `host[:port]` override.
    pub s3_layer_host: Option<String>,
    /// The identity the operator wired.
    pub expect_identity: ExpectedIdentity,
    /// Resolve credentials through the chain (not only check the wiring).
    pub probe_credentials: bool,
    /// BuildKit address; `None` = sidecar disabled.
    pub buildkit_host: Option<String>,
    /// How long the `buildkit` check keeps retrying while the sidecar is not answering yet.
    pub buildkit_wait: Duration,
    /// Checks this container leaves to another one on purpose, with why (e.g. `register`
    /// runs before the BuildKit sidecar starts). Reported as skipped with that reason, so the
    /// log never claims a setting is missing when it is not.
    pub left_to_others: Vec<(&'static str, &'static str)>,
    /// Azure DevOps access.
    pub ado: AdoSettings,
    /// Per-check budget for answers.
    pub timeout: Duration,
}

/// A check that does not apply with the given settings.
pub struct Skipped {
    /// Check identifier.
    pub name: &'static str,
    /// Why it does not apply.
    pub reason: &'static str,
}

impl Check for Skipped {
    fn name(&self) -> &'static str {
        self.name
    }
    fn run(&self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move { CheckResult::skip(self.reason) })
    }
}

/// The ECR API host the SDK will contact: the override's host, else `api.ecr.<region>.amazonaws.com`.
pub fn ecr_api_host(api_endpoint: Option<&str>, region: Option<&str>) -> Option<String> {
    match api_endpoint {
        Some(url) => reqwest::Url::parse(url).ok().and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        }),
        None => region.map(|r| format!("api.ecr.{r}.amazonaws.com")),
    }
}

/// The S3 host serving ECR layers, as `host:port`.
pub fn s3_layer_address(override_host: Option<&str>, region: Option<&str>) -> Option<String> {
    match override_host {
        Some(host) if host.contains(':') => Some(host.to_owned()),
        Some(host) => Some(format!("{host}:443")),
        None => region.map(|r| format!("prod-{r}-starport-layer-bucket.s3.{r}.amazonaws.com:443")),
    }
}

/// Builds the checks, in report order. `lookup` reads environment variables (identity detection).
pub fn plan_checks(
    settings: &PreflightSettings,
    resolver: Arc<dyn Resolver>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<Box<dyn Check>> {
    let region = settings.region.as_deref();
    let service = |suffix: &str| format!("com.amazonaws.{}.{suffix}", region.unwrap_or("<region>"));
    let mut checks: Vec<Box<dyn Check>> = Vec::new();
    if let Some(reason) = left_to_others(settings, ADO_CHECK) {
        checks.push(Box::new(Skipped {
            name: ADO_CHECK,
            reason,
        }));
    } else {
        push_ado_check(settings, &mut checks);
    }
    if settings.require_private_endpoint {
        checks.push(Box::new(PrivateDnsCheck {
            name: "ecr-api-private-dns",
            host: ecr_api_host(settings.api_endpoint.as_deref(), region),
            endpoint_service: service("ecr.api"),
            resolver: resolver.clone(),
        }));
        checks.push(Box::new(PrivateDnsCheck {
            name: "ecr-registry-private-dns",
            host: settings.registry.clone(),
            endpoint_service: service("ecr.dkr"),
            resolver,
        }));
        checks.push(Box::new(TcpReachableCheck {
            name: "s3-layer-host",
            address: s3_layer_address(settings.s3_layer_host.as_deref(), region),
            fix: format!(
                "add the {} gateway endpoint to this subnet's route table and allow arn:aws:s3:::prod-{}-starport-layer-bucket/* in its policy",
                service("s3"),
                region.unwrap_or("<region>")
            ),
        }));
    } else {
        for name in [
            "ecr-api-private-dns",
            "ecr-registry-private-dns",
            "s3-layer-host",
        ] {
            checks.push(Box::new(Skipped {
                name,
                reason: "requirePrivateEndpoint is off",
            }));
        }
    }
    let probe: Option<Arc<dyn CredentialProbe>> = settings.probe_credentials.then(|| {
        Arc::new(AwsChainProbe {
            region: settings.region.clone(),
        }) as Arc<dyn CredentialProbe>
    });
    // A remote BuildKit with a client certificate (spec.buildkit.mode: remote) speaks TLS.
    let tls_dir = lookup(crate::env::BUILDKIT_TLS_DIR).filter(|dir| !dir.is_empty());
    checks.push(Box::new(IdentityCheck {
        source: IdentitySource::detect(lookup),
        expected: settings.expect_identity,
        probe,
    }));
    if let Some(reason) = left_to_others(settings, BUILDKIT_CHECK) {
        checks.push(Box::new(Skipped {
            name: BUILDKIT_CHECK,
            reason,
        }));
    } else {
        match (&settings.buildkit_host, tls_dir) {
            // A shared remote daemon is up or not: no start-up to wait for.
            (Some(address), Some(dir)) if address.starts_with("tcp://") => {
                checks.push(Box::new(BuildkitTlsCheck {
                    address: address.clone(),
                    tls_dir: dir.into(),
                    answer_timeout: settings.timeout,
                }));
            }
            _ => checks.push(Box::new(BuildkitCheck {
                address: settings.buildkit_host.clone(),
                answer_timeout: settings.timeout,
                wait: settings.buildkit_wait,
            })),
        }
    }
    checks
}

/// Name of the Azure DevOps check.
pub const ADO_CHECK: &str = "azure-devops";
/// Name of the BuildKit check.
pub const BUILDKIT_CHECK: &str = "buildkit";

fn left_to_others(settings: &PreflightSettings, name: &str) -> Option<&'static str> {
    settings
        .left_to_others
        .iter()
        .find(|(check, _)| *check == name)
        .map(|(_, reason)| *reason)
}

fn push_ado_check(settings: &PreflightSettings, checks: &mut Vec<Box<dyn Check>>) {
    match AdoCheck::from_settings(&settings.ado, settings.timeout) {
        Some(check) => checks.push(Box::new(check)),
        None => checks.push(Box::new(Skipped {
            name: ADO_CHECK,
            reason: "AZP_URL not set",
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::dns::SystemResolver;

    #[test]
    fn api_host_comes_from_override_or_region() {
        assert_eq!(
            ecr_api_host(
                Some("https://vpce-1.api.ecr.eu-west-1.vpce.amazonaws.com"),
                Some("x")
            ),
            Some("vpce-1.api.ecr.eu-west-1.vpce.amazonaws.com".to_owned())
        );
        assert_eq!(
            ecr_api_host(Some("http://127.0.0.1:5000/"), None),
            Some("127.0.0.1:5000".to_owned())
        );
        assert_eq!(
            ecr_api_host(None, Some("eu-west-1")),
            Some("api.ecr.eu-west-1.amazonaws.com".to_owned())
        );
        assert_eq!(ecr_api_host(None, None), None);
    }

    #[test]
    fn s3_layer_host_defaults_to_the_starport_bucket() {
        assert_eq!(
            s3_layer_address(None, Some("ap-northeast-1")),
            Some(
                "prod-ap-northeast-1-starport-layer-bucket.s3.ap-northeast-1.amazonaws.com:443"
                    .to_owned()
            )
        );
        assert_eq!(
            s3_layer_address(Some("127.0.0.1:9"), None),
            Some("127.0.0.1:9".to_owned())
        );
    }

    #[test]
    fn check_list_is_stable_and_complete() {
        let settings = PreflightSettings {
            require_private_endpoint: false,
            region: None,
            api_endpoint: None,
            registry: None,
            s3_layer_host: None,
            expect_identity: ExpectedIdentity::Any,
            probe_credentials: false,
            buildkit_host: None,
            buildkit_wait: Duration::ZERO,
            left_to_others: Vec::new(),
            ado: AdoSettings::default(),
            timeout: Duration::from_secs(1),
        };
        let names: Vec<_> = plan_checks(&settings, Arc::new(SystemResolver), |_| None)
            .iter()
            .map(|c| c.name())
            .collect();
        assert_eq!(
            names,
            [
                "azure-devops",
                "ecr-api-private-dns",
                "ecr-registry-private-dns",
                "s3-layer-host",
                "aws-identity",
                "buildkit"
            ]
        );
    }
}
