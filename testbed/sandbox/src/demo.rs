//! `azp-sandbox demo` (the default): two AgentPools sharing the Azure DevOps pool `Linux`
//! (`linux`, and `java` whose agents advertise `java`), a realistic mix of jobs — two bursts,
//! jobs demanding `java`, one failing job, one cancelled while it runs, one demanding `gpu`
//! that no AgentPool can serve — a live view, a summary table and the invariants.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use azp_ado_emulator::QueueJob;

use crate::harness::{AgentPoolSpec, Sandbox, SandboxOptions};
use crate::invariants::{self, Limits, RunRecord, Verdict};
use crate::view::{LiveView, SummaryRow, summary_table};

/// Flags of `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Scale every job's duration (seconds) by this factor.
    #[arg(long, default_value_t = 1.0)]
    pub job_seconds_scale: f64,
    /// Give up waiting for the system to settle after this many seconds.
    #[arg(long, default_value_t = 90)]
    pub settle_timeout: u64,
    /// Turn off the emulator → operator service hook (polling only).
    #[arg(long)]
    pub no_hooks: bool,
    /// The operator's --min-poll-spacing-ms.
    #[arg(long, default_value_t = 1000)]
    pub min_poll_spacing_ms: u64,
    /// Keep the sandbox directory (operator.log, pod logs) and print its path.
    #[arg(long)]
    pub keep: bool,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            job_seconds_scale: 1.0,
            settle_timeout: 90,
            no_hooks: false,
            min_poll_spacing_ms: 1000,
            keep: false,
        }
    }
}

/// The two AgentPools of the demo (and of chaos), one per registration mode, so every run
/// checks its invariants against both: `linux` with operator-minted registrations (the
/// default), `java` with the `register` init container.
pub fn agent_pools() -> [AgentPoolSpec; 2] {
    [
        AgentPoolSpec::new("linux", "Linux").max_agents(4),
        AgentPoolSpec::new("java", "Linux")
            .capability("java", "17")
            .max_agents(2)
            .registration("pod"),
    ]
}

fn job(pool: &str, seconds: f64, demands: &[&str], name: &str) -> QueueJob {
    QueueJob {
        pool: pool.into(),
        demands: demands.iter().map(|d| (*d).to_owned()).collect(),
        duration_seconds: seconds.round().max(0.0) as u64,
        name: Some(name.into()),
        ..QueueJob::default()
    }
}

/// Runs the demo; `Passed` when every invariant held.
pub async fn run(args: DemoArgs) -> anyhow::Result<Verdict> {
    let scale = args.job_seconds_scale;
    let options = SandboxOptions {
        hooks: !args.no_hooks,
        min_poll_spacing: Duration::from_millis(args.min_poll_spacing_ms),
        keep_dir: args.keep || SandboxOptions::default().keep_dir,
        ..SandboxOptions::default()
    };
    println!(
        "azp-sandbox demo: starting emulator, kube-sim, kubelet and azp-operator on 127.0.0.1"
    );
    let mut sandbox = Sandbox::start(options)
        .await
        .context("starting the sandbox")?;
    // The demo's clock starts with the system, not with cargo: building the binaries (minutes
    // on a fresh machine) is not part of what it shows.
    let started = Instant::now();
    let result = drive(&mut sandbox, scale, args.settle_timeout, started).await;
    let stragglers = sandbox.shutdown().await;
    if !stragglers.is_empty() {
        println!("shutdown: killed {} leftover process(es)", stragglers.len());
    }
    result
}

async fn drive(
    sandbox: &mut Sandbox,
    scale: f64,
    settle_timeout: u64,
    started: Instant,
) -> anyhow::Result<Verdict> {
    let mut record = RunRecord {
        started_at: chrono::Utc::now(),
        ..RunRecord::default()
    };
    for pool in agent_pools() {
        sandbox.apply_agent_pool(&pool).await?;
    }
    sandbox
        .wait_for_placeholders(&["linux", "java"], Duration::from_secs(30))
        .await?;
    let mut view = LiveView::new("azp-sandbox demo");
    let mut note = String::from("AgentPools linux and java ready");
    let mut queued = 0usize;
    // (seconds after start, jobs); the timeline of the mix.
    let first_burst: Vec<QueueJob> = (0..6)
        .map(|i| {
            job(
                "Linux",
                (1.0 + f64::from(i % 3)) * scale,
                &[],
                &format!("build-{i}"),
            )
        })
        .chain((0..3).map(|i| job("Linux", 2.0 * scale, &["java"], &format!("java-{i}"))))
        .chain([job("Linux", 1.0, &["gpu"], "needs-gpu")])
        .collect();
    let long_job = job("Linux", 60.0, &[], "to-be-cancelled");
    let mut failing = job("Linux", 1.0 * scale, &[], "flaky-test");
    failing.result = Some("failed".into());
    let second_burst: Vec<QueueJob> = (0..5)
        .map(|i| {
            job(
                "Linux",
                (1.0 + f64::from(i % 2)) * scale,
                &[],
                &format!("deploy-{i}"),
            )
        })
        .chain([failing])
        .collect();
    let total_jobs = first_burst.len() + 1 + second_burst.len();
    for j in first_burst {
        sandbox.queue_job(j)?;
        queued += 1;
    }
    let long_id = sandbox.queue_job(long_job)?;
    queued += 1;
    note = format!("{note}; burst of {queued} jobs queued");
    let mut cancelled = false;
    let mut second_done = false;
    let settle_deadline_base = Duration::from_secs(settle_timeout);
    let mut last_progress = Instant::now();
    loop {
        let snapshot = sandbox.snapshot().await?;
        view.show(&snapshot, started.elapsed(), total_jobs, &note);
        let long_running = snapshot
            .jobs
            .iter()
            .any(|j| j.request_id == long_id && j.state == "running");
        if !cancelled && long_running {
            sandbox.cancel_job(long_id)?;
            record.cancelled_jobs.insert(long_id);
            cancelled = true;
            note = format!("cancelled running job {long_id}");
        }
        if !second_done && snapshot.results().values().sum::<usize>() >= 6 {
            for j in second_burst.clone() {
                sandbox.queue_job(j)?;
                queued += 1;
            }
            second_done = true;
            note = "second burst queued (one job will fail)".into();
        }
        if second_done && cancelled {
            let violations =
                invariants::check_all(&snapshot, &record_with(sandbox, &record), &limits(sandbox));
            if violations.is_empty() && snapshot.pods.is_empty() {
                break;
            }
        } else {
            last_progress = Instant::now();
        }
        if last_progress.elapsed() > settle_deadline_base {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let snapshot = sandbox.snapshot().await?;
    view.show(&snapshot, started.elapsed(), total_jobs, "done");
    record = record_with(sandbox, &record);
    let violations = invariants::check_all(&snapshot, &record, &limits(sandbox));
    let mut extra = vec![
        SummaryRow::new("jobs queued by the demo", queued.to_string()),
        SummaryRow::new("operator starts", record.operator_starts.to_string()),
    ];
    if let Some(pid) = sandbox.operator_pid()
        && let Some(rss) = rss_kib(pid)
    {
        extra.push(SummaryRow::new(
            "operator RSS",
            format!("{} MiB", rss / 1024),
        ));
    }
    println!();
    print!("{}", summary_table(&snapshot, started.elapsed(), &extra));
    Ok(invariants::report(&violations, None))
}

fn record_with(sandbox: &Sandbox, record: &RunRecord) -> RunRecord {
    RunRecord {
        operator_starts: sandbox.operator_starts(),
        ..record.clone()
    }
}

/// The demo's and chaos' limits: one Azure DevOps pool, the sandbox's poll spacing.
pub fn limits(sandbox: &Sandbox) -> Limits {
    Limits {
        min_poll_spacing: sandbox.options().min_poll_spacing,
        ado_pools: sandbox.options().ado_pools.len(),
        ..Limits::default()
    }
}

/// Resident set size of a process in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
