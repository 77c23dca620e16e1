//! A short-lived token of the AgentPool's service account, from the TokenRequest API.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::PostParams;
use kube::{Api, Client};

use super::error::EntraError;
use super::exchange::TOKEN_EXCHANGE_AUDIENCE;
use azp_ado::Secret;

/// The shortest lifetime the API server grants: the token is used once, at once.
const LIFETIME_SECONDS: i64 = 600;

/// Requests a token of `namespace/name` for Entra's token exchange.
pub async fn request(client: &Client, namespace: &str, name: &str) -> Result<Secret, EntraError> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![TOKEN_EXCHANGE_AUDIENCE.to_owned()],
            expiration_seconds: Some(LIFETIME_SECONDS),
            ..Default::default()
        },
        ..Default::default()
    };
    let failed = |message: String| EntraError::ServiceAccountToken {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        message,
    };
    let answer = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .map_err(|e| match e {
            kube::Error::Api(status) => failed(status.message),
            other => failed(other.to_string()),
        })?;
    let token = answer
        .status
        .map(|s| s.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| failed("the answer carried no token".into()))?;
    Ok(Secret::new(token))
}
