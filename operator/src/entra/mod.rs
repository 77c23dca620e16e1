//! Microsoft Entra workload identity: no PAT anywhere.
//!
//! For an AgentPool with `spec.auth.workloadIdentity`, the operator asks the Kubernetes
//! TokenRequest API for a short-lived token of the named service account (audience
//! `api://AzureADTokenExchange`), presents it to Entra's token endpoint as a federated client
//! assertion (`client_credentials`, scope Azure DevOps `/.default`), and calls Azure DevOps
//! with the access token it gets, cached until shortly before it expires.
//!
//! Why a small client of our own rather than `azure_identity`: the exchange is one form POST,
//! the assertion must come from the TokenRequest API (not a projected file, which is what
//! `WorkloadIdentityCredential` reads) and the operator must stay on the workspace's one HTTP
//! and TLS stack (reqwest 0.13 on rustls/aws-lc-rs, shared with `azp-ado`), which the Azure
//! SDK's own HTTP pipeline does not share.

mod cache;
mod error;
mod exchange;
mod service_account_token;
mod source;

pub use cache::{CachedToken, REFRESH_MARGIN};
pub use error::EntraError;
pub use exchange::{AZURE_DEVOPS_SCOPE, DEFAULT_AUTHORITY, TOKEN_EXCHANGE_AUDIENCE};
pub use source::{IdentityKey, WorkloadIdentitySource};
