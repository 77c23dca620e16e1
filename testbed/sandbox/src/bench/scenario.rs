//! The scenarios: which AgentPools exist and when which jobs arrive.

use std::time::Duration;

use serde::Serialize;

use crate::harness::AgentPoolSpec;

/// Name of the single Azure DevOps pool every scenario uses (rule 1 is about sharing it).
pub const ADO_POOL: &str = "Linux";

/// Which scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// N jobs at once across three overlapping AgentPools.
    Burst,
    /// Poisson arrivals into one AgentPool.
    Trickle,
    /// K AgentPools on one Azure DevOps pool, each with its own jobs.
    ManyPools,
}

impl ScenarioKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Burst => "burst",
            Self::Trickle => "trickle",
            Self::ManyPools => "many-pools",
        }
    }
}

/// One job to queue: its demands and when (after the start of the measured run).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedJob {
    /// Demands (capability names).
    pub demands: Vec<String>,
    /// Offset from the start of the run.
    pub at: Duration,
}

/// A concrete run: AgentPools and a job schedule.
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    /// The AgentPools to create.
    pub agent_pools: Vec<AgentPoolSpec>,
    /// The jobs, in arrival order.
    pub jobs: Vec<PlannedJob>,
}

impl ScenarioPlan {
    /// Sum of `minIdle`.
    pub fn min_idle_total(&self) -> u32 {
        self.agent_pools.iter().map(|p| p.min_idle).sum()
    }
}

/// Knobs shared by every scenario.
#[derive(Debug, Clone)]
pub struct ScenarioKnobs {
    /// Jobs to queue (burst, many-pools).
    pub jobs: usize,
    /// AgentPools (many-pools).
    pub agent_pools: usize,
    /// `minIdle` of each AgentPool.
    pub min_idle: u32,
    /// `pollInterval` (Go duration).
    pub poll_interval: String,
    /// Mean arrivals per second (trickle).
    pub rate_per_second: f64,
    /// Arrival window (trickle).
    pub trickle_window: Duration,
}

fn pool(name: &str, knobs: &ScenarioKnobs, max_agents: usize) -> AgentPoolSpec {
    let mut spec = AgentPoolSpec::new(name, ADO_POOL);
    spec.min_idle = knobs.min_idle;
    spec.max_agents = u32::try_from(max_agents.max(1)).unwrap_or(u32::MAX);
    spec.poll_interval = knobs.poll_interval.clone();
    // Long enough that no idle agent is scaled down inside a run: idle time then measures
    // the planner's over-provisioning, not the timeout.
    spec.idle_timeout = "10m".into();
    spec
}

/// Builds the plan of `kind`.
pub fn plan(kind: ScenarioKind, knobs: &ScenarioKnobs, rng: &mut impl rand::Rng) -> ScenarioPlan {
    match kind {
        ScenarioKind::Burst => {
            // Three overlapping AgentPools: a job without demands fits all three, a java job
            // both java pools, a java+docker job only "java-docker". Rule 2 must count each
            // job once, for the most specific pool that fits.
            let max = knobs.jobs + knobs.min_idle as usize;
            let agent_pools = vec![
                pool("general", knobs, max),
                pool("java", knobs, max).capability("java", "17"),
                pool("java-docker", knobs, max)
                    .capability("java", "17")
                    .capability("docker", "true"),
            ];
            let shapes: [&[&str]; 3] = [&[], &["java"], &["java", "docker"]];
            let jobs = (0..knobs.jobs)
                .map(|i| PlannedJob {
                    demands: shapes[i % 3].iter().map(|d| (*d).to_owned()).collect(),
                    at: Duration::ZERO,
                })
                .collect();
            ScenarioPlan { agent_pools, jobs }
        }
        ScenarioKind::Trickle => {
            let agent_pools = vec![pool("trickle", knobs, 1000)];
            ScenarioPlan {
                agent_pools,
                jobs: poisson_arrivals(knobs.rate_per_second, knobs.trickle_window, rng)
                    .into_iter()
                    .map(|at| PlannedJob {
                        demands: Vec::new(),
                        at,
                    })
                    .collect(),
            }
        }
        ScenarioKind::ManyPools => {
            let k = knobs.agent_pools.max(1);
            let per_pool = knobs.jobs.div_ceil(k) + knobs.min_idle as usize;
            let agent_pools = (0..k)
                .map(|i| {
                    let name = format!("pool-{i:03}");
                    pool(&name, knobs, per_pool).capability(&name, "true")
                })
                .collect();
            let jobs = (0..knobs.jobs)
                .map(|i| PlannedJob {
                    demands: vec![format!("pool-{:03}", i % k)],
                    at: Duration::ZERO,
                })
                .collect();
            ScenarioPlan { agent_pools, jobs }
        }
    }
}

/// Arrival offsets of a Poisson process of `rate` per second over `window`: exponential
/// gaps with mean `1 / rate`.
pub fn poisson_arrivals(rate: f64, window: Duration, rng: &mut impl rand::Rng) -> Vec<Duration> {
    let mut arrivals = Vec::new();
    if !(rate.is_finite() && rate > 0.0) {
        return arrivals;
    }
    let mut t = 0.0;
    loop {
        // 1 - u is in (0, 1], so the logarithm is finite.
        let u: f64 = rng.random();
        t += -(1.0 - u).ln() / rate;
        if t >= window.as_secs_f64() {
            return arrivals;
        }
        arrivals.push(Duration::from_secs_f64(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    fn knobs() -> ScenarioKnobs {
        ScenarioKnobs {
            jobs: 10,
            agent_pools: 4,
            min_idle: 1,
            poll_interval: "5s".into(),
            rate_per_second: 2.0,
            trickle_window: Duration::from_secs(100),
        }
    }

    #[test]
    fn burst_spreads_jobs_over_three_overlapping_pools() {
        let plan = plan(
            ScenarioKind::Burst,
            &knobs(),
            &mut rand::rngs::StdRng::seed_from_u64(1),
        );
        assert_eq!(plan.agent_pools.len(), 3);
        assert_eq!(plan.jobs.len(), 10);
        assert!(plan.jobs.iter().all(|j| j.at.is_zero()));
        assert_eq!(plan.jobs[2].demands, ["java", "docker"]);
        assert_eq!(plan.min_idle_total(), 3);
        // The most specific pool has every capability the others have.
        assert!(plan.agent_pools[2].capabilities.contains_key("java"));
    }

    #[test]
    fn many_pools_gives_each_pool_its_own_demand() {
        let plan = plan(
            ScenarioKind::ManyPools,
            &knobs(),
            &mut rand::rngs::StdRng::seed_from_u64(1),
        );
        assert_eq!(plan.agent_pools.len(), 4);
        assert!(plan.agent_pools.iter().all(|p| p.ado_pool == ADO_POOL));
        assert_eq!(plan.jobs[5].demands, ["pool-001"]);
        assert!(plan.agent_pools[1].capabilities.contains_key("pool-001"));
    }

    #[test]
    fn poisson_arrivals_average_the_rate_and_stay_in_the_window() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let arrivals = poisson_arrivals(2.0, Duration::from_secs(1000), &mut rng);
        // Mean 2000, standard deviation ~45: 1800..2200 is more than 4 sigma.
        assert!((1800..2200).contains(&arrivals.len()), "{}", arrivals.len());
        assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
        assert!(arrivals.iter().all(|a| *a < Duration::from_secs(1000)));
        assert!(poisson_arrivals(0.0, Duration::from_secs(10), &mut rng).is_empty());
    }
}
