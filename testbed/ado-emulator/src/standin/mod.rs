//! `azp-agent-standin`: a stand-in for Microsoft's Azure Pipelines agent that honours its
//! `config.sh` / `run.sh` contract (flags, `VSTS_AGENT_INPUT_*`, files, HTTP call sequence,
//! exit codes) closely enough that a pod entrypoint cannot tell the difference.
//! It is a *client* of the Azure DevOps API with its own wire types ([`wire`]).
//!
//! ```text
//! azp-agent-standin install DIR           # writes DIR/config.sh, DIR/run.sh (0755), DIR/_diag/
//! DIR/config.sh --unattended --url U --auth pat [--token T | VSTS_AGENT_INPUT_TOKEN=T]
//!               [--pool P] [--agent N] [--work W] [--replace] [--acceptTeeEula]
//!               [--sslcacert F] [--disableloguploads]
//! DIR/config.sh remove --unattended --auth pat [--token T]
//! DIR/run.sh [--once]                      # or VSTS_AGENT_INPUT_ONCE=true
//! ```
//!
//! Exit codes of `run.sh`: 0 stopped / run-once done / SIGTERM / SIGINT; 1 not configured,
//! session conflict for 4 minutes, agent unknown at start; 2 authentication lost or agent
//! deleted while listening; 3 `AgentRefresh`; 4 `AgentRefresh` with `--once`.
//! `config.sh` exits 0 or 1.
//!
//! Choices where the real agent's behaviour is not pinned down by our sources:
//! - `DIR/.capabilities` (`key=value` lines) is sent as `userCapabilities`; without the file
//!   the field is omitted so a `--replace` keeps what the server has.
//! - `.agent` is written after the "Testing agent connection" step succeeds (as §7b), so a
//!   failed test leaves the registration and `.credentials` but no `.agent`.
//! - The generated `run.sh` does not re-launch on exit code 4 (the real one does, to apply
//!   an update): the stand-in has nothing to update, and the caller must see the 4.
//! - Only `--auth pat` is supported; `--sslcacert` is recorded in `.certificates` and trusted.
//! - Job execution is the emulator's model, not the real worker: the first `script` step
//!   runs with `/bin/sh -c` in the work folder; its output is POSTed to
//!   `/_emulator/jobs/{requestId}/log` on the server root (skipped with
//!   `--disableloguploads`); then the job "works" for `azp.emulator.durationSeconds` and
//!   finishes with `azp.emulator.result` (a failing script forces `failed`). The listener
//!   reports completion itself whatever `plan.version` says.
//!
//! `azp-agent-standin buildkitd --socket PATH` stands in for the BuildKit sidecar's socket in
//! the sandbox (see [`buildkitd`]).
//!
//! Test knobs (not in the real agent): `AZP_STANDIN_POLL_DELAY_MS`, `AZP_STANDIN_KEEPALIVE_MS`
//! (see [`timing`]) and `AZP_STANDIN_LOG` (log filter for `_diag/`, default `info`).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod args;
pub mod buildkitd;
pub mod capabilities;
pub mod cli;
pub mod configure;
pub mod console;
mod der;
pub mod error;
pub mod http;
pub mod install;
pub mod job;
pub mod key;
pub mod listener;
pub mod message_crypto;
pub mod oauth;
mod registration;
pub mod remove;
pub mod script;
pub mod settings;
pub mod timing;
pub mod wire;

pub use cli::main_with_args;

/// The agent version the stand-in claims to be.
pub const AGENT_VERSION: &str = "4.261.0";
