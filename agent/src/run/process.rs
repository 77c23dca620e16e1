//! Running `config.sh` / `run.sh` in their own process group, forwarding their output (with the
//! PAT scrubbed), and stopping them on SIGTERM: SIGTERM to the group, a grace period, SIGKILL.

use std::io::Write as _;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::job_log::JobProgress;
use super::secret::Pat;
use super::signals::StopSignal;

/// How long to wait for the output pipes to close after the process exited (grandchildren may
/// keep them open).
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// How a process ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// The signal that made us stop it, if any.
    pub stopped_by: Option<&'static str>,
}

/// A running agent script.
pub struct AgentProcess {
    child: Child,
    group: Option<Pid>,
    output: Vec<JoinHandle<()>>,
}

impl AgentProcess {
    /// Starts `program args` in `cwd` with exactly `env`, in a new process group. Stdout lines
    /// go to our stdout and to `progress`; stderr lines to our stderr; both with `pat` (when this process holds one) scrubbed.
    pub fn spawn(
        program: &Path,
        args: &[String],
        cwd: &Path,
        env: Vec<(String, String)>,
        pat: Option<&Pat>,
        progress: Option<Arc<JobProgress>>,
    ) -> std::io::Result<Self> {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .env_clear()
            .envs(env)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let mut output = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            output.push(forward(stdout, pat.cloned(), false, progress));
        }
        if let Some(stderr) = child.stderr.take() {
            output.push(forward(stderr, pat.cloned(), true, None));
        }
        Ok(Self {
            child,
            group,
            output,
        })
    }

    /// Waits for the exit; on a stop signal sends SIGTERM to the group and waits up to the
    /// grace period `grace()` returns at that moment, then SIGKILLs the group.
    pub async fn wait_or_stop(
        mut self,
        stop: &mut StopSignal,
        grace: impl FnOnce() -> Duration,
    ) -> std::io::Result<Finished> {
        let outcome = tokio::select! {
            status = self.child.wait() => Finished { status: status?, stopped_by: None },
            name = stop.stopped() => {
                let grace = grace();
                tracing::info!(signal = name, grace_secs = grace.as_secs_f64(), "stopping the agent process group");
                let status = self.terminate(grace).await?;
                Finished { status, stopped_by: Some(name) }
            }
        };
        self.drain_output().await;
        Ok(outcome)
    }

    /// Waits for the exit, killing the group after `limit`.
    pub async fn wait_with_limit(mut self, limit: Duration) -> std::io::Result<ExitStatus> {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                tracing::warn!(
                    limit_secs = limit.as_secs(),
                    "agent script took too long; killing it"
                );
                self.signal_group(Signal::SIGKILL);
                self.child.wait().await?
            }
        };
        self.drain_output().await;
        Ok(status)
    }

    async fn terminate(&mut self, grace: Duration) -> std::io::Result<ExitStatus> {
        self.signal_group(Signal::SIGTERM);
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::warn!("grace period over; killing the agent process group");
                self.signal_group(Signal::SIGKILL);
                self.child.wait().await
            }
        }
    }

    fn signal_group(&self, signal: Signal) {
        if let Some(group) = self.group
            && let Err(err) = killpg(group, signal)
        {
            // ESRCH: the group is already gone, which is what we wanted.
            tracing::debug!(%err, ?signal, "signalling the agent process group failed");
        }
    }

    async fn drain_output(&mut self) {
        for handle in self.output.drain(..) {
            let abort = handle.abort_handle();
            if tokio::time::timeout(OUTPUT_DRAIN, handle).await.is_err() {
                abort.abort();
            }
        }
        // Whatever is left of the job's process group must not outlive the agent.
        self.signal_group(Signal::SIGKILL);
    }
}

fn forward(
    stream: impl AsyncRead + Unpin + Send + 'static,
    pat: Option<Pat>,
    to_stderr: bool,
    progress: Option<Arc<JobProgress>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line = match &pat {
                Some(pat) => pat.scrub(&line),
                None => line,
            };
            if let Some(progress) = &progress {
                progress.observe(&line);
            }
            // A closed stdout/stderr of our own must not stop the agent.
            if to_stderr {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            } else {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
    })
}

/// A one-line description of an exit status (`exit code 2`, `killed by signal 9`).
pub fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown exit status".to_string(),
    }
}
