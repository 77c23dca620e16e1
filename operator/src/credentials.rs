//! How an AgentPool authenticates to Azure DevOps: its PAT Secret, or a Microsoft Entra
//! workload identity whose access token is obtained (and cached) by the operator.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use azp_ado::{Auth, Secret as AdoSecret};
use kube::Client;

use crate::crd::AgentPool;
use crate::entra::{EntraError, IdentityKey, WorkloadIdentitySource};
use crate::secrets::{PatError, read_pat};

/// What one group's Azure DevOps client authenticates with.
#[derive(Clone, Debug)]
pub enum Credential {
    /// A PAT (Basic auth).
    Pat(AdoSecret),
    /// Entra access tokens of a workload identity (Bearer).
    WorkloadIdentity(Arc<WorkloadIdentitySource>),
}

impl PartialEq for Credential {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Pat(a), Self::Pat(b)) => a == b,
            (Self::WorkloadIdentity(a), Self::WorkloadIdentity(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Credential {
    /// The client's authentication.
    pub fn auth(&self) -> Auth {
        match self {
            Self::Pat(pat) => Auth::Pat(pat.clone()),
            Self::WorkloadIdentity(source) => Auth::Bearer(source.clone()),
        }
    }
}

/// Why an AgentPool has no usable credential.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The PAT Secret is missing or unreadable.
    #[error(transparent)]
    Pat(#[from] PatError),
    /// `registration: pod` needs the PAT in the pod; workload identity has none.
    #[error(
        "spec.auth.workloadIdentity needs spec.registration: operator: with registration: pod a register init container runs config.sh with a PAT, and there is none"
    )]
    PodRegistration,
    /// No Entra access token.
    #[error(transparent)]
    Entra(#[from] EntraError),
}

impl CredentialError {
    /// The condition reason.
    pub fn reason(&self) -> crate::reason::Reason {
        match self {
            Self::Pat(error) => error.reason(),
            Self::PodRegistration => {
                crate::reason::Reason::WorkloadIdentityNeedsOperatorRegistration
            }
            Self::Entra(error) => error.reason(),
        }
    }
}

/// The operator's credentials: one token source per workload identity, kept across passes
/// so its cached access token is reused.
pub struct Credentials {
    kube: Client,
    http: reqwest::Client,
    authority: url::Url,
    sources: Mutex<HashMap<IdentityKey, Arc<WorkloadIdentitySource>>>,
}

impl Credentials {
    /// Credentials that exchange workload identity tokens at `authority`.
    pub fn new(kube: Client, authority: url::Url, http: reqwest::Client) -> Self {
        Self {
            kube,
            http,
            authority,
            sources: Mutex::default(),
        }
    }

    /// The credential of `pool`. For a workload identity this obtains (or reuses) an access
    /// token now, so that a refusal is reported on the AgentPool before anything is planned.
    pub async fn resolve(
        &self,
        pool: &AgentPool,
        namespace: &str,
    ) -> Result<Credential, CredentialError> {
        let Some(identity) = &pool.spec.auth.workload_identity else {
            return Ok(Credential::Pat(
                read_pat(&self.kube, pool, namespace).await?,
            ));
        };
        if !pool.spec.registration.is_minted() {
            return Err(CredentialError::PodRegistration);
        }
        let key = IdentityKey::new(namespace, identity);
        let source = {
            let mut sources = self
                .sources
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sources
                .entry(key.clone())
                .or_insert_with(|| {
                    Arc::new(WorkloadIdentitySource::new(
                        key,
                        self.kube.clone(),
                        self.http.clone(),
                        self.authority.clone(),
                    ))
                })
                .clone()
        };
        source.access_token().await?;
        Ok(Credential::WorkloadIdentity(source))
    }
}

/// What to do about an Azure DevOps refusal of a workload identity's token (appended to the
/// condition message).
pub fn workload_identity_hint(pool: &AgentPool, error: &azp_ado::AdoError) -> Option<String> {
    let identity = pool.spec.auth.workload_identity.as_ref()?;
    match error {
        azp_ado::AdoError::BadCredentials { .. } => Some(format!(
            " — fix: add the service principal of application {} to the organization (Organization settings → Users → Add users, access level Basic)",
            identity.client_id
        )),
        azp_ado::AdoError::AccessDenied { .. } => Some(format!(
            " — fix: make the service principal of application {} an Administrator of agent pool {:?} (Organization settings → Agent pools → {} → Security → Add, role Administrator)",
            identity.client_id, pool.spec.pool, pool.spec.pool
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pool(registration: &str) -> AgentPool {
        serde_json::from_value(json!({
            "apiVersion": "azp.dev/v1alpha1", "kind": "AgentPool",
            "metadata": {"name": "linux", "namespace": "ci"},
            "spec": {
                "organization": "https://dev.azure.com/contoso", "pool": "eks",
                "registration": registration,
                "auth": {"workloadIdentity": {
                    "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    "clientId": "0d9c2a5e-3c4b-4e7a-9f1d-6b2a8c3e5f70",
                    "serviceAccountName": "azp"}},
                "agent": {"image": "agent:1"}
            }
        }))
        .unwrap()
    }

    /// A CRD installed without its CEL rules lets `registration: pod` through: the operator
    /// refuses it before asking anyone for a token.
    #[tokio::test]
    async fn workload_identity_with_registration_pod_is_refused_with_its_reason() {
        let config = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let kube = Client::try_from(config).unwrap();
        let credentials = Credentials::new(
            kube,
            "http://127.0.0.1:1/".parse().unwrap(),
            reqwest::Client::new(),
        );
        let error = credentials.resolve(&pool("pod"), "ci").await.unwrap_err();
        assert_eq!(
            error.reason().as_str(),
            "WorkloadIdentityNeedsOperatorRegistration"
        );
        assert!(
            error.to_string().contains("registration: operator"),
            "{error}"
        );
    }

    #[test]
    fn hints_name_the_application_and_the_pool() {
        let pool = pool("operator");
        let denied = azp_ado::AdoError::AccessDenied {
            message: "Access denied.".into(),
        };
        let hint = workload_identity_hint(&pool, &denied).unwrap();
        assert!(
            hint.contains("0d9c2a5e-3c4b-4e7a-9f1d-6b2a8c3e5f70")
                && hint.contains("Administrator of agent pool \"eks\""),
            "{hint}"
        );
        let unauthorized = azp_ado::AdoError::BadCredentials { status: 401 };
        assert!(
            workload_identity_hint(&pool, &unauthorized)
                .unwrap()
                .contains("to the organization")
        );
    }
}
