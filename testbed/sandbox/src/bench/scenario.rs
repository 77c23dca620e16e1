//! The scenarios: which AgentPools exist and when which jobs arrive.

use std::time::Duration;

use serde::Serialize;

use crate::harness::AgentPoolSpec;

/// Name of the Azure DevOps pool every scenario uses (rule 1 is about sharing it); `huge`
/// adds [`SECOND_ADO_POOL`].
pub const ADO_POOL: &str = "Linux";

/// The second Azure DevOps pool of `huge`.
pub const SECOND_ADO_POOL: &str = "Linux-2";

/// AgentPools of `huge`: half on each Azure DevOps pool.
pub const HUGE_AGENT_POOLS: usize = 20;

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
    /// 20 AgentPools on 2 Azure DevOps pools, each with its own jobs; with `--jobs 1000
    /// --min-idle 50` that is 1,000 waiting jobs and 2,000 agent pods (1,000 idle ones).
    Huge,
}

impl ScenarioKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Burst => "burst",
            Self::Trickle => "trickle",
            Self::ManyPools => "many-pools",
            Self::Huge => "huge",
        }
    }
}

/// One job to queue: its demands and when (after the start of the measured run).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedJob {
    /// The Azure DevOps pool it is queued in.
    pub ado_pool: String,
    /// Demands (capability names).
    pub demands: Vec<String>,
    /// Offset from the start of the run.
    pub at: Duration,
}

/// A concrete run: AgentPools and a job schedule.
#[derive(Debug, Clone)]
pub struct ScenarioPlan {
    /// The Azure DevOps pools the AgentPools and jobs use.
    pub ado_pools: Vec<String>,
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
    pool_on(ADO_POOL, name, knobs, max_agents)
}

fn pool_on(ado_pool: &str, name: &str, knobs: &ScenarioKnobs, max_agents: usize) -> AgentPoolSpec {
    let mut spec = AgentPoolSpec::new(name, ado_pool);
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
                    ado_pool: ADO_POOL.into(),
                    demands: shapes[i % 3].iter().map(|d| (*d).to_owned()).collect(),
                    at: Duration::ZERO,
                })
                .collect();
            ScenarioPlan {
                ado_pools: vec![ADO_POOL.into()],
                agent_pools,
                jobs,
            }
        }
        ScenarioKind::Trickle => {
            let agent_pools = vec![pool("trickle", knobs, 1000)];
            ScenarioPlan {
                ado_pools: vec![ADO_POOL.into()],
                agent_pools,
                jobs: poisson_arrivals(knobs.rate_per_second, knobs.trickle_window, rng)
                    .into_iter()
                    .map(|at| PlannedJob {
                        ado_pool: ADO_POOL.into(),
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
                    ado_pool: ADO_POOL.into(),
                    demands: vec![format!("pool-{:03}", i % k)],
                    at: Duration::ZERO,
                })
                .collect();
            ScenarioPlan {
                ado_pools: vec![ADO_POOL.into()],
                agent_pools,
                jobs,
            }
        }
        ScenarioKind::Huge => {
            // AgentPool i serves Azure DevOps pool i % 2 and the jobs demanding `pool-i`: two
            // shared polls (rule 1) of ten AgentPools each, every job for exactly one of them.
            let k = HUGE_AGENT_POOLS;
            let ado_pools = [ADO_POOL, SECOND_ADO_POOL];
            let per_pool = knobs.jobs.div_ceil(k) + knobs.min_idle as usize;
            let agent_pools = (0..k)
                .map(|i| {
                    let name = format!("pool-{i:03}");
                    pool_on(ado_pools[i % 2], &name, knobs, per_pool).capability(&name, "true")
                })
                .collect();
            let jobs = (0..knobs.jobs)
                .map(|i| PlannedJob {
                    ado_pool: ado_pools[i % k % 2].into(),
                    demands: vec![format!("pool-{:03}", i % k)],
                    at: Duration::ZERO,
                })
                .collect();
            ScenarioPlan {
                ado_pools: ado_pools.iter().map(|p| (*p).to_owned()).collect(),
                agent_pools,
                jobs,
            }
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
    fn huge_puts_twenty_agent_pools_on_two_azure_devops_pools_and_each_job_in_its_pools_one() {
        let knobs = ScenarioKnobs {
            jobs: 1000,
            min_idle: 50,
            ..knobs()
        };
        let plan = plan(
            ScenarioKind::Huge,
            &knobs,
            &mut rand::rngs::StdRng::seed_from_u64(1),
        );
        assert_eq!(plan.ado_pools, [ADO_POOL, SECOND_ADO_POOL]);
        assert_eq!(plan.agent_pools.len(), 20);
        assert_eq!(plan.jobs.len(), 1000);
        // 1,000 idle agents and a pod per job: 2,000 agents.
        assert_eq!(plan.min_idle_total(), 1000);
        for (i, job) in plan.jobs.iter().enumerate() {
            let pool = &plan.agent_pools[i % 20];
            assert_eq!(job.demands, std::slice::from_ref(&pool.name));
            assert_eq!(job.ado_pool, pool.ado_pool, "job {i}");
        }
        let on_second = plan
            .agent_pools
            .iter()
            .filter(|p| p.ado_pool == SECOND_ADO_POOL)
            .count();
        assert_eq!(on_second, 10);
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
