//! The aws-sdk-ecr client: default credential chain, optional VPC endpoint override.

use aws_sdk_ecr::error::{DisplayErrorContext, ProvideErrorMetadata as _};
use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};
use chrono::{DateTime, Utc};

use super::docker_config::DockerConfigError;
use super::token::{
    AuthToken, TokenError, effective_expiry, registry_host_from_proxy_endpoint, token_user,
};

/// How to reach the ECR API.
#[derive(Debug, Clone, Default)]
pub struct EcrClientSettings {
    /// ECR API endpoint URL, e.g. `https://vpce-….api.ecr.<region>.vpce.amazonaws.com` when the
    /// `ecr.api` VPC endpoint has private DNS off. `None` uses the SDK's own resolution (which
    /// also honours `AWS_ENDPOINT_URL_ECR`).
    pub api_endpoint: Option<String>,
    /// Region override; `None` uses the default chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
}

/// Errors talking to ECR or storing its credentials.
#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    /// An ECR API call failed (message includes the AWS error code; never credentials).
    #[error("ECR {operation} failed: {message}")]
    Api {
        /// API operation name.
        operation: &'static str,
        /// Error with its source chain.
        message: String,
    },
    /// `GetAuthorizationToken` returned no authorization data.
    #[error("ECR GetAuthorizationToken returned no authorization data")]
    NoAuthorizationData,
    /// The returned token or endpoint is malformed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Writing `config.json` failed.
    #[error(transparent)]
    DockerConfig(#[from] DockerConfigError),
}

/// Builds an ECR client from the default AWS configuration chain (env keys, profile, IRSA web
/// identity, EKS Pod Identity / ECS, instance metadata — in that order).
pub async fn ecr_client(settings: &EcrClientSettings) -> aws_sdk_ecr::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let sdk_config = loader.load().await;
    let mut builder = aws_sdk_ecr::config::Builder::from(&sdk_config);
    if let Some(endpoint) = &settings.api_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    aws_sdk_ecr::Client::from_conf(builder.build())
}

/// Calls `GetAuthorizationToken` and returns the token for the registry.
///
/// `registry_override` replaces the host from `proxyEndpoint` (which always names the public
/// `*.dkr.ecr.*.amazonaws.com` host) — for registries reached under another name, and tests.
pub async fn fetch_token(
    client: &aws_sdk_ecr::Client,
    registry_override: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AuthToken, EcrError> {
    let output = client
        .get_authorization_token()
        .send()
        .await
        .map_err(|error| api_error("GetAuthorizationToken", &error))?;
    let data = output
        .authorization_data()
        .first()
        .ok_or(EcrError::NoAuthorizationData)?;
    let auth = data
        .authorization_token()
        .ok_or(EcrError::NoAuthorizationData)?;
    token_user(auth)?;
    let registry_host = match registry_override {
        Some(host) => host.to_owned(),
        None => registry_host_from_proxy_endpoint(data.proxy_endpoint().unwrap_or_default())?,
    };
    let reported = data
        .expires_at()
        .and_then(|at| DateTime::from_timestamp(at.secs(), at.subsec_nanos()));
    Ok(AuthToken {
        registry_host,
        auth: auth.trim().to_owned(),
        expires_at: effective_expiry(reported, now),
    })
}

/// Whether [`ensure_repository`] found or made the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepositoryState {
    /// It was already there (settings untouched).
    Existed,
    /// It was created now.
    Created,
}

/// Creates the ECR repository `name` unless it exists. New repositories get scan-on-push as
/// requested and MUTABLE tags unless `immutable_tags` (an opt-in: immutable tags reject re-pushing
/// a tag such as `latest` or the build cache tag).
pub async fn ensure_repository(
    client: &aws_sdk_ecr::Client,
    name: &str,
    scan_on_push: bool,
    immutable_tags: bool,
) -> Result<RepositoryState, EcrError> {
    match client
        .describe_repositories()
        .repository_names(name)
        .send()
        .await
    {
        Ok(_) => return Ok(RepositoryState::Existed),
        Err(error) if error.code() == Some("RepositoryNotFoundException") => {}
        Err(error) => return Err(api_error("DescribeRepositories", &error)),
    }
    let mutability = if immutable_tags {
        ImageTagMutability::Immutable
    } else {
        ImageTagMutability::Mutable
    };
    let created = client
        .create_repository()
        .repository_name(name)
        .image_tag_mutability(mutability)
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(scan_on_push)
                .build(),
        )
        .send()
        .await;
    match created {
        Ok(_) => Ok(RepositoryState::Created),
        // Another job created it between our two calls.
        Err(error) if error.code() == Some("RepositoryAlreadyExistsException") => {
            Ok(RepositoryState::Existed)
        }
        Err(error) => Err(api_error("CreateRepository", &error)),
    }
}

fn api_error<E: std::error::Error>(operation: &'static str, error: &E) -> EcrError {
    EcrError::Api {
        operation,
        message: DisplayErrorContext(error).to_string(),
    }
}
