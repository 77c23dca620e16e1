//! `azp-operator` command line.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use azp_operator::controller::{Controller, Settings};
use azp_operator::hooks::ServedOrganizations;
use azp_operator::leader::{self, LeaderConfig};
use azp_operator::metrics::Metrics;
use azp_operator::plan::PlannerSettings;
use azp_operator::server::{self, ConnectionLimits, ServerState};
use clap::{Parser, Subcommand};
use tokio::sync::{Notify, watch};
use tracing::info;

/// Kubernetes operator that runs Azure Pipelines jobs on ephemeral agent pods.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the AgentPool CustomResourceDefinition as YAML.
    Crd,
    /// Run the controller.
    Run(Box<RunArgs>),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Watch AgentPools in this namespace only.
    #[arg(long, env = "AZP_NAMESPACE", conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// Watch AgentPools in every namespace (the default when --namespace is not given).
    #[arg(long)]
    all_namespaces: bool,
    /// Address of /metrics, /healthz, /readyz (and /hooks/azure-devops unless --hook-addr).
    #[arg(long, env = "AZP_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Serve /hooks/azure-devops on this address only (and not on --metrics-addr), so the port
    /// exposed to Azure DevOps carries nothing else.
    #[arg(long, env = "AZP_HOOK_ADDR")]
    hook_addr: Option<SocketAddr>,
    /// Authorised service-hook requests per second; beyond it (after the burst) they are
    /// answered 429.
    #[arg(long, default_value_t = NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN))]
    hook_rate_limit: NonZeroU32,
    /// Service-hook requests allowed at once before the rate limit applies.
    #[arg(long, default_value_t = NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN))]
    hook_burst: NonZeroU32,
    /// Seconds a client has to send a request head (also closes idle keep-alive connections).
    #[arg(long, default_value_t = 5)]
    header_read_timeout_seconds: u64,
    /// Open HTTP connections per listener; more wait in the listen backlog.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Accept plain http:// organization URLs on 127.0.0.1/localhost (local sandboxes
    /// only; a PAT would travel in clear text).
    #[arg(long, env = "AZP_ALLOW_INSECURE_HTTP")]
    allow_insecure_http: bool,
    /// File holding the service-hook shared secret (enables POST /hooks/azure-devops).
    #[arg(long, env = "AZP_HOOK_SECRET_FILE")]
    hook_secret_file: Option<PathBuf>,
    /// Elect a leader through a Lease so several replicas are safe.
    #[arg(long, env = "AZP_LEADER_ELECTION")]
    leader_election: bool,
    /// Namespace of the leader Lease.
    #[arg(long, env = "AZP_LEADER_ELECTION_NAMESPACE", default_value = "default")]
    leader_election_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "azp-operator-leader")]
    leader_election_name: String,
    /// Lease duration in seconds.
    #[arg(long, default_value_t = 15)]
    lease_duration_seconds: u64,
    /// This replica's identity (defaults to the pod name in $HOSTNAME).
    #[arg(long, env = "AZP_IDENTITY")]
    identity: Option<String>,
    /// Shortest time between two polls of one Azure DevOps pool, in milliseconds. Scheduled
    /// polls come every `pollInterval`; only a service hook for a waiting job, a live pod
    /// deleted by someone else, or a finished pod while jobs wait for `maxAgents` bring one
    /// forward, and never closer than this to the previous one.
    #[arg(long, default_value_t = 250)]
    min_poll_spacing_ms: u64,
    /// Age below which a registration without a pod is never removed, in seconds.
    #[arg(long, default_value_t = 120)]
    registration_grace_seconds: u64,
    /// A pod still Pending after this many seconds makes its AgentPool Degraded.
    #[arg(long, default_value_t = 300)]
    pod_startup_warning_seconds: u64,
    /// A pod still Pending, or Running without its agent registered, after this many
    /// seconds is deleted (with its registration, if any) and replaced.
    #[arg(long, default_value_t = 600)]
    pod_startup_timeout_seconds: u64,
    /// A pod whose `agent` container exited but that still runs after this many seconds
    /// (another container that does not exit) is deleted; its outcome is recorded and its
    /// registration removed first.
    #[arg(long, default_value_t = 300)]
    pod_finish_timeout_seconds: u64,
    /// Agent keys (RSA-2048, about 60 ms of CPU each) kept generated ahead of need once an
    /// operator-minted AgentPool exists, so a burst of up to this many pods registers without
    /// waiting for key generation; 0 generates every key on demand.
    #[arg(long, default_value_t = 16)]
    minted_key_reserve: usize,
    /// After an agent pod ends before taking a job, the next one waits this many seconds,
    /// doubling with each failure in a row (see `PodsFailing`).
    #[arg(long, default_value_t = 10)]
    start_backoff_initial_seconds: u64,
    /// The longest wait between failing agent pods, and the pace of probe pods once an
    /// AgentPool has given up (`Ready=False`, `PodsFailing`).
    #[arg(long, default_value_t = 600)]
    start_backoff_max_seconds: u64,
    /// Per-request timeout towards Azure DevOps, in seconds.
    #[arg(long, default_value_t = 10)]
    ado_timeout_seconds: u64,
    /// Largest job-request list accepted from Azure DevOps, in bytes. A larger one fails the
    /// poll like an Azure DevOps error (`Ready=False`, reason `JobListTooLarge`, an Event):
    /// nothing is created or deleted from it, and it is never held in memory whole.
    #[arg(long, env = "AZP_MAX_JOB_LIST_BYTES", default_value_t = azp_ado::DEFAULT_MAX_JOB_LIST_BYTES, value_parser = clap::value_parser!(u64).range(1024..))]
    max_job_list_bytes: u64,
    /// Microsoft Entra authority for AgentPools with `spec.auth.workloadIdentity`: the token
    /// endpoint is `<authority>/<tenantId>/oauth2/v2.0/token`. Other clouds:
    /// `https://login.microsoftonline.us`, `https://login.chinacloudapi.cn`.
    #[arg(long, env = "AZP_ENTRA_AUTHORITY", default_value = azp_operator::entra::DEFAULT_AUTHORITY)]
    entra_authority: url::Url,
    /// Log format.
    #[arg(long, default_value = "json", value_parser = ["json", "text"])]
    log_format: String,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd => {
            let yaml = azp_operator::crd_yaml().context("serialising the CRD")?;
            std::io::stdout()
                .lock()
                .write_all(yaml.as_bytes())
                .context("writing the CRD to stdout")?;
            Ok(())
        }
        Command::Run(args) => {
            // One thread: the operator waits on I/O, and one thread means one malloc arena
            // instead of one per worker, which is most of the difference in peak RSS.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(run(*args))
        }
    }
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal, never in files or log collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    // kube's rustls client needs a process-wide crypto provider; an error only means one is
    // already installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let hook_secret = read_hook_secret(args.hook_secret_file.as_deref())?;
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes (KUBECONFIG or in-cluster)")?;
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("azp-operator-{}", std::process::id()));

    let metrics = Metrics::new();
    let trigger = Arc::new(Notify::new());
    let ready = Arc::new(AtomicBool::new(false));
    let served = Arc::new(ServedOrganizations::default());
    let state = ServerState {
        metrics: metrics.clone(),
        trigger: trigger.clone(),
        hook_secret,
        ready: ready.clone(),
        hook_limiter: server::hook_limiter(args.hook_rate_limit, args.hook_burst),
        served: served.clone(),
    };
    serve_endpoints(&args, state).await?;

    client
        .apiserver_version()
        .await
        .context("reaching the Kubernetes API server")?;
    ready.store(true, Ordering::Relaxed);

    // Without election this replica always leads; the sender lives as long as `run`.
    let (_always_leading, always) = watch::channel(true);
    let election = args.leader_election.then(|| LeaderConfig {
        namespace: args.leader_election_namespace.clone(),
        name: args.leader_election_name.clone(),
        identity: identity.clone(),
        lease_duration: Duration::from_secs(args.lease_duration_seconds),
        retry_period: Duration::from_secs((args.lease_duration_seconds / 3).max(1)),
    });
    let leader = if let Some(config) = &election {
        leader::spawn(client.clone(), config.clone())
    } else {
        always
    };
    info!(%identity, namespace = ?args.namespace, "azp-operator starting");
    let settings = settings(&args, identity)?;
    let controller = Controller::new(client.clone(), settings, metrics, trigger, leader)
        .with_served_organizations(served);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        () = controller.run() => {}
        _ = terminate.recv() => info!("SIGTERM: shutting down"),
        signal = tokio::signal::ctrl_c() => {
            signal.context("waiting for SIGINT")?;
            info!("SIGINT: shutting down");
        }
    }
    if let Some(config) = &election {
        let api = kube::Api::namespaced(client, &config.namespace);
        if let Err(error) = leader::release(&api, config).await {
            tracing::warn!(%error, "could not release the leader Lease");
        }
    }
    Ok(())
}

/// The shared secret service hooks must carry, from `--hook-secret-file`.
fn read_hook_secret(path: Option<&std::path::Path>) -> anyhow::Result<Option<Arc<str>>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let secret = std::fs::read_to_string(path)
        .with_context(|| format!("reading the hook secret file {}", path.display()))?;
    let secret = secret.trim().to_owned();
    if secret.is_empty() {
        bail!("the hook secret file {} is empty", path.display());
    }
    Ok(Some(Arc::<str>::from(secret)))
}

/// Binds the metrics (and, with `--hook-addr`, the hooks) listener and serves them.
async fn serve_endpoints(args: &RunArgs, state: ServerState) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("binding {}", args.metrics_addr))?;
    // Printed on stdout so tests and sandboxes binding port 0 learn the address.
    println!("listening on http://{}", listener.local_addr()?);
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_seconds.max(1)),
        max_connections: args.max_connections,
    };
    if let Some(hook_addr) = args.hook_addr {
        let hook_listener = tokio::net::TcpListener::bind(hook_addr)
            .await
            .with_context(|| format!("binding {hook_addr}"))?;
        println!("hooks listening on http://{}", hook_listener.local_addr()?);
        tokio::spawn(server::serve(
            hook_listener,
            server::hook_router(state.clone()),
            limits,
        ));
    }
    tokio::spawn(server::serve(
        listener,
        server::router(state, args.hook_addr.is_none()),
        limits,
    ));
    Ok(())
}

/// The controller's settings from the command line.
fn settings(args: &RunArgs, identity: String) -> anyhow::Result<Settings> {
    Ok(Settings {
        namespace: args.namespace.clone(),
        allow_insecure_http: args.allow_insecure_http,
        min_poll_spacing: Duration::from_millis(args.min_poll_spacing_ms),
        ado_timeout: Duration::from_secs(args.ado_timeout_seconds),
        max_job_list_bytes: args.max_job_list_bytes,
        planner: PlannerSettings {
            registration_grace: Duration::from_secs(args.registration_grace_seconds),
            pod_startup_timeout: Duration::from_secs(args.pod_startup_timeout_seconds),
            pod_finish_timeout: Duration::from_secs(args.pod_finish_timeout_seconds),
        },
        pod_startup_warning: Duration::from_secs(args.pod_startup_warning_seconds),
        start_backoff: azp_operator::start_failures::Backoff {
            initial: Duration::from_secs(args.start_backoff_initial_seconds.max(1)),
            max: Duration::from_secs(args.start_backoff_max_seconds.max(1)),
        },
        identity,
        entra_authority: authority_base(args.entra_authority.clone())?,
        minted_key_reserve: args.minted_key_reserve,
    })
}

/// The authority as a base URL that `<tenant>/oauth2/v2.0/token` can be joined to.
fn authority_base(mut authority: url::Url) -> anyhow::Result<url::Url> {
    anyhow::ensure!(
        matches!(authority.scheme(), "https" | "http") && authority.host().is_some(),
        "--entra-authority must be an https:// URL"
    );
    if !authority.path().ends_with('/') {
        let path = format!("{}/", authority.path());
        authority.set_path(&path);
    }
    Ok(authority)
}
