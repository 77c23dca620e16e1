//! One workload identity's access tokens: a [`TokenSource`] for the Azure DevOps client.

use std::time::Duration;

use azp_ado::{AdoError, BoxFuture, Secret, TokenSource};
use kube::Client;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::cache::CachedToken;
use super::error::EntraError;
use super::exchange::{Exchange, exchange};
use super::service_account_token;
use crate::crd::WorkloadIdentity;

/// Which identity a source stands for: AgentPools with the same key share its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentityKey {
    /// Namespace of the service account.
    pub namespace: String,
    /// Service account name.
    pub service_account: String,
    /// Tenant id, lower-cased.
    pub tenant_id: String,
    /// Application (client) id, lower-cased.
    pub client_id: String,
}

impl IdentityKey {
    /// The key of `identity` in `namespace`.
    pub fn new(namespace: &str, identity: &WorkloadIdentity) -> Self {
        Self {
            namespace: namespace.to_owned(),
            service_account: identity.service_account_name.clone(),
            tenant_id: identity.tenant_id.to_ascii_lowercase(),
            client_id: identity.client_id.to_ascii_lowercase(),
        }
    }

    /// `system:serviceaccount:<namespace>:<name>`: the federated credential's subject.
    pub fn subject(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }
}

struct Cached {
    token: CachedToken,
    lifetime: Duration,
}

/// Access tokens of one workload identity, fetched on demand and cached.
pub struct WorkloadIdentitySource {
    key: IdentityKey,
    kube: Client,
    http: reqwest::Client,
    authority: url::Url,
    cached: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for WorkloadIdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkloadIdentitySource")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl WorkloadIdentitySource {
    /// A source for `key`, exchanging at `authority`.
    pub fn new(key: IdentityKey, kube: Client, http: reqwest::Client, authority: url::Url) -> Self {
        Self {
            key,
            kube,
            http,
            authority,
            cached: Mutex::new(None),
        }
    }

    /// The identity.
    pub fn key(&self) -> &IdentityKey {
        &self.key
    }

    /// A valid access token: the cached one until shortly before it expires, else a new one
    /// (service account token → Entra). One caller refreshes at a time.
    pub async fn access_token(&self) -> Result<Secret, EntraError> {
        let mut cached = self.cached.lock().await;
        let now = Instant::now();
        if let Some(current) = cached.as_ref()
            && let Some(token) = current.token.fresh(now, current.lifetime)
        {
            return Ok(token.clone());
        }
        let assertion = service_account_token::request(
            &self.kube,
            &self.key.namespace,
            &self.key.service_account,
        )
        .await?;
        let subject = self.key.subject();
        let (token, lifetime) = exchange(
            &self.http,
            &Exchange {
                authority: &self.authority,
                tenant_id: &self.key.tenant_id,
                client_id: &self.key.client_id,
                assertion: &assertion,
                subject: &subject,
            },
        )
        .await?;
        tracing::info!(
            namespace = %self.key.namespace,
            service_account = %self.key.service_account,
            client_id = %self.key.client_id,
            expires_in_s = lifetime.as_secs(),
            "obtained a Microsoft Entra access token"
        );
        *cached = Some(Cached {
            token: CachedToken::new(token.clone(), now, lifetime),
            lifetime,
        });
        Ok(token)
    }
}

impl TokenSource for WorkloadIdentitySource {
    fn token(&self) -> BoxFuture<'_, Result<Secret, AdoError>> {
        Box::pin(async move {
            self.access_token().await.map_err(|e| AdoError::Token {
                message: e.to_string(),
            })
        })
    }
}
