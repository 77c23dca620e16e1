//! `azp-sandbox`: the whole azp-operator system on one machine.
//!
//! [`harness::Sandbox`] starts the Azure DevOps emulator and kube-sim in-process, the real
//! `azp-operator` binary, and a kubelet that runs the real `azp-agent` (with the stand-in
//! agent) for every pod. `demo`, `chaos` and `bench` are built on it; [`invariants`] are the
//! checks every run ends with.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod bench;
pub mod chaos;
pub mod credentials;
pub mod demo;
pub mod harness;
pub mod invariants;
pub mod snapshot;
pub mod up;
pub mod view;

pub use harness::{AgentPoolSpec, RuntimeKind, Sandbox, SandboxError, SandboxOptions};
pub use snapshot::Snapshot;
