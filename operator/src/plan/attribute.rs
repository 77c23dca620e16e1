//! Rule 2: each pending job is counted for exactly one AgentPool.
//!
//! Of the AgentPools that can serve a job, the most specific wins: the one whose spec offers
//! the most of the job's demands itself, then the one with the fewest user capabilities the
//! job does not demand, then the smallest `namespace/name`. KEDA scales
//! every ScaledJob whose demands match (kedacore/keda#4195, #5303); counting each job once
//! is what prevents that duplicate scale-up.
//!
//! "Can serve": when Azure DevOps listed `matchedAgents` for the job, an AgentPool can serve it
//! iff one of its registered agents (its placeholder included) is in that list (Azure DevOps
//! did the matching, offline placeholders included). The list is compared by agent id: the
//! poll reads the job list before the agent list, so every agent a job matched is in the agent
//! list unless it was removed in between (and then it cannot take the job anyway). Otherwise the demands are matched here against the
//! AgentPool's capabilities plus [`IMPLICIT_CAPABILITIES`] and the ownership capability.

use std::collections::{BTreeMap, HashSet};

use azp_contract::naming::OWNER_CAPABILITY;

use super::index::PoolIndex;
use super::{AgentPoolView, JobView, PoolKey, PoolSnapshot, RequestId};

/// Capabilities every Linux x64 agent of ours reports without being told, as
/// `(name, value)`; `None` means "present, value not known in advance".
///
/// Official agent capability providers: `Agent.OS`, `Agent.OSArchitecture`, `Agent.Name`,
/// `Agent.Version`, `Agent.HomeDirectory`, `Agent.ComputerName`, `Agent.OSVersion`,
/// `InteractiveSession`. Environment variables of the agent process also become
/// capabilities; of those only the ownership capability is known for sure here (the
/// controller adds `spec.agent.env` names to [`AgentPoolView::capabilities`]).
pub const IMPLICIT_CAPABILITIES: &[(&str, Option<&str>)] = &[
    ("Agent.OS", Some("Linux")),
    ("Agent.OSArchitecture", Some("X64")),
    ("Agent.Name", None),
    ("Agent.Version", None),
    ("Agent.HomeDirectory", None),
    ("Agent.ComputerName", None),
    ("Agent.OSVersion", None),
    ("InteractiveSession", Some("False")),
];

/// One parsed job demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Demand {
    /// `name`: the capability exists.
    Exists(String),
    /// `name -equals value`.
    Equals(String, String),
    /// `name -gtVersion value`; for an `Agent.Version` not known yet, assumed satisfied
    /// (every agent image we run is current).
    GtVersion(String, String),
    /// Anything else; never satisfied, so the job is reported rather than guessed at.
    Unsupported(String),
}

impl Demand {
    /// Parses Azure DevOps' wire form of a demand.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        match text.split_once(' ') {
            None => Self::Exists(text.to_owned()),
            Some((name, rest)) => {
                let rest = rest.trim_start();
                if let Some(value) = rest.strip_prefix("-equals ") {
                    Self::Equals(name.to_owned(), value.trim().to_owned())
                } else if let Some(value) = rest.strip_prefix("-gtVersion ") {
                    Self::GtVersion(name.to_owned(), value.trim().to_owned())
                } else {
                    Self::Unsupported(text.to_owned())
                }
            }
        }
    }

    /// The capability name the demand is about.
    pub fn name(&self) -> &str {
        match self {
            Self::Exists(name) | Self::Equals(name, _) | Self::GtVersion(name, _) => name,
            Self::Unsupported(text) => text,
        }
    }
}

/// Capabilities an agent of one AgentPool will advertise. Names compare case-insensitively,
/// like Azure DevOps' capability dictionary (inferred from its case-insensitive matching).
#[derive(Clone, Debug)]
pub struct AdvertisedCapabilities {
    /// Lower-cased name → value (`None`: present, value unknown).
    by_name: BTreeMap<String, Option<String>>,
}

impl AdvertisedCapabilities {
    /// The capabilities of `pool`'s agents: implicit ones, the ownership capability, what
    /// they publish and the AgentPool's own (later ones override earlier ones).
    pub fn of(pool: &AgentPoolView) -> Self {
        let mut by_name: BTreeMap<String, Option<String>> = IMPLICIT_CAPABILITIES
            .iter()
            .map(|(name, value)| (name.to_lowercase(), value.map(str::to_owned)))
            .collect();
        by_name.insert(OWNER_CAPABILITY.to_lowercase(), Some(pool.key.to_string()));
        for (name, value) in pool.published.iter().chain(&pool.capabilities) {
            by_name.insert(name.to_lowercase(), Some(value.clone()));
        }
        Self { by_name }
    }

    /// Whether one demand is satisfied.
    pub fn satisfies(&self, demand: &Demand) -> bool {
        match demand {
            Demand::Exists(name) => self.by_name.contains_key(&name.to_lowercase()),
            Demand::Equals(name, wanted) => matches!(
                self.by_name.get(&name.to_lowercase()),
                Some(Some(value)) if value.eq_ignore_ascii_case(wanted)
            ),
            Demand::GtVersion(name, minimum) => match self.by_name.get(&name.to_lowercase()) {
                Some(Some(value)) => version_greater(value, minimum),
                // The image's agent version is not learned yet: assume it is current.
                Some(None) if name.eq_ignore_ascii_case("Agent.Version") => true,
                _ => false,
            },
            Demand::Unsupported(_) => false,
        }
    }

    /// Whether every demand of the job is satisfied.
    pub fn satisfies_all(&self, demands: &[String]) -> bool {
        demands.iter().all(|d| self.satisfies(&Demand::parse(d)))
    }
}

/// `a > b` comparing dot-separated numeric components (missing components are 0).
fn version_greater(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Option<Vec<u64>> {
        v.split('.').map(|part| part.trim().parse().ok()).collect()
    };
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => {
            let len = a.len().max(b.len());
            let pad = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
            (0..len)
                .map(|i| pad(&a, i).cmp(&pad(&b, i)))
                .find(|ordering| ordering.is_ne())
                .is_some_and(|ordering| ordering.is_gt())
        }
        _ => false,
    }
}

/// Why no AgentPool can serve `demands`: the first demand none of `pools` offers, else
/// (each is offered somewhere, never all by one AgentPool, or Azure DevOps matched only
/// other agents) every demand.
pub fn unmet_demands(demands: &[String], pools: &[AgentPoolView]) -> String {
    let offered: Vec<AdvertisedCapabilities> = pools
        .iter()
        .filter(|pool| !pool.deleting)
        .map(AdvertisedCapabilities::of)
        .collect();
    let missing = demands.iter().find(|demand| {
        let demand = Demand::parse(demand);
        !offered.iter().any(|caps| caps.satisfies(&demand))
    });
    match missing {
        Some(demand) => demand.trim().to_owned(),
        None if demands.is_empty() => "(no demands)".to_owned(),
        None => demands.join(", "),
    }
}

/// Result of attributing the pending jobs of one snapshot.
#[derive(Clone, Debug, Default)]
pub struct Attribution {
    /// AgentPool → pending jobs counted for it.
    pub pending: BTreeMap<PoolKey, Vec<RequestId>>,
    /// AgentPool → pending jobs it could serve, whoever they were counted for (idle agents
    /// that could take one of them are not scaled down).
    pub servable: BTreeMap<PoolKey, u32>,
    /// Pending jobs no AgentPool can serve.
    pub unservable: Vec<RequestId>,
}

impl Attribution {
    /// Number of pending jobs counted for `pool`.
    pub fn pending_for(&self, pool: &PoolKey) -> u32 {
        self.pending
            .get(pool)
            .map_or(0, |jobs| u32::try_from(jobs.len()).unwrap_or(u32::MAX))
    }

    /// Number of pending jobs `pool` could serve.
    pub fn servable_by(&self, pool: &PoolKey) -> u32 {
        self.servable.get(pool).copied().unwrap_or(0)
    }
}

/// Attributes every pending job of the snapshot to at most one non-deleting AgentPool.
pub(crate) fn attribute_jobs(snapshot: &PoolSnapshot, index: &PoolIndex<'_>) -> Attribution {
    let candidates: Vec<Candidate<'_>> = snapshot
        .pools
        .iter()
        .filter(|pool| !pool.deleting)
        .map(|pool| Candidate::new(pool, index))
        .collect();
    let mut jobs: Vec<&JobView> = snapshot
        .jobs
        .iter()
        .filter(|job| job.is_pending() && !index.is_taken(job.request_id))
        .collect();
    jobs.sort_by_key(|job| (job.queue_time, job.request_id));

    let mut attribution = Attribution::default();
    for job in jobs {
        let demanded: HashSet<String> = job
            .demands
            .iter()
            .map(|d| Demand::parse(d).name().to_lowercase())
            .collect();
        let mut best: Option<(usize, usize, &PoolKey)> = None;
        for candidate in candidates.iter().filter(|c| c.can_serve(job)) {
            *attribution
                .servable
                .entry(candidate.pool.key.clone())
                .or_default() += 1;
            let rank = (
                candidate.not_offered_by_spec(&demanded),
                candidate.extra_capabilities(&demanded),
                &candidate.pool.key,
            );
            if best.is_none_or(|current| rank < current) {
                best = Some(rank);
            }
        }
        match best {
            Some((_, _, key)) => attribution
                .pending
                .entry(key.clone())
                .or_default()
                .push(job.request_id),
            None => attribution.unservable.push(job.request_id),
        }
    }
    attribution
}

/// One AgentPool considered for a job.
struct Candidate<'a> {
    pool: &'a AgentPoolView,
    capabilities: AdvertisedCapabilities,
    /// Ids of its registered agents, its placeholder included.
    agent_ids: HashSet<i32>,
}

impl<'a> Candidate<'a> {
    fn new(pool: &'a AgentPoolView, index: &PoolIndex<'_>) -> Self {
        let agent_ids = index
            .agents_of(&pool.key)
            .iter()
            .filter_map(|agent| i32::try_from(agent.id).ok())
            .collect();
        Self {
            pool,
            capabilities: AdvertisedCapabilities::of(pool),
            agent_ids,
        }
    }

    fn can_serve(&self, job: &JobView) -> bool {
        match &job.matched_agent_ids {
            Some(matched) => matched.iter().any(|id| self.agent_ids.contains(id)),
            None => self.capabilities.satisfies_all(&job.demands),
        }
    }

    /// Demanded names the AgentPool's spec does not offer itself (they are met by what every
    /// agent or the image publishes, which other AgentPools share).
    fn not_offered_by_spec(&self, demanded: &HashSet<String>) -> usize {
        demanded
            .iter()
            .filter(|name| {
                !self
                    .pool
                    .capabilities
                    .keys()
                    .any(|offered| offered.eq_ignore_ascii_case(name))
            })
            .count()
    }

    /// User capabilities of the AgentPool that the job does not ask for.
    fn extra_capabilities(&self, demanded: &HashSet<String>) -> usize {
        self.pool
            .capabilities
            .keys()
            .filter(|name| !demanded.contains(&name.to_lowercase()))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capabilities(pairs: &[(&str, &str)]) -> AdvertisedCapabilities {
        AdvertisedCapabilities::of(&capabilities_pool(pairs))
    }

    fn capabilities_pool(pairs: &[(&str, &str)]) -> AgentPoolView {
        AgentPoolView {
            key: PoolKey::new("ci", "linux"),
            capabilities: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            published: BTreeMap::new(),
            scaling: super::super::ScalingPolicy {
                min_idle: 0,
                max_agents: 1,
                idle_timeout: std::time::Duration::ZERO,
            },
            generation: 1,
            spec_hash: String::new(),
            deleting: false,
            minted: false,
        }
    }

    #[test]
    fn parses_the_wire_forms_of_demands() {
        let cases = [
            ("maven", Demand::Exists("maven".into())),
            (
                "java -equals /usr/bin/java",
                Demand::Equals("java".into(), "/usr/bin/java".into()),
            ),
            (
                "Agent.Version -gtVersion 2.182.1",
                Demand::GtVersion("Agent.Version".into(), "2.182.1".into()),
            ),
            (
                "path -equals C:\\Program Files\\x",
                Demand::Equals("path".into(), "C:\\Program Files\\x".into()),
            ),
            (
                "gpu -lessThan 3",
                Demand::Unsupported("gpu -lessThan 3".into()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Demand::parse(text), expected, "{text}");
        }
    }

    #[test]
    fn matches_demands_against_user_implicit_and_owner_capabilities() {
        let caps = capabilities(&[("buildkit", "true"), ("java", "17.0.2")]);
        let table: &[(&str, bool)] = &[
            ("buildkit", true),
            ("BUILDKIT", true),
            ("buildkit -equals true", true),
            ("buildkit -equals TRUE", true),
            ("buildkit -equals false", false),
            ("docker", false),
            ("Agent.OS -equals Linux", true),
            ("Agent.OS -equals Windows_NT", false),
            ("Agent.OSArchitecture -equals X64", true),
            ("Agent.Name", true),
            ("Agent.Name -equals some-vm", false),
            ("Agent.Version -gtVersion 99.0.0", true),
            ("java -gtVersion 11", true),
            ("java -gtVersion 17.0.2", false),
            ("java -gtVersion 21", false),
            ("AZP_AGENTPOOL -equals ci/linux", true),
            ("AZP_AGENTPOOL -equals ci/other", false),
            ("gpu -lessThan 3", false),
        ];
        for (demand, expected) in table {
            assert_eq!(
                caps.satisfies(&Demand::parse(demand)),
                *expected,
                "{demand}"
            );
        }
    }

    /// The same table the Azure DevOps emulator's matching is checked against: the planner
    /// creates a pod exactly for the jobs Azure DevOps would give its agent.
    #[test]
    fn demand_matching_follows_the_shared_table() {
        let table: serde_json::Value =
            serde_json::from_str(include_str!("../../../testbed/demand-matching-cases.json"))
                .unwrap();
        let pairs: BTreeMap<String, String> =
            serde_json::from_value(table["capabilities"].clone()).unwrap();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let caps = capabilities(&pairs);
        let cases = table["cases"].as_array().unwrap();
        assert!(cases.len() > 20);
        for case in cases {
            let demand = case["demand"].as_str().unwrap();
            let expected = case["satisfied"].as_bool().unwrap();
            assert_eq!(
                caps.satisfies(&Demand::parse(demand)),
                expected,
                "{demand:?}"
            );
        }
    }

    #[test]
    fn the_unmet_demand_is_the_one_no_agent_pool_offers() {
        let mut pool = capabilities_pool(&[("buildkit", "true")]);
        pool.published = BTreeMap::from([("git".to_owned(), "/usr/bin/git".to_owned())]);
        let demands = |list: &[&str]| list.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>();
        let pools = [pool];
        assert_eq!(
            unmet_demands(
                &demands(&["git", "Agent.OS -equals Linux", "maven"]),
                &pools
            ),
            "maven"
        );
        assert_eq!(
            unmet_demands(&demands(&["git", "buildkit -equals false"]), &pools),
            "buildkit -equals false"
        );
        assert_eq!(unmet_demands(&demands(&["git"]), &pools), "git");
    }

    #[test]
    fn compares_versions_numerically() {
        assert!(version_greater("10.0", "9.9.9"));
        assert!(version_greater("1.10", "1.9"));
        assert!(!version_greater("1.0", "1"));
        assert!(!version_greater("abc", "1"));
    }
}
