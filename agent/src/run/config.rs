//! `azp-agent run` settings: flags and environment, validated before anything else happens.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::RunArgs;
use crate::ecr::{EcrClientSettings, LoginOptions};
use crate::preflight::ado::AdoSettings;
use crate::preflight::plan::PreflightSettings;

use super::agent_env::AgentEnvironment;
use super::secret::{Pat, PatFileError};

/// A setting that makes `run` refuse to start (exit code `CONFIG_ERROR`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is missing.
    #[error("{what} is not set: {fix}")]
    Missing {
        /// The setting.
        what: &'static str,
        /// How to set it.
        fix: &'static str,
    },
    /// The PAT file is missing, unreadable or empty.
    #[error(transparent)]
    Pat(#[from] PatFileError),
    /// The capabilities JSON is not an object of strings with usable names.
    #[error("AZP_CAPABILITIES is not a JSON object of strings with variable-safe names: {0}")]
    Capabilities(String),
    /// The agent home lacks `config.sh` or `run.sh`.
    #[error("{0} is missing: set AZP_AGENT_HOME to the directory of the Azure Pipelines agent")]
    AgentScript(PathBuf),
}

/// Everything `run` needs, validated.
#[derive(Debug)]
pub struct RunSettings {
    /// Organization or collection URL.
    pub url: String,
    /// Pool name.
    pub pool: String,
    /// Agent name (the pod name).
    pub agent_name: String,
    /// Directory with `config.sh` and `run.sh`.
    pub agent_home: PathBuf,
    /// Job work directory.
    pub work_dir: PathBuf,
    /// CA bundle for `--sslcacert`.
    pub ca_bundle: Option<PathBuf>,
    /// The PAT, read once.
    pub pat: Pat,
    /// Environment of the agent processes (without the PAT).
    pub agent_env: AgentEnvironment,
    /// Where the termination message goes.
    pub termination_log: PathBuf,
    /// How long a running job may take to stop after SIGTERM.
    pub grace_period: Duration,
    /// `config.sh remove` attempts.
    pub deregister_attempts: u32,
    /// First pause between deregistration attempts (doubles, capped at 30 s).
    pub deregister_backoff: Duration,
    /// Preflight settings; `None` when skipped.
    pub preflight: Option<PreflightSettings>,
    /// Whether preflight checks the AWS identity: only when ECR is configured or an identity
    /// was asked for explicitly (without either, a pod without AWS access is fine).
    pub check_aws_identity: bool,
    /// ECR login; `None` when ECR is not configured or skipped.
    pub ecr: Option<LoginOptions>,
    /// http:// allowed (tests only).
    pub allow_insecure_http: bool,
}

impl RunSettings {
    /// Validates `args`; `inherited` is the process environment (for the agent processes and
    /// the AWS region fallback).
    pub fn from_args(args: RunArgs, inherited: Vec<(String, String)>) -> Result<Self, ConfigError> {
        let url = non_empty(args.url).ok_or(ConfigError::Missing {
            what: "AZP_URL",
            fix: "set it to the organization or collection URL",
        })?;
        let pool = non_empty(args.pool).ok_or(ConfigError::Missing {
            what: "AZP_POOL",
            fix: "set it to the agent pool name",
        })?;
        let agent_name = non_empty(args.agent_name)
            .or_else(|| non_empty(args.pod_name))
            .ok_or(ConfigError::Missing {
                what: "AZP_AGENT_NAME (or AZP_POD_NAME)",
                fix: "set it to the pod name (downward API metadata.name)",
            })?;
        for script in ["config.sh", "run.sh"] {
            let path = args.agent_home.join(script);
            if !path.is_file() {
                return Err(ConfigError::AgentScript(path));
            }
        }
        let pat = Pat::read_file(&args.token_file)?;
        let capabilities = parse_capabilities(args.capabilities.as_deref())?;
        let lookup = |name: &str| {
            inherited
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let region = args
            .api
            .region
            .clone()
            .or_else(|| lookup("AWS_REGION"))
            .or_else(|| lookup("AWS_DEFAULT_REGION"));
        let ecr_configured = args.api.region.is_some() && args.registry.is_some();
        let ecr = (ecr_configured && !args.skip_ecr_login).then(|| LoginOptions {
            client: EcrClientSettings {
                api_endpoint: args.api.api_endpoint.clone(),
                region: args.api.region.clone(),
            },
            registry: args.registry.clone(),
            docker_config_dir: args.docker_config.clone(),
        });
        let check_aws_identity = ecr_configured
            || args.expect_identity != crate::preflight::identity::ExpectedIdentity::Any;
        let work_dir = std::path::absolute(&args.work).unwrap_or(args.work);
        let preflight = (!args.skip_preflight).then(|| PreflightSettings {
            require_private_endpoint: args.require_private_endpoint,
            region,
            api_endpoint: args.api.api_endpoint.clone(),
            registry: args.registry.clone(),
            s3_layer_host: args.s3_layer_host.clone(),
            expect_identity: args.expect_identity,
            // Without ECR there is nothing to push with, so a missing AWS identity is no failure.
            probe_credentials: ecr_configured,
            buildkit_host: args.buildkit_host.clone(),
            ado: AdoSettings {
                url: Some(url.clone()),
                pool: Some(pool.clone()),
                pat_file: Some(args.token_file.clone()),
                ca_bundle_file: args.ca_bundle.clone(),
                allow_insecure_http: args.allow_insecure_http,
            },
            timeout: Duration::from_secs(args.preflight_timeout),
        });
        let agent_env = AgentEnvironment::build(
            inherited,
            &args.pass_env,
            &capabilities,
            args.allow_insecure_http,
        );
        Ok(Self {
            url,
            pool,
            agent_name,
            agent_home: args.agent_home,
            work_dir,
            ca_bundle: args.ca_bundle,
            pat,
            agent_env,
            termination_log: args.termination_log,
            grace_period: Duration::from_secs(args.grace_period),
            deregister_attempts: args.deregister_attempts.max(1),
            deregister_backoff: Duration::from_secs(1),
            preflight,
            check_aws_identity,
            ecr,
            allow_insecure_http: args.allow_insecure_http,
        })
    }

    /// `DIR/config.sh`.
    pub fn config_script(&self) -> PathBuf {
        self.agent_home.join("config.sh")
    }

    /// `DIR/run.sh`.
    pub fn run_script(&self) -> PathBuf {
        self.agent_home.join("run.sh")
    }

    /// The agent's log directory.
    pub fn diag_dir(&self) -> PathBuf {
        self.agent_home.join("_diag")
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// `{"name":"value",...}`; names must be usable as environment variable names.
pub fn parse_capabilities(json: Option<&str>) -> Result<BTreeMap<String, String>, ConfigError> {
    let Some(json) = json.map(str::trim).filter(|json| !json.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let map: BTreeMap<String, String> =
        serde_json::from_str(json).map_err(|err| ConfigError::Capabilities(err.to_string()))?;
    if let Some(bad) = map
        .iter()
        .find(|(name, value)| name.is_empty() || name.contains(['=', '\0']) || value.contains('\0'))
    {
        return Err(ConfigError::Capabilities(format!(
            "unusable capability name {:?}",
            bad.0
        )));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_must_be_an_object_of_strings() {
        let caps = parse_capabilities(Some(r#"{"buildkit":"true","java":"17"}"#)).unwrap();
        assert_eq!(caps.get("java").map(String::as_str), Some("17"));
        assert!(parse_capabilities(Some(r#"{"n":1}"#)).is_err());
        assert!(parse_capabilities(Some(r#"["a"]"#)).is_err());
        assert!(parse_capabilities(Some(r#"{"A=B":"x"}"#)).is_err());
        assert!(parse_capabilities(None).unwrap().is_empty());
    }
}
