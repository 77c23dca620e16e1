//! `azp-agent run` and `azp-agent register`, in one of three [`config::Mode`]s:
//!
//! * self-registering `run` (one container holds the PAT): preflight → ECR login →
//!   `config.sh` → `run.sh --once` → deregister → termination message. Deregistration happens
//!   on every path that may have registered.
//! * `register` (the pod's init container, the only one with the PAT): preflight →
//!   `config.sh` → hand the registration files over ([`handoff`]) → termination message; a
//!   registration it cannot hand over is removed again.
//! * `run` with a handed-over registration (the job's container, no PAT): preflight → ECR
//!   login → take the registration → `run.sh --once` → termination message. The registration
//!   is either the operator's (`spec.registration: operator`: its per-pod Secret, mounted
//!   read-only at the registration directory) or the `register` init container's. It cannot
//!   deregister; the operator removes the registration once the pod has finished.
//!
//! Exit codes are `azp_contract::run_exit`; the termination message is
//! `azp_contract::TerminationMessage`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod agent_env;
pub mod config;
mod configure;
pub mod handoff;
pub mod job_log;
mod listen;
mod prepare;
pub mod process;
mod register;
pub mod registration;
pub mod secret;
pub mod signals;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azp_contract::run_exit;
use azp_contract::{Outcome, TerminationMessage};

use self::config::{Mode, RunSettings};
use self::job_log::JobProgress;
use self::signals::StopSignal;

pub use self::config::ConfigError;

/// Longest wait for an idle `run.sh` (no job) to exit after SIGTERM before SIGKILL.
const IDLE_STOP_LIMIT: Duration = Duration::from_secs(10);

/// The result of `run`: the exit code and the message written to the termination log.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Process exit code (`azp_contract::run_exit`).
    pub exit_code: i32,
    /// The termination message.
    pub message: TerminationMessage,
}

/// Runs the whole sequence and writes the termination message.
pub async fn run(settings: RunSettings, stop: StopSignal) -> RunResult {
    let result = Run::new(&settings, stop).execute().await;
    write_termination_message(&settings.termination_log, &result.message);
    result
}

/// The message for a configuration error (nothing was registered).
pub fn config_error_result(agent_name: String, error: &ConfigError) -> RunResult {
    RunResult {
        exit_code: run_exit::CONFIG_ERROR,
        message: TerminationMessage {
            agent_id: None,
            agent_name,
            request_id: None,
            outcome: Outcome::PreflightFailed,
            exit_reason: format!("configuration error: {error}"),
            durations_ms: Default::default(),
            failed_checks: Vec::new(),
        },
    }
}

/// Writes `message` to `path`; a failure is logged, never fatal (the exit code still tells).
pub fn write_termination_message(path: &Path, message: &TerminationMessage) {
    if let Err(err) = std::fs::write(path, message.to_json()) {
        tracing::warn!(path = %path.display(), %err, "cannot write the termination message");
    }
}

struct Run<'a> {
    settings: &'a RunSettings,
    stop: StopSignal,
    message: TerminationMessage,
    progress: Arc<JobProgress>,
    /// `config.sh` was stopped by a signal, so the server may hold a registration that no
    /// local file records.
    configure_interrupted: bool,
}

/// How the registration-holding part ended, before deregistration.
struct Ending {
    exit_code: i32,
    outcome: Outcome,
    reason: String,
}

impl Ending {
    fn new(exit_code: i32, outcome: Outcome, reason: impl Into<String>) -> Self {
        Self {
            exit_code,
            outcome,
            reason: reason.into(),
        }
    }
}

fn millis(since: Instant) -> Option<u64> {
    Some(u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX))
}

impl<'a> Run<'a> {
    fn new(settings: &'a RunSettings, stop: StopSignal) -> Self {
        Self {
            settings,
            stop,
            message: TerminationMessage {
                agent_id: None,
                agent_name: settings.agent_name.clone(),
                request_id: None,
                outcome: Outcome::Unknown,
                exit_reason: String::new(),
                durations_ms: Default::default(),
                failed_checks: Vec::new(),
            },
            progress: Arc::new(JobProgress::default()),
            configure_interrupted: false,
        }
    }

    fn finish(mut self, ending: Ending) -> RunResult {
        self.message.outcome = ending.outcome;
        self.message.exit_reason = ending.reason;
        tracing::info!(
            exit_code = ending.exit_code,
            outcome = ?self.message.outcome,
            reason = %self.message.exit_reason,
            "run finished"
        );
        RunResult {
            exit_code: ending.exit_code,
            message: self.message,
        }
    }

    fn interrupted(name: &str, phase: &str) -> Ending {
        Ending::new(
            run_exit::TERMINATED,
            Outcome::Interrupted,
            format!("{name} during {phase}"),
        )
    }

    async fn execute(mut self) -> RunResult {
        match self.settings.mode {
            Mode::Register => return self.register().await,
            Mode::RunRegistered => return self.run_registered().await,
            Mode::RunSelfRegistering => {}
        }
        if let Some(ending) = self.preflight().await {
            return self.finish(ending);
        }
        let _ecr_refresh = match self.ecr_login().await {
            Ok(refresh) => refresh,
            Err(ending) => return self.finish(ending),
        };
        let ending = match self.configure().await {
            Err(ending) => ending,
            Ok(()) => self.run_agent().await,
        };
        self.deregister(ending).await
    }

    async fn deregister(mut self, ending: Ending) -> RunResult {
        // The official agent writes `.credentials` right after `POST agents` and `.agent` after
        // the connection test; a config.sh that failed on its own without either never
        // registered, and "cleaning up" with a PAT that may be the very cause would only turn
        // the failure into a false "registration left behind".
        if !self.configure_interrupted
            && !registration::has_local_registration(&self.settings.agent_home)
        {
            return self.finish(ending);
        }
        let started = Instant::now();
        let removed = registration::deregister(self.settings).await;
        self.message.durations_ms.deregister = millis(started);
        match removed {
            Ok(()) => self.finish(ending),
            Err(reason) => {
                let reason = format!("{}; {reason}", ending.reason);
                self.finish(Ending::new(
                    run_exit::DEREGISTRATION_FAILED,
                    ending.outcome,
                    reason,
                ))
            }
        }
    }
}
