//! `azp-agent`: the pod entrypoint of azp-operator's ephemeral Azure Pipelines agents.
//!
//! The library holds everything the binary does so that integration tests and the
//! binary share one implementation: ECR login ([`ecr`]), image builds ([`build`]) and
//! start-up checks ([`preflight`]), the pod's register/run/deregister sequence ([`run`]) and
//! the plain VM's loop of ephemeral agents ([`vm`]).

pub mod build;
pub mod cli;
pub mod ecr;
pub mod env;
pub mod exit;
pub mod preflight;
pub mod run;
pub mod vm;
