//! The Grafana dashboard the chart ships (`charts/azp-operator/dashboards/azp-operator.json`) only
//! queries series the operator exports, with the suffix its type gives them: a renamed metric or a
//! counter queried without `_total` shows as an empty panel, which nobody notices until an outage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use azp_operator::metrics::{
    AdoPoolLabels, AdoRequestLabels, AgentPoolLabels, AgentStateLabels, JobResultLabels, Metrics,
    PodPhaseLabels, PollLabels, PoolLabels,
};
use serde_json::Value;

const DASHBOARD: &str = include_str!("../../charts/azp-operator/dashboards/azp-operator.json");

/// Every `expr` in the dashboard (panels' targets and templating queries).
fn expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "definition", Value::String(expr)) => out.push(expr.clone()),
                    _ => expressions(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| expressions(item, out)),
        _ => {}
    }
}

/// `azp_operator_…` names in a PromQL expression.
fn series_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(start) = rest.find("azp_operator_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// Family name → type, from the `# TYPE` lines of the operator's exposition. A family appears
/// there once it has a series, so each gets one, as a running operator's would.
fn exported() -> BTreeMap<String, String> {
    let metrics = Metrics::new();
    let pool = || "ci/linux".to_owned();
    let agentpool = AgentPoolLabels { agentpool: pool() };
    metrics.pending_jobs.get_or_create(&agentpool).set(1);
    metrics.outdated_pods.get_or_create(&agentpool).set(1);
    metrics
        .agents
        .get_or_create(&AgentStateLabels {
            agentpool: pool(),
            state: "idle",
        })
        .set(1);
    metrics
        .pods
        .get_or_create(&PodPhaseLabels {
            agentpool: pool(),
            phase: "Running",
        })
        .set(1);
    metrics
        .rate_limit_remaining
        .get_or_create(&AdoPoolLabels {
            organization: "https://dev.azure.com/contoso".into(),
            pool: "linux".into(),
        })
        .set(1);
    metrics.decision("ci/linux", "create_pod", 1);
    metrics
        .ado_requests
        .get_or_create(&AdoRequestLabels {
            method: "GET",
            route: "pools/{poolId}/jobrequests",
            status: "200".into(),
        })
        .inc();
    metrics
        .polls
        .get_or_create(&PollLabels {
            pool: "linux".into(),
            result: "ok".into(),
        })
        .inc();
    metrics
        .orphaned_registrations_removed
        .get_or_create(&PoolLabels {
            pool: "linux".into(),
        })
        .inc();
    metrics
        .jobs
        .get_or_create(&JobResultLabels {
            agentpool: pool(),
            result: "succeeded",
        })
        .inc();
    metrics
        .queue_to_pod_seconds
        .get_or_create(&agentpool)
        .observe(1.0);
    metrics.queue_to_assignment_seconds.observe(1.0);
    metrics
        .job_run_seconds
        .get_or_create(&agentpool)
        .observe(1.0);
    metrics
        .render()
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect()
}

/// Whether `series` is a sample name of the family `family` of type `kind`.
fn is_sample_of(series: &str, family: &str, kind: &str) -> bool {
    let suffixes: &[&str] = match kind {
        "counter" => &["_total"],
        "histogram" => &["_bucket", "_sum", "_count"],
        _ => &[""],
    };
    suffixes
        .iter()
        .any(|suffix| series == format!("{family}{suffix}"))
}

#[test]
fn every_series_the_dashboard_queries_is_exported_by_the_operator() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    let mut exprs = Vec::new();
    expressions(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "{exprs:?}");
    let families = exported();
    assert!(families.len() >= 10, "{families:?}");
    let mut queried = BTreeSet::new();
    for expr in &exprs {
        for series in series_names(expr) {
            let family = families
                .iter()
                .find(|(family, kind)| is_sample_of(&series, family, kind));
            assert!(
                family.is_some(),
                "the dashboard queries {series} (in `{expr}`), which the operator does not export; it exports {families:?}"
            );
            queried.extend(family.map(|(name, _)| name.clone()));
        }
    }
    // The questions the dashboard exists to answer each have a panel.
    for family in [
        "azp_operator_pending_jobs",
        "azp_operator_agents",
        "azp_operator_queue_to_pod_seconds",
        "azp_operator_queue_to_assignment_seconds",
        "azp_operator_ado_requests",
        "azp_operator_ado_rate_limit_remaining",
        "azp_operator_jobs",
        "azp_operator_job_run_seconds",
    ] {
        assert!(queried.contains(family), "no panel queries {family}");
    }
}

#[test]
fn the_checker_notices_a_counter_queried_without_its_suffix() {
    let families = exported();
    let (family, kind) = families
        .iter()
        .find(|(name, _)| name.as_str() == "azp_operator_scale_decisions")
        .unwrap();
    assert!(is_sample_of(
        "azp_operator_scale_decisions_total",
        family,
        kind
    ));
    assert!(!is_sample_of("azp_operator_scale_decisions", family, kind));
    assert_eq!(
        series_names("sum(rate(azp_operator_polls_total[5m])) / azp_operator_agents{x=\"y\"}"),
        BTreeSet::from([
            "azp_operator_polls_total".to_owned(),
            "azp_operator_agents".to_owned()
        ])
    );
}
