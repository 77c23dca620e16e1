//! A Microsoft Entra ID double: the v2.0 token endpoint's `client_credentials` grant with a
//! federated (workload identity) client assertion, and the access tokens it issues, which the
//! Azure DevOps routes accept for service principals registered with the organization.
//!
//! Applications, their federated identity credentials and their standing in the organization
//! are registered through the control API (`/_emulator/entra/...`), as an administrator would
//! in the Entra admin center and the organization settings.

pub mod control;
pub mod directory;
pub mod error;
pub mod token;

pub use directory::{Application, Directory, FederatedCredential};

/// Azure DevOps' resource (application) id: the only scope the emulator issues tokens for.
pub const AZURE_DEVOPS_RESOURCE: &str = "499b84ac-1321-427f-aa17-267ca6975798";
/// The audience Entra requires of a federated client assertion.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Whether `path` is the token endpoint (`/{tenant}/oauth2/v2.0/token`).
pub fn is_token_path(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(segments.as_slice(), [_, "oauth2", "v2.0", "token"])
}
