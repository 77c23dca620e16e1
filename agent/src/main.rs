//! `azp-agent` binary: parses the command line and dispatches to the library.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use azp_agent::build::{self, BuildPushOptions, CacheSetting, CreateRepository, ImageTarget};
use azp_agent::cli::{
    BuildPushArgs, Cli, Command, EcrApiArgs, EcrLoginArgs, PreflightArgs, RunArgs,
};
use azp_agent::ecr::{self, EcrClientSettings, LoginOptions};
use azp_agent::exit;
use azp_agent::preflight::{self, ado::AdoSettings, dns::SystemResolver, plan::PreflightSettings};
use azp_agent::run::config::Role;
use clap::Parser as _;

/// The AWS SDK logs every fallback it tries (IMDS region lookups and the like) as warnings; the
/// errors that matter reach the user through our own messages, so its logs start at `error`.
const DEFAULT_LOG_FILTER: &str = "info,aws_config=error,aws_smithy_runtime=error";

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .init();
    // The AWS SDK and reqwest share rustls; pin the process-wide provider once (startup code).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("azp-agent: cannot start the async runtime: {error}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let code = runtime.block_on(async {
        let result = match cli.command {
            Command::Run(args) => return run(Role::Run, *args).await,
            Command::Register(args) => return run(Role::Register, *args).await,
            Command::EcrLogin(args) => ecr_login(args).await,
            Command::BuildPush(args) => build_push(args).await,
            Command::Preflight(args) => return preflight(args).await,
            Command::Vm(args) => vm(*args).await,
        };
        match result {
            Ok(()) => exit::OK,
            Err(error) => {
                eprintln!("azp-agent: {error:#}");
                exit::FAILED
            }
        }
    });
    ExitCode::from(code)
}

/// `azp-agent run` and `azp-agent register`: the exit code is `azp_contract::run_exit`, the
/// outcome is in the termination message.
async fn run(role: Role, args: RunArgs) -> u8 {
    use azp_agent::run::{self, config::RunSettings, signals::StopSignal};
    let command = match role {
        Role::Run => "run",
        Role::Register => "register",
    };
    // Handlers first: a SIGTERM from here on must lead to deregistration, not a dead process.
    let stop = match StopSignal::install() {
        Ok(stop) => stop,
        Err(error) => {
            eprintln!("azp-agent {command}: cannot install signal handlers: {error}");
            return exit_code(azp_contract::run_exit::CONFIG_ERROR);
        }
    };
    let termination_log = args.termination_log.clone();
    let agent_name = args
        .agent_name
        .clone()
        .or_else(|| args.pod_name.clone())
        .unwrap_or_default();
    let inherited: Vec<(String, String)> = std::env::vars().collect();
    let result = match RunSettings::for_role(role, args, inherited) {
        Ok(settings) => run::run(settings, stop).await,
        Err(error) => {
            eprintln!("azp-agent {command}: {error}");
            let result = run::config_error_result(agent_name, &error);
            run::write_termination_message(&termination_log, &result.message);
            result
        }
    };
    exit_code(result.exit_code)
}

/// `azp-agent vm`: returns only on a stop signal, `--max-jobs` or a fatal error.
async fn vm(args: azp_agent::cli::VmArgs) -> anyhow::Result<()> {
    use azp_agent::run::signals::StopSignal;
    let stop = StopSignal::install().context("cannot install signal handlers")?;
    let inherited: Vec<(String, String)> = std::env::vars().collect();
    azp_agent::vm::VmLoop::new(args, inherited, stop)?
        .run()
        .await?;
    Ok(())
}

fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(exit::FAILED)
}

fn client_settings(api: EcrApiArgs) -> EcrClientSettings {
    EcrClientSettings {
        api_endpoint: api.api_endpoint,
        region: api.region,
    }
}

fn docker_config_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir),
        None => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".docker"))
            .context("neither DOCKER_CONFIG nor HOME is set"),
    }
}

async fn ecr_login(args: EcrLoginArgs) -> anyhow::Result<()> {
    let options = LoginOptions {
        client: client_settings(args.api),
        registry: args.registry,
        docker_config_dir: docker_config_dir(args.docker_config)?,
    };
    if args.watch {
        ecr::watch(&options, Duration::from_secs(60)).await?;
        return Ok(());
    }
    let outcome = ecr::login(&options).await?;
    println!(
        "wrote credentials for {} to {} (valid until {})",
        outcome.registry_host,
        outcome.config_path.display(),
        outcome
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    Ok(())
}

async fn build_push(args: Box<BuildPushArgs>) -> anyhow::Result<()> {
    let target = ImageTarget::parse(&args.repository, args.registry.as_deref())?;
    let create_repository = args.create_repository.then(|| CreateRepository {
        ecr: client_settings(args.api.clone()),
        scan_on_push: args.scan_on_push,
        immutable_tags: args.immutable_tags,
    });
    let options = BuildPushOptions {
        context: args.context,
        dockerfile: args.file,
        target,
        tags: args.tags,
        cache: CacheSetting::from_flag(args.cache.as_deref()),
        platforms: args.platforms,
        build_args: args.build_args,
        builder: args.builder,
        buildkit_host: args.buildkit_host,
        buildkit_tls_dir: args.buildkit_tls_dir,
        buildctl_bin: args.buildctl,
        docker_bin: args.docker,
        docker_network: args.docker_network,
        docker_config_dir: docker_config_dir(args.docker_config)?,
        plain_http: args.plain_http,
        create_repository,
    };
    let outcome = build::build_push(&options).await?;
    println!("{}", outcome.pinned_ref);
    println!(
        "{}",
        build::vso::set_output_variable("imageDigest", &outcome.digest)
    );
    Ok(())
}

async fn preflight(args: PreflightArgs) -> u8 {
    let settings = PreflightSettings {
        require_private_endpoint: args.require_private_endpoint,
        region: args
            .api
            .region
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok()),
        api_endpoint: args.api.api_endpoint,
        registry: args.registry,
        s3_layer_host: args.s3_layer_host,
        expect_identity: args.expect_identity,
        probe_credentials: !args.no_credential_probe,
        buildkit_host: args.buildkit_host,
        buildkit_wait: Duration::from_secs(args.buildkit_wait),
        left_to_others: Vec::new(),
        ado: AdoSettings {
            url: args.azp_url,
            pool: args.pool,
            pat_file: args.token_file,
            ca_bundle_file: args.ca_bundle,
            allow_insecure_http: args.allow_insecure_http,
        },
        timeout: Duration::from_secs(args.timeout),
    };
    let checks = preflight::plan::plan_checks(&settings, Arc::new(SystemResolver), |name| {
        std::env::var(name).ok()
    });
    let report = preflight::run_checks(&checks, settings.timeout).await;
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => {
                eprintln!("azp-agent: cannot render the report: {error}");
                return exit::FAILED;
            }
        }
    } else {
        print!("{}", report.to_text());
    }
    if report.ok {
        exit::OK
    } else {
        exit::PREFLIGHT_FAILED
    }
}
