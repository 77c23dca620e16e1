//! A strict Kubernetes API double with a kubelet simulator.
//!
//! Start one with [`RunningKubeSim::start`]; talk to it with kube-rs or kubectl. See README.md
//! for what is implemented and where it deviates from a real API server.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
mod builtin;
mod commit;
pub mod config;
pub mod crd;
mod delete;
pub mod error;
mod event_convert;
mod event_core;
mod event_v1;
pub mod faults;
pub mod fields;
mod gc;
pub mod http;
pub mod journal;
pub mod kubelet;
pub mod managed;
pub mod meta;
pub mod objectmeta;
pub mod patch;
pub mod registry;
pub mod sa_tokens;
pub mod selector;
pub mod server;
pub mod store;
pub mod typed;
pub mod validation;
mod write;

pub use config::KubeSimConfig;
pub use error::{ApiError, KubeSimError};
pub use faults::Fault;
pub use server::{RunningKubeSim, kubeconfig_yaml};
