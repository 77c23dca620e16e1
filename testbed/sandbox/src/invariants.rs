//! The invariants every sandbox run ends with, shared by `demo` and `chaos`. Each is a pure
//! function of a [`Snapshot`] and of what the run itself did ([`RunRecord`]), so they are
//! unit-tested on synthetic snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::snapshot::Snapshot;

/// Outcome of a run: exit 0 only for `Passed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every invariant held.
    Passed,
    /// At least one invariant was violated (printed with the seed).
    Violated,
}

/// The invariants, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// No agent registration is left for a pod that no longer exists (placeholders excluded).
    NoStaleRegistration,
    /// Every job finished, with a result (none lost or stuck).
    EveryJobResolved,
    /// No pod without an AgentPool, and none still present long after its job.
    NoOrphanPod,
    /// No job was canceled or abandoned on an agent whose pod the run did not kill itself:
    /// such a job can only have been cut by the operator's scale-down.
    NoBusyAgentScaledDown,
    /// Job-request list calls per ADO pool stayed within one per poll spacing (plus slack),
    /// and all `_apis` requests within the per-minute budget.
    RequestRateWithinBudget,
    /// No pod ended `preflightFailed` (in the sandbox the agent's only preflight check is
    /// BuildKit's, so such a pod lost the race against its sidecar).
    NoPodLostToPreflight,
    /// No container of any agent pod seen during the run could read the PAT, except the
    /// `register` init container of `registration: pod`, and none but `agent` mounted an
    /// operator-minted registration.
    CredentialsStayPut,
    /// No operator-minted registration Secret outlives its pod.
    NoRegistrationSecretWithoutPod,
}

impl Invariant {
    /// Every invariant, in report order.
    pub const ALL: [Invariant; 8] = [
        Self::NoStaleRegistration,
        Self::EveryJobResolved,
        Self::NoOrphanPod,
        Self::NoBusyAgentScaledDown,
        Self::RequestRateWithinBudget,
        Self::NoPodLostToPreflight,
        Self::CredentialsStayPut,
        Self::NoRegistrationSecretWithoutPod,
    ];

    /// Stable kebab-case name, printed on violation.
    pub fn name(self) -> &'static str {
        match self {
            Self::NoStaleRegistration => "no-stale-registration",
            Self::EveryJobResolved => "every-job-resolved",
            Self::NoOrphanPod => "no-orphan-pod",
            Self::NoBusyAgentScaledDown => "no-busy-agent-scaled-down",
            Self::RequestRateWithinBudget => "request-rate-within-budget",
            Self::NoPodLostToPreflight => "no-pod-lost-to-preflight",
            Self::CredentialsStayPut => "credentials-stay-put",
            Self::NoRegistrationSecretWithoutPod => "no-registration-secret-without-pod",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken invariant and the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which one.
    pub invariant: Invariant,
    /// What was observed.
    pub detail: String,
}

/// What the run did on purpose, so deliberate damage is not blamed on the operator.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    /// When the run (and the request counters) started.
    pub started_at: DateTime<Utc>,
    /// Pods the run deleted or whose processes it killed.
    pub killed_pods: BTreeSet<String>,
    /// Jobs the run cancelled itself.
    pub cancelled_jobs: BTreeSet<i64>,
    /// Operator processes started (each start polls once at once).
    pub operator_starts: u32,
    /// Credential exposures seen in any snapshot of the run (pod: problem).
    pub credential_problems: BTreeSet<String>,
}

impl RunRecord {
    /// Notes what the pods of `snapshot` expose, so a pod gone by the end still counts.
    pub fn observe(&mut self, snapshot: &Snapshot) {
        for pod in &snapshot.pods {
            for problem in pod.credentials.problems() {
                self.credential_problems
                    .insert(format!("pod {}: {problem}", pod.name));
            }
        }
    }
}

/// Limits the run is held to.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The operator's `--min-poll-spacing-ms`.
    pub min_poll_spacing: Duration,
    /// Azure DevOps pools polled.
    pub ado_pools: usize,
    /// Allowed excess over one list call per spacing (0.25 = 25 %).
    pub slack: f64,
    /// All `_apis` requests (operator and agents) per minute.
    pub max_requests_per_minute: f64,
    /// A pod whose job finished (or that ended) this long ago should be gone.
    pub orphan_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_poll_spacing: Duration::from_secs(1),
            ado_pools: 1,
            slack: 0.25,
            max_requests_per_minute: 3000.0,
            orphan_after: Duration::from_secs(30),
        }
    }
}

/// Route suffix of the job-request list in the emulator's stats.
pub const JOB_REQUEST_LIST_ROUTE: &str = "/jobrequests";

/// Checks every invariant; empty means all held.
pub fn check_all(snapshot: &Snapshot, record: &RunRecord, limits: &Limits) -> Vec<Violation> {
    let mut out = no_stale_registration(snapshot);
    out.extend(every_job_resolved(snapshot));
    out.extend(no_orphan_pod(snapshot, limits.orphan_after));
    out.extend(no_busy_agent_scaled_down(snapshot, record));
    out.extend(request_rate_within_budget(snapshot, record, limits));
    out.extend(no_pod_lost_to_preflight(snapshot));
    out.extend(credentials_stay_put(snapshot, record));
    out.extend(no_registration_secret_without_pod(snapshot));
    out
}

/// Every credential exposure seen during the run or in `snapshot`.
pub fn credentials_stay_put(snapshot: &Snapshot, record: &RunRecord) -> Vec<Violation> {
    let mut seen = record.clone();
    seen.observe(snapshot);
    seen.credential_problems
        .into_iter()
        .map(|detail| Violation {
            invariant: Invariant::CredentialsStayPut,
            detail,
        })
        .collect()
}

/// Registration Secrets whose pod does not exist.
pub fn no_registration_secret_without_pod(snapshot: &Snapshot) -> Vec<Violation> {
    let pods: BTreeSet<&str> = snapshot.pods.iter().map(|p| p.name.as_str()).collect();
    snapshot
        .registration_secrets
        .iter()
        .filter(|s| s.owner_pod.as_deref().is_none_or(|pod| !pods.contains(pod)))
        .map(|s| Violation {
            invariant: Invariant::NoRegistrationSecretWithoutPod,
            detail: format!(
                "registration Secret {} outlived its pod {:?}",
                s.name, s.owner_pod
            ),
        })
        .collect()
}

/// Every `preflightFailed` pod the operator reported (its `JobFinished` Events).
pub fn no_pod_lost_to_preflight(snapshot: &Snapshot) -> Vec<Violation> {
    snapshot
        .preflight_failures
        .iter()
        .map(|note| Violation {
            invariant: Invariant::NoPodLostToPreflight,
            detail: note.clone(),
        })
        .collect()
}

fn agent_name_of(pod: &crate::snapshot::PodInfo) -> String {
    pod.agent_name.clone().unwrap_or_else(|| {
        azp_contract::naming::pod_agent_name(crate::harness::NAMESPACE, &pod.name)
    })
}

/// Registrations (not placeholders) whose pod does not exist.
pub fn no_stale_registration(snapshot: &Snapshot) -> Vec<Violation> {
    let live: BTreeSet<String> = snapshot.pods.iter().map(agent_name_of).collect();
    snapshot
        .agents
        .iter()
        .filter(|a| !azp_contract::naming::is_placeholder_name(&a.name))
        .filter(|a| !live.contains(&a.name))
        .map(|a| Violation {
            invariant: Invariant::NoStaleRegistration,
            detail: format!(
                "agent {:?} (id {}, pool {}, {}) is registered but no pod runs it",
                a.name, a.id, a.pool, a.status
            ),
        })
        .collect()
}

/// Jobs not finished, or finished without a result.
pub fn every_job_resolved(snapshot: &Snapshot) -> Vec<Violation> {
    snapshot
        .jobs
        .iter()
        .filter_map(|job| {
            let detail = if job.state != "finished" {
                format!(
                    "job {} in pool {} is still {} (queued {})",
                    job.request_id, job.pool, job.state, job.queue_time
                )
            } else if job.result.is_none() {
                format!("job {} finished without a result", job.request_id)
            } else {
                return None;
            };
            Some(Violation {
                invariant: Invariant::EveryJobResolved,
                detail,
            })
        })
        .collect()
}

fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn older_than(then: Option<DateTime<Utc>>, now: DateTime<Utc>, age: Duration) -> bool {
    then.is_some_and(|t| now.signed_duration_since(t).to_std().is_ok_and(|d| d > age))
}

/// Pods without an existing AgentPool, pods whose job finished more than `after` ago, and
/// ended pods created more than `after` ago.
pub fn no_orphan_pod(snapshot: &Snapshot, after: Duration) -> Vec<Violation> {
    let mut last_finish: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for job in &snapshot.jobs {
        if let (Some(agent), Some(finish)) = (
            job.agent_name.as_deref(),
            job.finish_time.as_deref().and_then(parse_time),
        ) {
            let slot = last_finish.entry(agent).or_insert(finish);
            *slot = (*slot).max(finish);
        }
    }
    let now = snapshot.taken_at;
    snapshot
        .pods
        .iter()
        .filter_map(|pod| {
            let detail = match &pod.agent_pool {
                None => format!("pod {} has no azp.dev/pool label", pod.name),
                Some(owner) if !snapshot.agent_pools.contains(owner) => {
                    format!(
                        "pod {} belongs to AgentPool {owner}, which does not exist",
                        pod.name
                    )
                }
                _ => {
                    let agent = agent_name_of(pod);
                    let finished = last_finish.get(agent.as_str()).copied();
                    if older_than(finished, now, after) {
                        format!(
                            "pod {} ({}) is still present {}s after its job finished",
                            pod.name,
                            pod.phase,
                            finished.map_or(0, |f| now.signed_duration_since(f).num_seconds())
                        )
                    } else if matches!(pod.phase.as_str(), "Succeeded" | "Failed")
                        && older_than(pod.created, now, after)
                    {
                        format!(
                            "pod {} ended ({}) and was never removed",
                            pod.name, pod.phase
                        )
                    } else {
                        return None;
                    }
                }
            };
            Some(Violation {
                invariant: Invariant::NoOrphanPod,
                detail,
            })
        })
        .collect()
}

/// Jobs canceled or abandoned on an agent whose pod the run did not kill and that the run did
/// not cancel itself.
pub fn no_busy_agent_scaled_down(snapshot: &Snapshot, record: &RunRecord) -> Vec<Violation> {
    let killed_agents: BTreeSet<String> = record
        .killed_pods
        .iter()
        .map(|pod| azp_contract::naming::pod_agent_name(crate::harness::NAMESPACE, pod))
        .collect();
    snapshot
        .jobs
        .iter()
        .filter(|job| matches!(job.result.as_deref(), Some("canceled" | "abandoned")))
        .filter(|job| !record.cancelled_jobs.contains(&job.request_id))
        .filter_map(|job| {
            let agent = job.agent_name.as_ref()?;
            (!killed_agents.contains(agent)).then(|| Violation {
                invariant: Invariant::NoBusyAgentScaledDown,
                detail: format!(
                    "job {} ended {} on agent {agent}, whose pod the run did not kill",
                    job.request_id,
                    job.result.as_deref().unwrap_or_default()
                ),
            })
        })
        .collect()
}

/// The request-rate budget: list calls ≤ pools × (elapsed / spacing + starts) × (1 + slack),
/// and all requests ≤ `max_requests_per_minute` × elapsed minutes (at least one minute).
pub fn request_rate_within_budget(
    snapshot: &Snapshot,
    record: &RunRecord,
    limits: &Limits,
) -> Vec<Violation> {
    let elapsed = snapshot
        .taken_at
        .signed_duration_since(record.started_at)
        .to_std()
        .unwrap_or_default();
    let mut out = Vec::new();
    let lists = snapshot.requests_matching("GET", JOB_REQUEST_LIST_ROUTE);
    let windows = elapsed.as_secs_f64() / limits.min_poll_spacing.as_secs_f64().max(0.001);
    let allowed_lists = limits.ado_pools as f64
        * (windows + f64::from(record.operator_starts.max(1)))
        * (1.0 + limits.slack);
    if lists as f64 > allowed_lists {
        out.push(Violation {
            invariant: Invariant::RequestRateWithinBudget,
            detail: format!(
                "{lists} job-request list calls in {:.0}s for {} pool(s); budget {allowed_lists:.0} (one per {}ms + {:.0}%)",
                elapsed.as_secs_f64(),
                limits.ado_pools,
                limits.min_poll_spacing.as_millis(),
                limits.slack * 100.0
            ),
        });
    }
    let minutes = (elapsed.as_secs_f64() / 60.0).max(1.0);
    let allowed_total = limits.max_requests_per_minute * minutes;
    if snapshot.stats.total as f64 > allowed_total {
        out.push(Violation {
            invariant: Invariant::RequestRateWithinBudget,
            detail: format!(
                "{} _apis requests in {:.0}s; budget {:.0}/min",
                snapshot.stats.total,
                elapsed.as_secs_f64(),
                limits.max_requests_per_minute
            ),
        });
    }
    out
}

/// Prints the violations (or the all-clear) with the seed; returns the verdict.
pub fn report(violations: &[Violation], seed: Option<u64>) -> Verdict {
    if violations.is_empty() {
        println!("invariants: all {} held", Invariant::ALL.len());
        return Verdict::Passed;
    }
    let seed = seed.map(|s| format!(" (seed {s})")).unwrap_or_default();
    for violation in violations {
        println!(
            "INVARIANT VIOLATED{seed}: {}: {}",
            violation.invariant, violation.detail
        );
    }
    Verdict::Violated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::PodInfo;
    use azp_ado_emulator::stats::Stats;
    use azp_ado_emulator::{AgentInfo, JobView};

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:10:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn agent(name: &str, assigned: Option<i64>) -> AgentInfo {
        AgentInfo {
            id: 1,
            name: name.into(),
            pool_id: 10,
            pool: "Linux".into(),
            enabled: true,
            status: "offline".into(),
            version: None,
            keyed: true,
            system_capabilities: Default::default(),
            user_capabilities: Default::default(),
            assigned_request_id: assigned,
            last_completed_request_id: None,
        }
    }

    fn job(id: i64, state: &str, result: Option<&str>, agent: Option<&str>) -> JobView {
        serde_json::from_value(serde_json::json!({
            "requestId": id, "pool": "Linux", "state": state, "result": result,
            "agentName": agent, "queueTime": "2026-01-01T00:00:00Z",
            "finishTime": result.map(|_| "2026-01-01T00:09:00Z"),
        }))
        .unwrap()
    }

    fn pod(name: &str, owner: &str, phase: &str) -> PodInfo {
        PodInfo {
            name: name.into(),
            agent_pool: Some(owner.into()),
            agent_name: Some(format!("default.{name}")),
            phase: phase.into(),
            terminating: false,
            created: Some(now() - chrono::Duration::seconds(5)),
            credentials: Default::default(),
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            taken_at: now(),
            agent_pools: vec!["linux".into()],
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_registration_without_its_pod_is_stale_but_placeholders_are_not() {
        let mut s = snapshot();
        s.pods = vec![pod("linux-a", "linux", "Running")];
        s.agents = vec![
            agent("default.linux-a", None),
            agent("default.linux-gone", None),
            agent("default.linux.placeholder", None),
        ];
        let v = no_stale_registration(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].detail.contains("default.linux-gone"));
    }

    #[test]
    fn unfinished_jobs_and_finished_jobs_without_result_are_unresolved() {
        let mut s = snapshot();
        s.jobs = vec![
            job(1, "finished", Some("succeeded"), Some("default.a")),
            job(2, "queued", None, None),
            job(3, "finished", None, None),
            job(4, "finished", Some("failed"), None),
        ];
        let ids: Vec<String> = every_job_resolved(&s)
            .into_iter()
            .map(|v| v.detail)
            .collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(ids[0].contains("job 2") && ids[0].contains("queued"));
        assert!(ids[1].contains("job 3"));
    }

    #[test]
    fn pods_without_owner_or_long_after_their_job_are_orphans() {
        let mut s = snapshot();
        s.jobs = vec![job(1, "finished", Some("succeeded"), Some("default.done"))];
        s.pods = vec![
            pod("fresh", "linux", "Running"),
            pod("ownerless", "deleted-pool", "Running"),
            pod("done", "linux", "Succeeded"),
        ];
        let v = no_orphan_pod(&s, Duration::from_secs(30));
        let names: Vec<&str> = v.iter().map(|v| v.detail.as_str()).collect();
        assert_eq!(v.len(), 2, "{names:?}");
        assert!(names[0].contains("ownerless"));
        assert!(names[1].contains("pod done"));
        // Within the window the finished pod is still fine.
        assert_eq!(no_orphan_pod(&s, Duration::from_secs(120)).len(), 1);
    }

    #[test]
    fn a_canceled_job_counts_against_scale_down_unless_the_run_caused_it() {
        let mut s = snapshot();
        s.jobs = vec![
            job(1, "finished", Some("canceled"), Some("default.linux-a")),
            job(2, "finished", Some("abandoned"), Some("default.linux-b")),
            job(3, "finished", Some("canceled"), Some("default.linux-c")),
            job(4, "finished", Some("succeeded"), Some("default.linux-d")),
        ];
        let mut record = RunRecord::default();
        record.killed_pods.insert("linux-a".into());
        record.cancelled_jobs.insert(3);
        let v = no_busy_agent_scaled_down(&s, &record);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].detail.contains("job 2"));
    }

    #[test]
    fn list_calls_over_one_per_spacing_break_the_budget() {
        let mut s = snapshot();
        let record = RunRecord {
            started_at: now() - chrono::Duration::seconds(60),
            operator_starts: 1,
            ..RunRecord::default()
        };
        let limits = Limits {
            min_poll_spacing: Duration::from_secs(1),
            ..Limits::default()
        };
        let mut stats = Stats::default();
        for _ in 0..70 {
            stats.record(
                "GET",
                "/_apis/distributedtask/pools/{poolid}/jobrequests",
                200,
            );
        }
        s.stats = stats.clone();
        assert!(request_rate_within_budget(&s, &record, &limits).is_empty());
        for _ in 0..20 {
            stats.record(
                "GET",
                "/_apis/distributedtask/pools/{poolid}/jobrequests",
                429,
            );
        }
        // Single-job GETs and PATCHes are not list calls.
        stats.record(
            "GET",
            "/_apis/distributedtask/pools/{poolid}/jobrequests/{requestid}",
            200,
        );
        s.stats = stats;
        let v = request_rate_within_budget(&s, &record, &limits);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].detail.starts_with("90 job-request list calls"),
            "{v:?}"
        );
    }

    #[test]
    fn too_many_requests_per_minute_break_the_budget() {
        let mut s = snapshot();
        let record = RunRecord {
            started_at: now() - chrono::Duration::seconds(30),
            ..RunRecord::default()
        };
        let limits = Limits {
            max_requests_per_minute: 10.0,
            ..Limits::default()
        };
        let mut stats = Stats::default();
        for _ in 0..11 {
            stats.record("GET", "/_apis/connectiondata", 200);
        }
        s.stats = stats;
        let v = request_rate_within_budget(&s, &record, &limits);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].invariant, Invariant::RequestRateWithinBudget);
    }

    #[test]
    fn a_pod_that_failed_its_preflight_is_a_violation() {
        let mut s = snapshot();
        s.preflight_failures = vec!["pod linux-a: job ? PreflightFailed (buildkit)".into()];
        let v = no_pod_lost_to_preflight(&s);
        assert_eq!(v.len(), 1);
        assert!(v[0].detail.contains("linux-a"));
    }

    #[test]
    fn a_clean_snapshot_passes_every_check() {
        let mut s = snapshot();
        s.jobs = vec![job(1, "finished", Some("succeeded"), Some("default.x"))];
        s.agents = vec![agent("default.linux.placeholder", None)];
        let record = RunRecord {
            started_at: now() - chrono::Duration::seconds(30),
            operator_starts: 1,
            ..RunRecord::default()
        };
        assert!(check_all(&s, &record, &Limits::default()).is_empty());
    }
}
