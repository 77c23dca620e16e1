//! Reading the PAT from the Secret an AgentPool references. The value never leaves
//! [`azp_ado::Secret`], whose `Debug`/`Display` print `***`.

use azp_ado::Secret as AdoSecret;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::crd::AgentPool;

/// Why the PAT could not be read; the messages name the Secret and key, never the value.
#[derive(Debug, thiserror::Error)]
pub enum PatError {
    /// `spec.auth.patSecretRef` is not set.
    #[error("spec.auth.patSecretRef is not set")]
    NotConfigured,
    /// The Secret does not exist.
    #[error("Secret {0:?} not found")]
    SecretNotFound(String),
    /// The key is missing or empty.
    #[error("Secret {secret:?} has no non-empty key {key:?}")]
    KeyNotFound {
        /// Secret name.
        secret: String,
        /// Key.
        key: String,
    },
    /// Reading the Secret failed.
    #[error("reading Secret {secret:?}: {source}")]
    Kube {
        /// Secret name.
        secret: String,
        /// Cause.
        source: kube::Error,
    },
}

impl PatError {
    /// Condition reason.
    pub fn reason(&self) -> crate::reason::Reason {
        use crate::reason::Reason;
        match self {
            Self::NotConfigured => Reason::NoCredentials,
            Self::SecretNotFound(_) => Reason::SecretNotFound,
            Self::KeyNotFound { .. } => Reason::SecretKeyNotFound,
            Self::Kube { .. } => Reason::SecretUnreadable,
        }
    }
}

/// The PAT of `pool`, trimmed of surrounding whitespace (a trailing newline from
/// `kubectl create secret --from-file` would otherwise break Basic auth).
pub async fn read_pat(
    client: &Client,
    pool: &AgentPool,
    namespace: &str,
) -> Result<AdoSecret, PatError> {
    let reference = pool
        .spec
        .auth
        .pat_secret_ref
        .as_ref()
        .ok_or(PatError::NotConfigured)?;
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(&reference.name)
        .await
        .map_err(|source| PatError::Kube {
            secret: reference.name.clone(),
            source,
        })?
        .ok_or_else(|| PatError::SecretNotFound(reference.name.clone()))?;
    let value = secret
        .data
        .as_ref()
        .and_then(|data| data.get(&reference.key))
        .and_then(|bytes| String::from_utf8(bytes.0.clone()).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
        .ok_or_else(|| PatError::KeyNotFound {
            secret: reference.name.clone(),
            key: reference.key.clone(),
        })?;
    Ok(AdoSecret::new(value))
}
