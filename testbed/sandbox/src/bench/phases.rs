//! Where the time of a run goes, as far as the bench sees it from outside the operator:
//! the operator's Azure DevOps round trips (its own debug log lines, one per HTTP attempt,
//! with the time to the whole body) and its pod creates as the API server answered them
//! (kube-sim's request journal: how many, how many throttled, at what rate).
//!
//! Not covered: time in the planner and the watch delay (the operator does not log them;
//! measuring them needs instrumentation inside the operator's pass).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::stats::LatencySummary;

/// The log line `azp_ado::client` writes per HTTP attempt (at debug level).
const ADO_ATTEMPT: &str = "azure devops request";

/// Azure DevOps round trips of one route.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundTrips {
    /// HTTP attempts.
    pub count: usize,
    /// Their summed duration (request sent → body read), ms.
    pub total_ms: f64,
    /// Their distribution.
    pub latency: Option<LatencySummary>,
}

/// Pod creates the API server answered during the run.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCreates {
    /// Answered 201.
    pub created: usize,
    /// Answered 429.
    pub throttled: usize,
    /// From the first to the last 201, seconds.
    pub first_to_last_seconds: f64,
    /// `created / first_to_last_seconds` (0 with fewer than two creates).
    pub per_second: f64,
}

/// The breakdown of one run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Phases {
    /// By route template (`GET pools/{poolId}/jobrequests`, ...).
    pub ado_round_trips: BTreeMap<String, RoundTrips>,
    /// Pod creates.
    pub pod_creates: PodCreates,
}

/// The Azure DevOps attempts logged at or after `since` in the operator's text log.
pub fn ado_round_trips(log: &str, since: DateTime<Utc>) -> BTreeMap<String, RoundTrips> {
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in log.lines().filter(|line| line.contains(ADO_ATTEMPT)) {
        let stamped = line
            .split_whitespace()
            .next()
            .and_then(|stamp| DateTime::parse_from_rfc3339(stamp).ok());
        if stamped.is_none_or(|at| at < since) {
            continue;
        }
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|token| token.strip_prefix(name)?.strip_prefix('='))
                .map(|value| value.trim_matches('"'))
        };
        let (Some(method), Some(route), Some(elapsed)) =
            (field("method"), field("route"), field("elapsed_ms"))
        else {
            continue;
        };
        let Ok(elapsed) = elapsed.parse::<f64>() else {
            continue;
        };
        samples
            .entry(format!("{method} {route}"))
            .or_default()
            .push(elapsed);
    }
    samples
        .into_iter()
        .map(|(route, ms)| {
            let trips = RoundTrips {
                count: ms.len(),
                total_ms: ms.iter().sum(),
                latency: LatencySummary::of(&ms),
            };
            (route, trips)
        })
        .collect()
}

/// Pod creates from kube-sim's journal of `POST …/pods`.
pub fn pod_creates(journal: &[azp_kube_sim::journal::JournalEntry]) -> PodCreates {
    let created: Vec<Instant> = journal
        .iter()
        .filter(|e| e.status == 201)
        .map(|e| e.at)
        .collect();
    let throttled = journal.iter().filter(|e| e.status == 429).count();
    let span = match (created.first(), created.last()) {
        (Some(first), Some(last)) => last.duration_since(*first).as_secs_f64(),
        _ => 0.0,
    };
    PodCreates {
        created: created.len(),
        throttled,
        first_to_last_seconds: span,
        per_second: if created.len() > 1 && span > 0.0 {
            created.len() as f64 / span
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_grouped_by_route_and_older_lines_are_skipped() {
        let log = "\
2026-12-03T10:00:00.000000Z DEBUG pass{n=1}:ado_pool{organization=http://x pool=Linux}: azp_ado::client: azure devops request method=\"GET\" route=\"pools/{poolId}/jobrequests\" outcome=200 attempt=1 elapsed_ms=90
2026-12-03T10:00:05.000000Z DEBUG pass{n=2}:ado_pool{organization=http://x pool=Linux}: azp_ado::client: azure devops request method=\"GET\" route=\"pools/{poolId}/jobrequests\" outcome=200 attempt=1 elapsed_ms=12
2026-12-03T10:00:05.100000Z DEBUG pass{n=2}:ado_pool{organization=http://x pool=Linux}: azp_ado::client: azure devops request method=\"GET\" route=\"pools/{poolId}/jobrequests\" outcome=200 attempt=1 elapsed_ms=30
2026-12-03T10:00:05.200000Z DEBUG pass{n=2}:ado_pool{organization=http://x pool=Linux}: azp_ado::client: azure devops request method=\"DELETE\" route=\"pools/{poolId}/agents/{agentId}\" outcome=204 attempt=1 elapsed_ms=4
2026-12-03T10:00:05.300000Z  WARN pass{n=2}: azp_operator::controller: something else elapsed_ms=999
";
        let since = DateTime::parse_from_rfc3339("2026-12-03T10:00:01Z")
            .unwrap()
            .with_timezone(&Utc);
        let trips = ado_round_trips(log, since);
        assert_eq!(trips.len(), 2, "{trips:?}");
        let list = &trips["GET pools/{poolId}/jobrequests"];
        assert_eq!((list.count, list.total_ms), (2, 42.0));
        assert_eq!(list.latency.as_ref().unwrap().max_ms, 30.0);
        assert_eq!(trips["DELETE pools/{poolId}/agents/{agentId}"].count, 1);
    }

    #[test]
    fn pod_creates_count_answers_and_their_rate() {
        let t0 = Instant::now();
        let entry = |ms: u64, status: u16| azp_kube_sim::journal::JournalEntry {
            at: t0 + std::time::Duration::from_millis(ms),
            method: "POST".into(),
            path: "/api/v1/namespaces/bench/pods".into(),
            status,
        };
        let creates = pod_creates(&[
            entry(0, 201),
            entry(100, 429),
            entry(500, 201),
            entry(2000, 201),
        ]);
        assert_eq!((creates.created, creates.throttled), (3, 1));
        assert_eq!(creates.first_to_last_seconds, 2.0);
        assert_eq!(creates.per_second, 1.5);
        assert_eq!(pod_creates(&[]).per_second, 0.0);
    }
}
