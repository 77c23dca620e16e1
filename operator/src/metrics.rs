//! Prometheus metrics of the operator (`/metrics`).

use std::sync::Arc;

use azp_ado::{RequestAttempt, RequestObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 s .. ~68 min: pod start and queue waits live in seconds to minutes.
    Histogram::new(exponential_buckets(0.5, 2.0, 14))
}

fn latency_family<L: Clone + std::hash::Hash + Eq>() -> HistogramFamily<L> {
    Family::new_with_constructor(latency_histogram as fn() -> Histogram)
}

/// Series of one AgentPool (`<namespace>/<name>`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentPoolLabels {
    /// `<namespace>/<name>`.
    pub agentpool: String,
}

/// Agents of an AgentPool in one state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentStateLabels {
    /// `<namespace>/<name>`.
    pub agentpool: String,
    /// `running`, `idle` or `starting`.
    pub state: &'static str,
}

/// Pods of an AgentPool in one phase.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PodPhaseLabels {
    /// `<namespace>/<name>`.
    pub agentpool: String,
    /// The pod phase, as Kubernetes spells it.
    pub phase: &'static str,
}

/// One kind of scaling action of an AgentPool.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `<namespace>/<name>`.
    pub agentpool: String,
    /// `create_pod`, `disable_agent`, `delete_pod`, ...
    pub action: &'static str,
}

/// Jobs of an AgentPool with one result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobResultLabels {
    /// `<namespace>/<name>`.
    pub agentpool: String,
    /// `succeeded`, `failed`, `canceled`, ...
    pub result: &'static str,
}

/// Azure DevOps HTTP attempts of one route with one outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdoRequestLabels {
    /// HTTP method.
    pub method: &'static str,
    /// Route template (no ids, no organization).
    pub route: &'static str,
    /// HTTP status, or the transport failure.
    pub status: String,
}

/// One Azure DevOps pool.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdoPoolLabels {
    /// Organization URL.
    pub organization: String,
    /// Pool name.
    pub pool: String,
}

/// Polls of one Azure DevOps pool with one result.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PollLabels {
    /// Pool name.
    pub pool: String,
    /// `ok` or the condition reason of the failure.
    pub result: String,
}

/// One Azure DevOps pool, by name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// Pool name.
    pub pool: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    /// Pending jobs counted per AgentPool.
    pub pending_jobs: Family<AgentPoolLabels, Gauge>,
    /// Agents per AgentPool and state.
    pub agents: Family<AgentStateLabels, Gauge>,
    /// Agent pods per AgentPool and phase.
    pub pods: Family<PodPhaseLabels, Gauge>,
    /// Live agent pods made from an old spec of their AgentPool (a rollout in progress).
    pub outdated_pods: Family<AgentPoolLabels, Gauge>,
    /// Scale decisions applied.
    pub scale_decisions: Family<DecisionLabels, Counter>,
    /// Azure DevOps HTTP attempts.
    pub ado_requests: Family<AdoRequestLabels, Counter>,
    /// `X-RateLimit-Remaining` of the last answer per Azure DevOps pool.
    pub rate_limit_remaining: Family<AdoPoolLabels, Gauge>,
    /// Seconds from a job's queue time to the creation of a pod for it.
    pub queue_to_pod_seconds: HistogramFamily<AgentPoolLabels>,
    /// Seconds from a job's queue time to its assignment to an agent.
    pub queue_to_assignment_seconds: Histogram,
    /// Polls of Azure DevOps per pool and result.
    pub polls: Family<PollLabels, Counter>,
    /// Registrations removed because their AgentPool no longer exists.
    pub orphaned_registrations_removed: Family<PoolLabels, Counter>,
    /// Jobs the AgentPool's pods ran, by result.
    pub jobs: Family<JobResultLabels, Counter>,
    /// Seconds from a job's assignment to its pod's end.
    pub job_run_seconds: HistogramFamily<AgentPoolLabels>,
}

impl Metrics {
    /// Registers every metric under the `azp_operator_` prefix.
    pub fn new() -> Arc<Self> {
        let mut metrics = Self {
            registry: Registry::with_prefix("azp_operator"),
            pending_jobs: Family::default(),
            agents: Family::default(),
            pods: Family::default(),
            outdated_pods: Family::default(),
            scale_decisions: Family::default(),
            ado_requests: Family::default(),
            rate_limit_remaining: Family::default(),
            queue_to_pod_seconds: latency_family(),
            queue_to_assignment_seconds: latency_histogram(),
            polls: Family::default(),
            orphaned_registrations_removed: Family::default(),
            jobs: Family::default(),
            job_run_seconds: latency_family(),
        };
        metrics.register();
        Arc::new(metrics)
    }

    fn register(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "pending_jobs",
            "Pending Azure DevOps jobs counted for each AgentPool",
            self.pending_jobs.clone(),
        );
        registry.register(
            "agents",
            "Agents of each AgentPool by state",
            self.agents.clone(),
        );
        registry.register("pods", "Agent pods by phase", self.pods.clone());
        registry.register(
            "outdated_pods",
            "Live agent pods made from an old spec of their AgentPool (replaced as they go idle)",
            self.outdated_pods.clone(),
        );
        registry.register(
            "scale_decisions",
            "Scaling actions applied",
            self.scale_decisions.clone(),
        );
        registry.register(
            "ado_requests",
            "Azure DevOps HTTP attempts by route and status",
            self.ado_requests.clone(),
        );
        registry.register(
            "ado_rate_limit_remaining",
            "X-RateLimit-Remaining of the last Azure DevOps answer (-1 when not sent)",
            self.rate_limit_remaining.clone(),
        );
        registry.register(
            "queue_to_pod_seconds",
            "Time from a job being queued to a pod being created for it",
            self.queue_to_pod_seconds.clone(),
        );
        registry.register(
            "queue_to_assignment_seconds",
            "Time from a job being queued to Azure DevOps assigning it to an agent",
            self.queue_to_assignment_seconds.clone(),
        );
        registry.register(
            "polls",
            "Polls of Azure DevOps by result",
            self.polls.clone(),
        );
        registry.register(
            "orphaned_registrations_removed",
            "Agent registrations removed because their AgentPool no longer exists",
            self.orphaned_registrations_removed.clone(),
        );
        registry.register(
            "jobs",
            "Jobs run by the AgentPool's pods, by result",
            self.jobs.clone(),
        );
        registry.register(
            "job_run_seconds",
            "Time from a job's assignment to the end of its pod",
            self.job_run_seconds.clone(),
        );
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
    pub fn decision(&self, pool: &str, action: &'static str, count: u64) {
        self.scale_decisions
            .get_or_create(&DecisionLabels {
                agentpool: pool.to_owned(),
                action,
            })
            .inc_by(count);
    }
}

/// Feeds the Azure DevOps client's per-attempt callbacks into [`Metrics::ado_requests`].
pub struct AdoRequestMetrics(pub Arc<Metrics>);

impl RequestObserver for AdoRequestMetrics {
    fn on_attempt(&self, attempt: &RequestAttempt) {
        self.0
            .ado_requests
            .get_or_create(&AdoRequestLabels {
                method: attempt.method,
                route: attempt.route,
                status: attempt.outcome.label(),
            })
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
            .get_or_create(&AgentPoolLabels {
                agentpool: "ci/linux".into(),
            })
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
