//! Which IP addresses count as "private" for the VPC endpoint checks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address ranges a VPC endpoint ENI (or a local test peer) can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressClass {
    /// RFC 1918: 10/8, 172.16/12, 192.168/16 — ordinary VPC CIDRs.
    Rfc1918,
    /// RFC 6598 shared address space 100.64/10 — used as secondary VPC CIDRs (e.g. EKS custom networking).
    SharedAddressSpace,
    /// IPv6 unique local fc00::/7.
    UniqueLocal,
    /// 127/8 and ::1. Counted as private deliberately: the local test peers listen on loopback,
    /// and traffic to loopback never leaves the machine, let alone through a NAT.
    Loopback,
    /// Anything else — in particular public AWS addresses reached through a NAT or internet gateway.
    Public,
}

impl AddressClass {
    /// Whether traffic to this class stays inside the private network.
    pub fn is_private(self) -> bool {
        !matches!(self, AddressClass::Public)
    }
}

/// Classifies `ip`. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are classified as their IPv4 address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() {
        AddressClass::Rfc1918
    } else if a == 100 && (64..128).contains(&b) {
        AddressClass::SharedAddressSpace
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.segments()[0] & 0xfe00 == 0xfc00 {
        AddressClass::UniqueLocal
    } else {
        AddressClass::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> AddressClass {
        match text.parse::<IpAddr>() {
            Ok(ip) => classify(ip),
            Err(error) => panic!("bad test address {text}: {error}"),
        }
    }

    #[test]
    fn rfc1918_ranges_and_their_edges() {
        for ip in [
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
        ] {
            assert_eq!(class(ip), AddressClass::Rfc1918, "{ip}");
        }
        for ip in ["172.15.255.255", "172.32.0.1", "11.0.0.1", "192.169.0.1"] {
            assert_eq!(class(ip), AddressClass::Public, "{ip}");
        }
    }

    #[test]
    fn rfc6598_shared_space_is_private_but_its_neighbours_are_not() {
        assert_eq!(class("100.64.0.1"), AddressClass::SharedAddressSpace);
        assert_eq!(class("100.127.255.254"), AddressClass::SharedAddressSpace);
        assert_eq!(class("100.63.255.255"), AddressClass::Public);
        assert_eq!(class("100.128.0.1"), AddressClass::Public);
    }

    #[test]
    fn ipv6_unique_local_and_loopback() {
        assert_eq!(class("fd00:ec2::23"), AddressClass::UniqueLocal);
        assert_eq!(class("fc00::1"), AddressClass::UniqueLocal);
        assert_eq!(class("fe80::1"), AddressClass::Public);
        assert_eq!(class("2600:1f18::1"), AddressClass::Public);
        assert_eq!(class("::1"), AddressClass::Loopback);
    }

    #[test]
    fn loopback_counts_as_private_for_local_tests() {
        assert!(class("127.0.0.1").is_private());
        assert!(class("127.1.2.3").is_private());
        assert!(!class("52.119.160.1").is_private());
    }

    #[test]
    fn ipv4_mapped_ipv6_uses_the_ipv4_rules() {
        assert_eq!(class("::ffff:10.1.2.3"), AddressClass::Rfc1918);
        assert_eq!(class("::ffff:8.8.8.8"), AddressClass::Public);
    }
}
