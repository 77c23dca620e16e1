//! `azp-sandbox bench`: measures the operator in the scenarios of `docs/benchmarks.md`
//! (`burst`, `trickle`, `many-pools`), each with polling only and with service hooks.
//!
//! Agents are played in-process by [`player::AgentPlayerRuntime`] (a kubelet runtime), so
//! hundreds of pods fit on two cores; every report row says so. The operator is the real
//! binary, as a child process; its peak RSS and CPU come from `/proc`.

pub mod events;
pub mod list_calls;
pub mod phases;
pub mod player;
pub mod pod_clock;
pub mod proc_stats;
pub mod registration;
pub mod report;
pub mod rig;
pub mod runner;
pub mod scenario;
#[cfg(test)]
mod smoke;
pub mod stats;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use rand::{Rng as _, SeedableRng as _};

use report::{BenchReport, Machine, TriggerMode};
use runner::RunSettings;
use scenario::{ScenarioKind, ScenarioKnobs};

/// Which trigger modes to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Triggers {
    /// Polling only.
    Polling,
    /// Service hooks (+ polling as the safety net).
    Hooks,
    /// Both, polling first.
    Both,
}

/// Flags of `bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Scenarios to run (repeatable; default: burst, trickle and many-pools; `huge` only
    /// when named).
    #[arg(long = "scenario", value_enum)]
    pub scenarios: Vec<ScenarioKind>,
    /// Trigger modes.
    #[arg(long, value_enum, default_value = "both")]
    pub trigger: Triggers,
    /// Jobs in `burst` and `many-pools`.
    #[arg(long, default_value_t = 60)]
    pub jobs: usize,
    /// AgentPool counts for `many-pools` (comma-separated; one run each).
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    pub agent_pools: Vec<usize>,
    /// `minIdle` of every AgentPool.
    #[arg(long, default_value_t = 1)]
    pub min_idle: u32,
    /// `pollInterval` in seconds (the CRD allows 5 to 600).
    #[arg(long, default_value_t = 5)]
    pub poll_interval_seconds: u64,
    /// The operator's `--min-poll-spacing-ms` (default: the operator's own default).
    #[arg(long, default_value_t = 250)]
    pub min_poll_spacing_ms: u64,
    /// Mean job arrivals per second in `trickle`.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Arrival window of `trickle`, in seconds.
    #[arg(long, default_value_t = 60)]
    pub trickle_seconds: u64,
    /// How long each job runs on its agent, in seconds.
    #[arg(long, default_value_t = 2)]
    pub job_seconds: u64,
    /// Poll intervals to observe an idle system before the jobs (for the list-call figure).
    #[arg(long, default_value_t = 3)]
    pub idle_intervals: u32,
    /// Give up waiting for one run to settle after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_seconds: u64,
    /// Seed of the trickle arrivals.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// `spec.registration` of the AgentPools: `both` alternates them (operator, pod, ...)
    /// so one run measures both modes side by side.
    #[arg(long, value_enum, default_value = "both")]
    pub registration: registration::RegistrationChoice,
}

/// Runs the benchmark: every selected scenario in every selected trigger mode, one fresh
/// system each; prints the Markdown table and writes JSON when asked.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let binaries = tokio::task::spawn_blocking(crate::harness::Binaries::locate_or_build)
        .await
        .context("locating the binaries")??;
    let scenarios = if args.scenarios.is_empty() {
        vec![
            ScenarioKind::Burst,
            ScenarioKind::Trickle,
            ScenarioKind::ManyPools,
        ]
    } else {
        args.scenarios.clone()
    };
    let triggers = match args.trigger {
        Triggers::Polling => vec![TriggerMode::Polling],
        Triggers::Hooks => vec![TriggerMode::Hooks],
        Triggers::Both => vec![TriggerMode::Polling, TriggerMode::Hooks],
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut reports = Vec::new();
    for kind in scenarios {
        let pool_counts = if kind == ScenarioKind::ManyPools {
            args.agent_pools.clone()
        } else {
            vec![0]
        };
        for agent_pools in pool_counts {
            let knobs = ScenarioKnobs {
                jobs: args.jobs,
                agent_pools,
                min_idle: args.min_idle,
                poll_interval: format!("{}s", args.poll_interval_seconds),
                rate_per_second: args.rate,
                trickle_window: Duration::from_secs(args.trickle_seconds),
            };
            let mut plan = scenario::plan(kind, &knobs, &mut rng);
            registration::assign(&mut plan, args.registration);
            for &trigger in &triggers {
                let start_delay = Duration::from_secs_f64(
                    rng.random_range(0.0..args.poll_interval_seconds.max(1) as f64),
                );
                let settings = RunSettings {
                    start_delay,
                    kind,
                    trigger,
                    poll_interval: Duration::from_secs(args.poll_interval_seconds),
                    min_poll_spacing: Duration::from_millis(args.min_poll_spacing_ms),
                    job_seconds: args.job_seconds,
                    idle_intervals: args.idle_intervals,
                    timeout: Duration::from_secs(args.timeout_seconds),
                };
                eprintln!(
                    "bench: {} ({} AgentPools, {} jobs), {} ...",
                    kind.name(),
                    plan.agent_pools.len(),
                    plan.jobs.len(),
                    trigger.label()
                );
                let report = runner::run_scenario(&settings, &plan, &binaries)
                    .await
                    .with_context(|| format!("{} / {}", kind.name(), trigger.label()))?;
                eprintln!("{}", report::markdown_table(std::slice::from_ref(&report)));
                reports.push(report);
            }
        }
    }
    let bench = BenchReport {
        machine: Machine::detect(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        scenarios: reports,
    };
    println!(
        "machine: {} CPUs, {} MiB\n",
        bench.machine.cpus, bench.machine.memory_mib
    );
    println!("{}", report::markdown_table(&bench.scenarios));
    for s in &bench.scenarios {
        for note in &s.notes {
            println!("- {} / {}: {note}", s.scenario, s.trigger.label());
        }
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&bench)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
