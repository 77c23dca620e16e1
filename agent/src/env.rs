//! Environment variable names the agent reads.
//!
//! Names that cross the pod boundary (the operator sets them) come from `azp-contract`; the
//! rest are standard tool/SDK names or agent-local knobs. The only pod-level name the contract
//! does not define yet is [`EXPECT_IDENTITY`]; it lives here until it moves there.

use azp_contract::env as contract;

/// ECR registry host the agent logs in to and pushes to, e.g. `<acct>.dkr.ecr.<region>.amazonaws.com`.
pub const ECR_REGISTRY: &str = contract::ECR_REGISTRY;
/// ECR API endpoint override (a VPC endpoint URL when private DNS is off). The AWS SDK's own
/// `AWS_ENDPOINT_URL_ECR` also works when this is unset.
pub const ECR_API_ENDPOINT: &str = contract::ECR_API_ENDPOINT;
/// AWS region of the registry.
pub const ECR_REGION: &str = contract::ECR_REGION;
/// `true` when ECR must be reached only through private (VPC endpoint) addresses.
pub const REQUIRE_PRIVATE_ENDPOINT: &str = contract::REQUIRE_PRIVATE_ENDPOINT;
/// The AWS identity source the operator wired into the pod: `irsa`, `pod-identity`, `static` or `any`.
/// Not in `azp-contract` yet.
pub const EXPECT_IDENTITY: &str = "AZP_EXPECT_IDENTITY";
/// S3 host (optionally `host:port`) serving ECR image layers; overrides the regional default.
pub const S3_LAYER_HOST: &str = "AZP_S3_LAYER_HOST";
/// Azure DevOps organization or collection URL.
pub const AZP_URL: &str = contract::ORGANIZATION_URL;
/// Azure DevOps agent pool name.
pub const AZP_POOL: &str = contract::POOL;
/// Path of the mounted PAT file.
pub const PAT_FILE: &str = contract::PAT_FILE;
/// PEM CA bundle for a private-CA Azure DevOps Server.
pub const CA_BUNDLE_FILE: &str = contract::CA_BUNDLE_FILE;
/// BuildKit daemon address (standard BuildKit name), e.g. `unix:///run/buildkit/buildkitd.sock`.
pub const BUILDKIT_HOST: &str = contract::BUILDKIT_HOST;
/// The AgentPool's build cache setting (`spec.buildkit.cache`), the default of `build-push --cache`.
pub const BUILDKIT_CACHE: &str = contract::BUILDKIT_CACHE;
/// Client certificate directory for a remote BuildKit (`buildctl --tlsdir`).
pub const BUILDKIT_TLS_DIR: &str = contract::BUILDKIT_TLS_DIR;
/// Directory holding the Docker client `config.json` (standard Docker name).
pub const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
/// Path of the Docker CLI used by `build-push --builder docker`.
pub const DOCKER_BIN: &str = "AZP_DOCKER_BIN";
/// Path of `buildctl` used by `build-push --builder buildkit`.
pub const BUILDCTL_BIN: &str = "AZP_BUILDCTL_BIN";
/// Allow plain-HTTP registry access (loopback registries in tests only).
pub const REGISTRY_PLAIN_HTTP: &str = "AZP_REGISTRY_PLAIN_HTTP";

/// AWS SDK: static access key id (the "static keys" identity source).
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// AWS SDK: static secret key.
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// AWS SDK / IRSA: projected service-account token file.
pub const AWS_WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
/// AWS SDK / IRSA: role to assume with the web identity token.
pub const AWS_ROLE_ARN: &str = "AWS_ROLE_ARN";
/// AWS SDK / EKS Pod Identity: credentials endpoint.
pub const AWS_CONTAINER_CREDENTIALS_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// AWS SDK / EKS Pod Identity: token file sent as `Authorization`.
pub const AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
/// AWS SDK: ECS task role credentials (relative URI); same provider as Pod Identity.
pub const AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
/// AWS SDK: disables the instance metadata credential source when `true`.
pub const AWS_EC2_METADATA_DISABLED: &str = "AWS_EC2_METADATA_DISABLED";
/// AWS SDK: named profile.
pub const AWS_PROFILE: &str = "AWS_PROFILE";
