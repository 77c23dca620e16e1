//! The condition reasons: one vocabulary for status, Events and metric labels.
//!
//! Every reason an AgentPool's conditions can carry is a variant here, and the README's
//! "Troubleshooting by condition reason" table lists each one with what to do (a test checks
//! both ways). Errors map to a reason with `From`, exhaustively, so a new error variant
//! cannot reach a condition without a reason of its own.

use std::borrow::Cow;
use std::fmt;

use azp_ado::AdoError;

/// Why a condition is what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    // All is well.
    /// `Ready`: the queue was polled and the plan applied.
    Serving,
    /// `AzureDevOpsReachable`: the last poll succeeded.
    Polled,
    /// `Degraded=False`.
    AsExpected,
    /// `BuildkitUnavailable=False`: a pod got past its BuildKit preflight.
    Answering,

    // Degraded while serving.
    /// Live pods still Pending after the startup warning time.
    PodsNotStarting,
    /// Pending jobs demand what no AgentPool of the pool offers.
    UnservableJobs,
    /// Agent pods of the current spec end before taking a job.
    PodsFailing,
    /// Agent pods fail their preflight because the BuildKit sidecar never answers.
    SidecarNotAnswering,
    /// `AzureDevOpsReachable=Unknown`: not polled until the AgentPool is fixed.
    NotPolled,

    // The AgentPool itself.
    /// The organization URL is refused (not https).
    OrganizationRefused,
    /// The spec cannot be planned.
    InvalidSpec,
    /// `spec.template` cannot be turned into a pod.
    InvalidTemplate,
    /// The operator could not mint a registration.
    RegistrationFailed,
    /// A Kubernetes write (pod, registration Secret) failed.
    KubernetesWriteFailed,
    /// Neither a PAT Secret nor workload identity is configured.
    NoCredentials,
    /// The PAT Secret does not exist.
    SecretNotFound,
    /// The PAT Secret has no such key.
    SecretKeyNotFound,
    /// The PAT Secret could not be read.
    SecretUnreadable,
    /// Workload identity with `registration: pod`.
    WorkloadIdentityNeedsOperatorRegistration,
    /// The TokenRequest API refused a service-account token.
    ServiceAccountTokenFailed,
    /// Microsoft Entra could not be reached.
    EntraUnreachable,
    /// `--entra-authority` is unusable.
    EntraAuthorityInvalid,
    /// Microsoft Entra refused the token exchange with this `AADSTS` code.
    Entra(u32),
    /// `spec.caBundle` names neither a Secret nor a ConfigMap.
    CaBundleNotConfigured,
    /// The CA bundle's Secret or ConfigMap does not exist.
    CaBundleNotFound,
    /// The CA bundle holds no PEM certificate under the key.
    CaBundleInvalid,
    /// The CA bundle could not be read.
    CaBundleUnreadable,

    // Azure DevOps answers (`AdoError`).
    /// The client could not be configured (organization URL).
    InvalidConfig,
    /// 401 or 203: expired or revoked credentials.
    BadCredentials,
    /// 403.
    AccessDenied,
    /// No agent pool with that name.
    PoolNotFound,
    /// More than one agent pool matches.
    AmbiguousPool,
    /// An agent the operator acted on is gone.
    AgentNotFound,
    /// An agent with that name is already registered.
    AgentExists,
    /// An agent the operator acted on is running a job.
    AgentBusy,
    /// A job request is gone.
    JobNotFound,
    /// Azure DevOps refused a request with a service error.
    ServiceError,
    /// Azure DevOps throttles this identity.
    RateLimited,
    /// 5xx.
    Unavailable,
    /// No answer in time.
    Timeout,
    /// The connection failed (DNS, TLS, proxy).
    TransportError,
    /// An answer the client could not decode.
    UnexpectedResponse,
    /// The job-request list is larger than `--max-job-list-bytes`.
    JobListTooLarge,
    /// The access token could not be obtained.
    TokenError,
}

impl Reason {
    /// Every reason; [`Reason::Entra`] stands for all its codes.
    pub const ALL: &[Reason] = &[
        Reason::Serving,
        Reason::Polled,
        Reason::AsExpected,
        Reason::Answering,
        Reason::PodsNotStarting,
        Reason::UnservableJobs,
        Reason::PodsFailing,
        Reason::SidecarNotAnswering,
        Reason::NotPolled,
        Reason::OrganizationRefused,
        Reason::InvalidSpec,
        Reason::InvalidTemplate,
        Reason::RegistrationFailed,
        Reason::KubernetesWriteFailed,
        Reason::NoCredentials,
        Reason::SecretNotFound,
        Reason::SecretKeyNotFound,
        Reason::SecretUnreadable,
        Reason::WorkloadIdentityNeedsOperatorRegistration,
        Reason::ServiceAccountTokenFailed,
        Reason::EntraUnreachable,
        Reason::EntraAuthorityInvalid,
        Reason::Entra(0),
        Reason::CaBundleNotConfigured,
        Reason::CaBundleNotFound,
        Reason::CaBundleInvalid,
        Reason::CaBundleUnreadable,
        Reason::InvalidConfig,
        Reason::BadCredentials,
        Reason::AccessDenied,
        Reason::PoolNotFound,
        Reason::AmbiguousPool,
        Reason::AgentNotFound,
        Reason::AgentExists,
        Reason::AgentBusy,
        Reason::JobNotFound,
        Reason::ServiceError,
        Reason::RateLimited,
        Reason::Unavailable,
        Reason::Timeout,
        Reason::TransportError,
        Reason::UnexpectedResponse,
        Reason::JobListTooLarge,
        Reason::TokenError,
    ];

    /// The CamelCase name Kubernetes shows (`AADSTS<code>` for Entra's refusals).
    pub fn as_str(&self) -> Cow<'static, str> {
        let name = match self {
            Reason::Entra(code) => return Cow::Owned(format!("AADSTS{code}")),
            Reason::Serving => "Serving",
            Reason::Polled => "Polled",
            Reason::AsExpected => "AsExpected",
            Reason::Answering => "Answering",
            Reason::PodsNotStarting => "PodsNotStarting",
            Reason::UnservableJobs => "UnservableJobs",
            Reason::PodsFailing => "PodsFailing",
            Reason::SidecarNotAnswering => "SidecarNotAnswering",
            Reason::NotPolled => "NotPolled",
            Reason::OrganizationRefused => "OrganizationRefused",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::InvalidTemplate => "InvalidTemplate",
            Reason::RegistrationFailed => "RegistrationFailed",
            Reason::KubernetesWriteFailed => "KubernetesWriteFailed",
            Reason::NoCredentials => "NoCredentials",
            Reason::SecretNotFound => "SecretNotFound",
            Reason::SecretKeyNotFound => "SecretKeyNotFound",
            Reason::SecretUnreadable => "SecretUnreadable",
            Reason::WorkloadIdentityNeedsOperatorRegistration => {
                "WorkloadIdentityNeedsOperatorRegistration"
            }
            Reason::ServiceAccountTokenFailed => "ServiceAccountTokenFailed",
            Reason::EntraUnreachable => "EntraUnreachable",
            Reason::EntraAuthorityInvalid => "EntraAuthorityInvalid",
            Reason::CaBundleNotConfigured => "CaBundleNotConfigured",
            Reason::CaBundleNotFound => "CaBundleNotFound",
            Reason::CaBundleInvalid => "CaBundleInvalid",
            Reason::CaBundleUnreadable => "CaBundleUnreadable",
            Reason::InvalidConfig => "InvalidConfig",
            Reason::BadCredentials => "BadCredentials",
            Reason::AccessDenied => "AccessDenied",
            Reason::PoolNotFound => "PoolNotFound",
            Reason::AmbiguousPool => "AmbiguousPool",
            Reason::AgentNotFound => "AgentNotFound",
            Reason::AgentExists => "AgentExists",
            Reason::AgentBusy => "AgentBusy",
            Reason::JobNotFound => "JobNotFound",
            Reason::ServiceError => "ServiceError",
            Reason::RateLimited => "RateLimited",
            Reason::Unavailable => "Unavailable",
            Reason::Timeout => "Timeout",
            Reason::TransportError => "TransportError",
            Reason::UnexpectedResponse => "UnexpectedResponse",
            Reason::JobListTooLarge => "JobListTooLarge",
            Reason::TokenError => "TokenError",
        };
        Cow::Borrowed(name)
    }

    /// The reason Kubernetes shows as `name`, if it is one of ours.
    pub fn parse(name: &str) -> Option<Reason> {
        if let Some(code) = name.strip_prefix("AADSTS") {
            return code.parse().ok().map(Reason::Entra);
        }
        Reason::ALL
            .iter()
            .copied()
            .find(|reason| !matches!(reason, Reason::Entra(_)) && reason.as_str() == name)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl From<&AdoError> for Reason {
    fn from(error: &AdoError) -> Self {
        match error {
            AdoError::InvalidConfig { .. } => Reason::InvalidConfig,
            AdoError::BadCredentials { .. } => Reason::BadCredentials,
            AdoError::AccessDenied { .. } => Reason::AccessDenied,
            AdoError::PoolNotFound { .. } => Reason::PoolNotFound,
            AdoError::AmbiguousPool { .. } => Reason::AmbiguousPool,
            AdoError::AgentNotFound { .. } => Reason::AgentNotFound,
            AdoError::AgentExists { .. } => Reason::AgentExists,
            AdoError::AgentBusy { .. } => Reason::AgentBusy,
            AdoError::JobNotFound { .. } => Reason::JobNotFound,
            AdoError::Service { .. } => Reason::ServiceError,
            AdoError::RateLimited { .. } => Reason::RateLimited,
            AdoError::Unavailable { .. } => Reason::Unavailable,
            AdoError::Timeout { .. } => Reason::Timeout,
            AdoError::Transport { .. } => Reason::TransportError,
            AdoError::Decode { .. } => Reason::UnexpectedResponse,
            AdoError::JobListTooLarge { .. } => Reason::JobListTooLarge,
            AdoError::Token { .. } => Reason::TokenError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_is_listed_once_and_names_round_trip() {
        for reason in Reason::ALL {
            // Exhaustive: a new variant fails to compile here until it is considered.
            match reason {
                Reason::Serving
                | Reason::Polled
                | Reason::AsExpected
                | Reason::Answering
                | Reason::PodsNotStarting
                | Reason::UnservableJobs
                | Reason::PodsFailing
                | Reason::SidecarNotAnswering
                | Reason::NotPolled
                | Reason::OrganizationRefused
                | Reason::InvalidSpec
                | Reason::InvalidTemplate
                | Reason::RegistrationFailed
                | Reason::KubernetesWriteFailed
                | Reason::NoCredentials
                | Reason::SecretNotFound
                | Reason::SecretKeyNotFound
                | Reason::SecretUnreadable
                | Reason::WorkloadIdentityNeedsOperatorRegistration
                | Reason::ServiceAccountTokenFailed
                | Reason::EntraUnreachable
                | Reason::EntraAuthorityInvalid
                | Reason::Entra(_)
                | Reason::CaBundleNotConfigured
                | Reason::CaBundleNotFound
                | Reason::CaBundleInvalid
                | Reason::CaBundleUnreadable
                | Reason::InvalidConfig
                | Reason::BadCredentials
                | Reason::AccessDenied
                | Reason::PoolNotFound
                | Reason::AmbiguousPool
                | Reason::AgentNotFound
                | Reason::AgentExists
                | Reason::AgentBusy
                | Reason::JobNotFound
                | Reason::ServiceError
                | Reason::RateLimited
                | Reason::Unavailable
                | Reason::Timeout
                | Reason::TransportError
                | Reason::UnexpectedResponse
                | Reason::JobListTooLarge
                | Reason::TokenError => {}
            }
            let name = reason.as_str();
            assert_eq!(Reason::parse(&name), Some(*reason), "{name}");
            assert_eq!(
                Reason::ALL.iter().filter(|r| r.as_str() == name).count(),
                1,
                "{name} listed twice"
            );
        }
        assert_eq!(Reason::Entra(700213).as_str(), "AADSTS700213");
        assert_eq!(Reason::parse("AADSTS700213"), Some(Reason::Entra(700213)));
        assert_eq!(Reason::parse("Nonsense"), None);
    }

    #[test]
    fn azure_devops_errors_keep_the_names_the_ado_client_gives_them() {
        let errors = [AdoError::RateLimited { retry_after: None }];
        for error in &errors {
            assert_eq!(Reason::from(error).as_str(), error.reason());
        }
    }
}
