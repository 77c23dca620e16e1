//! Reading `spec.caBundle`: the PEM bundle an AgentPool's Azure DevOps Server is signed by,
//! from a Secret or ConfigMap in the AgentPool's namespace. The operator's own client trusts
//! it (besides the system roots), as the agent pods do through the mounted file.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};

use crate::crd::{AgentPool, CaBundleSource};

/// Why the bundle could not be read; messages name the object and key, never the content.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    /// Neither `secretRef` nor `configMapRef` is set.
    #[error("spec.caBundle names neither a Secret nor a ConfigMap")]
    NoSource,
    /// The Secret or ConfigMap does not exist.
    #[error("{kind} {name:?} (spec.caBundle) not found")]
    NotFound {
        /// `Secret` or `ConfigMap`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The key is missing or holds no PEM certificate.
    #[error("{kind} {name:?} (spec.caBundle) has no PEM certificate under key {key:?}")]
    NoCertificate {
        /// `Secret` or `ConfigMap`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The key.
        key: String,
    },
    /// Reading it failed.
    #[error("reading {kind} {name:?} (spec.caBundle): {source}")]
    Kube {
        /// `Secret` or `ConfigMap`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
}

impl CaBundleError {
    /// Condition reason.
    pub fn reason(&self) -> crate::reason::Reason {
        use crate::reason::Reason;
        match self {
            Self::NoSource => Reason::CaBundleNotConfigured,
            Self::NotFound { .. } => Reason::CaBundleNotFound,
            Self::NoCertificate { .. } => Reason::CaBundleInvalid,
            Self::Kube { .. } => Reason::CaBundleUnreadable,
        }
    }
}

/// The PEM bundle `pool` references, or `None` when it references none.
pub async fn read_ca_bundle(
    client: &Client,
    pool: &AgentPool,
    namespace: &str,
) -> Result<Option<Vec<u8>>, CaBundleError> {
    let Some(source) = &pool.spec.ca_bundle else {
        return Ok(None);
    };
    read_source(client, source, namespace).await.map(Some)
}

async fn read_source(
    client: &Client,
    source: &CaBundleSource,
    namespace: &str,
) -> Result<Vec<u8>, CaBundleError> {
    let (kind, reference, bytes) = if let Some(reference) = &source.secret_ref {
        let kind = "Secret";
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let found = secrets.get_opt(&reference.name).await;
        let secret = found_or_error(found, kind, &reference.name)?;
        let bytes = secret
            .data
            .and_then(|mut data| data.remove(&reference.key))
            .map(|bytes| bytes.0);
        (kind, reference, bytes)
    } else if let Some(reference) = &source.config_map_ref {
        let kind = "ConfigMap";
        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let found = config_maps.get_opt(&reference.name).await;
        let config_map = found_or_error(found, kind, &reference.name)?;
        let text = config_map
            .data
            .and_then(|mut data| data.remove(&reference.key))
            .map(String::into_bytes);
        let binary = config_map
            .binary_data
            .and_then(|mut data| data.remove(&reference.key))
            .map(|bytes| bytes.0);
        (kind, reference, text.or(binary))
    } else {
        return Err(CaBundleError::NoSource);
    };
    bytes
        .filter(|pem| contains_certificate(pem))
        .ok_or_else(|| CaBundleError::NoCertificate {
            kind,
            name: reference.name.clone(),
            key: reference.key.clone(),
        })
}

fn found_or_error<K>(
    found: Result<Option<K>, kube::Error>,
    kind: &'static str,
    name: &str,
) -> Result<K, CaBundleError> {
    found
        .map_err(|source| CaBundleError::Kube {
            kind,
            name: name.to_owned(),
            source,
        })?
        .ok_or_else(|| CaBundleError::NotFound {
            kind,
            name: name.to_owned(),
        })
}

/// Whether `pem` holds at least one PEM certificate block (the client parses it for real).
fn contains_certificate(pem: &[u8]) -> bool {
    pem.windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|window| window == b"-----BEGIN CERTIFICATE-----")
}

/// The bundles of several AgentPools that share one client, each once, in order.
pub fn combine(bundles: Vec<Vec<u8>>) -> Option<Vec<u8>> {
    let mut combined: Vec<u8> = Vec::new();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    for bundle in bundles {
        if seen.contains(&bundle) {
            continue;
        }
        combined.extend_from_slice(&bundle);
        if !bundle.ends_with(b"\n") {
            combined.push(b'\n');
        }
        seen.push(bundle);
    }
    (!combined.is_empty()).then_some(combined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pem_certificates_count_and_bundles_combine_once_each() {
        assert!(contains_certificate(
            b"x\n-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"
        ));
        assert!(!contains_certificate(b"-----BEGIN PRIVATE KEY-----"));
        assert_eq!(combine(Vec::new()), None);
        assert_eq!(
            combine(vec![b"a".to_vec(), b"b\n".to_vec(), b"a".to_vec()]),
            Some(b"a\nb\n".to_vec())
        );
    }
}
