//! Microsoft Entra workload identity: no PAT anywhere.
//!
//! For an AgentPool with `spec.auth.workloadIdentity`, the operator asks the Kubernetes
//! TokenRequest API for a short-lived token of the named service account (audience
//! `api://AzureADTokenExchange`), presents it to Entra's token endpoint as a federated client
//! assertion (`client_credentials`, scope Azure DevOps `/.default`), and calls Azure DevOps
//! with the access token it gets, cached until shortly before it expires.
//!
//! Why a small client of our own rather than `azure_identity` (checked 2026-12): the released
//! line (0.30, on azure_core/typespec_client_core 0.9) is built on reqwest 0.12 with native-tls
//! by default, a second HTTP/TLS stack beside the workspace's reqwest 0.13 on rustls/aws-lc-rs;
//! the 1.x line that moves to reqwest 0.13 and rustls is still a beta. Its
//! `WorkloadIdentityCredential` reads the assertion from a projected file, while the operator
//! gets it from the TokenRequest API (`ClientAssertionCredential` could take that), and the
//! conditions need Entra's `error_codes`, which its errors would have to be parsed back into.
//! The exchange itself is one form POST.

mod cache;
mod error;
mod exchange;
mod service_account_token;
mod source;

pub use cache::{CachedToken, REFRESH_MARGIN};
pub use error::EntraError;
pub use exchange::{AZURE_DEVOPS_SCOPE, DEFAULT_AUTHORITY, TOKEN_EXCHANGE_AUDIENCE};
pub use source::{IdentityKey, WorkloadIdentitySource};
