//! Host name resolution behind a trait, so checks can be tested without real DNS.

use std::net::IpAddr;

use futures::future::BoxFuture;

/// Resolves a host name to its addresses.
pub trait Resolver: Send + Sync {
    /// All addresses `host` resolves to (an IP literal resolves to itself).
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver, through tokio's `lookup_host` (getaddrinfo on a blocking thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let mut addresses: Vec<IpAddr> = tokio::net::lookup_host((host, 443))
                .await?
                .map(|socket| socket.ip())
                .collect();
            addresses.sort();
            addresses.dedup();
            Ok(addresses)
        })
    }
}

/// Strips a `:port` suffix (and IPv6 brackets) from a registry-style `host[:port]`.
pub fn host_without_port(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            host
        }
        _ => host_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_is_stripped_from_names_and_ipv6_literals() {
        assert_eq!(host_without_port("127.0.0.1:5000"), "127.0.0.1");
        assert_eq!(
            host_without_port("a.dkr.ecr.x.amazonaws.com"),
            "a.dkr.ecr.x.amazonaws.com"
        );
        assert_eq!(host_without_port("[fd00::1]:443"), "fd00::1");
        assert_eq!(host_without_port("fd00::1"), "fd00::1");
    }

    #[tokio::test]
    async fn system_resolver_resolves_ip_literals_and_localhost() {
        let ips = SystemResolver
            .resolve("127.0.0.1")
            .await
            .unwrap_or_default();
        assert_eq!(
            ips,
            vec![
                "127.0.0.1"
                    .parse::<IpAddr>()
                    .unwrap_or(IpAddr::from([0, 0, 0, 0]))
            ]
        );
        let error = SystemResolver.resolve("no-such-host.invalid").await;
        assert!(error.is_err());
    }
}
