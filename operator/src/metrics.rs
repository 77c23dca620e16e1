//! Prometheus metrics of the operator (`/metrics`).

use std::sync::Arc;

use azp_ado::{RequestAttempt, RequestObserver};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label pairs of one series.
pub type Labels = Vec<(String, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 s .. ~68 min: pod start and queue waits live in seconds to minutes.
    Histogram::new(exponential_buckets(0.5, 2.0, 14))
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    /// Pending jobs counted per AgentPool (`agentpool`).
    pub pending_jobs: Family<Labels, Gauge>,
    /// Agents per AgentPool and state (`running`, `idle`, `starting`).
    pub agents: Family<Labels, Gauge>,
    /// Agent pods per AgentPool and phase.
    pub pods: Family<Labels, Gauge>,
    /// Scale decisions applied (`agentpool`, `action`).
    pub scale_decisions: Family<Labels, Counter>,
    /// Azure DevOps HTTP attempts (`method`, `route`, `status`).
    pub ado_requests: Family<Labels, Counter>,
    /// `X-RateLimit-Remaining` of the last answer per Azure DevOps pool (`organization`, `pool`).
    pub rate_limit_remaining: Family<Labels, Gauge>,
    /// Seconds from a job's queue time to the creation of a pod for it.
    pub queue_to_pod_seconds: HistogramFamily,
    /// Seconds from a job's queue time to its assignment to an agent.
    pub queue_to_assignment_seconds: HistogramFamily,
    /// Polls of Azure DevOps per pool and result (`ok` or the error reason).
    pub polls: Family<Labels, Counter>,
    /// Registrations removed because their AgentPool no longer exists (`pool`).
    pub orphaned_registrations_removed: Family<Labels, Counter>,
    /// Jobs the AgentPool's pods ran, by result (`agentpool`, `result`).
    pub jobs: Family<Labels, Counter>,
    /// Seconds from a job's assignment to its pod's end (`agentpool`).
    pub job_run_seconds: HistogramFamily,
}

impl Metrics {
    /// Registers every metric under the `azp_operator_` prefix.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("azp_operator");
        let pending_jobs = Family::<Labels, Gauge>::default();
        let agents = Family::<Labels, Gauge>::default();
        let pods = Family::<Labels, Gauge>::default();
        let scale_decisions = Family::<Labels, Counter>::default();
        let ado_requests = Family::<Labels, Counter>::default();
        let rate_limit_remaining = Family::<Labels, Gauge>::default();
        let queue_to_pod_seconds: HistogramFamily =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let queue_to_assignment_seconds: HistogramFamily =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let polls = Family::<Labels, Counter>::default();
        let orphaned_registrations_removed = Family::<Labels, Counter>::default();
        let jobs = Family::<Labels, Counter>::default();
        let job_run_seconds: HistogramFamily =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "pending_jobs",
            "Pending Azure DevOps jobs counted for each AgentPool",
            pending_jobs.clone(),
        );
        registry.register(
            "agents",
            "Agents of each AgentPool by state",
            agents.clone(),
        );
        registry.register("pods", "Agent pods by phase", pods.clone());
        registry.register(
            "scale_decisions",
            "Scaling actions applied",
            scale_decisions.clone(),
        );
        registry.register(
            "ado_requests",
            "Azure DevOps HTTP attempts by route and status",
            ado_requests.clone(),
        );
        registry.register(
            "ado_rate_limit_remaining",
            "X-RateLimit-Remaining of the last Azure DevOps answer (-1 when not sent)",
            rate_limit_remaining.clone(),
        );
        registry.register(
            "queue_to_pod_seconds",
            "Time from a job being queued to a pod being created for it",
            queue_to_pod_seconds.clone(),
        );
        registry.register(
            "queue_to_assignment_seconds",
            "Time from a job being queued to Azure DevOps assigning it to an agent",
            queue_to_assignment_seconds.clone(),
        );
        registry.register("polls", "Polls of Azure DevOps by result", polls.clone());
        registry.register(
            "orphaned_registrations_removed",
            "Agent registrations removed because their AgentPool no longer exists",
            orphaned_registrations_removed.clone(),
        );
        registry.register(
            "jobs",
            "Jobs run by the AgentPool's pods, by result",
            jobs.clone(),
        );
        registry.register(
            "job_run_seconds",
            "Time from a job's assignment to the end of its pod",
            job_run_seconds.clone(),
        );
        Arc::new(Self {
            registry,
            pending_jobs,
            agents,
            pods,
            scale_decisions,
            ado_requests,
            rate_limit_remaining,
            queue_to_pod_seconds,
            queue_to_assignment_seconds,
            polls,
            orphaned_registrations_removed,
            jobs,
            job_run_seconds,
        })
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// Counts one applied scaling action.
    pub fn decision(&self, pool: &str, action: &str, count: u64) {
        self.scale_decisions
            .get_or_create(&labels(&[("agentpool", pool), ("action", action)]))
            .inc_by(count);
    }
}

/// Builds a label set.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Feeds the Azure DevOps client's per-attempt callbacks into [`Metrics::ado_requests`].
pub struct AdoRequestMetrics(pub Arc<Metrics>);

impl RequestObserver for AdoRequestMetrics {
    fn on_attempt(&self, attempt: &RequestAttempt) {
        self.0
            .ado_requests
            .get_or_create(&labels(&[
                ("method", attempt.method),
                ("route", attempt.route),
                ("status", &attempt.outcome.label()),
            ]))
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_text_contains_labelled_series() {
        let metrics = Metrics::new();
        metrics.decision("ci/linux", "create_pod", 3);
        metrics
            .queue_to_pod_seconds
            .get_or_create(&labels(&[("agentpool", "ci/linux")]))
            .observe(2.0);
        AdoRequestMetrics(metrics.clone()).on_attempt(&RequestAttempt {
            method: "GET",
            route: "pools/{poolId}/jobrequests",
            attempt: 1,
            outcome: azp_ado::AttemptOutcome::Status(429),
            duration: std::time::Duration::from_millis(3),
        });
        let text = metrics.render();
        assert!(
            text.contains(
                r#"azp_operator_scale_decisions_total{agentpool="ci/linux",action="create_pod"} 3"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"route="pools/{poolId}/jobrequests",status="429"} 1"#),
            "{text}"
        );
        assert!(text.contains("azp_operator_queue_to_pod_seconds_count"));
    }
}
