//! Planner behaviour, one file per rule, plus the races between observations.

mod attribution;
mod capacity;
mod cleanup;
mod invariants;
mod names;
mod orphans;
mod races;
mod rollout;
mod startup;
