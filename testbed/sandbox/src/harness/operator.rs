//! The real `azp-operator` binary as a child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use super::SandboxError;

/// How to start the operator; kept so it can be restarted with the same flags.
#[derive(Debug, Clone)]
pub struct OperatorLaunch {
    /// The `azp-operator` binary.
    pub binary: PathBuf,
    /// Kubeconfig pointing at kube-sim.
    pub kubeconfig: PathBuf,
    /// Namespace it watches.
    pub namespace: String,
    /// `--min-poll-spacing-ms`.
    pub min_poll_spacing: Duration,
    /// `--registration-grace-seconds`.
    pub registration_grace: Duration,
    /// `--hook-secret-file`, when hooks are on.
    pub hook_secret_file: Option<PathBuf>,
    /// Where its stderr (logs) is appended.
    pub log_file: PathBuf,
    /// `RUST_LOG` for it.
    pub log_filter: String,
    /// Value of [`super::MARKER_ENV`], so leftover processes can be found.
    pub marker: String,
    /// `--entra-authority`: the emulator's Entra token endpoint.
    pub entra_authority: String,
}

/// A running operator process.
#[derive(Debug)]
pub struct OperatorProcess {
    child: Child,
    /// `http://127.0.0.1:PORT` of its metrics/health/hook server.
    pub base_url: String,
}

impl OperatorProcess {
    /// Starts the binary and waits for its `listening on` line (at most 30 s).
    pub async fn start(launch: &OperatorLaunch) -> Result<Self, SandboxError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log_file)
            .map_err(|e| SandboxError::Operator(format!("opening its log file: {e}")))?;
        let mut command = Command::new(&launch.binary);
        command
            .args(["run", "--namespace", &launch.namespace])
            .args(["--metrics-addr", "127.0.0.1:0", "--allow-insecure-http"])
            .arg("--min-poll-spacing-ms")
            .arg(launch.min_poll_spacing.as_millis().to_string())
            .arg("--registration-grace-seconds")
            .arg(launch.registration_grace.as_secs().to_string())
            .args(["--log-format", "text"])
            .args(["--entra-authority", &launch.entra_authority])
            .env("KUBECONFIG", &launch.kubeconfig)
            .env("RUST_LOG", &launch.log_filter)
            .env(super::MARKER_ENV, &launch.marker)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        if let Some(secret) = &launch.hook_secret_file {
            command.arg("--hook-secret-file").arg(secret);
        }
        let mut child = command.spawn().map_err(|e| {
            SandboxError::Operator(format!("starting {}: {e}", launch.binary.display()))
        })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| SandboxError::Operator("no stdout pipe".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .map_err(|_| SandboxError::Operator(not_listening(&launch.log_file)))?
            .map_err(|e| SandboxError::Operator(e.to_string()))?
            .ok_or_else(|| SandboxError::Operator(not_listening(&launch.log_file)))?;
        let base_url = first
            .strip_prefix("listening on ")
            .ok_or_else(|| SandboxError::Operator(format!("unexpected first line {first:?}")))?
            .trim()
            .to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, base_url })
    }

    /// The process id, for /proc sampling.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILLs the process (a crash, not a graceful stop) and reaps it.
    pub async fn kill(mut self) {
        if let Err(e) = self.child.kill().await {
            tracing::warn!(error = %e, "killing the operator");
        }
    }

    /// Whether it has exited on its own.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

fn not_listening(log: &Path) -> String {
    let tail = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = tail.lines().rev().take(15).collect();
    format!(
        "the operator did not print its address; last log lines:\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )
}
