//! Runs a job's script step with `/bin/sh -c` in its own process group, capturing stdout and
//! stderr interleaved in one pipe, and kills the whole group on cancellation.

use std::io::Read as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio_util::sync::CancellationToken;

use super::error::StandinError;

/// How long a cancelled script gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(3);
/// How long to wait for the output pipe to close after the shell exited (background children).
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// What a script did.
#[derive(Debug)]
pub struct ScriptOutcome {
    /// Exit code; `None` when killed by a signal.
    pub exit_code: Option<i32>,
    /// Interleaved stdout and stderr.
    pub output: String,
    /// True when the script was stopped by cancellation.
    pub cancelled: bool,
}

impl ScriptOutcome {
    /// Exit code 0 and not cancelled.
    pub fn succeeded(&self) -> bool {
        !self.cancelled && self.exit_code == Some(0)
    }
}

/// Runs `script` in `work_dir` with exactly `env`.
pub async fn run_script(
    script: &str,
    work_dir: &Path,
    env: Vec<(String, String)>,
    cancel: &CancellationToken,
) -> Result<ScriptOutcome, StandinError> {
    let (reader, writer) = std::io::pipe().map_err(|source| StandinError::io("pipe", source))?;
    let writer_for_stderr = writer
        .try_clone()
        .map_err(|source| StandinError::io("pipe", source))?;
    let mut command = tokio::process::Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(script)
        .current_dir(work_dir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_for_stderr)
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|source| StandinError::io("/bin/sh", source))?;
    // The Command holds the write ends; drop it so EOF arrives when the script's group is gone.
    drop(command);
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);

    let captured = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&captured);
    let mut reader = reader;
    let drain = tokio::task::spawn_blocking(move || {
        let mut buffer = [0u8; 8192];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    if let Ok(mut all) = sink.lock() {
                        all.extend_from_slice(&buffer[..read]);
                    }
                }
            }
        }
    });

    let mut cancelled = false;
    let status = tokio::select! {
        status = child.wait() => status,
        () = cancel.cancelled() => {
            cancelled = true;
            signal_group(group, Signal::SIGTERM);
            match tokio::time::timeout(KILL_GRACE, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    signal_group(group, Signal::SIGKILL);
                    child.wait().await
                }
            }
        }
    }
    .map_err(|source| StandinError::io("/bin/sh", source))?;

    if tokio::time::timeout(DRAIN_GRACE, drain).await.is_err() {
        // Something in the group still holds the pipe: the job is over, so it goes too.
        signal_group(group, Signal::SIGKILL);
    }
    let output = captured
        .lock()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    Ok(ScriptOutcome {
        exit_code: status.code(),
        output,
        cancelled,
    })
}

fn signal_group(group: Option<Pid>, signal: Signal) {
    if let Some(group) = group
        && let Err(err) = killpg(group, signal)
    {
        tracing::debug!(%err, ?signal, "signalling the script's process group failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_env() -> Vec<(String, String)> {
        vec![(
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        )]
    }

    #[tokio::test]
    async fn output_of_both_streams_and_exit_code_are_captured() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = path_env();
        env.push(("GREETING".into(), "hello".into()));
        let outcome = run_script(
            "echo \"$GREETING out\"; echo err >&2; pwd; exit 3",
            dir.path(),
            env,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(outcome.exit_code, Some(3));
        assert!(!outcome.succeeded());
        assert!(outcome.output.contains("hello out"), "{}", outcome.output);
        assert!(outcome.output.contains("err"), "{}", outcome.output);
        let real_dir = dir.path().canonicalize().unwrap();
        assert!(
            outcome.output.contains(real_dir.to_str().unwrap()),
            "{}",
            outcome.output
        );
    }

    #[tokio::test]
    async fn cancellation_kills_the_script_and_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            trigger.cancel();
        });
        let started = std::time::Instant::now();
        let outcome = run_script(
            "echo started; sleep 30; echo never",
            dir.path(),
            path_env(),
            &cancel,
        )
        .await
        .unwrap();
        assert!(outcome.cancelled);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(outcome.output.contains("started"));
        assert!(!outcome.output.contains("never"));
    }
}
