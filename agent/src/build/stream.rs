//! Runs a builder program (buildctl, docker) with its whole output streamed, line by line and as
//! it comes, to our stdout: the pipeline log is where a user debugs a build, as with `Docker@2`.
//! Our own result lines are printed after the builder has exited, so they stay last.

use std::io::Write as _;
use std::process::{ExitStatus, Stdio};

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::sync::mpsc;

use super::progress::{BuildFailure, ProgressWatcher};

/// Which of the builder's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Stdout,
    Stderr,
}

/// What a finished builder run left behind.
#[derive(Debug)]
pub struct Streamed {
    /// Exit status.
    pub status: ExitStatus,
    /// The builder's stdout (for `docker push`'s digest line).
    pub stdout: String,
    /// What failed, read from the progress output.
    pub failure: BuildFailure,
}

async fn forward_lines(
    source: Source,
    reader: impl AsyncRead + Unpin,
    lines: mpsc::UnboundedSender<(Source, String)>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(reader);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer).await? == 0 {
            return Ok(());
        }
        // Build output is not always UTF-8 (a RUN step prints what it likes).
        let line = String::from_utf8_lossy(&buffer).into_owned();
        if lines.send((source, line)).is_err() {
            return Ok(());
        }
    }
}

/// Spawns `command`, forwards every line of its stdout and stderr to our stdout as it arrives,
/// and waits for it.
pub async fn run_streamed(mut command: tokio::process::Command) -> std::io::Result<Streamed> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        readers.push(tokio::spawn(forward_lines(
            Source::Stdout,
            stdout,
            sender.clone(),
        )));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(tokio::spawn(forward_lines(
            Source::Stderr,
            stderr,
            sender.clone(),
        )));
    }
    drop(sender);

    let mut watcher = ProgressWatcher::default();
    let mut captured = String::new();
    while let Some((source, line)) = receiver.recv().await {
        watcher.observe(&line);
        if source == Source::Stdout {
            captured.push_str(&line);
        }
        let mut out = std::io::stdout().lock();
        // A closed stdout must not abort the build; the log is lost either way.
        let _ = out.write_all(line.as_bytes());
        if !line.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }
    for reader in readers {
        match reader.await {
            Ok(result) => result?,
            Err(join) => return Err(std::io::Error::other(join)),
        }
    }
    let status = child.wait().await?;
    Ok(Streamed {
        status,
        stdout: captured,
        failure: watcher.failure(),
    })
}
