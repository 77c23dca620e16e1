//! Reads a manifest digest back from the registry (OCI distribution API), to verify a push.

use std::net::IpAddr;

use crate::ecr::BasicCredentials;

/// Manifest media types we accept, so the registry never has to convert (which would change the digest).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Verification failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Plain HTTP was requested for a non-loopback registry.
    #[error(
        "refusing plain HTTP to {0}: only loopback registries (tests) may be reached without TLS"
    )]
    PlainHttpRefused(String),
    /// Transport error.
    #[error("registry request to {url} failed: {message}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Non-success status.
    #[error("registry answered {status} for {url}{hint}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Extra hint.
        hint: &'static str,
    },
    /// No `Docker-Content-Digest` header.
    #[error("registry sent no Docker-Content-Digest for {0}")]
    NoDigest(String),
}

/// `http` is allowed only for loopback hosts; everything else is `https`.
pub fn registry_base_url(host: &str, plain_http: bool) -> Result<String, RegistryError> {
    if !plain_http {
        return Ok(format!("https://{host}"));
    }
    let bare = crate::preflight::dns::host_without_port(host);
    let loopback = bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(format!("http://{host}"))
    } else {
        Err(RegistryError::PlainHttpRefused(host.to_owned()))
    }
}

/// `HEAD /v2/<repository>/manifests/<reference>` with Basic credentials; returns `Docker-Content-Digest`.
pub async fn manifest_digest(
    http: &reqwest::Client,
    base_url: &str,
    repository: &str,
    reference: &str,
    credentials: &BasicCredentials,
) -> Result<String, RegistryError> {
    let url = format!("{base_url}/v2/{repository}/manifests/{reference}");
    let response = http
        .head(&url)
        .header(reqwest::header::ACCEPT, MANIFEST_ACCEPT)
        .basic_auth(&credentials.username, Some(&credentials.password))
        .send()
        .await
        .map_err(|error| RegistryError::Transport {
            url: url.clone(),
            message: error.to_string(),
        })?;
    let status = response.status();
    if !status.is_success() {
        let hint = match status.as_u16() {
            401 | 403 => " (credentials rejected: run `azp-agent ecr-login` again)",
            404 => " (manifest not found)",
            _ => "",
        };
        return Err(RegistryError::Status {
            url,
            status: status.as_u16(),
            hint,
        });
    }
    response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or(RegistryError::NoDigest(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback() {
        assert_eq!(
            registry_base_url("127.0.0.1:5000", true).ok().as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            registry_base_url("localhost:5000", true).ok().as_deref(),
            Some("http://localhost:5000")
        );
        assert!(matches!(
            registry_base_url("1.dkr.ecr.x.amazonaws.com", true),
            Err(RegistryError::PlainHttpRefused(_))
        ));
        assert!(matches!(
            registry_base_url("10.0.0.1:5000", true),
            Err(RegistryError::PlainHttpRefused(_))
        ));
        assert_eq!(
            registry_base_url("1.dkr.ecr.x.amazonaws.com", false)
                .ok()
                .as_deref(),
            Some("https://1.dkr.ecr.x.amazonaws.com")
        );
    }
}
