//! VPC endpoint checks: ECR names resolve only to private addresses; the S3 layer host answers.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::dns::{Resolver, host_without_port};
use super::private_addr::classify;
use super::{Check, CheckResult};

/// Fails unless every address `host` resolves to is private (see [`super::private_addr`]).
pub struct PrivateDnsCheck {
    /// Check identifier.
    pub name: &'static str,
    /// Host (optionally `host:port`), or `None` when it could not be determined.
    pub host: Option<String>,
    /// Which VPC endpoint serves this host, for the fix text (e.g. `com.amazonaws.<region>.ecr.dkr`).
    pub endpoint_service: String,
    /// Name resolution.
    pub resolver: Arc<dyn Resolver>,
}

impl Check for PrivateDnsCheck {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move {
            let Some(host_port) = &self.host else {
                return CheckResult::fail(
                    "host name unknown",
                    "set AWS_REGION and the registry (--registry / AZP_ECR_REGISTRY)",
                );
            };
            let host = host_without_port(host_port);
            let addresses = match self.resolver.resolve(host).await {
                Ok(addresses) if !addresses.is_empty() => addresses,
                Ok(_) => {
                    return CheckResult::fail(format!("{host} has no addresses"), self.dns_fix());
                }
                Err(error) => {
                    return CheckResult::fail(
                        format!("{host} does not resolve: {error}"),
                        self.dns_fix(),
                    );
                }
            };
            let public: Vec<String> = addresses
                .iter()
                .filter(|ip| !classify(**ip).is_private())
                .map(ToString::to_string)
                .collect();
            let all: Vec<String> = addresses.iter().map(ToString::to_string).collect();
            if public.is_empty() {
                CheckResult::pass(format!("{host} resolves to private {}", all.join(", ")))
            } else {
                CheckResult::fail(
                    format!(
                        "{host} resolves to public {} — traffic would bypass the VPC endpoint",
                        public.join(", ")
                    ),
                    self.dns_fix(),
                )
            }
        })
    }
}

impl PrivateDnsCheck {
    fn dns_fix(&self) -> String {
        format!(
            "create the {} interface endpoint with private DNS enabled in this VPC (custom DNS servers need conditional forwarding to Route 53)",
            self.endpoint_service
        )
    }
}

/// Fails unless a TCP connection to `host:port` opens (the S3 gateway endpoint has no private DNS to check).
pub struct TcpReachableCheck {
    /// Check identifier.
    pub name: &'static str,
    /// `host:port`, or `None` when it could not be determined.
    pub address: Option<String>,
    /// Fix text on failure.
    pub fix: String,
}

impl Check for TcpReachableCheck {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(&self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move {
            let Some(address) = &self.address else {
                return CheckResult::fail("host unknown", "set AWS_REGION or AZP_S3_LAYER_HOST");
            };
            match tokio::net::TcpStream::connect(address.as_str()).await {
                Ok(stream) => {
                    let peer = stream
                        .peer_addr()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    CheckResult::pass(format!("{address} reachable ({peer})"))
                }
                Err(error) => {
                    CheckResult::fail(format!("{address} unreachable: {error}"), self.fix.clone())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::preflight::Status;
    use std::collections::HashMap;
    use std::net::IpAddr;

    struct FakeResolver(HashMap<&'static str, Vec<&'static str>>);
    impl Resolver for FakeResolver {
        fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
            Box::pin(async move {
                match self.0.get(host) {
                    Some(ips) => Ok(ips.iter().map(|ip| ip.parse().unwrap()).collect()),
                    None => Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "NXDOMAIN",
                    )),
                }
            })
        }
    }

    fn check(host: &str, table: &[(&'static str, Vec<&'static str>)]) -> PrivateDnsCheck {
        PrivateDnsCheck {
            name: "ecr-registry-private-dns",
            host: Some(host.to_owned()),
            endpoint_service: "com.amazonaws.eu-west-1.ecr.dkr".to_owned(),
            resolver: Arc::new(FakeResolver(table.iter().cloned().collect())),
        }
    }

    const REG: &str = "1.dkr.ecr.eu-west-1.amazonaws.com";

    #[tokio::test]
    async fn all_private_addresses_pass() {
        let result = check(REG, &[(REG, vec!["10.0.1.5", "100.64.3.2"])])
            .run()
            .await;
        assert_eq!(result.status, Status::Pass, "{result:?}");
        assert!(result.detail.contains("10.0.1.5"));
    }

    #[tokio::test]
    async fn one_public_address_fails_and_names_it_and_the_endpoint() {
        let result = check(REG, &[(REG, vec!["10.0.1.5", "52.46.0.1"])])
            .run()
            .await;
        assert_eq!(result.status, Status::Fail);
        assert!(result.detail.contains("52.46.0.1"));
        assert!(!result.detail.contains("10.0.1.5"));
        assert!(result.fix.unwrap().contains("ecr.dkr"));
    }

    #[tokio::test]
    async fn unresolvable_or_unknown_host_fails() {
        assert_eq!(check(REG, &[]).run().await.status, Status::Fail);
        let mut unknown = check(REG, &[]);
        unknown.host = None;
        assert_eq!(unknown.run().await.status, Status::Fail);
    }

    #[tokio::test]
    async fn registry_port_is_ignored_for_resolution() {
        let result = check("127.0.0.1:5000", &[("127.0.0.1", vec!["127.0.0.1"])])
            .run()
            .await;
        assert_eq!(result.status, Status::Pass, "{result:?}");
    }

    #[tokio::test]
    async fn tcp_check_passes_on_listener_and_fails_on_closed_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().to_string();
        let ok = TcpReachableCheck {
            name: "s3",
            address: Some(open),
            fix: "f".into(),
        };
        assert_eq!(ok.run().await.status, Status::Pass);
        drop(listener);
        let closed_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let bad = TcpReachableCheck {
            name: "s3",
            address: Some(closed_port),
            fix: "f".into(),
        };
        let result = bad.run().await;
        assert_eq!(result.status, Status::Fail);
        assert_eq!(result.fix.as_deref(), Some("f"));
    }
}
