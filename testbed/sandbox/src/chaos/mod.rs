//! `azp-sandbox chaos --seed S`: a steady stream of jobs while a seeded schedule of faults
//! hits every part of the system (pods killed at each phase, the operator killed and
//! restarted, emulator 429/5xx bursts and latency, the PAT Secret rotated to a bad value and
//! back, an AgentPool's env edited mid-run so its agents roll). Afterwards the system gets time to settle, then every invariant is checked; a
//! violation is printed with its name and the seed, and the exit code is non-zero.

pub mod fault;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use azp_ado_emulator::QueueJob;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::demo::{agent_pools, limits};
use crate::harness::{Sandbox, SandboxError, SandboxOptions};
use crate::invariants::{self, RunRecord, Verdict, Violation};
use crate::snapshot::{AgentState, Snapshot};
use crate::view::{LiveView, SummaryRow, summary_table};
use fault::{Fault, Schedule};

/// How long a pod fault waits for a pod in its phase before it is skipped.
const POD_FAULT_PATIENCE: Duration = Duration::from_secs(6);

/// Flags of `chaos`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    /// Seed of the fault and job schedule (default: from the clock; always printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds of faults and jobs before settling.
    #[arg(long, default_value_t = 120)]
    pub duration: u64,
    /// Seconds the system gets afterwards to converge before the invariants are final.
    #[arg(long, default_value_t = 120)]
    pub settle_timeout: u64,
    /// Mean seconds between two faults.
    #[arg(long, default_value_t = 4.0)]
    pub fault_interval: f64,
    /// Mean seconds between two queued jobs (the two AgentPools, 6 agents in all, keep up
    /// with about one job per 1.5 s without faults; lower values build a backlog).
    #[arg(long, default_value_t = 3.0)]
    pub job_interval: f64,
    /// Keep the sandbox directory (operator.log, pod logs) and print its path.
    #[arg(long)]
    pub keep: bool,
    /// Every AgentPool has the BuildKit sidecar, whose stand-in listens only this many
    /// milliseconds after it started (the start-up race the startup probe must absorb).
    #[arg(long, default_value_t = 1500)]
    pub buildkit_start_delay_ms: u64,
}

impl Default for ChaosArgs {
    fn default() -> Self {
        Self {
            seed: None,
            duration: 120,
            settle_timeout: 120,
            fault_interval: 4.0,
            job_interval: 3.0,
            keep: false,
            buildkit_start_delay_ms: 1500,
        }
    }
}

/// What a chaos run observed.
#[derive(Debug)]
pub struct ChaosOutcome {
    /// The seed.
    pub seed: u64,
    /// Broken invariants (empty: all held).
    pub violations: Vec<Violation>,
    /// Faults applied, by name (`skipped:` prefix when no target existed).
    pub faults: BTreeMap<String, usize>,
    /// The final snapshot.
    pub snapshot: Snapshot,
    /// What the run did on purpose.
    pub record: RunRecord,
    /// Wall time.
    pub elapsed: Duration,
}

/// Sandbox settings for chaos: short locks and session timeouts so killed agents' jobs and
/// registrations resolve within the settle window.
pub fn sandbox_options(keep: bool, buildkit_start_delay: Duration) -> SandboxOptions {
    SandboxOptions {
        buildkit_start_delay,
        lock_duration: Duration::from_secs(20),
        long_poll: Duration::from_secs(5),
        session_idle_timeout: Duration::from_secs(15),
        keep_dir: keep || SandboxOptions::default().keep_dir,
        ..SandboxOptions::default()
    }
}

/// The CLI entry: runs, prints the summary and the verdict.
pub async fn run(args: ChaosArgs) -> anyhow::Result<Verdict> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    println!(
        "azp-sandbox chaos: seed {seed}, {} s of faults, up to {} s to settle",
        args.duration, args.settle_timeout
    );
    let outcome = run_chaos(ChaosArgs {
        seed: Some(seed),
        ..args
    })
    .await
    .context("chaos run")?;
    let mut extra: Vec<SummaryRow> = outcome
        .faults
        .iter()
        .map(|(name, n)| SummaryRow::new(format!("fault {name}"), n.to_string()))
        .collect();
    extra.push(SummaryRow::new("seed", seed.to_string()));
    extra.push(SummaryRow::new(
        "pods killed by chaos",
        outcome.record.killed_pods.len().to_string(),
    ));
    println!();
    print!(
        "{}",
        summary_table(&outcome.snapshot, outcome.elapsed, &extra)
    );
    Ok(invariants::report(&outcome.violations, Some(seed)))
}

/// Runs chaos with `args.seed` (0 when absent) and returns what it observed.
pub async fn run_chaos(args: ChaosArgs) -> Result<ChaosOutcome, SandboxError> {
    let seed = args.seed.unwrap_or(0);
    let started = Instant::now();
    let options = sandbox_options(
        args.keep,
        Duration::from_millis(args.buildkit_start_delay_ms),
    );
    let mut sandbox = Sandbox::start(options).await?;
    let result = drive(&mut sandbox, &args, seed, started).await;
    let stragglers = sandbox.shutdown().await;
    if !stragglers.is_empty() {
        tracing::info!(
            count = stragglers.len(),
            "killed leftover processes at shutdown"
        );
    }
    result
}

/// Exponentially distributed gap with the given mean, capped at 4× the mean.
fn gap(rng: &mut StdRng, mean: f64) -> Duration {
    let u: f64 = rng.random_range(0.0001..1.0);
    Duration::from_secs_f64((-u.ln() * mean).min(mean * 4.0))
}

fn random_job(rng: &mut StdRng, n: usize) -> QueueJob {
    let roll = rng.random_range(0..100u32);
    let demands = match roll {
        0..5 => vec!["gpu".to_owned()],
        5..30 => vec!["java".to_owned()],
        _ => Vec::new(),
    };
    QueueJob {
        pool: "Linux".into(),
        demands,
        duration_seconds: rng.random_range(1..7),
        result: (rng.random_range(0..10u32) == 0).then(|| "failed".to_owned()),
        name: Some(format!("chaos-{n}")),
        ..QueueJob::default()
    }
}

async fn drive(
    sandbox: &mut Sandbox,
    args: &ChaosArgs,
    seed: u64,
    started: Instant,
) -> Result<ChaosOutcome, SandboxError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut record = RunRecord {
        started_at: chrono::Utc::now(),
        ..RunRecord::default()
    };
    for pool in chaos_pools(None) {
        sandbox.apply_agent_pool(&pool).await?;
    }
    sandbox
        .wait_for_placeholders(&["linux", "java"], Duration::from_secs(30))
        .await?;
    let mut view = LiveView::new(format!("azp-sandbox chaos (seed {seed})"));
    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    // Counted from here, so a first-run build of the binaries does not eat into it.
    let chaos_end = Instant::now() + Duration::from_secs(args.duration);
    let mut next_job = Instant::now();
    let mut next_fault = Instant::now() + gap(&mut rng, args.fault_interval);
    let mut schedule = Schedule::default();
    // A pod fault waits (up to POD_FAULT_PATIENCE) for a pod in its phase to exist.
    let mut pending: Option<(Fault, Instant)> = None;
    let mut restore_pat_at: Option<Instant> = None;
    let mut operator_back_at: Option<Instant> = None;
    let mut last_view = Instant::now() - Duration::from_secs(1);
    let mut queued = 0usize;
    let mut note = String::new();
    let pat = sandbox.options().pat.clone();
    while Instant::now() < chaos_end {
        let now = Instant::now();
        if restore_pat_at.is_some_and(|t| now >= t) {
            sandbox.set_pat(&pat).await?;
            restore_pat_at = None;
            note = "PAT restored".into();
        }
        if operator_back_at.is_some_and(|t| now >= t) {
            let began = Instant::now();
            sandbox.start_operator().await?;
            tracing::info!(
                took_ms = began.elapsed().as_millis(),
                "operator started again"
            );
            operator_back_at = None;
            note = "operator started again".into();
        }
        if now >= next_job {
            queued += 1;
            let job = random_job(&mut rng, queued);
            sandbox.queue_job(job)?;
            next_job = now + gap(&mut rng, args.job_interval);
        }
        let snapshot = sandbox.snapshot().await?;
        record.observe(&snapshot);
        if pending.is_none() && now >= next_fault {
            pending = Some((schedule.next(&mut rng), now));
            next_fault = now + gap(&mut rng, args.fault_interval);
        }
        if let Some((fault, since)) = pending.take() {
            let began = Instant::now();
            let applied = apply(sandbox, &snapshot, &fault, &mut rng, &mut record).await?;
            tracing::debug!(fault = %fault.name(), applied, took_ms = began.elapsed().as_millis(), "chaos fault");
            match &fault {
                Fault::BadPat { seconds } if applied => {
                    restore_pat_at = Some(now + Duration::from_secs(*seconds));
                }
                Fault::RestartOperator { down_ms } if applied => {
                    operator_back_at = Some(now + Duration::from_millis(*down_ms));
                }
                _ => {}
            }
            if applied {
                tracing::info!(fault = %fault.name(), "chaos fault applied");
                note = fault.name();
                *faults.entry(fault.name()).or_default() += 1;
            } else if now.duration_since(since) < POD_FAULT_PATIENCE {
                pending = Some((fault, since));
            } else {
                *faults
                    .entry(format!("skipped:{}", fault.name()))
                    .or_default() += 1;
            }
        }
        if last_view.elapsed() >= Duration::from_secs(1) {
            view.show(&snapshot, started.elapsed(), queued, &note);
            last_view = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Stop the damage, then give the system time to converge.
    sandbox.clear_faults().await?;
    sandbox.set_pat(&pat).await?;
    sandbox.start_operator().await?;
    note = "chaos over; settling".into();
    let settle_end = Instant::now() + Duration::from_secs(args.settle_timeout);
    let mut snapshot;
    loop {
        snapshot = sandbox.snapshot().await?;
        record.operator_starts = sandbox.operator_starts();
        let violations = invariants::check_all(&snapshot, &record, &limits(sandbox));
        if (violations.is_empty() && snapshot.pods.is_empty()) || Instant::now() >= settle_end {
            break;
        }
        if last_view.elapsed() >= Duration::from_secs(1) {
            view.show(&snapshot, started.elapsed(), queued, &note);
            last_view = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    view.show(&snapshot, started.elapsed(), queued, "done");
    let violations = invariants::check_all(&snapshot, &record, &limits(sandbox));
    if !violations.is_empty() {
        // Evidence for the report: what the agents still running were doing.
        for pod in &snapshot.pods {
            if let Some(tail) = sandbox.agent_log_tail(&pod.name, 25).await {
                eprintln!(
                    "--- last lines of pod {} (agent container) ---\n{tail}",
                    pod.name
                );
            }
        }
    }
    Ok(ChaosOutcome {
        seed,
        violations,
        faults,
        snapshot,
        record,
        elapsed: started.elapsed(),
    })
}

/// The AgentPools of a chaos run; `edit` = `(index, value)` gives that one's agents the
/// environment variable `CHAOS_SPEC_EDIT=value` (a pod-shaping edit: its agents roll).
fn chaos_pools(edit: Option<(usize, u32)>) -> Vec<crate::harness::AgentPoolSpec> {
    let mut pools: Vec<_> = agent_pools().into_iter().collect();
    for (index, pool) in pools.iter_mut().enumerate() {
        // As chaos always ran them: the demo's extras (java's `registration: pod`) replaced.
        let mut extra = serde_json::json!({"buildkit": {"enabled": true}});
        if let Some((_, value)) = edit.filter(|(edited, _)| *edited == index) {
            extra["agent"] = serde_json::json!({
                "image": "azp-agent:sandbox",
                "env": [{"name": "CHAOS_SPEC_EDIT", "value": value.to_string()}],
            });
        }
        pool.extra_spec = extra;
    }
    pools
}

/// Picks a pod in the fault's phase; `None` when there is none right now.
fn target_pod(snapshot: &Snapshot, fault: &Fault, rng: &mut StdRng) -> Option<String> {
    let agents: BTreeMap<&str, AgentState> = snapshot
        .agents
        .iter()
        .map(|a| (a.name.as_str(), AgentState::of(a)))
        .collect();
    let finished_agents: Vec<&str> = snapshot
        .jobs
        .iter()
        .filter(|j| j.state == "finished")
        .filter_map(|j| j.agent_name.as_deref())
        .collect();
    let candidates: Vec<&str> = snapshot
        .pods
        .iter()
        .filter(|p| !p.terminating && matches!(p.phase.as_str(), "Pending" | "Running"))
        .filter(|p| {
            let agent = p.agent_name.as_deref().unwrap_or_default();
            let state = agents.get(agent).copied();
            match fault {
                Fault::KillPodBeforeRegistration => state.is_none(),
                Fault::KillIdlePod => state == Some(AgentState::Idle),
                Fault::KillBusyPod => state == Some(AgentState::Busy),
                Fault::KillDeregisteringPod => {
                    state != Some(AgentState::Busy) && finished_agents.contains(&agent)
                }
                _ => false,
            }
        })
        .map(|p| p.name.as_str())
        .collect();
    if candidates.is_empty() {
        None
    } else {
        Some(candidates[rng.random_range(0..candidates.len())].to_owned())
    }
}

/// Applies one fault; `false` when it had no target.
async fn apply(
    sandbox: &mut Sandbox,
    snapshot: &Snapshot,
    fault: &Fault,
    rng: &mut StdRng,
    record: &mut RunRecord,
) -> Result<bool, SandboxError> {
    match fault {
        Fault::KillPodBeforeRegistration
        | Fault::KillIdlePod
        | Fault::KillBusyPod
        | Fault::KillDeregisteringPod => {
            let Some(pod) = target_pod(snapshot, fault, rng) else {
                return Ok(false);
            };
            // Recorded first: the invariants must never blame the operator for this pod.
            record.killed_pods.insert(pod.clone());
            if rng.random_bool(0.3) {
                sandbox.delete_pod_now(&pod).await?;
            } else {
                sandbox.delete_pod(&pod).await?;
            }
            Ok(true)
        }
        Fault::RestartOperator { .. } => {
            if !sandbox.operator_running() {
                return Ok(false);
            }
            sandbox.kill_operator().await;
            Ok(true)
        }
        Fault::Emulator(body) => {
            sandbox.add_fault(body.clone()).await?;
            Ok(true)
        }
        Fault::BadPat { .. } => {
            sandbox.set_pat("not-the-pat").await?;
            Ok(true)
        }
        Fault::SpecEdit { pool, value } => {
            let pools = chaos_pools(Some((*pool, *value)));
            let Some(edited) = pools.get(*pool) else {
                return Ok(false);
            };
            sandbox.apply_agent_pool(edited).await?;
            Ok(true)
        }
    }
}
