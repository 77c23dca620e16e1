//! `azp-agent run` settings: flags and environment, validated before anything else happens.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::RunArgs;
use crate::ecr::{EcrClientSettings, LoginOptions};
use crate::preflight::ado::AdoSettings;
use crate::preflight::plan::{ADO_CHECK, BUILDKIT_CHECK, PreflightSettings};

use super::agent_env::AgentEnvironment;
use super::handoff;
use super::secret::{Pat, PatFileError};

/// The subcommand the settings are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `azp-agent register`.
    Register,
    /// `azp-agent run`.
    Run,
}

/// How this process gets its registration, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `register` in the pod's init container: preflight, `config.sh` with the PAT, hand the
    /// files over; removes only a registration it could not hand over.
    Register,
    /// `run` with a registration handed over in the registration directory: no PAT at all,
    /// so nothing to deregister with; the operator removes the registration once the pod has
    /// finished.
    RunRegistered,
    /// `run` on its own (no handed-over registration, a PAT file): register, run and
    /// deregister in one process, the single-container shape.
    RunSelfRegistering,
}

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
    /// `run` found neither a handed-over registration nor a usable PAT file.
    #[error(
        "no registration in {dir} (the operator's registration Secret or the register init container puts it there) and no usable PAT file: {pat}"
    )]
    NoRegistration {
        /// The registration directory.
        dir: PathBuf,
        /// Why the PAT file could not be used.
        pat: PatFileError,
    },
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
    /// How the registration is obtained.
    pub mode: Mode,
    /// The PAT, read once; `None` when running a handed-over registration.
    pub pat: Option<Pat>,
    /// Where `register` leaves the registration files and `run` takes them from.
    pub registration_dir: PathBuf,
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
    /// Validates `run` arguments; `inherited` is the process environment (for the agent
    /// processes and the AWS region fallback).
    pub fn from_args(args: RunArgs, inherited: Vec<(String, String)>) -> Result<Self, ConfigError> {
        Self::for_role(Role::Run, args, inherited)
    }

    /// Validates the arguments of `role`; `inherited` is the process environment.
    pub fn for_role(
        role: Role,
        args: RunArgs,
        inherited: Vec<(String, String)>,
    ) -> Result<Self, ConfigError> {
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
        let (mode, pat) = match role {
            Role::Register => (Mode::Register, Some(Pat::read_file(&args.token_file)?)),
            // A handed-over registration wins: the PAT file is then not even looked at, so
            // the job's container needs no PAT.
            Role::Run if handoff::is_present(&args.registration_dir) => (Mode::RunRegistered, None),
            Role::Run => match Pat::read_file(&args.token_file) {
                Ok(pat) => (Mode::RunSelfRegistering, Some(pat)),
                Err(pat) => {
                    return Err(ConfigError::NoRegistration {
                        dir: args.registration_dir.clone(),
                        pat,
                    });
                }
            },
        };
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
            buildkit_wait: Duration::from_secs(args.buildkit_wait),
            left_to_others: left_to_others(mode),
            ado: AdoSettings {
                url: Some(url.clone()),
                pool: Some(pool.clone()),
                pat_file: Some(args.token_file.clone()),
                ca_bundle_file: args.ca_bundle.clone(),
                allow_insecure_http: args.allow_insecure_http,
            },
            timeout: Duration::from_secs(args.preflight_timeout),
        });
        // The operator's list (every `spec.agent.env` entry) and the command line's both count.
        let mut pass_env = args.pass_env.clone();
        pass_env.extend(
            inherited
                .iter()
                .filter(|(name, _)| name == azp_contract::env::PASS_ENV)
                .flat_map(|(_, names)| azp_contract::agent_env::parse_pass_env(names)),
        );
        let agent_env = AgentEnvironment::build(
            inherited,
            &pass_env,
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
            mode,
            pat,
            registration_dir: args.registration_dir,
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

/// The preflight checks a role leaves to the pod's other container, and why.
fn left_to_others(mode: Mode) -> Vec<(&'static str, &'static str)> {
    match mode {
        // The BuildKit sidecar starts after the register init container.
        Mode::Register => vec![(
            BUILDKIT_CHECK,
            "checked by the agent container: the BuildKit sidecar starts after this register init container",
        )],
        // The Azure DevOps check needs the PAT, which only `register` holds; it ran there.
        Mode::RunRegistered => vec![(
            ADO_CHECK,
            "checked by the register init container, which holds the PAT; this container has none",
        )],
        Mode::RunSelfRegistering => Vec::new(),
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
    use clap::Parser as _;

    /// A temp dir with an agent home, a PAT file and an empty registration directory.
    struct Pod {
        dir: tempfile::TempDir,
    }

    impl Pod {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("home")).unwrap();
            std::fs::create_dir_all(dir.path().join("registration")).unwrap();
            for script in ["config.sh", "run.sh"] {
                std::fs::write(dir.path().join("home").join(script), "").unwrap();
            }
            std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
            Self { dir }
        }

        fn path(&self, name: &str) -> String {
            self.dir.path().join(name).display().to_string()
        }

        fn settings(&self, subcommand: &str) -> Result<RunSettings, ConfigError> {
            let cli = crate::cli::Cli::try_parse_from([
                "azp-agent",
                subcommand,
                "--url",
                "https://dev.azure.com/contoso",
                "--pool",
                "eks",
                "--agent-name",
                "ci.linux-abcde",
                "--agent-home",
                &self.path("home"),
                "--token-file",
                &self.path("token"),
                "--registration-dir",
                &self.path("registration"),
                "--buildkit-host",
                "unix:///run/buildkit/buildkitd.sock",
            ])
            .unwrap();
            let (role, args) = match cli.command {
                crate::cli::Command::Run(args) => (Role::Run, args),
                crate::cli::Command::Register(args) => (Role::Register, args),
                other => panic!("unexpected {other:?}"),
            };
            RunSettings::for_role(role, *args, Vec::new())
        }
    }

    #[test]
    fn register_holds_the_pat_and_leaves_the_buildkit_check_to_run() {
        let pod = Pod::new();
        let settings = pod.settings("register").unwrap();
        assert_eq!(settings.mode, Mode::Register);
        assert_eq!(settings.pat.as_ref().map(Pat::expose), Some("s3cret"));
        let preflight = settings.preflight.unwrap();
        assert!(preflight.ado.url.is_some(), "register checks Azure DevOps");
        let report = preflight_line(&preflight, BUILDKIT_CHECK);
        assert!(
            report.contains("SKIP buildkit: checked by the agent container: the BuildKit sidecar starts after this register init container"),
            "{report}"
        );
        assert!(!report.contains("not set"), "{report}");
    }

    /// The line the preflight check `name` reports with `settings`.
    fn preflight_line(settings: &PreflightSettings, name: &str) -> String {
        let checks: Vec<_> = crate::preflight::plan::plan_checks(
            settings,
            std::sync::Arc::new(crate::preflight::dns::SystemResolver),
            |_| None,
        )
        .into_iter()
        .filter(|check| check.name() == name)
        .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(crate::preflight::run_checks(&checks, settings.timeout))
            .to_text()
    }

    #[test]
    fn run_prefers_a_handed_over_registration_and_then_never_reads_the_pat() {
        let pod = Pod::new();
        // Nothing handed over: the single-container shape.
        let alone = pod.settings("run").unwrap();
        assert_eq!(alone.mode, Mode::RunSelfRegistering);
        assert!(alone.pat.is_some());
        let preflight = alone.preflight.unwrap();
        assert!(preflight.buildkit_host.is_some());
        assert!(
            preflight.left_to_others.is_empty(),
            "one container checks all"
        );

        std::fs::write(pod.dir.path().join("registration/.agent"), "{}").unwrap();
        std::fs::remove_file(pod.dir.path().join("token")).unwrap();
        let registered = pod.settings("run").unwrap();
        assert_eq!(registered.mode, Mode::RunRegistered);
        assert!(registered.pat.is_none());
        let report = preflight_line(&registered.preflight.unwrap(), ADO_CHECK);
        assert!(
            report.contains("SKIP azure-devops: checked by the register init container, which holds the PAT; this container has none"),
            "{report}"
        );
        assert!(!report.contains("not set"), "{report}");
    }

    #[test]
    fn run_without_registration_or_pat_names_both() {
        let pod = Pod::new();
        std::fs::remove_file(pod.dir.path().join("token")).unwrap();
        let err = pod.settings("run").unwrap_err().to_string();
        assert!(err.contains(&pod.path("registration")), "{err}");
        assert!(err.contains(&pod.path("token")), "{err}");
    }

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
