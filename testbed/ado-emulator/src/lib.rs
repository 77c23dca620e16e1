//! A strict Azure DevOps emulator for tests, and a stand-in for Microsoft's agent.
//!
//! Start one with [`RunningEmulator::start`]; drive it over HTTP (`/{org}/_apis/...` like the real
//! service, `/_emulator/...` for test control) or with the typed helpers on [`RunningEmulator`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod api_version;
pub mod assign;
pub mod auth;
pub mod config;
pub mod control;
pub mod entra;
pub mod error;
pub mod faults;
pub mod hooks;
pub mod job_message;
pub mod oauth;
pub mod server;
pub mod standin;
pub mod state;
pub mod stats;
pub mod testing;
pub mod tls;
pub mod urls;
pub mod wire;

pub use config::EmulatorConfig;
pub use control::{AgentInfo, ControlError, JobView, QueueJob};
pub use error::{ApiError, EmulatorError};
pub use server::RunningEmulator;
