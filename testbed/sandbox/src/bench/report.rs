//! The bench's results: one [`ScenarioReport`] per run, written as JSON and as a Markdown
//! table (the form `docs/benchmarks.md` records).

use serde::Serialize;

use super::proc_stats::ProcessUsage;
use super::stats::LatencySummary;

/// Who took the jobs: this decides what the latency and idle figures mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentMode {
    /// The bench's in-process agent player (kubelet runtime without processes).
    InProcessPlayer,
    /// One real `azp-agent` process (with the stand-in) per pod.
    Process,
}

impl AgentMode {
    /// Short label for the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::InProcessPlayer => "in-process",
            Self::Process => "process",
        }
    }
}

/// How the operator learns about new jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerMode {
    /// Polling only (`pollInterval`).
    Polling,
    /// Service hooks posted by the emulator, polling as the safety net.
    Hooks,
}

impl TriggerMode {
    /// Short label for the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::Hooks => "hooks",
        }
    }
}

/// Machine the figures were measured on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    /// Online CPUs.
    pub cpus: usize,
    /// `MemTotal` in MiB.
    pub memory_mib: u64,
}

impl Machine {
    /// Reads the CPU count and `/proc/meminfo`.
    pub fn detect() -> Self {
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            memory_mib: memory_kib / 1024,
        }
    }
}

/// Figures of one scenario run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioReport {
    /// `burst`, `trickle` or `many-pools`.
    pub scenario: String,
    /// Polling only or with service hooks.
    pub trigger: TriggerMode,
    /// Who played the agents.
    pub agents: AgentMode,
    /// Jobs queued.
    pub jobs: usize,
    /// Jobs that had finished when the run ended.
    pub jobs_finished: usize,
    /// AgentPool resources.
    pub agent_pools: usize,
    /// Azure DevOps pools they point at.
    pub ado_pools: usize,
    /// Sum of `minIdle` over the AgentPools.
    pub min_idle_total: u32,
    /// `scaling.pollInterval` in seconds.
    pub poll_interval_seconds: f64,
    /// The operator's `--min-poll-spacing-ms` (how soon a hook or a Kubernetes change can
    /// bring a poll forward).
    pub min_poll_spacing_ms: u64,
    /// Wall time from the first job queued to the end of the run.
    pub duration_seconds: f64,
    /// Queue → creation of the pod whose agent ran the job (see docs/benchmarks.md).
    pub queue_to_pod_created: Option<LatencySummary>,
    /// Queue → job assigned to an agent (emulator `assignTime − queueTime`).
    pub queue_to_assigned: Option<LatencySummary>,
    /// Azure DevOps requests sent by the operator (the players' own requests subtracted).
    pub operator_ado_requests: u64,
    /// The same by route (`"METHOD /_apis/..."`, the emulator's stats keys).
    pub operator_requests_by_route: std::collections::BTreeMap<String, u64>,
    /// The same per minute of the run.
    pub operator_ado_requests_per_minute: f64,
    /// `GET …/jobrequests` calls during the run.
    pub job_list_calls: u64,
    /// `job_list_calls / ado_pools / (duration / pollInterval)`: 1.0 is one list per pool per
    /// interval.
    pub job_list_calls_per_pool_per_interval: f64,
    /// Job-request list calls per Azure DevOps pool per poll interval while no job existed
    /// (after warm-up, before the first job), when measured.
    pub idle_job_list_calls_per_pool_per_interval: Option<f64>,
    /// When the list calls came: how many were brought forward (less than a poll interval
    /// after the previous one) and the most in any one interval.
    pub job_list_spacing: Option<super::list_calls::ListCallSpacing>,
    /// Agent pods created during the run (seen by the bench's pod watch).
    pub pods_created: usize,
    /// `pods_created / jobs`.
    pub pods_per_job: f64,
    /// `pods_created − (jobs + minIdle)`: pods beyond what the planner should create.
    pub excess_pods: i64,
    /// Pods whose agent went away without running a job (scale-down or duplicate).
    pub pods_without_job: usize,
    /// Seconds agents spent online without a job, summed.
    pub idle_agent_seconds: f64,
    /// The operator process's peak RSS and CPU time (whole process lifetime).
    pub operator: Option<ProcessUsage>,
    /// Pod created → agent online and queue → assigned, per `spec.registration` mode.
    pub by_registration:
        std::collections::BTreeMap<String, super::registration::RegistrationFigures>,
    /// The largest job-request list the emulator sent during the run, in bytes.
    pub largest_job_list_bytes: Option<u64>,
    /// Where the time went: Azure DevOps round trips, pod creates and their rate.
    pub phases: Option<super::phases::Phases>,
    /// Anything that qualifies the figures.
    pub notes: Vec<String>,
}

/// Everything one `azp-sandbox bench` invocation measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BenchReport {
    /// The machine.
    pub machine: Machine,
    /// The command line.
    pub command: String,
    /// One entry per scenario and mode.
    pub scenarios: Vec<ScenarioReport>,
}

fn latency_cell(summary: Option<&LatencySummary>) -> String {
    summary.map_or_else(
        || "–".to_owned(),
        |s| format!("{:.0} / {:.0} / {:.0}", s.p50_ms, s.p99_ms, s.max_ms),
    )
}

/// The Markdown table of a report, one row per scenario run.
pub fn markdown_table(scenarios: &[ScenarioReport]) -> String {
    let mut out = String::from(
        "| scenario | trigger | agents | jobs (done) | AgentPools / ADO pools | minIdle | queue→pod p50/p99/max ms | queue→assigned p50/p99/max ms | operator ADO req/min | job-list calls per pool per interval: run (idle) | list calls brought forward / max in one interval | pods per job | excess pods | pods without job | idle agent-s | operator peak RSS MiB | operator CPU s | largest job list KiB | pods created/s | by registration: pod→online / queue→assigned p50 ms |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in scenarios {
        let (rss, cpu) = s.operator.map_or_else(
            || ("–".to_owned(), "–".to_owned()),
            |u| {
                (
                    format!("{:.1}", u.peak_rss_mib),
                    format!("{:.2}", u.cpu_seconds),
                )
            },
        );
        out.push_str(&format!(
            "| {} | {} | {} | {} ({}) | {} / {} | {} | {} | {} | {:.1} | {:.2}{} | {} | {:.2} | {} | {} | {:.1} | {} | {} | {} | {} | {} |\n",
            s.scenario,
            s.trigger.label(),
            s.agents.label(),
            s.jobs,
            s.jobs_finished,
            s.agent_pools,
            s.ado_pools,
            s.min_idle_total,
            latency_cell(s.queue_to_pod_created.as_ref()),
            latency_cell(s.queue_to_assigned.as_ref()),
            s.operator_ado_requests_per_minute,
            s.job_list_calls_per_pool_per_interval,
            s.idle_job_list_calls_per_pool_per_interval
                .map_or_else(String::new, |idle| format!(" ({idle:.2})")),
            s.job_list_spacing.map_or_else(
                || "–".to_owned(),
                |spacing| format!(
                    "{} of {} / {}",
                    spacing.brought_forward, spacing.calls, spacing.max_in_one_interval
                )
            ),
            s.pods_per_job,
            s.excess_pods,
            s.pods_without_job,
            s.idle_agent_seconds,
            rss,
            cpu,
            s.largest_job_list_bytes
                .map_or_else(|| "–".to_owned(), |b| format!("{:.0}", b as f64 / 1024.0)),
            s.phases.as_ref().map_or_else(
                || "–".to_owned(),
                |p| format!("{:.1}", p.pod_creates.per_second)
            ),
            super::registration::cell(&s.by_registration),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(scenario: &str) -> ScenarioReport {
        ScenarioReport {
            scenario: scenario.into(),
            trigger: TriggerMode::Hooks,
            agents: AgentMode::InProcessPlayer,
            jobs: 20,
            jobs_finished: 19,
            agent_pools: 3,
            ado_pools: 1,
            min_idle_total: 2,
            poll_interval_seconds: 5.0,
            min_poll_spacing_ms: 1000,
            duration_seconds: 30.0,
            queue_to_pod_created: LatencySummary::of(&[120.0, 80.0, 450.0]),
            queue_to_assigned: None,
            operator_ado_requests: 60,
            operator_requests_by_route: Default::default(),
            operator_ado_requests_per_minute: 120.0,
            job_list_calls: 6,
            job_list_calls_per_pool_per_interval: 1.0,
            idle_job_list_calls_per_pool_per_interval: Some(1.0),
            job_list_spacing: None,
            pods_created: 22,
            pods_per_job: 1.1,
            excess_pods: 0,
            pods_without_job: 2,
            idle_agent_seconds: 12.34,
            operator: Some(ProcessUsage {
                peak_rss_mib: 21.5,
                cpu_seconds: 1.234,
            }),
            by_registration: Default::default(),
            largest_job_list_bytes: Some(10_240),
            phases: None,
            notes: vec![],
        }
    }

    #[test]
    fn table_has_one_row_per_run_with_its_figures() {
        let table = markdown_table(&[sample("burst"), sample("trickle")]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        let header_cells = lines[0].matches('|').count();
        assert!(lines.iter().all(|l| l.matches('|').count() == header_cells));
        assert!(lines[2].starts_with("| burst | hooks | in-process | 20 (19) | 3 / 1 | 2 |"));
        assert!(lines[2].contains("| 120 / 450 / 450 | – |"), "{}", lines[2]);
        assert!(
            lines[2].contains("| 21.5 | 1.23 | 10 | – | – |"),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains("| 1.00 (1.00) |"), "{}", lines[2]);
        assert!(lines[3].starts_with("| trickle |"));
    }

    #[test]
    fn json_names_the_modes_and_keeps_missing_figures_null() {
        let json = serde_json::to_value(sample("many-pools")).unwrap();
        assert_eq!(json["trigger"], "hooks");
        assert_eq!(json["agents"], "in-process-player");
        assert_eq!(json["queueToPodCreated"]["p99Ms"], 450.0);
        assert!(json["queueToAssigned"].is_null());
        assert_eq!(json["operator"]["peakRssMib"], 21.5);
        assert_eq!(json["jobListCallsPerPoolPerInterval"], 1.0);
    }

    #[test]
    fn machine_detection_reads_this_host() {
        let machine = Machine::detect();
        assert!(machine.cpus >= 1);
        assert!(machine.memory_mib > 0);
    }
}
