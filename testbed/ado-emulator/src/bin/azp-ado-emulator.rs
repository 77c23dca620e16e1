//! `azp-ado-emulator`: serve the Azure DevOps emulator until SIGTERM/SIGINT.
//!
//! Prints exactly one line, `listening on http://ADDR/ORG`, to stdout; logs go to stderr.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use azp_ado_emulator::{EmulatorConfig, RunningEmulator};
use clap::Parser;

/// Command line. Prefer `AZP_EMULATOR_PAT` over `--pat`: argv is visible in /proc.
#[derive(Parser)]
#[command(
    name = "azp-ado-emulator",
    about = "A strict Azure DevOps agent-pool emulator for tests"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Organization name (first path segment).
    #[arg(long, default_value = "contoso")]
    org: String,
    /// The valid PAT.
    #[arg(long, env = "AZP_EMULATOR_PAT", hide_env_values = true)]
    pat: String,
    /// A static "Entra" bearer token accepted like the PAT.
    #[arg(long, env = "AZP_EMULATOR_BEARER_TOKEN", hide_env_values = true)]
    bearer_token: Option<String>,
    /// Pool names (repeat the flag); ids start at 10.
    #[arg(long = "pool", default_value = "Default")]
    pools: Vec<String>,
    /// Long-poll hold of GET messages.
    #[arg(long, default_value_t = 50)]
    long_poll_seconds: u64,
    /// Job request lock duration.
    #[arg(long, default_value_t = 600)]
    lock_seconds: u64,
    /// Session idle timeout (agent offline).
    #[arg(long, default_value_t = 180)]
    session_idle_seconds: u64,
    /// Public base URL for absolute links (default: from the request's Host header).
    #[arg(long)]
    public_url: Option<String>,
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field("listen", &self.listen)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the emulator");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let cfg = EmulatorConfig {
        org: args.org,
        pat: args.pat,
        pools: args.pools,
        bearer_token: args.bearer_token,
        long_poll: Duration::from_secs(args.long_poll_seconds),
        lock_duration: Duration::from_secs(args.lock_seconds),
        session_idle_timeout: Duration::from_secs(args.session_idle_seconds),
        public_url: args.public_url,
        ..EmulatorConfig::default()
    };
    let emulator = RunningEmulator::start(cfg, args.listen)
        .await
        .context("starting the emulator")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", emulator.org_url()).context("writing to stdout")?;
    stdout.flush().context("flushing stdout")?;
    drop(stdout);
    terminated().await;
    tracing::info!("signal received; shutting down");
    emulator.shutdown().await;
    Ok(())
}
