//! Command-line interface. Every flag that the operator sets in the pod also has an env variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::build::Builder;
use crate::env;
use crate::preflight::identity::ExpectedIdentity;

/// The azp-operator agent: register, run one Azure Pipelines job, deregister; ECR login and image builds.
#[derive(Debug, Parser)]
#[command(name = "azp-agent", version)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one job: with a registration handed over by `register` (the pod's way, no PAT
    /// needed), or register, run and deregister itself when only the PAT file is there.
    /// Writes a JSON termination message.
    Run(Box<RunArgs>),
    /// The pod's init container: preflight, `config.sh` with the PAT, then hand the
    /// registration files over to `run` through the registration directory. Writes a JSON
    /// termination message.
    Register(Box<RunArgs>),
    /// Get an ECR token with the default AWS credential chain and write it to $DOCKER_CONFIG/config.json.
    EcrLogin(EcrLoginArgs),
    /// Build an image (BuildKit or Docker), push it, and verify the pushed digest.
    BuildPush(Box<BuildPushArgs>),
    /// Check the pod's environment; one line per check with a fix.
    Preflight(PreflightArgs),
    /// A plain VM's ephemeral agents: register, run exactly one job as `--run-as-user`,
    /// remove the registration, clean the work directory, start over, forever (a systemd
    /// service; see examples/vm/).
    Vm(Box<VmArgs>),
}

/// `run` and `register` arguments. Paths default to the pod contract's mounts
/// (`azp_contract::paths`).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Azure DevOps organization or collection URL.
    #[arg(long, env = env::AZP_URL)]
    pub url: Option<String>,
    /// Agent pool to register into.
    #[arg(long, env = env::AZP_POOL)]
    pub pool: Option<String>,
    /// Agent name (default: the pod name from AZP_POD_NAME).
    #[arg(long, env = azp_contract::env::AGENT_NAME)]
    pub agent_name: Option<String>,
    /// Pod name (downward API); the agent name when --agent-name is unset.
    #[arg(long, env = azp_contract::env::POD_NAME)]
    pub pod_name: Option<String>,
    /// Directory of the official agent (`config.sh`, `run.sh`).
    #[arg(long, env = azp_contract::env::AGENT_HOME, default_value = azp_contract::paths::AGENT_HOME)]
    pub agent_home: PathBuf,
    /// File holding the PAT; read once at start (`register`, or `run` without a handed-over
    /// registration).
    #[arg(long, env = env::PAT_FILE, default_value = azp_contract::paths::PAT_FILE)]
    pub token_file: PathBuf,
    /// Directory where `register` leaves the registration files and `run` takes them from.
    #[arg(long, env = azp_contract::env::REGISTRATION_DIR, default_value = azp_contract::paths::REGISTRATION_DIR)]
    pub registration_dir: PathBuf,
    /// Job work directory (`config.sh --work`).
    #[arg(long, env = azp_contract::env::WORK_DIR, default_value = azp_contract::paths::WORK_DIR)]
    pub work: PathBuf,
    /// PEM CA bundle for a private-CA Azure DevOps Server (`config.sh --sslcacert`).
    #[arg(long, env = env::CA_BUNDLE_FILE)]
    pub ca_bundle: Option<PathBuf>,
    /// The AgentPool's capabilities, a JSON object of strings; each becomes an agent variable.
    #[arg(long, env = azp_contract::env::CAPABILITIES)]
    pub capabilities: Option<String>,
    /// Where to write the JSON termination message.
    #[arg(long, env = azp_contract::env::TERMINATION_LOG, default_value = azp_contract::paths::TERMINATION_LOG)]
    pub termination_log: PathBuf,
    /// Seconds a running job gets after SIGTERM before the agent is killed.
    #[arg(long, default_value_t = 60)]
    pub grace_period: u64,
    /// Attempts of `config.sh remove` (exponential backoff from 1 s, at most 30 s apart).
    #[arg(long, default_value_t = 5)]
    pub deregister_attempts: u32,
    /// Skip the preflight checks.
    #[arg(long)]
    pub skip_preflight: bool,
    /// Skip ECR login even when ECR is configured.
    #[arg(long)]
    pub skip_ecr_login: bool,
    /// Extra environment variable names passed to the agent processes (comma-separated), in
    /// addition to those the operator lists in `AZP_PASS_ENV` (every `spec.agent.env` entry).
    #[arg(long, value_delimiter = ',')]
    pub pass_env: Vec<String>,
    /// Allow an http:// Azure DevOps URL (local tests only: the PAT would travel in clear text).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// ECR API access.
    #[command(flatten)]
    pub api: EcrApiArgs,
    /// ECR registry host; with a region it turns ECR login on.
    #[arg(long, env = env::ECR_REGISTRY)]
    pub registry: Option<String>,
    /// Directory of the Docker config.json the job uses.
    #[arg(long, env = env::DOCKER_CONFIG, default_value = azp_contract::paths::DOCKER_CONFIG_DIR)]
    pub docker_config: PathBuf,
    /// Preflight: require ECR to resolve to private addresses only.
    #[arg(long, env = env::REQUIRE_PRIVATE_ENDPOINT)]
    pub require_private_endpoint: bool,
    /// Preflight: the AWS identity the pod must use.
    #[arg(long, env = env::EXPECT_IDENTITY, value_enum, default_value = "any")]
    pub expect_identity: ExpectedIdentity,
    /// Preflight: S3 layer host[:port].
    #[arg(long, env = env::S3_LAYER_HOST)]
    pub s3_layer_host: Option<String>,
    /// Preflight: BuildKit address; unset = sidecar disabled.
    #[arg(long, env = env::BUILDKIT_HOST)]
    pub buildkit_host: Option<String>,
    /// Preflight: seconds each check may take.
    #[arg(long, default_value_t = 5)]
    pub preflight_timeout: u64,
    /// Preflight: seconds to keep retrying while the BuildKit sidecar does not answer yet
    /// (its startup probe normally holds the agent back until it does; this covers
    /// templates that drop the probe and slow nodes).
    #[arg(long, env = "AZP_BUILDKIT_WAIT", default_value_t = 60)]
    pub buildkit_wait: u64,
}

/// `vm` arguments: those of `run` (the registration directory and termination log are
/// placed in the state directory instead) plus the loop's own.
#[derive(Debug, Args)]
pub struct VmArgs {
    /// The settings of each registration and job.
    #[command(flatten)]
    pub run: RunArgs,
    /// The loop's state: the record of the registration it holds (removed on the next start
    /// after a crash) and the registration hand-over.
    #[arg(long, env = "AZP_VM_STATE_DIR", default_value = "/var/lib/azp-agent")]
    pub state_dir: PathBuf,
    /// User the job step (`azp-agent run`, `run.sh` and the job) runs as; required when
    /// started as root. It must not be able to read the PAT file.
    #[arg(long, env = "AZP_RUN_AS_USER")]
    pub run_as_user: Option<String>,
    /// Agent home of the job step, owned by the run user (default: --agent-home, allowed only
    /// without --run-as-user).
    #[arg(long, env = "AZP_RUN_AGENT_HOME")]
    pub run_agent_home: Option<PathBuf>,
    /// Stop after this many jobs (0: never).
    #[arg(long, default_value_t = 0)]
    pub max_jobs: u64,
    /// Seconds to wait before starting over after a failed round.
    #[arg(long, default_value_t = 10)]
    pub retry_pause: u64,
}

/// ECR API access shared by subcommands.
#[derive(Debug, Clone, Args)]
pub struct EcrApiArgs {
    /// ECR API endpoint URL (a VPC endpoint when its private DNS is off).
    #[arg(long, env = env::ECR_API_ENDPOINT)]
    pub api_endpoint: Option<String>,
    /// AWS region (default: the SDK chain, e.g. AWS_REGION).
    #[arg(long, env = env::ECR_REGION)]
    pub region: Option<String>,
}

/// `ecr-login` arguments.
#[derive(Debug, Args)]
pub struct EcrLoginArgs {
    /// ECR API access.
    #[command(flatten)]
    pub api: EcrApiArgs,
    /// Registry host to write credentials for, instead of the token's proxyEndpoint host.
    #[arg(long, env = env::ECR_REGISTRY)]
    pub registry: Option<String>,
    /// Directory of the Docker config.json (default ~/.docker).
    #[arg(long, env = env::DOCKER_CONFIG)]
    pub docker_config: Option<PathBuf>,
    /// Keep running and refresh the token before it expires.
    #[arg(long)]
    pub watch: bool,
}

/// `build-push` arguments.
#[derive(Debug, Args)]
pub struct BuildPushArgs {
    /// Build context directory.
    #[arg(long, default_value = ".")]
    pub context: PathBuf,
    /// Dockerfile (default <context>/Dockerfile).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Repository: a name (with --registry) or a full URI <registry>/<repo>.
    #[arg(long)]
    pub repository: String,
    /// Registry host for a bare repository name.
    #[arg(long, env = env::ECR_REGISTRY)]
    pub registry: Option<String>,
    /// Tag to push; repeatable.
    #[arg(long = "tag", required = true)]
    pub tags: Vec<String>,
    /// Registry build cache (BuildKit only): `none`; a reference with a tag; or a repository,
    /// where the cache tag is derived from the image repository. Default: <registry>/<repo>:buildcache.
    /// The operator sets AZP_BUILDKIT_CACHE from the AgentPool's spec.buildkit.cache.
    #[arg(long, env = env::BUILDKIT_CACHE)]
    pub cache: Option<String>,
    /// Target platform, e.g. linux/amd64; repeatable.
    #[arg(long = "platform")]
    pub platforms: Vec<String>,
    /// Build argument KEY=VALUE; repeatable.
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Build engine.
    #[arg(long, value_enum, default_value = "buildkit")]
    pub builder: Builder,
    /// BuildKit address.
    #[arg(long, env = env::BUILDKIT_HOST)]
    pub buildkit_host: Option<String>,
    /// Client certificate directory for a remote BuildKit with mutual TLS (`ca.crt`, `tls.crt`,
    /// `tls.key`, or `ca.pem`, `cert.pem`, `key.pem`); passed to `buildctl --tlsdir`.
    #[arg(long, env = env::BUILDKIT_TLS_DIR)]
    pub buildkit_tls_dir: Option<PathBuf>,
    /// buildctl program.
    #[arg(long, env = env::BUILDCTL_BIN, default_value = "buildctl")]
    pub buildctl: PathBuf,
    /// docker program (Debian's 20.10 client; a newer client needs buildx for BuildKit builds).
    #[arg(long, env = env::DOCKER_BIN, default_value = "/usr/bin/docker")]
    pub docker: PathBuf,
    /// `docker build --network` (e.g. none or host on daemons without a bridge).
    #[arg(long)]
    pub docker_network: Option<String>,
    /// Directory of the Docker config.json (default ~/.docker).
    #[arg(long, env = env::DOCKER_CONFIG)]
    pub docker_config: Option<PathBuf>,
    /// Read the manifest back over plain HTTP (loopback registries only, for tests).
    #[arg(long, env = env::REGISTRY_PLAIN_HTTP)]
    pub plain_http: bool,
    /// Create the ECR repository if it does not exist.
    #[arg(long)]
    pub create_repository: bool,
    /// Scan on push for a created repository.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub scan_on_push: bool,
    /// Immutable tags for a created repository (opt-in).
    #[arg(long)]
    pub immutable_tags: bool,
    /// ECR API access (repository creation).
    #[command(flatten)]
    pub api: EcrApiArgs,
}

/// `preflight` arguments.
#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// Print a JSON report instead of text lines.
    #[arg(long)]
    pub json: bool,
    /// Require ECR to resolve to private addresses only, and the S3 layer host to be reachable.
    #[arg(long, env = env::REQUIRE_PRIVATE_ENDPOINT)]
    pub require_private_endpoint: bool,
    /// ECR API access.
    #[command(flatten)]
    pub api: EcrApiArgs,
    /// ECR registry host.
    #[arg(long, env = env::ECR_REGISTRY)]
    pub registry: Option<String>,
    /// S3 layer host[:port] (default prod-<region>-starport-layer-bucket.s3.<region>.amazonaws.com).
    #[arg(long, env = env::S3_LAYER_HOST)]
    pub s3_layer_host: Option<String>,
    /// The AWS identity the pod must use; instance metadata fails unless `any` or
    /// `instance-profile` (a VM's own role, where a static key that would win fails).
    #[arg(long, env = env::EXPECT_IDENTITY, value_enum, default_value = "any")]
    pub expect_identity: ExpectedIdentity,
    /// Only check how the identity is wired; do not obtain credentials.
    #[arg(long)]
    pub no_credential_probe: bool,
    /// BuildKit address; unset = sidecar disabled (check skipped).
    #[arg(long, env = env::BUILDKIT_HOST)]
    pub buildkit_host: Option<String>,
    /// Seconds to keep retrying while BuildKit does not answer yet (0: one attempt).
    #[arg(long, env = "AZP_BUILDKIT_WAIT", default_value_t = 0)]
    pub buildkit_wait: u64,
    /// Azure DevOps organization or collection URL; unset = check skipped.
    #[arg(long, env = env::AZP_URL)]
    pub azp_url: Option<String>,
    /// Azure DevOps agent pool name.
    #[arg(long, env = env::AZP_POOL)]
    pub pool: Option<String>,
    /// File holding the PAT.
    #[arg(long, env = env::PAT_FILE)]
    pub token_file: Option<PathBuf>,
    /// PEM CA bundle for a private-CA Azure DevOps Server.
    #[arg(long, env = env::CA_BUNDLE_FILE)]
    pub ca_bundle: Option<PathBuf>,
    /// Allow an http:// Azure DevOps URL (local tests only: the PAT would travel in clear text).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Seconds each check may take.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}
