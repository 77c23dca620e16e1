//! Amazon ECR: authorization tokens, the Docker `config.json` they are written to, and
//! repository creation.

pub mod client;
pub mod docker_config;
pub mod login;
pub mod token;

pub use client::{EcrClientSettings, RepositoryState, ecr_client, ensure_repository, fetch_token};
pub use docker_config::{
    BasicCredentials, DockerConfigError, read_registry_credentials, write_registry_auth,
};
pub use login::{LoginOptions, LoginOutcome, login, watch};
pub use token::{AuthToken, effective_expiry, needs_refresh, refresh_at};
