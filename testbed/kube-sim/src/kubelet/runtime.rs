//! The container runtime interface of the kubelet simulator: a [`PodRuntime`] prepares a
//! pod's sandbox and starts containers; each started container is a [`ContainerHandle`]
//! the kubelet can signal and wait on.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Container, Pod};
use tokio::sync::{mpsc, watch};

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerExit {
    /// Exit code; `128 + n` when killed by signal `n`, as the real runtime reports it.
    pub exit_code: i32,
    /// The `state.terminated.reason` (`Completed`, `Error`, `StartError`, ...).
    pub reason: String,
    /// The termination message (already resolved from the file or logs).
    pub message: String,
    /// When the container stopped.
    pub finished_at: DateTime<Utc>,
}

impl ContainerExit {
    /// An exit with the reason the real kubelet derives from the code.
    pub fn from_code(exit_code: i32, message: String) -> Self {
        let reason = if exit_code == 0 { "Completed" } else { "Error" };
        Self {
            exit_code,
            reason: reason.to_owned(),
            message,
            finished_at: Utc::now(),
        }
    }
}

/// A request to stop a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// Ask politely (SIGTERM).
    Terminate,
    /// Stop now (SIGKILL).
    Kill,
}

/// A running container: the kubelet sends it stop signals and waits for its exit.
#[derive(Debug)]
pub struct ContainerHandle {
    /// When the container started.
    pub started_at: DateTime<Utc>,
    signals: mpsc::UnboundedSender<StopSignal>,
    exit: watch::Receiver<Option<ContainerExit>>,
}

/// The runtime's side of a [`ContainerHandle`]: receives stop signals, reports the exit.
#[derive(Debug)]
pub struct ContainerControl {
    /// Stop signals sent by the kubelet, in order.
    pub signals: mpsc::UnboundedReceiver<StopSignal>,
    exit: watch::Sender<Option<ContainerExit>>,
}

impl ContainerControl {
    /// Reports the container's exit; the handle's `wait` returns it.
    pub fn exited(self, exit: ContainerExit) {
        // No receiver left means the kubelet forgot the pod; nobody needs the result.
        let _ = self.exit.send(Some(exit));
    }
}

impl ContainerHandle {
    /// A connected handle/control pair for a container that started now.
    pub fn new_pair() -> (Self, ContainerControl) {
        let (signal_tx, signal_rx) = mpsc::unbounded_channel();
        let (exit_tx, exit_rx) = watch::channel(None);
        (
            Self {
                started_at: Utc::now(),
                signals: signal_tx,
                exit: exit_rx,
            },
            ContainerControl {
                signals: signal_rx,
                exit: exit_tx,
            },
        )
    }

    /// Sends a stop signal (ignored once the container has exited).
    pub fn signal(&self, signal: StopSignal) {
        let _ = self.signals.send(signal);
    }

    /// The exit, if the container already stopped.
    pub fn exit(&self) -> Option<ContainerExit> {
        self.exit.borrow().clone()
    }

    /// Waits for the container to exit (the future does not borrow the handle, so the
    /// kubelet can keep signalling). A runtime that drops its control without reporting
    /// counts as an error exit.
    pub fn wait(&self) -> impl Future<Output = ContainerExit> + Send + 'static {
        let mut exit = self.exit.clone();
        async move {
            match exit.wait_for(Option::is_some).await {
                Ok(exit) => exit.clone().unwrap_or_else(lost_container),
                Err(_) => lost_container(),
            }
        }
    }
}

fn lost_container() -> ContainerExit {
    ContainerExit {
        exit_code: 128,
        reason: "ContainerCannotRun".to_owned(),
        message: "the runtime lost the container".to_owned(),
        finished_at: Utc::now(),
    }
}

/// Everything a runtime needs to start the containers of one pod, resolved before the
/// first container starts (so a missing Secret keeps the pod waiting, as on a real node).
#[derive(Debug, Clone, Default)]
pub struct PodSandbox {
    /// The pod as last seen.
    pub pod: Arc<Pod>,
    /// The pod's private host directory (volumes, logs, termination files), if the
    /// runtime uses one.
    pub dir: Option<PathBuf>,
    /// Host directory of each volume, by volume name.
    pub volume_dirs: HashMap<String, PathBuf>,
    /// Data of the Secrets the pod references, by Secret name.
    pub secrets: HashMap<String, BTreeMap<String, Vec<u8>>>,
    /// Data of the ConfigMaps the pod references, by ConfigMap name.
    pub config_maps: HashMap<String, BTreeMap<String, Vec<u8>>>,
}

/// Why a pod or container could not start; reported as a waiting reason.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A referenced Secret/ConfigMap/key is missing (`CreateContainerConfigError`).
    #[error("{0}")]
    Config(String),
    /// The container process could not be created (`StartError`).
    #[error("{0}")]
    Start(String),
    /// Host I/O failed while preparing the sandbox.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A container runtime: prepares pods and runs their containers.
pub trait PodRuntime: Send + Sync + 'static {
    /// Resolves what the pod's containers need (Secrets, ConfigMaps, volumes). Called again
    /// after an error, until it succeeds or the pod is deleted.
    fn prepare(
        &self,
        client: kube::Client,
        pod: Arc<Pod>,
    ) -> BoxFuture<'static, Result<PodSandbox, RuntimeError>>;

    /// Starts one container of a prepared pod.
    fn start_container(
        &self,
        sandbox: &PodSandbox,
        container: &Container,
    ) -> BoxFuture<'static, Result<ContainerHandle, RuntimeError>>;

    /// Frees what `prepare` created, once the pod is gone.
    fn release(&self, sandbox: &PodSandbox);

    /// Runs `command` in the context of a running container (an exec probe) and returns
    /// its exit code. A runtime without processes has nothing to ask: every probe passes.
    fn exec(
        &self,
        _sandbox: &PodSandbox,
        _container: &Container,
        _command: &[String],
    ) -> BoxFuture<'static, Result<i32, RuntimeError>> {
        Box::pin(async { Ok(0) })
    }
}
