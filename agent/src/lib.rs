//! `azp-agent`: the pod entrypoint of azp-operator's ephemeral Azure Pipelines agents.
//!
//! The library holds everything the binary does so that integration tests and the
//! binary share one implementation: ECR login ([`ecr`]), image builds ([`build`]) and
//! start-up checks ([`preflight`]), and the pod's register/run/deregister sequence ([`run`]).

pub mod build;
pub mod cli;
pub mod ecr;
pub mod env;
pub mod exit;
pub mod preflight;
pub mod run;
