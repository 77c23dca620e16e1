//! Runs one scenario in one trigger mode and measures it.

use std::sync::Arc;
use std::time::Duration;

use azp_ado_emulator::{JobView, QueueJob};
use chrono::{DateTime, Utc};

use super::list_calls::{ListCallSpacing, while_sampling};
use super::player::{AgentPlayerRuntime, AgentRecord};
use super::pod_clock::{ObservedPod, PodClock};
use super::proc_stats::{self, ProcessUsage};
use super::report::{AgentMode, ScenarioReport, TriggerMode};
use super::rig::{Rig, RigOptions};
use super::scenario::{ScenarioKind, ScenarioPlan};
use super::stats::LatencySummary;
use crate::harness::Binaries;

/// The emulator's stats key of the job-request list (rule 1's call).
const JOB_LIST_ROUTE: &str = "GET /_apis/distributedtask/pools/{poolId}/jobrequests";

/// How to run one scenario.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Which scenario (for the report).
    pub kind: ScenarioKind,
    /// Polling only or hooks.
    pub trigger: TriggerMode,
    /// `pollInterval` as a duration (must match the plan's Go duration).
    pub poll_interval: Duration,
    /// `--min-poll-spacing-ms` of the operator.
    pub min_poll_spacing: Duration,
    /// How long each job runs on its agent.
    pub job_seconds: u64,
    /// Poll intervals to watch an idle system before the jobs (0: skip).
    pub idle_intervals: u32,
    /// Give up waiting for the run to settle after this long.
    pub timeout: Duration,
    /// Wait before the first job, so the jobs do not arrive in step with the operator's poll
    /// (warm-up ends right after a poll; the idle window is a whole number of intervals).
    pub start_delay: Duration,
}

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The system could not be started.
    #[error(transparent)]
    Sandbox(#[from] crate::harness::SandboxError),
    /// The player could not be set up.
    #[error(transparent)]
    Player(#[from] super::player::PlayerError),
    /// The warm-up never completed.
    #[error("{0}")]
    WarmUp(String),
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

/// Runs `plan` and measures it.
pub async fn run_scenario(
    settings: &RunSettings,
    plan: &ScenarioPlan,
    binaries: &Binaries,
) -> Result<ScenarioReport, RunError> {
    let pat = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let player = AgentPlayerRuntime::new(pat.clone(), None)?;
    let rig = Rig::start(RigOptions {
        ado_pools: plan.ado_pools.clone(),
        pat,
        hooks: settings.trigger == TriggerMode::Hooks,
        min_poll_spacing: settings.min_poll_spacing,
        runtime: Arc::new(player.clone()),
        binaries: binaries.clone(),
    })
    .await?;
    let result = measure(settings, plan, &rig, &player).await;
    rig.shutdown().await;
    result
}

async fn measure(
    settings: &RunSettings,
    plan: &ScenarioPlan,
    rig: &Rig,
    player: &AgentPlayerRuntime,
) -> Result<ScenarioReport, RunError> {
    let clock = PodClock::start(rig.pods_api());
    for spec in &plan.agent_pools {
        rig.apply_agent_pool(spec).await?;
    }
    warm_up(plan, rig, player).await?;
    let mut notes = Vec::new();

    // The emulator counts list calls of every Azure DevOps pool together (`huge` has two).
    let ado_pools = plan.ado_pools.len().max(1) as f64;
    let idle_list_rate = if settings.idle_intervals > 0 {
        rig.reset_stats().await?;
        let window = settings.poll_interval * settings.idle_intervals;
        tokio::time::sleep(window).await;
        let calls = route_count(&rig.emulator.stats(), JOB_LIST_ROUTE);
        notes.push(format!(
            "idle window: {calls} job-request list calls in {} poll intervals before any job",
            settings.idle_intervals
        ));
        Some(calls as f64 / f64::from(settings.idle_intervals) / ado_pools)
    } else {
        None
    };

    tokio::time::sleep(settings.start_delay).await;
    notes.push(format!(
        "first job queued {} ms after the warm-up/idle window (random poll phase)",
        settings.start_delay.as_millis()
    ));
    rig.reset_stats().await?;
    rig.kube_sim.record_requests("POST", "/pods");
    player.reset_request_counts();
    let cpu_before = operator_usage(rig).map(|u| u.cpu_seconds);
    let started = Utc::now();
    let start_instant = tokio::time::Instant::now();
    let mut request_ids = Vec::with_capacity(plan.jobs.len());
    let (queued, list_call_times) = while_sampling(&rig.emulator, JOB_LIST_ROUTE, async {
        for job in &plan.jobs {
            tokio::time::sleep_until(start_instant + job.at).await;
            let id = rig
                .emulator
                .queue_job(QueueJob {
                    pool: job.ado_pool.clone(),
                    demands: job.demands.clone(),
                    duration_seconds: settings.job_seconds,
                    ..QueueJob::default()
                })
                .map_err(|e| crate::harness::SandboxError::Emulator(format!("{}: {}", e.0, e.1)))?;
            request_ids.push(id);
        }
        Ok::<_, crate::harness::SandboxError>(
            settle(plan, rig, player, &request_ids, start_instant, settings).await,
        )
    })
    .await;
    let settled = queued?;
    let job_list_spacing = ListCallSpacing::of(&list_call_times, settings.poll_interval);
    if !settled {
        notes.push(format!(
            "did not settle within {} s: figures cover what finished",
            settings.timeout.as_secs()
        ));
    }
    let ended = Utc::now();
    let stats = rig.emulator.stats();
    let operator_log = std::fs::read_to_string(rig.dir().join("operator.log")).unwrap_or_default();
    let phases = super::phases::Phases {
        ado_round_trips: super::phases::ado_round_trips(&operator_log, started),
        pod_creates: super::phases::pod_creates(&rig.kube_sim.journal()),
    };
    let usage = operator_usage(rig);
    // A pod created late (a duplicate after the queue drained) must still be counted: watch
    // one more poll interval before counting pods.
    tokio::time::sleep(settings.poll_interval).await;
    let jobs: Vec<JobView> = rig
        .emulator
        .jobs()
        .into_iter()
        .filter(|j| request_ids.contains(&j.request_id))
        .collect();
    let pods = clock.pods();
    let records = player.records();
    // Why pods beyond one per job were made (deleted at the startup timeout and replaced, …).
    let reasons = super::events::reasons_since(rig, started).await;
    if !reasons.is_empty() {
        let counted: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} × {n}")).collect();
        notes.push(format!(
            "operator Events during the run: {}",
            counted.join(", ")
        ));
    }

    let by_registration =
        super::registration::figures(&super::registration::modes(plan), &pods, &records, &jobs);
    let (queue_to_pod, warm_served) = queue_to_pod_latencies(&jobs, &records, &pods);
    if warm_served > 0 {
        notes.push(format!(
            "{warm_served} jobs ran on a pod created before they were queued (minIdle agents); they are not in the queue→pod samples"
        ));
    }
    let queue_to_assigned: Vec<f64> = jobs
        .iter()
        .filter_map(|j| {
            Some(millis(
                parse_time(&j.queue_time)?,
                parse_time(j.assign_time.as_deref()?)?,
            ))
        })
        .collect();
    let (operator_by_route, overcounted) =
        operator_requests_by_route(&stats, &player.request_counts());
    if !overcounted.is_empty() {
        notes.push(format!(
            "the player counted more requests than the emulator answered on {} (in flight at the end or refused connections); those routes count 0 for the operator",
            overcounted.join(", ")
        ));
    }
    let operator_requests: u64 = operator_by_route.values().sum();
    let duration_seconds = (ended - started).num_milliseconds() as f64 / 1000.0;
    let minutes = (duration_seconds / 60.0).max(f64::EPSILON);
    let job_list_calls = route_count(&stats, JOB_LIST_ROUTE);
    let intervals = (duration_seconds / settings.poll_interval.as_secs_f64()).max(f64::EPSILON);
    let min_idle_total = plan.min_idle_total();
    let pods_without_job = records
        .iter()
        .filter(|r| r.online_at.is_some() && r.job_at.is_none() && r.offline_at.is_some())
        .count();
    let idle_agent_seconds = records
        .iter()
        .map(|r| r.idle_seconds_between(started, ended))
        .sum();
    let jobs_finished = jobs.iter().filter(|j| j.state == "finished").count();
    let failed = jobs
        .iter()
        .filter(|j| j.result.as_deref().is_some_and(|r| r != "succeeded"))
        .count();
    if failed > 0 {
        notes.push(format!("{failed} jobs finished without success"));
    }
    if let (Some(before), Some(usage)) = (cpu_before, usage) {
        notes.push(format!(
            "operator CPU during the measured run: {:.2} s (the column is the whole process life, warm-up included)",
            usage.cpu_seconds - before
        ));
    }
    let mut report = ScenarioReport {
        scenario: settings.kind.name().to_owned(),
        trigger: settings.trigger,
        agents: AgentMode::InProcessPlayer,
        jobs: request_ids.len(),
        jobs_finished,
        agent_pools: plan.agent_pools.len(),
        ado_pools: plan.ado_pools.len(),
        min_idle_total,
        poll_interval_seconds: settings.poll_interval.as_secs_f64(),
        min_poll_spacing_ms: u64::try_from(settings.min_poll_spacing.as_millis())
            .unwrap_or(u64::MAX),
        duration_seconds,
        queue_to_pod_created: LatencySummary::of(&queue_to_pod),
        queue_to_assigned: LatencySummary::of(&queue_to_assigned),
        operator_ado_requests: operator_requests,
        operator_requests_by_route: operator_by_route,
        operator_ado_requests_per_minute: operator_requests as f64 / minutes,
        job_list_calls,
        job_list_calls_per_pool_per_interval: job_list_calls as f64 / ado_pools / intervals,
        idle_job_list_calls_per_pool_per_interval: idle_list_rate,
        job_list_spacing: Some(job_list_spacing),
        pods_created: pods.len(),
        pods_per_job: pods.len() as f64 / request_ids.len().max(1) as f64,
        excess_pods: pods.len() as i64 - (request_ids.len() as i64 + i64::from(min_idle_total)),
        pods_without_job,
        idle_agent_seconds,
        operator: usage,
        by_registration,
        largest_job_list_bytes: stats.largest_body_bytes.get(JOB_LIST_ROUTE).copied(),
        phases: Some(phases),
        notes,
    };
    report.notes.sort();
    Ok(report)
}

fn operator_usage(rig: &Rig) -> Option<ProcessUsage> {
    let pid = rig.operator.pid()?;
    match proc_stats::usage_of(pid, proc_stats::clock_ticks_per_second()) {
        Ok(usage) => Some(usage),
        Err(e) => {
            tracing::warn!(error = %e, "operator usage");
            None
        }
    }
}

/// The operator's requests per route: the emulator's count minus the player's. Routes where
/// the player counted more than the emulator answered are listed and count 0.
pub fn operator_requests_by_route(
    stats: &azp_ado_emulator::stats::Stats,
    player: &std::collections::BTreeMap<String, u64>,
) -> (std::collections::BTreeMap<String, u64>, Vec<String>) {
    let mut operator = std::collections::BTreeMap::new();
    let mut overcounted = Vec::new();
    for (route, by_status) in &stats.routes {
        let answered: u64 = by_status.values().sum();
        let played = player.get(route).copied().unwrap_or(0);
        if played > answered {
            overcounted.push(route.clone());
        }
        let own = answered.saturating_sub(played);
        if own > 0 {
            operator.insert(route.clone(), own);
        }
    }
    (operator, overcounted)
}

fn route_count(stats: &azp_ado_emulator::stats::Stats, route: &str) -> u64 {
    stats
        .routes
        .get(route)
        .map_or(0, |by_status| by_status.values().sum())
}

/// Queue → creation of the pod whose agent ran the job (the player's record names the pod;
/// the emulator forgets a job's agent once the agent is deregistered). A job that ran on a
/// pod created before it was queued (a minIdle agent) needed no new pod: it is left out of
/// the samples and counted in the second value.
pub fn queue_to_pod_latencies(
    jobs: &[JobView],
    records: &[AgentRecord],
    pods: &[ObservedPod],
) -> (Vec<f64>, usize) {
    let mut latencies = Vec::new();
    let mut warm = 0;
    for job in jobs {
        let Some(queued) = parse_time(&job.queue_time) else {
            continue;
        };
        let Some(record) = records
            .iter()
            .find(|r| r.request_id == Some(job.request_id))
        else {
            continue;
        };
        let Some(pod) = pods.iter().find(|p| p.name == record.pod) else {
            continue;
        };
        let ms = millis(queued, pod.seen_at);
        if ms < 0.0 {
            warm += 1;
        } else {
            latencies.push(ms);
        }
    }
    (latencies, warm)
}

/// Waits until every AgentPool's placeholder is registered and `minIdle` agents are online.
async fn warm_up(
    plan: &ScenarioPlan,
    rig: &Rig,
    player: &AgentPlayerRuntime,
) -> Result<(), RunError> {
    let wanted_idle = plan.min_idle_total() as usize;
    // 120 s, plus 100 ms per idle agent: `huge` starts 1,000 of them, each with a pod and,
    // for operator-minted registrations, an RSA key.
    let limit = Duration::from_secs(120) + Duration::from_millis(100) * wanted_idle as u32;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let placeholders = rig
            .emulator
            .agents()
            .iter()
            .filter(|a| azp_contract::naming::is_placeholder_name(&a.name))
            .count();
        let online = player
            .records()
            .iter()
            .filter(|r| r.online_at.is_some() && r.offline_at.is_none())
            .count();
        if placeholders >= plan.agent_pools.len() && online >= wanted_idle {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RunError::WarmUp(format!(
                "after {} s: {placeholders}/{} placeholders, {online}/{wanted_idle} idle agents online (operator log: {})",
                limit.as_secs(),
                plan.agent_pools.len(),
                rig.dir().join("operator.log").display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until every job finished and the pods stopped changing: either only the `minIdle`
/// pods are left with their agents online, or (over-provisioned) the set of pods, all
/// running, stayed the same for three poll intervals. False on timeout.
async fn settle(
    plan: &ScenarioPlan,
    rig: &Rig,
    player: &AgentPlayerRuntime,
    request_ids: &[i64],
    started: tokio::time::Instant,
    settings: &RunSettings,
) -> bool {
    let wanted_pods = plan.min_idle_total() as usize;
    let mut stable_since: Option<(Vec<String>, tokio::time::Instant)> = None;
    loop {
        let all_finished = rig
            .emulator
            .jobs()
            .iter()
            .filter(|j| request_ids.contains(&j.request_id))
            .all(|j| j.state == "finished");
        if all_finished {
            let pods = rig
                .pods_api()
                .list(&kube::api::ListParams::default().labels(&format!(
                    "{}={}",
                    azp_contract::labels::MANAGED_BY,
                    azp_contract::labels::MANAGED_BY_VALUE
                )))
                .await
                .map(|l| l.items)
                .unwrap_or_default();
            let idle_online = player
                .records()
                .iter()
                .filter(|r| r.online_at.is_some() && r.job_at.is_none() && r.offline_at.is_none())
                .count();
            // Settled: the finished pods are gone and the minIdle replacements are online.
            if pods.len() <= wanted_pods && idle_online >= wanted_pods {
                return true;
            }
            let all_running = pods.iter().all(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            });
            let mut names: Vec<String> = pods
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            names.sort();
            match &stable_since {
                Some((same, since)) if *same == names && all_running => {
                    if since.elapsed() >= settings.poll_interval * 3 {
                        return true;
                    }
                }
                _ => stable_since = Some((names, tokio::time::Instant::now())),
            }
        }
        if started.elapsed() >= settings.timeout {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(request_id: i64, queued: &str) -> JobView {
        serde_json::from_value(serde_json::json!({
            "requestId": request_id, "pool": "Linux", "state": "finished",
            "queueTime": queued, "cancelRequested": false,
        }))
        .unwrap()
    }

    fn record(pod: &str, request_id: i64) -> AgentRecord {
        AgentRecord {
            pod: pod.into(),
            request_id: Some(request_id),
            ..AgentRecord::default()
        }
    }

    fn pod(name: &str, seen: &str) -> ObservedPod {
        ObservedPod {
            name: name.into(),
            agent_name: None,
            agent_pool: None,
            seen_at: parse_time(seen).unwrap(),
        }
    }

    #[test]
    fn operator_traffic_is_the_emulator_count_minus_the_players() {
        let routes = [
            ("GET /_apis/distributedtask/pools/{poolId}/jobrequests", 7),
            ("POST /_apis/distributedtask/pools/{poolId}/agents", 5),
            ("POST /_apis/oauth2/token", 3),
        ];
        let stats = azp_ado_emulator::stats::Stats {
            total: 15,
            routes: routes
                .iter()
                .map(|(r, n)| ((*r).to_owned(), [("200".to_owned(), *n)].into()))
                .collect(),
            ..Default::default()
        };
        let player = [
            (
                "POST /_apis/distributedtask/pools/{poolId}/agents".to_owned(),
                4,
            ),
            ("POST /_apis/oauth2/token".to_owned(), 4),
        ]
        .into();
        let (operator, overcounted) = operator_requests_by_route(&stats, &player);
        assert_eq!(operator.len(), 2);
        assert_eq!(
            operator["GET /_apis/distributedtask/pools/{poolId}/jobrequests"],
            7
        );
        assert_eq!(
            operator["POST /_apis/distributedtask/pools/{poolId}/agents"],
            1
        );
        assert_eq!(overcounted, ["POST /_apis/oauth2/token"]);
    }

    #[test]
    fn latency_is_measured_to_the_pod_that_ran_the_job() {
        let jobs = [
            job(1, "2026-01-01T00:00:00.000000Z"),
            job(2, "2026-01-01T00:00:00.100000Z"),
            job(3, "2026-01-01T00:00:05.000000Z"),
            job(4, "2026-01-01T00:00:06.000000Z"),
        ];
        // Job 1 ran on the pod created second, job 2 on the first: matching is by the
        // agent that ran it, not by creation order. Job 3 ran on a warm pod created before
        // it was queued. Job 4 never ran.
        let records = [record("b", 1), record("a", 2), record("warm", 3)];
        let pods = [
            pod("a", "2026-01-01T00:00:00.200Z"),
            pod("b", "2026-01-01T00:00:00.450Z"),
            pod("warm", "2026-01-01T00:00:01Z"),
        ];
        let (latencies, warm) = queue_to_pod_latencies(&jobs, &records, &pods);
        assert_eq!(latencies, [450.0, 100.0]);
        assert_eq!(warm, 1);
    }
}
