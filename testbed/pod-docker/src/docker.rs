//! A thin wrapper over the `docker` CLI (Debian's 20.10 client) talking to one daemon.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Why a docker command failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The client could not be started.
    #[error("cannot run {cli}: {source}")]
    Spawn {
        /// The client binary.
        cli: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The command exited non-zero.
    #[error("docker {args} failed: {stderr}")]
    Failed {
        /// The arguments, space-separated.
        args: String,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// The docker client and the daemon it talks to.
#[derive(Debug, Clone)]
pub struct Docker {
    cli: PathBuf,
    host: String,
}

impl Docker {
    /// `cli` (e.g. `/usr/bin/docker`) against `host` (e.g. `unix:///tmp/x/docker.sock`).
    pub fn new(cli: impl Into<PathBuf>, host: impl Into<String>) -> Self {
        Self {
            cli: cli.into(),
            host: host.into(),
        }
    }

    /// The daemon address.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.cli);
        command
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Runs `docker ARGS` and returns its output, whatever the exit code.
    pub fn output(&self, args: &[String]) -> Result<Output, DockerError> {
        self.command(args)
            .output()
            .map_err(|source| DockerError::Spawn {
                cli: self.cli.display().to_string(),
                source,
            })
    }

    /// Runs `docker ARGS`; stdout (trimmed) on success.
    pub fn run(&self, args: &[String]) -> Result<String, DockerError> {
        let output = self.output(args)?;
        if !output.status.success() {
            return Err(DockerError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// `docker` with string-slice arguments.
    pub fn run_str(&self, args: &[&str]) -> Result<String, DockerError> {
        self.run(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }
}
