//! The pod contract shared by the operator and the agent.
//!
//! `azp-operator` renders agent pods and `azp-agent` runs inside them; neither depends on the
//! other, so every name that crosses the pod boundary (environment variables, mounted paths,
//! labels, annotations, the ownership capability, agent naming and the termination message)
//! is defined here exactly once.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod agent_env;
pub mod env;
pub mod labels;
pub mod naming;
pub mod paths;
pub mod run_exit;
pub mod termination;

pub use naming::{AgentPoolRef, ParseAgentPoolRefError};
pub use termination::{Outcome, PhaseDurations, TerminationMessage};
