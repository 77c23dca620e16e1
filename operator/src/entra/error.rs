//! Why no access token could be obtained, with the fix the user needs. Never carries a token.

/// A failure to obtain an Entra access token for an AgentPool.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EntraError {
    /// The TokenRequest API refused (no such service account, no RBAC, ...).
    #[error(
        "could not get a token for service account {namespace}/{name}: {message}; create the service account in the AgentPool's namespace, and grant the operator create on serviceaccounts/token (chart: workloadIdentity.enabled=true)"
    )]
    ServiceAccountToken {
        /// Namespace.
        namespace: String,
        /// Service account name.
        name: String,
        /// The API server's message.
        message: String,
    },
    /// Entra answered with an AADSTS error.
    #[error("Microsoft Entra refused the token exchange: AADSTS{code}: {description}{}", fix_for(*code, client_id, subject))]
    Refused {
        /// The AADSTS number.
        code: u32,
        /// Entra's description (first sentence; trace ids cut off).
        description: String,
        /// The application (client) id.
        client_id: String,
        /// The subject the assertion carried.
        subject: String,
    },
    /// Entra could not be reached or answered something unexpected.
    #[error("could not reach Microsoft Entra: {0}")]
    Transport(String),
    /// The authority URL is unusable.
    #[error("--entra-authority: {0}")]
    Authority(String),
}

impl EntraError {
    /// The condition reason: the AADSTS code itself when Entra gave one.
    pub fn reason(&self) -> crate::reason::Reason {
        use crate::reason::Reason;
        match self {
            Self::ServiceAccountToken { .. } => Reason::ServiceAccountTokenFailed,
            Self::Refused { code, .. } => Reason::Entra(*code),
            Self::Transport(_) => Reason::EntraUnreachable,
            Self::Authority(_) => Reason::EntraAuthorityInvalid,
        }
    }

    /// Whether a later attempt may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transport(_))
    }
}

/// What to change for the codes users meet when setting up workload identity.
fn fix_for(code: u32, client_id: &str, subject: &str) -> String {
    match code {
        700211 => format!(
            " — fix: add a federated credential to application {client_id} whose issuer is this cluster's OIDC issuer URL (aws eks describe-cluster --query cluster.identity.oidc.issuer)"
        ),
        700213 => format!(
            " — fix: add a federated credential to application {client_id} with subject {subject:?}"
        ),
        700212 => format!(
            " — fix: the federated credential of application {client_id} must accept audience api://AzureADTokenExchange"
        ),
        700024 => " — fix: the service account token expired before Entra saw it; check the clocks of the cluster and this node".into(),
        700016 | 7000215 => format!(
            " — fix: check spec.auth.workloadIdentity.clientId ({client_id}) and tenantId: the application must exist in that tenant"
        ),
        90002 => " — fix: check spec.auth.workloadIdentity.tenantId".into(),
        700027 => " — fix: the cluster's signing keys changed or the issuer URL points at another cluster; check the federated credential's issuer".into(),
        _ => String::new(),
    }
}
