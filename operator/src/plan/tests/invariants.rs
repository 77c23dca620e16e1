//! Safety invariants over many generated snapshots: whatever the mix of jobs, agents and
//! pods, the planner never touches a busy agent, never exceeds maxAgents, counts every
//! pending job at most once, and never retires idle agents below minIdle (spec rollouts
//! included: pools are edited and pods carry old, current or no spec hashes).

use std::collections::HashSet;

use super::super::fixtures::*;
use super::super::*;

/// Small deterministic generator (xorshift64*), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const CAPABILITIES: [&str; 3] = ["buildkit", "docker", "gpu"];

fn random_snapshot(rng: &mut Rng) -> PoolSnapshot {
    let pool_names = ["a", "b", "c"];
    let pools: Vec<AgentPoolView> = pool_names
        .iter()
        .map(|name| {
            let caps: Vec<(&str, &str)> = CAPABILITIES
                .iter()
                .filter(|_| rng.chance(50))
                .map(|c| (*c, "1"))
                .collect();
            let mut view = pool(name, &caps)
                .max_agents(1 + u32::try_from(rng.below(6)).unwrap())
                .idle_timeout(rng.below(120));
            view.scaling.min_idle =
                u32::try_from(rng.below(u64::from(view.scaling.max_agents) + 1)).unwrap();
            if rng.chance(10) {
                view = view.deleting();
            }
            if rng.chance(50) {
                view = view.edited();
            }
            view
        })
        .collect();
    let mut agents = Vec::new();
    let mut pods = Vec::new();
    let mut jobs = Vec::new();
    let mut next_request: i64 = 1;
    for (i, name) in pool_names.iter().enumerate() {
        if rng.chance(80) {
            agents.push(placeholder(1_000 + i64::try_from(i).unwrap(), name));
        }
        for p in 0..rng.below(8) {
            let pod_name = format!("{name}-{p}");
            let has_pod = rng.chance(80);
            if has_pod {
                let phase = match rng.below(6) {
                    0 => PodPhase::Pending,
                    1 => PodPhase::Succeeded,
                    2 => PodPhase::Failed,
                    _ => PodPhase::Running,
                };
                let mut view = pod(&pod_name, name).phase(phase);
                view.draining = rng.chance(20);
                view.deleting = rng.chance(10);
                view.outcome_recorded = rng.chance(50);
                if rng.chance(15) {
                    view.start_blocked = Some("ErrImagePull");
                }
                view.spec_hash = match rng.below(4) {
                    0 => None,
                    1 => Some("spec-2".to_owned()),
                    _ => Some(SPEC.to_owned()),
                };
                pods.push(view);
            }
            if rng.chance(75) {
                let id = i64::try_from(i * 100 + usize::try_from(p).unwrap()).unwrap();
                let mut view = agent(id, name, &pod_name)
                    .registered_at(at(rng.below(400)))
                    .idle_since(at(rng.below(400)));
                view.online = rng.chance(60);
                view.enabled = rng.chance(85);
                if rng.chance(35) {
                    let request = next_request;
                    next_request += 1;
                    // Sometimes only one side of the observation knows about the assignment.
                    match rng.below(3) {
                        0 => view.assigned_request = Some(request),
                        1 => jobs.push(job(request).assigned_to(&view.name)),
                        _ => {
                            view.assigned_request = Some(request);
                            jobs.push(job(request).assigned_to(&view.name).received());
                        }
                    }
                } else if rng.chance(10) {
                    view.last_completed_request = Some(0);
                }
                agents.push(view);
            }
        }
    }
    for _ in 0..rng.below(25) {
        let demands: Vec<&str> = CAPABILITIES
            .iter()
            .copied()
            .filter(|_| rng.chance(30))
            .collect();
        jobs.push(job(10_000 + next_request).demands(&demands));
        next_request += 1;
    }
    snapshot(pools, jobs, agents, pods, at(500))
}

#[test]
fn safety_invariants_hold_for_generated_snapshots() {
    // Snapshots are observed at `at(500)`: the default startup timeout never fires, the
    // short one fires for every pod that has not started, so both paths are checked.
    let short_startup = PlannerSettings {
        pod_startup_timeout: std::time::Duration::from_secs(100),
        ..PlannerSettings::default()
    };
    for seed in 1..=2_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let snap = random_snapshot(&mut rng);
        let settings = if seed % 2 == 0 {
            PlannerSettings::default()
        } else {
            short_startup
        };
        let set = plan(&snap, &settings);
        let context = || format!("seed {seed}: {snap:#?}\n{set:#?}");

        // Every pending job is counted once or reported, never twice.
        let pending = snap.jobs.iter().filter(|j| j.is_pending()).count();
        let counted: u32 = set.plans.iter().map(|p| p.counts.queued).sum();
        assert_eq!(
            usize::try_from(counted).unwrap() + set.unservable_jobs.len(),
            pending,
            "{}",
            context()
        );

        let busy: HashSet<&str> = snap
            .agents
            .iter()
            .filter(|a| a.assigned_request.is_some())
            .map(|a| a.name.as_str())
            .chain(snap.jobs.iter().filter_map(|j| j.assigned_agent.as_deref()))
            .collect();
        let busy_ids: HashSet<AgentId> = snap
            .agents
            .iter()
            .filter(|a| busy.contains(a.name.as_str()))
            .map(|a| a.id)
            .collect();
        for plan in &set.plans {
            let view = snap.pools.iter().find(|p| p.key == plan.pool).unwrap();
            // Never touch a busy agent or its pod.
            assert!(
                plan.disable_agents.iter().all(|id| !busy_ids.contains(id)),
                "{}",
                context()
            );
            assert!(
                plan.remove_registrations
                    .iter()
                    .all(|(id, _)| !busy_ids.contains(id)),
                "{}",
                context()
            );
            for (pod_name, _) in &plan.delete_pods {
                let pod = snap.pods.iter().find(|p| &p.name == pod_name).unwrap();
                assert!(
                    !(pod.is_live() && busy.contains(pod.agent_name.as_str())),
                    "busy pod {pod_name} deleted; {}",
                    context()
                );
            }
            // Never beyond maxAgents (pods this plan deletes no longer count, as pods being
            // deleted never do), never anything for a deleting AgentPool.
            let live = snap
                .pods
                .iter()
                .filter(|p| p.owner == plan.pool && p.is_live())
                .filter(|p| !plan.delete_pods.iter().any(|(name, _)| name == &p.name))
                .count();
            let live = u32::try_from(live).unwrap();
            assert!(
                plan.create_pods == 0 || live + plan.create_pods <= view.scaling.max_agents,
                "{}",
                context()
            );
            // Scale-down and rollouts never take the idle agents below minIdle.
            let idle_left = plan
                .counts
                .idle
                .saturating_sub(count_of(&plan.disable_agents));
            assert!(
                idle_left >= plan.counts.idle.min(view.scaling.min_idle),
                "{}",
                context()
            );
            assert!(plan.counts.outdated <= count_of(&live_pods_of(&snap, &plan.pool)));
            if view.deleting {
                assert_eq!(plan.create_pods, 0, "{}", context());
                assert!(!plan.ensure_placeholder, "{}", context());
            } else {
                // The one placeholder a live AgentPool has is never removed.
                let placeholders: Vec<AgentId> = snap
                    .agents
                    .iter()
                    .filter(|a| a.is_placeholder && a.owner.as_ref() == Some(&plan.pool))
                    .map(|a| a.id)
                    .collect();
                let removed = plan
                    .remove_registrations
                    .iter()
                    .filter(|(id, _)| placeholders.contains(id))
                    .count();
                assert!(removed < placeholders.len().max(1), "{}", context());
                assert_eq!(
                    plan.ensure_placeholder,
                    placeholders.is_empty(),
                    "{}",
                    context()
                );
            }
            // Only registrations this AgentPool provably owns are removed.
            for (id, _) in &plan.remove_registrations {
                let agent = snap.agents.iter().find(|a| a.id == *id).unwrap();
                assert_eq!(agent.owner.as_ref(), Some(&plan.pool), "{}", context());
            }
        }
    }
}

fn count_of<T>(items: &[T]) -> u32 {
    u32::try_from(items.len()).unwrap()
}

fn live_pods_of<'a>(snap: &'a PoolSnapshot, pool: &PoolKey) -> Vec<&'a PodView> {
    snap.pods
        .iter()
        .filter(|p| &p.owner == pool && p.is_live())
        .collect()
}
