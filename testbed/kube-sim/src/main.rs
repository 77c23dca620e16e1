//! `azp-kube-sim`: run the Kubernetes API double as a process.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use azp_kube_sim::kubelet::{
    KubeletConfig, KubeletHandle, PodRuntime, ProcessRuntime, SimulatedRuntime,
};
use azp_kube_sim::{KubeSimConfig, RunningKubeSim};
use clap::Parser;

/// A strict Kubernetes API double for tests (plain HTTP; any bearer token is accepted).
#[derive(Debug, Parser)]
#[command(name = "azp-kube-sim", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory of CustomResourceDefinition YAML files to register at start.
    #[arg(long)]
    crds: Option<PathBuf>,
    /// Write a kubeconfig pointing at the server to this file.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Number of watch events kept; watches from older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = 10_000)]
    event_history: usize,
    /// Seconds between watch BOOKMARK events.
    #[arg(long, default_value_t = 10)]
    bookmark_interval_secs: u64,
    /// Also run the kubelet simulator in this process (one node, `kube-sim-node`, scheduling every pod to itself).
    #[arg(long)]
    kubelet: bool,
    /// How the kubelet runs containers: `simulated` (annotations decide exit codes) or `process`
    /// (each container's command runs as a local process).
    #[arg(long, default_value = "simulated", value_parser = ["simulated", "process"])]
    kubelet_runtime: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = KubeSimConfig {
        crds_dir: args.crds.clone(),
        event_history: args.event_history,
        bookmark_interval: Duration::from_secs(args.bookmark_interval_secs.max(1)),
        ..KubeSimConfig::default()
    };
    let sim = RunningKubeSim::start(cfg, args.listen)
        .await
        .context("starting kube-sim")?;
    if let Some(path) = &args.kubeconfig_out {
        std::fs::write(path, sim.kubeconfig_yaml())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("listening on {}", sim.url());
    let kubelet = if args.kubelet {
        let runtime: Arc<dyn PodRuntime> = match args.kubelet_runtime.as_str() {
            "process" => Arc::new(ProcessRuntime::in_temp_dir().context("kubelet work directory")?),
            _ => Arc::new(SimulatedRuntime::new()),
        };
        let cfg = KubeletConfig::new("kube-sim-node", runtime);
        Some(KubeletHandle::spawn(sim.client().await, cfg))
    } else {
        None
    };
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    if let Some(kubelet) = kubelet {
        kubelet.shutdown().await.context("stopping the kubelet")?;
    }
    sim.shutdown().await;
    Ok(())
}
