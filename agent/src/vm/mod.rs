//! `azp-agent vm`: ephemeral agents on a plain Linux VM, one job per registration, forever.
//!
//! Each round: remove whatever registration the record names (a crash, SIGKILL or reboot of the
//! previous round leaves one) → record the new agent's name → `register` in-process (preflight,
//! `config.sh` with the PAT, hand the registration over) → record its id → `azp-agent run` as
//! the run user with the handed-over registration (no PAT) → remove the agent by its id →
//! clean the work directory and the registration files → start over.
//!
//! It mirrors the pod: the registering step (this process, root under systemd) is the only one
//! that can read the PAT; the job step runs as another user from another agent home, which
//! it may write but the registering step never executes from.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod job_step;
pub mod remove;
pub mod run_user;
pub mod state;
mod workspace;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azp_contract::{TerminationMessage, run_exit};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cli::{RunArgs, VmArgs};
use crate::run::config::{Role, RunSettings};
use crate::run::registration::read_agent_id;
use crate::run::signals::StopSignal;

use self::job_step::JobStepPaths;
use self::remove::{AdoAccess, RemoveError};
use self::run_user::{RunUser, RunUserError};
use self::state::{Recorded, StateError, StateFile};
use self::workspace::Workspace;

/// File name of the job step's termination message, inside the registration directory.
const JOB_MESSAGE_FILE: &str = "job-message.json";
/// File name of the registering step's termination message, inside the state directory.
const REGISTER_MESSAGE_FILE: &str = "register-message.json";

/// Why the loop stops (fatal) or a round failed (retried after a pause).
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// A setting makes the loop useless; restarting will not help.
    #[error("{0}")]
    Config(String),
    /// The run user cannot be used.
    #[error(transparent)]
    RunUser(#[from] RunUserError),
    /// The state record cannot be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A leftover registration could not be removed.
    #[error(transparent)]
    Remove(#[from] RemoveError),
    /// Registration failed (the registering step removed what it could).
    #[error("registration failed: {0}")]
    Register(String),
    /// The job step ended before it could take a job (its message says why); the
    /// registration is removed and the round retried after the pause, so a broken setting
    /// does not register and remove agents in a tight loop.
    #[error("the job step could not run a job: {0}")]
    JobStep(String),
    /// A directory or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl VmError {
    /// Errors no retry can fix (the unit's `Restart=always` would only loop on them).
    fn is_fatal(&self) -> bool {
        matches!(self, Self::Config(_) | Self::RunUser(_))
    }

    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

/// How one round ended.
enum Round {
    /// A job step ran and its registration is gone.
    Done,
    /// A stop signal arrived.
    Stopped,
}

/// The loop, with its settings validated.
pub struct VmLoop {
    run: RunArgs,
    base_name: String,
    workspace: Workspace,
    state: StateFile,
    user: Option<RunUser>,
    access: AdoAccess,
    exe: PathBuf,
    inherited: Vec<(String, String)>,
    max_jobs: u64,
    retry_pause: Duration,
    stop: StopSignal,
}

impl VmLoop {
    /// Validates `args` and prepares the state, registration and work directories.
    pub fn new(
        args: VmArgs,
        inherited: Vec<(String, String)>,
        stop: StopSignal,
    ) -> Result<Self, VmError> {
        let run = args.run;
        let base_name = run
            .agent_name
            .clone()
            .or_else(|| run.pod_name.clone())
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                VmError::Config(
                    "AZP_AGENT_NAME is not set: set it to this machine's name (each registration appends a suffix)".into(),
                )
            })?;
        let (Some(url), Some(pool)) = (run.url.clone(), run.pool.clone()) else {
            return Err(VmError::Config(
                "AZP_URL and AZP_POOL must both be set".into(),
            ));
        };
        let user = match &args.run_as_user {
            Some(name) => Some(RunUser::resolve(name)?),
            None if nix::unistd::geteuid().is_root() => {
                return Err(VmError::Config(
                    "running as root without --run-as-user: jobs would run as root and could read the PAT; set --run-as-user (AZP_RUN_AS_USER) to the user jobs run as".into(),
                ));
            }
            None => None,
        };
        let run_home = args
            .run_agent_home
            .clone()
            .unwrap_or_else(|| run.agent_home.clone());
        if !run_home.join("run.sh").is_file() {
            return Err(VmError::Config(format!(
                "{} is missing: install the Azure Pipelines agent there for the job step (--run-agent-home)",
                run_home.join("run.sh").display()
            )));
        }
        if let Some(user) = &user {
            user.check_cannot_read(&run.token_file)?;
            if same_dir(&run_home, &run.agent_home) {
                return Err(VmError::Config(format!(
                    "--run-agent-home must differ from --agent-home ({}) with --run-as-user: the job's user must not be able to change the config.sh that the PAT-holding step runs",
                    run.agent_home.display()
                )));
            }
        }
        let workspace = Workspace {
            state_dir: args.state_dir.clone(),
            register_home: run.agent_home.clone(),
            run_home,
            work_dir: std::path::absolute(&run.work).unwrap_or(run.work.clone()),
        };
        workspace.prepare(user.as_ref())?;
        let exe = std::env::current_exe().map_err(VmError::io("locating azp-agent itself"))?;
        let access = AdoAccess {
            url,
            pool,
            pat_file: run.token_file.clone(),
            ca_bundle: run.ca_bundle.clone(),
            allow_insecure_http: run.allow_insecure_http,
            attempts: run.deregister_attempts.max(1),
            backoff: Duration::from_secs(1),
        };
        Ok(Self {
            state: StateFile::in_dir(&args.state_dir),
            run,
            base_name,
            workspace,
            user,
            access,
            exe,
            inherited,
            max_jobs: args.max_jobs,
            retry_pause: Duration::from_secs(args.retry_pause),
            stop,
        })
    }

    /// Runs rounds until a stop signal, `--max-jobs` rounds, or a fatal error.
    pub async fn run(mut self) -> Result<(), VmError> {
        let mut jobs = 0;
        loop {
            // First, even when stopping: nothing this machine registered may outlive it.
            if let Err(error) = self.remove_recorded().await {
                if self.stop.received().is_some() {
                    return Err(error);
                }
                tracing::error!(%error, "cannot remove the recorded registration; retrying");
                self.pause().await;
                continue;
            }
            if self.stop.received().is_some() || (self.max_jobs != 0 && jobs >= self.max_jobs) {
                tracing::info!(jobs, "stopping");
                return Ok(());
            }
            match self.round().await {
                Ok(Round::Done) => jobs += 1,
                Ok(Round::Stopped) => {}
                Err(error) if error.is_fatal() => return Err(error),
                Err(error) => {
                    tracing::error!(%error, "round failed; starting over");
                    self.pause().await;
                }
            }
        }
    }

    async fn pause(&mut self) {
        tokio::select! {
            () = tokio::time::sleep(self.retry_pause) => {}
            _ = self.stop.stopped() => {}
        }
    }

    /// Removes the registration the record names (left by a crash or a failed removal), then
    /// the record and the files that belonged to it.
    async fn remove_recorded(&mut self) -> Result<(), VmError> {
        if let Some(recorded) = self.state.load()? {
            match self.access.remove(&recorded).await? {
                Some(id) => tracing::info!(
                    agent_id = id,
                    agent_name = %recorded.agent_name,
                    "registration removed"
                ),
                None => tracing::info!(
                    agent_name = %recorded.agent_name,
                    "recorded registration already gone"
                ),
            }
            self.state.clear()?;
        }
        self.workspace.clean()
    }

    async fn round(&mut self) -> Result<Round, VmError> {
        let agent_name = format!("{}-{}", self.base_name, unique_suffix());
        self.state.save(&Recorded {
            agent_name: agent_name.clone(),
            agent_id: None,
        })?;
        self.workspace.fresh_registration_dir()?;
        let registered = self.register(&agent_name).await?;
        if registered.exit_code != run_exit::REGISTERED {
            if self.stop.received().is_some() {
                return Ok(Round::Stopped);
            }
            return Err(VmError::Register(registered.message.exit_reason));
        }
        let agent_id = read_agent_id(&self.workspace.registration_dir());
        self.state.save(&Recorded {
            agent_name: agent_name.clone(),
            agent_id,
        })?;
        tracing::info!(?agent_id, %agent_name, "registered; running one job");
        if let Some(user) = &self.user {
            self.workspace.give_registration_to(user)?;
        }
        let job_step = self.job_step(&agent_name).await;
        // Whatever the job step did, its registration goes.
        self.remove_recorded().await?;
        job_step?;
        Ok(Round::Done)
    }

    /// The registering step, in this process (it holds the PAT).
    async fn register(&mut self, agent_name: &str) -> Result<crate::run::RunResult, VmError> {
        let mut args = self.run.clone();
        args.agent_name = Some(agent_name.to_owned());
        args.registration_dir = self.workspace.registration_dir();
        args.termination_log = self.workspace.state_dir.join(REGISTER_MESSAGE_FILE);
        let settings = RunSettings::for_role(Role::Register, args, self.inherited.clone())
            .map_err(|error| VmError::Config(error.to_string()))?;
        Ok(crate::run::run(settings, self.stop.clone()).await)
    }

    /// `azp-agent run` as the run user; a stop signal is passed on and waited out (the job
    /// step has its own grace period).
    async fn job_step(&mut self, agent_name: &str) -> Result<(), VmError> {
        let paths = JobStepPaths {
            agent_home: self.workspace.run_home.clone(),
            registration_dir: self.workspace.registration_dir(),
            termination_log: self.workspace.registration_dir().join(JOB_MESSAGE_FILE),
        };
        let mut child = job_step::command(
            &self.exe,
            &self.run,
            agent_name,
            &paths,
            self.user.as_ref(),
            &self.inherited,
        )
        .spawn()
        .map_err(VmError::io(
            "starting the job step (azp-agent run, through setpriv with --run-as-user)",
        ))?;
        let status = tokio::select! {
            status = child.wait() => status,
            name = self.stop.stopped() => {
                tracing::info!(signal = name, "passing the stop on to the job step");
                if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                }
                child.wait().await
            }
        }
        .map_err(VmError::io("waiting for the job step"))?;
        let message = std::fs::read_to_string(&paths.termination_log)
            .ok()
            .and_then(|json| TerminationMessage::from_json(&json).ok());
        match &message {
            Some(message) => tracing::info!(
                exit = ?status.code(),
                outcome = ?message.outcome,
                request_id = ?message.request_id,
                reason = %message.exit_reason,
                "job step finished"
            ),
            None => {
                tracing::warn!(exit = ?status.code(), "job step finished without a termination message")
            }
        }
        let never_listened = [
            run_exit::CONFIG_ERROR,
            run_exit::PREFLIGHT_FAILED,
            run_exit::REGISTRATION_FAILED,
            run_exit::ECR_LOGIN_FAILED,
        ];
        match status.code() {
            Some(code) if never_listened.contains(&code) => Err(VmError::JobStep(
                message
                    .map(|message| message.exit_reason)
                    .unwrap_or_else(|| format!("exit code {code}")),
            )),
            _ => Ok(()),
        }
    }
}

fn same_dir(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Time-based and increasing, so successive registrations of one machine never share a name
/// (Azure DevOps refuses a second agent of the same name in a pool).
fn unique_suffix() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis())
        .unwrap_or_default();
    let mut n = millis;
    let mut digits = Vec::new();
    while n > 0 {
        let digit = u32::try_from(n % 36).unwrap_or_default();
        digits.push(char::from_digit(digit, 36).unwrap_or('0'));
        n /= 36;
    }
    digits.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_grow_and_are_short() {
        let first = unique_suffix();
        std::thread::sleep(Duration::from_millis(2));
        let second = unique_suffix();
        assert!(first.len() <= 9, "{first}");
        assert_eq!(first.len(), second.len());
        assert!(second > first, "{first} {second}");
    }
}
