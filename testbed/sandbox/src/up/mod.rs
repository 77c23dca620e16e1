//! `azp-sandbox up`: the system with the user's own AgentPool files, left running, so a platform
//! engineer can try an AgentPool (and `kubectl` against it) before applying it to EKS. Jobs are
//! queued with `azp-sandbox queue` ([`queue`]), which finds the running sandbox through a state
//! file ([`state`]).

pub mod manifests;
pub mod queue;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::harness::{NAMESPACE, Sandbox, SandboxOptions};
use crate::invariants::Verdict;

/// Flags of `up`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// An AgentPool manifest (YAML; several documents allowed). Repeat for more files.
    #[arg(long = "agentpool", value_name = "FILE", required = true)]
    pub agent_pools: Vec<PathBuf>,
    /// Where `up` says how to reach it; `queue` reads it.
    #[arg(long, value_name = "FILE", default_value_os_t = state::default_path())]
    pub state_file: PathBuf,
    /// Turn off the emulator → operator service hook (polling only).
    #[arg(long)]
    pub no_hooks: bool,
    /// Keep the sandbox directory (operator.log, pod logs) after stopping.
    #[arg(long)]
    pub keep: bool,
}

/// Starts the sandbox with the user's AgentPools and runs until Ctrl-C or SIGTERM.
pub async fn run(args: UpArgs) -> anyhow::Result<Verdict> {
    // Read the files before anything starts: a typo costs a second, not a start-up.
    let pools_needed = manifests::read(&args.agent_pools, "http://emulator/", NAMESPACE)?;
    let options = SandboxOptions {
        ado_pools: pools_needed.ado_pools.iter().cloned().collect(),
        hooks: !args.no_hooks,
        keep_dir: args.keep || SandboxOptions::default().keep_dir,
        ..SandboxOptions::default()
    };
    println!("azp-sandbox up: starting emulator, kube-sim, kubelet and azp-operator on 127.0.0.1");
    let sandbox = Sandbox::start(options)
        .await
        .context("starting the sandbox")?;
    let result = serve(&sandbox, &args).await;
    let stragglers = sandbox.shutdown().await;
    if !stragglers.is_empty() {
        println!("shutdown: killed {} leftover process(es)", stragglers.len());
    }
    result
}

async fn serve(sandbox: &Sandbox, args: &UpArgs) -> anyhow::Result<Verdict> {
    let organization = sandbox.emulator().org_url();
    let prepared = manifests::read(&args.agent_pools, &organization, NAMESPACE)?;
    for note in &prepared.notes {
        println!("  note: {note}");
    }
    let pat = sandbox.options().pat.clone();
    for (name, key) in &prepared.pat_secrets {
        sandbox.set_secret(name, key, &pat).await?;
    }
    for pool in &prepared.agent_pools {
        let name = pool["metadata"]["name"].as_str().unwrap_or_default();
        sandbox
            .apply_manifest(pool)
            .await
            .with_context(|| format!("kube-sim refused AgentPool {name}"))?;
        println!(
            "  applied AgentPool {name} (Azure DevOps pool {})",
            pool["spec"]["pool"].as_str().unwrap_or_default()
        );
    }
    let kubeconfig = sandbox.dir().join("kubeconfig");
    let up = state::UpState {
        emulator: sandbox.emulator().base_url(),
        organization: organization.clone(),
        kubeconfig: kubeconfig.clone(),
        dir: sandbox.dir().to_path_buf(),
        pid: std::process::id(),
        ado_pools: prepared.ado_pools.iter().cloned().collect(),
    };
    let _state = state::StateFile::write(&args.state_file, &up)?;
    let first_pool = up.ado_pools.first().cloned().unwrap_or_default();
    println!(
        "\nazp-sandbox is up.\n  kubeconfig:   {kubeconfig}\n  try:          kubectl --kubeconfig {kubeconfig} get agentpools,pods\n  Azure DevOps: {organization} (the emulator; pools: {pools})\n  operator log: {log}\n  state file:   {state}\n\nQueue a job (from another terminal):\n  azp-sandbox queue --pool {first_pool} --script 'echo hello'\n\nCtrl-C stops everything.",
        kubeconfig = kubeconfig.display(),
        pools = up.ado_pools.join(", "),
        log = sandbox.operator_log().display(),
        state = args.state_file.display(),
    );
    wait_for_stop().await;
    println!("azp-sandbox up: stopping");
    Ok(Verdict::Passed)
}

/// Ctrl-C or SIGTERM (a service manager, `kill`).
async fn wait_for_stop() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    // Let the line above reach the terminal before the shutdown's own output.
    tokio::time::sleep(Duration::from_millis(10)).await;
}
