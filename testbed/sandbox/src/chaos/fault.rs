//! The faults chaos draws from, and how a seeded RNG picks them.

use rand::Rng;
use serde_json::{Value, json};

/// One fault of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Delete a pod whose agent has not registered yet.
    KillPodBeforeRegistration,
    /// Delete a pod whose agent is online and idle.
    KillIdlePod,
    /// Delete a pod whose agent is running a job.
    KillBusyPod,
    /// Delete a pod whose job has finished (its agent is deregistering).
    KillDeregisteringPod,
    /// SIGKILL the operator; start it again after `down_ms`.
    RestartOperator {
        /// How long it stays down.
        down_ms: u64,
    },
    /// An emulator fault (`POST /_emulator/faults` body).
    Emulator(Value),
    /// Rotate the PAT Secret to a bad value for `seconds`, then back.
    BadPat {
        /// How long the bad PAT stays.
        seconds: u64,
    },
    /// Edit one AgentPool's `spec.agent.env` mid-run (a spec rollout: its idle agents are
    /// replaced, busy ones finish their job).
    SpecEdit {
        /// Index into the chaos AgentPools.
        pool: usize,
        /// The value the edit gives the `CHAOS_SPEC_EDIT` variable.
        value: u32,
    },
}

impl Fault {
    /// Short name for the log and the summary.
    pub fn name(&self) -> String {
        match self {
            Self::KillPodBeforeRegistration => "kill-pod-before-registration".into(),
            Self::KillIdlePod => "kill-idle-pod".into(),
            Self::KillBusyPod => "kill-busy-pod".into(),
            Self::KillDeregisteringPod => "kill-deregistering-pod".into(),
            Self::RestartOperator { .. } => "restart-operator".into(),
            Self::Emulator(body) => format!(
                "emulator-{}",
                body.get("kind").and_then(Value::as_str).unwrap_or("fault")
            ),
            Self::BadPat { .. } => "bad-pat".into(),
            Self::SpecEdit { .. } => "spec-edit".into(),
        }
    }

    /// Draws one fault of kind `kind` (0..[`KINDS`]) with random parameters.
    pub fn of_kind(kind: u32, rng: &mut impl Rng) -> Self {
        match kind {
            0 => Self::KillPodBeforeRegistration,
            1 => Self::KillIdlePod,
            2 => Self::KillBusyPod,
            3 => Self::KillDeregisteringPod,
            4 => Self::RestartOperator {
                down_ms: rng.random_range(0..3000),
            },
            5 => Self::Emulator(json!({
                "kind": "rateLimit",
                "count": rng.random_range(2..8u32),
                "retryAfterSeconds": rng.random_range(1..3u32),
            })),
            6 => {
                let status = [500, 502, 503][rng.random_range(0..3usize)];
                Self::Emulator(json!({
                    "kind": "serverError",
                    "count": rng.random_range(2..8u32),
                    "status": status,
                }))
            }
            7 => Self::Emulator(json!({
                "kind": "latency",
                "ms": rng.random_range(100..1500u32),
                "durationSeconds": rng.random_range(2..6u32),
            })),
            8 => Self::BadPat {
                seconds: rng.random_range(2..8),
            },
            _ => Self::SpecEdit {
                pool: rng.random_range(0..2),
                value: rng.random_range(0..1_000_000),
            },
        }
    }
}

/// Number of fault kinds.
pub const KINDS: u32 = 10;

/// Deals faults like cards from a shuffled deck holding every kind once (refilled when
/// empty), so even a short run meets every kind, in a seed-determined order.
#[derive(Debug, Default)]
pub struct Schedule {
    deck: Vec<u32>,
}

impl Schedule {
    /// The next fault.
    pub fn next(&mut self, rng: &mut impl Rng) -> Fault {
        if self.deck.is_empty() {
            self.deck = (0..KINDS).collect();
            // Fisher-Yates with the run's RNG, so the order follows the seed.
            for i in (1..self.deck.len()).rev() {
                let j = rng.random_range(0..=i);
                self.deck.swap(i, j);
            }
        }
        let kind = self.deck.pop().unwrap_or(0);
        Fault::of_kind(kind, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn deal(seed: u64, n: usize) -> Vec<Fault> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut schedule = Schedule::default();
        (0..n).map(|_| schedule.next(&mut rng)).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_another_seed_another() {
        assert_eq!(deal(7, 50), deal(7, 50));
        assert_ne!(deal(7, 50), deal(8, 50));
    }

    #[test]
    fn every_kind_appears_within_the_first_ten_faults() {
        for seed in 0..20 {
            let names: std::collections::BTreeSet<String> =
                deal(seed, 10).iter().map(Fault::name).collect();
            assert_eq!(names.len(), 10, "seed {seed}: {names:?}");
            assert!(names.contains("spec-edit"), "seed {seed}: {names:?}");
        }
    }
}
