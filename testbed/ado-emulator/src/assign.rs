//! Demand matching and FIFO assignment of queued jobs to idle online agents.

use std::collections::HashSet;

use chrono::Utc;

use crate::config::EmulatorConfig;
use crate::state::{Agent, State};
use crate::urls::org_url;

/// One parsed demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Demand<'a> {
    /// `name`: the capability exists.
    Exists(&'a str),
    /// `name -equals value`: exact value.
    Equals(&'a str, &'a str),
    /// `name -gtVersion x.y.z`: the capability is a strictly greater version.
    GtVersion(&'a str, &'a str),
}

/// Parses the wire form of a demand.
pub fn parse_demand(demand: &str) -> Demand<'_> {
    if let Some((name, value)) = demand.split_once(" -equals ") {
        Demand::Equals(name.trim(), value.trim())
    } else if let Some((name, version)) = demand.split_once(" -gtVersion ") {
        Demand::GtVersion(name.trim(), version.trim())
    } else {
        Demand::Exists(demand.trim())
    }
}

/// Capability names are case-insensitive on the service (inferred); user capabilities win.
fn capability<'a>(agent: &'a Agent, name: &str) -> Option<&'a str> {
    let find = |caps: &'a std::collections::BTreeMap<String, String>| {
        caps.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    match find(&agent.user_capabilities).or_else(|| find(&agent.system_capabilities)) {
        // Keyless placeholders often register no Agent.Version capability; fall back to the field.
        None if name.eq_ignore_ascii_case("Agent.Version") => agent.version.as_deref(),
        other => other,
    }
}

fn version_parts(v: &str) -> Option<Vec<u64>> {
    v.split('.').map(|p| p.trim().parse().ok()).collect()
}

/// `a > b` for dotted versions; missing parts count as 0.
pub fn version_greater(a: &str, b: &str) -> bool {
    let (Some(a), Some(b)) = (version_parts(a), version_parts(b)) else {
        return false;
    };
    let len = a.len().max(b.len());
    let pad = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..len)
        .map(|i| pad(&a, i).cmp(&pad(&b, i)))
        .find(|o| o.is_ne())
        == Some(std::cmp::Ordering::Greater)
}

/// Whether the agent's capabilities (system ∪ user) satisfy one demand.
pub fn satisfies(demand: &str, agent: &Agent) -> bool {
    demand_satisfied(demand, |name| capability(agent, name))
}

/// Whether one demand is satisfied by the capabilities `capability` looks up (by name,
/// case-insensitively). `-equals` compares values case-insensitively, as Microsoft's
/// `DemandEquals.IsSatisfied` does.
pub fn demand_satisfied<'a>(demand: &str, capability: impl Fn(&str) -> Option<&'a str>) -> bool {
    match parse_demand(demand) {
        Demand::Exists(name) => capability(name).is_some(),
        Demand::Equals(name, value) => {
            capability(name).is_some_and(|v| v.eq_ignore_ascii_case(value))
        }
        Demand::GtVersion(name, version) => {
            capability(name).is_some_and(|v| version_greater(v, version))
        }
    }
}

/// Whether the agent satisfies every demand.
pub fn satisfies_all(demands: &[String], agent: &Agent) -> bool {
    demands.iter().all(|d| satisfies(d, agent))
}

/// Assigns queued jobs, oldest first, to online, enabled, idle agents that satisfy their demands.
///
/// Runs after every mutation, so it first narrows down to idle online agents (usually none) to
/// stay cheap with many jobs.
pub fn assign_queued_jobs(state: &mut State, cfg: &EmulatorConfig, base_url: &str) {
    let busy: HashSet<i32> = state
        .jobs
        .values()
        .filter(|j| j.result.is_none())
        .filter_map(|j| j.reserved_agent)
        .collect();
    let mut idle: Vec<i32> = state
        .agents
        .values()
        .filter(|a| a.enabled && a.is_online() && !busy.contains(&a.id))
        .map(|a| a.id)
        .collect();
    if idle.is_empty() {
        return;
    }
    let queued: Vec<i64> = state
        .jobs
        .values()
        .filter(|j| j.result.is_none() && j.reserved_agent.is_none())
        .map(|j| j.request_id)
        .collect();
    let lock =
        chrono::Duration::from_std(cfg.lock_duration).unwrap_or(chrono::Duration::minutes(10));
    for request_id in queued {
        let Some(job) = state.jobs.get(&request_id) else {
            continue;
        };
        let candidate = idle.iter().copied().find(|id| {
            state
                .agents
                .get(id)
                .is_some_and(|a| a.pool_id == job.pool_id && satisfies_all(&job.demands, a))
        });
        let Some(agent_id) = candidate else { continue };
        idle.retain(|id| *id != agent_id);
        let now = Utc::now();
        let Some(job) = state.jobs.get_mut(&request_id) else {
            continue;
        };
        job.reserved_agent = Some(agent_id);
        job.assign_time = Some(now);
        job.locked_until = Some(now + lock);
        let body = crate::job_message::pipeline_job_body(job, &org_url(base_url, &cfg.org));
        tracing::info!(request_id, agent_id, "job assigned");
        state.push_message(agent_id, "PipelineAgentJobRequest", body, Some(request_id));
        if idle.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demands_parse_in_all_three_forms() {
        assert_eq!(parse_demand("maven"), Demand::Exists("maven"));
        assert_eq!(
            parse_demand("java -equals /usr/bin/java"),
            Demand::Equals("java", "/usr/bin/java")
        );
        assert_eq!(
            parse_demand("Agent.Version -gtVersion 2.182.1"),
            Demand::GtVersion("Agent.Version", "2.182.1")
        );
    }

    /// The table the operator's planner is checked against too.
    #[test]
    fn demand_matching_follows_the_shared_table() {
        let table: serde_json::Value =
            serde_json::from_str(include_str!("../../demand-matching-cases.json")).unwrap();
        let capabilities: std::collections::BTreeMap<String, String> =
            serde_json::from_value(table["capabilities"].clone()).unwrap();
        let lookup = |name: &str| {
            capabilities
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let cases = table["cases"].as_array().unwrap();
        assert!(cases.len() > 20);
        for case in cases {
            let demand = case["demand"].as_str().unwrap();
            let expected = case["satisfied"].as_bool().unwrap();
            assert_eq!(demand_satisfied(demand, lookup), expected, "{demand:?}");
        }
    }

    #[test]
    fn versions_compare_numerically_not_lexically() {
        assert!(version_greater("4.261.0", "2.182.1"));
        assert!(version_greater("2.1000", "2.999"));
        assert!(!version_greater("2.182.1", "2.182.1"));
        assert!(!version_greater("2.182", "2.182.0"));
        assert!(!version_greater("x", "1.0"));
    }
}
