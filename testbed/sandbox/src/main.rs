//! `azp-sandbox`: run the whole system locally (`demo`, the default), measure it (`bench`) or
//! break it on purpose (`chaos`).

use clap::{Parser, Subcommand};

/// The whole azp-operator system on one machine: the Azure DevOps emulator, a Kubernetes API
/// double whose kubelet runs the real azp-agent for each pod, and the real operator binary,
/// all on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "azp-sandbox", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Two AgentPools, a realistic mix of jobs, a live view and a summary (the default).
    Demo(azp_sandbox::demo::DemoArgs),
    /// Measure the operator (queue-to-pod latency, request rate, RSS/CPU).
    Bench(azp_sandbox::bench::BenchArgs),
    /// Random faults during a long run, then check every invariant.
    Chaos(azp_sandbox::chaos::ChaosArgs),
    /// Start the system with your own AgentPool files and leave it running (Ctrl-C stops it).
    Up(azp_sandbox::up::UpArgs),
    /// Queue a job in the running `up` and follow it to its end.
    Queue(azp_sandbox::up::queue::QueueArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AZP_SANDBOX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("azp-sandbox: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let command = async move {
            match cli.command {
                None => azp_sandbox::demo::run(azp_sandbox::demo::DemoArgs::default()).await,
                Some(Command::Demo(args)) => azp_sandbox::demo::run(args).await,
                Some(Command::Bench(args)) => azp_sandbox::bench::run(args)
                    .await
                    .map(|()| azp_sandbox::invariants::Verdict::Passed),
                Some(Command::Chaos(args)) => azp_sandbox::chaos::run(args).await,
                Some(Command::Up(args)) => azp_sandbox::up::run(args).await,
                Some(Command::Queue(args)) => azp_sandbox::up::queue::run(args).await,
            }
        };
        // Ctrl-C drops the command's future, and with it the sandbox, whose guard kills the
        // operator and every pod process (pods run in their own process groups, so the
        // terminal's SIGINT does not reach them).
        tokio::select! {
            result = command => result,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    match result {
        Ok(azp_sandbox::invariants::Verdict::Passed) => std::process::ExitCode::SUCCESS,
        Ok(azp_sandbox::invariants::Verdict::Violated) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("azp-sandbox: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
