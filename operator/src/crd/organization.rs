//! The operator-side half of the organization URL policy (the CRD's CEL rule is the other).

/// Why the operator refuses an organization URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganizationUrlError {
    /// Not an absolute URL with a host.
    #[error("organization {0:?} is not an absolute URL with a host")]
    Malformed(String),
    /// A scheme other than https (or loopback http).
    #[error("organization {0:?} must use https://")]
    NotHttps(String),
    /// Loopback `http://` while the operator was not started with `--allow-insecure-http`.
    #[error(
        "organization {0:?} uses plain http://; the operator refuses it unless started with --allow-insecure-http (local testing only)"
    )]
    InsecureHttpNotAllowed(String),
}

/// Hosts for which plain `http://` passes the schema (and, with the flag, the operator).
const LOOPBACK_HOSTS: &[&str] = &["127.0.0.1", "localhost"];

/// Checks an organization URL against the operator's policy.
///
/// The CRD schema already admits only `https://` URLs and loopback `http://` URLs; the
/// operator additionally refuses the loopback `http://` ones unless `allow_insecure_http`
/// (`--allow-insecure-http`) is set, so a PAT never travels in clear text by accident.
pub fn check_organization_url(
    organization: &str,
    allow_insecure_http: bool,
) -> Result<(), OrganizationUrlError> {
    let (scheme, rest) = organization
        .split_once("://")
        .ok_or_else(|| OrganizationUrlError::Malformed(organization.to_owned()))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Userinfo ("user@host") is stripped like a URL parser would, so "http://localhost@evil"
    // is judged by its real host.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host_port
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host_port, |(host, _)| host);
    if host.is_empty() {
        return Err(OrganizationUrlError::Malformed(organization.to_owned()));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(()),
        "http" if LOOPBACK_HOSTS.contains(&host.to_ascii_lowercase().as_str()) => {
            if allow_insecure_http {
                Ok(())
            } else {
                Err(OrganizationUrlError::InsecureHttpNotAllowed(
                    organization.to_owned(),
                ))
            }
        }
        _ => Err(OrganizationUrlError::NotHttps(organization.to_owned())),
    }
}
