//! A runtime that runs each container's `command` + `args` as a local process (the image is
//! ignored), in its own session and process group, with the pod's volumes as host
//! directories. When the main process exits or the container is killed, every process of the
//! container dies with it, as on a real node (see `teardown`).
//!
//! What a process sees, since it cannot see real mount paths:
//! - every `volumeMount.mountPath` is a host directory, named in `KUBE_SIM_MOUNT_<PATH>`
//!   (`/azp/secrets` → `KUBE_SIM_MOUNT_AZP_SECRETS`);
//! - any env var VALUE that is a mount path or lies below one is rewritten to the host path
//!   (`PAT_FILE=/azp/secrets/pat` → `PAT_FILE=/tmp/.../volumes/pat/pat`); `workingDir` too;
//!   `command`/`args` are NOT rewritten (only `$(VAR)` expansion applies to them);
//! - the termination message file is `KUBE_SIM_TERMINATION_LOG` (the container's
//!   `terminationMessagePath` is not writable on the host); an env var whose value is the
//!   container's `terminationMessagePath` (default `/dev/termination-log`) is rewritten to
//!   it, and [`ProcessRuntime::with_termination_log_env`] names more variables to set to it;
//! - `KUBE_SIM_POD_DIR` is the pod's private directory; `HOME` defaults to a directory in
//!   it; `PATH` is the host's; no other host variable leaks in.
//!
//! stdout and stderr go to [`ProcessRuntime::log_path`].
//!
//! An exec probe (a sidecar's `startupProbe`) runs as one more process with the container's
//! environment and working directory, its output discarded, killed when it times out;
//! [`ProcessRuntime::with_probe_override`] replaces its program, as the command override
//! does for containers.

use std::ffi::OsString;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Container, Pod};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::env::{self, HostMount};
use super::runtime::{
    ContainerControl, ContainerExit, ContainerHandle, PodRuntime, PodSandbox, RuntimeError,
    StopSignal,
};
use super::teardown::{self, Reach};
use super::volumes;

/// Env var naming the host file that stands in for `terminationMessagePath`.
pub const TERMINATION_LOG_ENV: &str = "KUBE_SIM_TERMINATION_LOG";
/// Env var naming the pod's private host directory.
pub const POD_DIR_ENV: &str = "KUBE_SIM_POD_DIR";
/// `terminationMessagePath` when the container does not set one.
const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// The real kubelet keeps at most this much of a termination message file.
const MAX_TERMINATION_MESSAGE_BYTES: u64 = 4096;
/// `FallbackToLogsOnError` uses at most this much of the log tail...
const LOG_FALLBACK_BYTES: u64 = 2048;
/// ...and at most this many lines.
const LOG_FALLBACK_LINES: usize = 80;

/// The program a container runs instead of its `command`/`args`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerCommand {
    /// The executable.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment, set after the container's own.
    pub env: Vec<(String, String)>,
}

/// Chooses the program per pod/container (e.g. by image); `None` uses `command`/`args`.
pub type CommandOverride = Arc<dyn Fn(&Pod, &Container) -> Option<ContainerCommand> + Send + Sync>;

/// Chooses the program of an exec probe (pod, container, the probe's command); `None` runs
/// the command as given, with the container's environment.
pub type ProbeOverride =
    Arc<dyn Fn(&Pod, &Container, &[String]) -> Option<ContainerCommand> + Send + Sync>;

/// Runs containers as host processes. See the module docs for what processes see.
#[derive(Clone)]
pub struct ProcessRuntime {
    base_dir: PathBuf,
    // Kept so a runtime created in a temporary directory removes it when dropped.
    _temp: Option<Arc<tempfile::TempDir>>,
    command_override: Option<CommandOverride>,
    probe_override: Option<ProbeOverride>,
    termination_log_aliases: Vec<String>,
}

impl std::fmt::Debug for ProcessRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRuntime")
            .field("base_dir", &self.base_dir)
            .field("command_override", &self.command_override.is_some())
            .finish()
    }
}

impl ProcessRuntime {
    /// A runtime keeping pod directories under `base_dir` (created if missing).
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
            _temp: None,
            command_override: None,
            probe_override: None,
            termination_log_aliases: Vec::new(),
        }
    }

    /// A runtime in a fresh temporary directory, removed when the last clone is dropped.
    pub fn in_temp_dir() -> std::io::Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("kube-sim-pods-")
            .tempdir()?;
        Ok(Self {
            base_dir: temp.path().to_path_buf(),
            _temp: Some(Arc::new(temp)),
            command_override: None,
            probe_override: None,
            termination_log_aliases: Vec::new(),
        })
    }

    /// Sets the hook that picks the program per pod/container.
    pub fn with_command_override(mut self, hook: CommandOverride) -> Self {
        self.command_override = Some(hook);
        self
    }

    /// Sets the hook that picks the program of exec probes.
    pub fn with_probe_override(mut self, hook: ProbeOverride) -> Self {
        self.probe_override = Some(hook);
        self
    }

    /// Also passes the termination message file in env var `name` (e.g.
    /// `AZP_TERMINATION_LOG`), unless the container sets that variable itself.
    pub fn with_termination_log_env(mut self, name: impl Into<String>) -> Self {
        self.termination_log_aliases.push(name.into());
        self
    }

    /// The directory under which pod directories live.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// The private host directory of a pod.
    pub fn pod_dir(&self, pod: &Pod) -> PathBuf {
        let meta = &pod.metadata;
        let uid = meta.uid.as_deref().unwrap_or("no-uid");
        self.base_dir.join(format!(
            "{}_{}_{}",
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or("unnamed"),
            uid
        ))
    }

    /// Where a container's stdout and stderr are written.
    pub fn log_path(&self, pod: &Pod, container: &str) -> PathBuf {
        self.pod_dir(pod)
            .join("logs")
            .join(format!("{container}.log"))
    }

    /// The host file standing in for a container's `terminationMessagePath`.
    pub fn termination_log_path(&self, pod: &Pod, container: &str) -> PathBuf {
        self.pod_dir(pod).join("termination").join(container)
    }
}

impl PodRuntime for ProcessRuntime {
    fn prepare(
        &self,
        client: kube::Client,
        pod: Arc<Pod>,
    ) -> BoxFuture<'static, Result<PodSandbox, RuntimeError>> {
        let pod_dir = self.pod_dir(&pod);
        async move {
            let (secrets, config_maps) = volumes::fetch_references(&client, &pod).await?;
            for sub in ["logs", "termination", "home", "volumes"] {
                let dir = pod_dir.join(sub);
                std::fs::create_dir_all(&dir).map_err(|source| RuntimeError::Io {
                    context: format!("creating {}", dir.display()),
                    source,
                })?;
            }
            let mut sandbox = PodSandbox {
                pod,
                dir: Some(pod_dir.clone()),
                secrets,
                config_maps,
                ..PodSandbox::default()
            };
            volumes::materialise(&mut sandbox, &pod_dir)?;
            Ok(sandbox)
        }
        .boxed()
    }

    fn start_container(
        &self,
        sandbox: &PodSandbox,
        container: &Container,
    ) -> BoxFuture<'static, Result<ContainerHandle, RuntimeError>> {
        let launch = self.launch_plan(sandbox, container);
        async move { spawn(launch?) }.boxed()
    }

    fn exec(
        &self,
        sandbox: &PodSandbox,
        container: &Container,
        command: &[String],
    ) -> BoxFuture<'static, Result<i32, RuntimeError>> {
        let plan = self.exec_plan(sandbox, container, command);
        async move { run_probe(plan?).await }.boxed()
    }

    fn release(&self, sandbox: &PodSandbox) {
        if let Some(dir) = &sandbox.dir
            && let Err(e) = std::fs::remove_dir_all(dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove pod directory");
        }
    }
}

/// Everything needed to start one process.
struct LaunchPlan {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    working_dir: PathBuf,
    log_path: PathBuf,
    termination_log: PathBuf,
    fallback_to_logs: bool,
}

/// What every process of a container sees: its environment and working directory.
struct ContainerContext {
    vars: Vec<(String, String)>,
    working_dir: PathBuf,
    termination_log: PathBuf,
}

/// An exec probe's process.
struct ProbePlan {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    working_dir: PathBuf,
}

fn working_dir(container: &Container, mounts: &[HostMount], pod_dir: &Path) -> PathBuf {
    match container.working_dir.as_deref() {
        Some(dir) => env::rewrite_mounted_path(dir, mounts)
            .map(PathBuf::from)
            .unwrap_or_else(|| env::private_root_path(pod_dir, dir)),
        None => pod_dir.join("home"),
    }
}

impl ProcessRuntime {
    /// The probe command as a process with the container's environment and working
    /// directory; the probe override may replace it (its program cannot see mount paths).
    fn exec_plan(
        &self,
        sandbox: &PodSandbox,
        container: &Container,
        command: &[String],
    ) -> Result<ProbePlan, RuntimeError> {
        let ContainerContext {
            mut vars,
            working_dir,
            ..
        } = self.container_context(sandbox, container)?;
        let (program, args) = match self
            .probe_override
            .as_ref()
            .and_then(|hook| hook(&sandbox.pod, container, command))
        {
            Some(cmd) => {
                vars.extend(cmd.env);
                (cmd.program, cmd.args)
            }
            None => {
                let mut words = command
                    .iter()
                    .map(|w| OsString::from(env::expand(w, &vars)));
                let Some(program) = words.next() else {
                    return Err(RuntimeError::Start(format!(
                        "the exec probe of container {} has no command",
                        container.name
                    )));
                };
                (program, words.collect())
            }
        };
        Ok(ProbePlan {
            program,
            args,
            env: vars,
            working_dir,
        })
    }

    /// The environment and working directory of a container's processes (no side effects
    /// on the container's files, so probes can use it while the container runs).
    fn container_context(
        &self,
        sandbox: &PodSandbox,
        container: &Container,
    ) -> Result<ContainerContext, RuntimeError> {
        let pod = &sandbox.pod;
        let pod_dir = sandbox.dir.clone().unwrap_or_else(|| self.pod_dir(pod));
        let mounts = host_mounts(sandbox, container)?;
        let termination_log = self.termination_log_path(pod, &container.name);
        // A variable naming the termination message path (`/dev/termination-log` unless the
        // container says otherwise) points at the host file, like a mount would.
        let mut rewrites = mounts.clone();
        rewrites.push(HostMount {
            mount_path: container
                .termination_message_path
                .clone()
                .unwrap_or_else(|| DEFAULT_TERMINATION_MESSAGE_PATH.to_owned()),
            host_path: termination_log.clone(),
        });
        let mut vars = env::container_env(sandbox, container, &rewrites)?;
        for alias in &self.termination_log_aliases {
            if !vars.iter().any(|(name, _)| name == alias) {
                vars.push((alias.clone(), termination_log.display().to_string()));
            }
        }
        let mut base = vec![
            (
                "PATH".to_owned(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned()),
            ),
            (
                "HOME".to_owned(),
                pod_dir.join("home").display().to_string(),
            ),
            (
                "HOSTNAME".to_owned(),
                pod.metadata.name.clone().unwrap_or_default(),
            ),
            (
                TERMINATION_LOG_ENV.to_owned(),
                termination_log.display().to_string(),
            ),
            (POD_DIR_ENV.to_owned(), pod_dir.display().to_string()),
        ];
        base.extend(mounts.iter().map(|m| {
            (
                env::mount_env_name(&m.mount_path),
                m.host_path.display().to_string(),
            )
        }));
        // The container's own variables win over the base ones, except the kube-sim ones.
        for (name, value) in base {
            if name.starts_with("KUBE_SIM_") || !vars.iter().any(|(n, _)| *n == name) {
                vars.retain(|(n, _)| *n != name);
                vars.push((name, value));
            }
        }
        let working_dir = working_dir(container, &mounts, &pod_dir);
        Ok(ContainerContext {
            vars,
            working_dir,
            termination_log,
        })
    }

    fn launch_plan(
        &self,
        sandbox: &PodSandbox,
        container: &Container,
    ) -> Result<LaunchPlan, RuntimeError> {
        let pod = &sandbox.pod;
        let ContainerContext {
            mut vars,
            working_dir,
            termination_log,
        } = self.container_context(sandbox, container)?;
        std::fs::write(&termination_log, b"").map_err(|source| RuntimeError::Io {
            context: format!("creating {}", termination_log.display()),
            source,
        })?;
        let (program, args) = match self
            .command_override
            .as_ref()
            .and_then(|hook| hook(pod, container))
        {
            Some(cmd) => {
                vars.extend(cmd.env);
                (cmd.program, cmd.args)
            }
            None => {
                let mut words = container
                    .command
                    .iter()
                    .flatten()
                    .chain(container.args.iter().flatten())
                    .map(|w| OsString::from(env::expand(w, &vars)));
                let Some(program) = words
                    .next()
                    .filter(|_| container.command.as_ref().is_some_and(|c| !c.is_empty()))
                else {
                    return Err(RuntimeError::Start(format!(
                        "container {} has no command; kube-sim ignores images, so a command (or a command override) is required",
                        container.name
                    )));
                };
                (program, words.collect())
            }
        };
        std::fs::create_dir_all(&working_dir).map_err(|source| RuntimeError::Io {
            context: format!("creating {}", working_dir.display()),
            source,
        })?;
        Ok(LaunchPlan {
            program,
            args,
            env: vars,
            working_dir,
            log_path: self.log_path(pod, &container.name),
            termination_log,
            fallback_to_logs: container.termination_message_policy.as_deref()
                == Some("FallbackToLogsOnError"),
        })
    }
}

fn host_mounts(
    sandbox: &PodSandbox,
    container: &Container,
) -> Result<Vec<HostMount>, RuntimeError> {
    container
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            let volume_dir = sandbox.volume_dirs.get(&m.name).ok_or_else(|| {
                RuntimeError::Config(format!(
                    "volume {} of mount {} is not defined",
                    m.name, m.mount_path
                ))
            })?;
            let host_path = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) => volume_dir.join(sub),
                None => volume_dir.clone(),
            };
            Ok(HostMount {
                mount_path: m.mount_path.clone(),
                host_path,
            })
        })
        .collect()
}

/// Runs an exec probe to its end; output is discarded (the real kubelet keeps it only for
/// events). Dropping the future (probe timeout) kills the process.
async fn run_probe(plan: ProbePlan) -> Result<i32, RuntimeError> {
    let mut command = tokio::process::Command::new(&plan.program);
    command
        .args(&plan.args)
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&plan.working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let status = command
        .status()
        .await
        .map_err(|e| RuntimeError::Start(format!("starting {:?}: {e}", plan.program)))?;
    use std::os::unix::process::ExitStatusExt as _;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(128))
}

fn spawn(plan: LaunchPlan) -> Result<ContainerHandle, RuntimeError> {
    let io_err = |context: String| move |source| RuntimeError::Io { context, source };
    if let Some(parent) = plan.log_path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(io_err(format!("creating {}", parent.display())))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&plan.log_path)
        .map_err(io_err(format!("opening {}", plan.log_path.display())))?;
    let log_for_stderr = log
        .try_clone()
        .map_err(io_err("cloning log handle".to_owned()))?;
    let setsid = teardown::setsid_program();
    let mut command = match setsid {
        Some(setsid) => {
            // `setsid` execs the program in place (same pid), so the exit status is the
            // program's; a program it cannot exec would only show as exit code 127, so it is
            // looked up first and reported as a start error, as a real runtime does.
            let path = plan
                .env
                .iter()
                .find(|(name, _)| name == "PATH")
                .map(|(_, value)| OsString::from(value))
                .unwrap_or_default();
            if teardown::find_executable(&plan.program, &path, &plan.working_dir).is_none() {
                return Err(RuntimeError::Start(format!(
                    "starting {:?}: {}",
                    plan.program,
                    std::io::Error::from(nix::errno::Errno::ENOENT)
                )));
            }
            let mut command = tokio::process::Command::new(setsid);
            command.arg(&plan.program);
            command
        }
        None => {
            let mut command = tokio::process::Command::new(&plan.program);
            command.process_group(0);
            command
        }
    };
    command
        .args(&plan.args)
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&plan.working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_for_stderr))
        // Should the supervising task be dropped, tokio also reaps the killed process.
        .kill_on_drop(true);
    let child = command
        .spawn()
        .map_err(|e| RuntimeError::Start(format!("starting {:?}: {e}", plan.program)))?;
    let reach = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw)
        .map(|pid| {
            if setsid.is_some() {
                Reach::Session(pid)
            } else {
                Reach::Group(pid)
            }
        });
    let (handle, control) = ContainerHandle::new_pair();
    tokio::spawn(supervise(child, reach.map(Teardown), control, plan));
    Ok(handle)
}

/// Kills every process of the container when dropped, so a supervising task dropped at
/// runtime shutdown leaves nothing behind either.
struct Teardown(Reach);

impl Drop for Teardown {
    fn drop(&mut self) {
        self.0.kill_all();
    }
}

/// Forwards stop signals and reports the exit once every process of the container is gone.
async fn supervise(
    mut child: tokio::process::Child,
    teardown: Option<Teardown>,
    mut control: ContainerControl,
    plan: LaunchPlan,
) {
    let mut kubelet_listening = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = control.signals.recv(), if kubelet_listening => match (signal, &teardown) {
                // A real runtime sends SIGTERM to the main process; its group is close enough.
                (Some(StopSignal::Terminate), Some(t)) => {
                    teardown::signal_group(t.0.group(), Signal::SIGTERM);
                }
                (Some(StopSignal::Kill), Some(t)) => t.0.kill_all(),
                // The kubelet forgot the container: nothing of it may keep running.
                (None, Some(t)) => {
                    kubelet_listening = false;
                    t.0.kill_all();
                }
                (signal, None) => {
                    // No pid means tokio already reaped the process; the wait returns next.
                    kubelet_listening = signal.is_some();
                }
            },
        }
    };
    // When a container's main process exits, whatever it left behind dies too (the kernel
    // kills a PID namespace whose init exits), before the kubelet learns of the exit.
    drop(teardown);
    let exit_code = match status {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt as _;
            status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(128)
        }
        Err(e) => {
            tracing::warn!(error = %e, "waiting for container process failed");
            128
        }
    };
    let mut message = read_capped(&plan.termination_log, MAX_TERMINATION_MESSAGE_BYTES);
    if message.is_empty() && plan.fallback_to_logs && exit_code != 0 {
        message = log_tail(&plan.log_path);
    }
    control.exited(ContainerExit::from_code(exit_code, message));
}

fn read_capped(path: &Path, max: u64) -> String {
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let mut buf = Vec::new();
    if file.take(max).read_to_end(&mut buf).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last 2 KiB / 80 lines of a log, as `FallbackToLogsOnError` reports.
fn log_tail(path: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(LOG_FALLBACK_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if file.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let keep = lines.len().saturating_sub(LOG_FALLBACK_LINES);
    lines[keep..].join("\n")
}
