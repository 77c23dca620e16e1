//! Both registration modes side by side in one run: the scenario's AgentPools alternate
//! between `registration: operator` and `registration: pod`, and each mode gets its own
//! pod created → agent online and queue → job assigned figures.

use std::collections::{BTreeMap, HashMap};

use azp_ado_emulator::control::JobView;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::player::AgentRecord;
use super::pod_clock::ObservedPod;
use super::scenario::ScenarioPlan;
use super::stats::LatencySummary;

/// Which registration modes a bench run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RegistrationChoice {
    /// Every AgentPool with operator-minted registrations (the default mode).
    Operator,
    /// Every AgentPool with the `register` init container.
    Pod,
    /// AgentPools alternate: the first operator, the second pod, ...
    Both,
}

const OPERATOR: &str = "operator";
const POD: &str = "pod";

/// Sets `spec.registration` on every AgentPool of `plan`.
pub fn assign(plan: &mut ScenarioPlan, choice: RegistrationChoice) {
    for (i, spec) in plan.agent_pools.iter_mut().enumerate() {
        let mode = match choice {
            RegistrationChoice::Operator => OPERATOR,
            RegistrationChoice::Pod => POD,
            RegistrationChoice::Both if i % 2 == 0 => OPERATOR,
            RegistrationChoice::Both => POD,
        };
        *spec = spec.clone().registration(mode);
    }
}

/// The mode of each AgentPool of `plan`, by name.
pub fn modes(plan: &ScenarioPlan) -> HashMap<String, String> {
    plan.agent_pools
        .iter()
        .map(|spec| {
            let mode = spec.extra_spec["registration"]
                .as_str()
                .unwrap_or(OPERATOR)
                .to_owned();
            (spec.name.clone(), mode)
        })
        .collect()
}

/// The figures of one registration mode.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationFigures {
    /// Pod created (first seen by the watch) → its agent's session opened.
    pub pod_to_online: Option<LatencySummary>,
    /// Queue → job assigned, for jobs that ran on this mode's agents.
    pub queue_to_assigned: Option<LatencySummary>,
}

fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

fn parse(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Figures per mode, for the pods and jobs of one run.
pub fn figures(
    modes: &HashMap<String, String>,
    pods: &[ObservedPod],
    records: &[AgentRecord],
    jobs: &[JobView],
) -> BTreeMap<String, RegistrationFigures> {
    let mode_of_pod: HashMap<&str, &str> = pods
        .iter()
        .filter_map(|p| {
            Some((
                p.name.as_str(),
                modes.get(p.agent_pool.as_deref()?)?.as_str(),
            ))
        })
        .collect();
    let mut online: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for pod in pods {
        let (Some(mode), Some(record)) = (
            mode_of_pod.get(pod.name.as_str()),
            records.iter().find(|r| r.pod == pod.name),
        ) else {
            continue;
        };
        if let Some(at) = record.online_at {
            online
                .entry(mode)
                .or_default()
                .push(millis(pod.seen_at, at));
        }
    }
    let mut assigned: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for job in jobs {
        // The agent that ran it, by the request it took (the emulator forgets the agent
        // name of a job once its registration is removed).
        let Some(mode) = records
            .iter()
            .find(|r| r.request_id == Some(job.request_id))
            .and_then(|r| mode_of_pod.get(r.pod.as_str()))
        else {
            continue;
        };
        if let (Some(queued), Some(at)) = (
            parse(&job.queue_time),
            job.assign_time.as_deref().and_then(parse),
        ) {
            assigned.entry(mode).or_default().push(millis(queued, at));
        }
    }
    let mut out = BTreeMap::new();
    for mode in online.keys().chain(assigned.keys()) {
        out.entry((*mode).to_owned())
            .or_insert_with(|| RegistrationFigures {
                pod_to_online: online.get(mode).and_then(|s| LatencySummary::of(s)),
                queue_to_assigned: assigned.get(mode).and_then(|s| LatencySummary::of(s)),
            });
    }
    out
}

/// The table cell: `operator 120 / 900 · pod 300 / 1100` (p50 ms of pod→online and of
/// queue→assigned).
pub fn cell(figures: &BTreeMap<String, RegistrationFigures>) -> String {
    if figures.is_empty() {
        return "–".to_owned();
    }
    let p50 = |s: Option<&LatencySummary>| {
        s.map_or_else(|| "–".to_owned(), |s| format!("{:.0}", s.p50_ms))
    };
    figures
        .iter()
        .map(|(mode, f)| {
            format!(
                "{mode} {} / {}",
                p50(f.pod_to_online.as_ref()),
                p50(f.queue_to_assigned.as_ref())
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::harness::AgentPoolSpec;

    #[test]
    fn both_alternates_the_modes_and_figures_follow_the_pods() {
        let mut plan = ScenarioPlan {
            ado_pools: vec!["Linux".into()],
            agent_pools: vec![
                AgentPoolSpec::new("a", "Linux"),
                AgentPoolSpec::new("b", "Linux"),
            ],
            jobs: Vec::new(),
        };
        assign(&mut plan, RegistrationChoice::Both);
        let modes = modes(&plan);
        assert_eq!(modes["a"], "operator");
        assert_eq!(modes["b"], "pod");
        let t0 = Utc::now();
        let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
        let pod = |name: &str, pool: &str| ObservedPod {
            name: name.into(),
            agent_name: Some(format!("default.{name}")),
            agent_pool: Some(pool.into()),
            seen_at: at(0),
        };
        let record = |name: &str, online: i64, request: Option<i64>| AgentRecord {
            pod: name.into(),
            agent_name: format!("default.{name}"),
            online_at: Some(at(online)),
            request_id: request,
            ..AgentRecord::default()
        };
        let job: JobView = serde_json::from_value(serde_json::json!({
            "requestId": 1, "pool": "Linux", "state": "finished", "agentName": "default.b-1",
            "queueTime": at(0).to_rfc3339(), "assignTime": at(900).to_rfc3339(),
        }))
        .unwrap();
        let figures = figures(
            &modes,
            &[pod("a-1", "a"), pod("b-1", "b")],
            &[record("a-1", 100, None), record("b-1", 400, Some(1))],
            &[job],
        );
        assert_eq!(
            figures["operator"].pod_to_online.as_ref().unwrap().p50_ms,
            100.0
        );
        assert_eq!(figures["pod"].pod_to_online.as_ref().unwrap().p50_ms, 400.0);
        assert_eq!(
            figures["pod"].queue_to_assigned.as_ref().unwrap().p50_ms,
            900.0
        );
        assert!(figures["operator"].queue_to_assigned.is_none());
        assert_eq!(cell(&figures), "operator 100 / – · pod 400 / 900");
    }
}
