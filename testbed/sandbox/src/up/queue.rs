//! `azp-sandbox queue`: queues one job in the emulator of a running `azp-sandbox up` and, unless
//! told not to, follows it to its end and prints its log, as a pipeline run page would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use azp_ado_emulator::JobView;
use serde_json::json;

use super::state;
use crate::invariants::Verdict;

/// Flags of `queue`.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// Azure DevOps pool (default: the only pool of the running sandbox).
    #[arg(long)]
    pub pool: Option<String>,
    /// A demand (`name`, `name -equals value`, `name -gtVersion 1.2`). Repeatable.
    #[arg(long = "demand", value_name = "DEMAND")]
    pub demands: Vec<String>,
    /// A shell script the job runs (its output is in the job's log).
    #[arg(long)]
    pub script: Option<String>,
    /// The job's name.
    #[arg(long)]
    pub name: Option<String>,
    /// How long the job runs, besides its script (seconds).
    #[arg(long, default_value_t = 0)]
    pub duration_seconds: u64,
    /// Queue and return at once, without following the job.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up following the job after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// The state file of the running `up`.
    #[arg(long, value_name = "FILE", default_value_os_t = state::default_path())]
    pub state_file: PathBuf,
}

/// Queues the job; `Passed` when it succeeded (or was only queued), `Violated` otherwise.
pub async fn run(args: QueueArgs) -> anyhow::Result<Verdict> {
    let up = state::read(&args.state_file)?;
    let pool = match (&args.pool, up.ado_pools.as_slice()) {
        (Some(pool), _) => pool.clone(),
        (None, [only]) => only.clone(),
        (None, pools) => anyhow::bail!("--pool is needed: the sandbox serves {}", pools.join(", ")),
    };
    let http = reqwest::Client::new();
    let body = json!({
        "pool": pool,
        "demands": args.demands,
        "script": args.script,
        "name": args.name,
        "durationSeconds": args.duration_seconds,
    });
    let response = http
        .post(format!("{}/_emulator/jobs", up.emulator))
        .json(&body)
        .send()
        .await
        .with_context(|| {
            format!(
                "cannot reach the emulator at {} (is `azp-sandbox up` still running?)",
                up.emulator
            )
        })?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("the emulator refused the job ({status}): {answer}");
    }
    let id = answer["requestId"]
        .as_i64()
        .context("the emulator's answer has no requestId")?;
    println!("queued job {id} in pool {pool}");
    if args.no_wait {
        return Ok(Verdict::Passed);
    }
    follow(&http, &up.emulator, id, Duration::from_secs(args.timeout)).await
}

/// Prints each state the job passes through, then its result and log.
async fn follow(
    http: &reqwest::Client,
    emulator: &str,
    id: i64,
    timeout: Duration,
) -> anyhow::Result<Verdict> {
    let started = Instant::now();
    let mut last_state = String::new();
    loop {
        let job: JobView = http
            .get(format!("{emulator}/_emulator/jobs/{id}"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .context("reading the job from the emulator")?
            .json()
            .await?;
        if job.state != last_state {
            let agent = job
                .agent_name
                .as_deref()
                .map(|name| format!(" (agent {name})"))
                .unwrap_or_default();
            println!(
                "{:>6.1}s  {}{agent}",
                started.elapsed().as_secs_f64(),
                job.state
            );
            last_state.clone_from(&job.state);
        }
        if job.state == "finished" {
            let result = job.result.as_deref().unwrap_or("unknown");
            if let Some(message) = &job.status_message {
                println!("{message}");
            }
            if let Some(log) = &job.log {
                println!("--- job log ---\n{}", log.trim_end());
                println!("---");
            }
            println!("job {id}: {result}");
            return Ok(if result == "succeeded" {
                Verdict::Passed
            } else {
                Verdict::Violated
            });
        }
        if started.elapsed() > timeout {
            anyhow::bail!("job {id} is still {} after {timeout:?}", job.state);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
