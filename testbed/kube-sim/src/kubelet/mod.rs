//! The kubelet simulator: a client of the API (through kube-rs, like a real kubelet) that
//! runs the pods of one simulated node.
//!
//! Scheduling: a pod whose `spec.nodeName` is this node is run; a pod without a node is
//! bound to this node first through `pods/binding` when [`KubeletConfig::schedule_unassigned`]
//! is set (a trivial scheduler); pods of other nodes are ignored.
//!
//! Each pod goes Pending (PodScheduled) → after `start_delay` its sandbox is prepared
//! (Secrets/ConfigMaps read; a missing volume source keeps it `ContainerCreating`, a missing
//! env reference keeps the container waiting with `CreateContainerConfigError`) → init containers run in order, native sidecars
//! (`restartPolicy: Always`) start and keep running — one with an exec `startupProbe` holds
//! back the containers after it until the probe passes (see `probe`), one without lets the
//! next container start at once → main containers start: Running, Ready,
//! podIP 127.0.0.1 → when the main containers exit (and do not restart under the pod's
//! `restartPolicy`; restarts wait 1 s, no growing back-off), sidecars get SIGTERM and the pod
//! ends Succeeded (all exited 0) or Failed. Status is written through `pods/status`.
//!
//! `activeDeadlineSeconds` (counted from acceptance) stops the containers and fails the pod
//! with reason `DeadlineExceeded`. Startup probes of native sidecars are run (exec only);
//! other probes, resources and security contexts are ignored. Images are not pulled, but an
//! invalid reference waits with `InvalidImageName` and an image listed in
//! [`KubeletConfig::missing_images`] with `ErrImagePull`/`ImagePullBackOff`, as on a real node
//! (see [`image`]); no Node object or
//! Events are written.
//!
//! Deletion: when the pod gets a `deletionTimestamp`, main containers get SIGTERM, then
//! sidecars; whatever still runs after `deletionGracePeriodSeconds` gets SIGKILL; then the
//! kubelet deletes the pod with grace 0 and a uid precondition, which removes it.
//!
//! Shutdown: cancelling the token kills every process (SIGKILL) and returns, leaving the
//! API untouched (unlike a real kubelet, whose containers would survive it).

mod env;
pub mod image;
mod pod_worker;
mod probe;
mod process;
mod runtime;
mod simulated;
mod status;
mod teardown;
#[cfg(test)]
mod tests;
mod volumes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use env::{POD_IP, mount_env_name};
pub use pod_worker::is_sidecar;
pub use process::{
    CommandOverride, ContainerCommand, POD_DIR_ENV, ProbeOverride, ProcessRuntime,
    TERMINATION_LOG_ENV,
};
pub use runtime::{
    ContainerControl, ContainerExit, ContainerHandle, PodRuntime, PodSandbox, RuntimeError,
    StopSignal,
};
pub use simulated::{
    EXIT_CODE_ANNOTATION, RUN_SECONDS_ANNOTATION, SimulatedRuntime, TERMINATION_MESSAGE_ANNOTATION,
};

use pod_worker::{PodView, PodWorker};

/// How the simulated node behaves.
#[derive(Clone)]
pub struct KubeletConfig {
    /// The node's name (`spec.nodeName` of its pods).
    pub node_name: String,
    /// Runs the containers.
    pub runtime: Arc<dyn PodRuntime>,
    /// Time between accepting a pod and starting its containers.
    pub start_delay: Duration,
    /// Bind pods without `spec.nodeName` to this node.
    pub schedule_unassigned: bool,
    /// Images the node's registries do not have: a container using one waits with
    /// `ErrImagePull` / `ImagePullBackOff` (see `image`). An image reference that does not
    /// parse waits with `InvalidImageName` whatever this says.
    pub missing_images: Vec<String>,
}

impl std::fmt::Debug for KubeletConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletConfig")
            .field("node_name", &self.node_name)
            .field("start_delay", &self.start_delay)
            .field("schedule_unassigned", &self.schedule_unassigned)
            .finish_non_exhaustive()
    }
}

impl KubeletConfig {
    /// A node named `node_name` using `runtime`, starting pods at once and scheduling
    /// unassigned pods to itself.
    pub fn new(node_name: impl Into<String>, runtime: Arc<dyn PodRuntime>) -> Self {
        Self {
            node_name: node_name.into(),
            runtime,
            start_delay: Duration::ZERO,
            schedule_unassigned: true,
            missing_images: Vec::new(),
        }
    }

    /// Adds an image the node's registries do not have.
    #[must_use]
    pub fn with_missing_image(mut self, image: impl Into<String>) -> Self {
        self.missing_images.push(image.into());
        self
    }
}

/// Why the kubelet stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// The pod watch ended, which a healthy API never does.
    #[error("the pod watch ended")]
    WatchEnded,
}

struct Tracked {
    view: watch::Sender<PodView>,
}

/// Runs the node until `shutdown` is cancelled.
pub async fn run(
    client: kube::Client,
    cfg: KubeletConfig,
    shutdown: CancellationToken,
) -> Result<(), KubeletError> {
    let pods: Api<Pod> = Api::all(client.clone());
    let events = watcher::watcher(pods, watcher::Config::default()).default_backoff();
    futures::pin_mut!(events);
    let mut tracked: HashMap<String, Tracked> = HashMap::new();
    let mut workers: JoinSet<String> = JoinSet::new();
    let mut seen_in_relist: Option<Vec<String>> = None;
    let result = loop {
        tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            Some(done) = workers.join_next(), if !workers.is_empty() => {
                if let Ok(uid) = done {
                    tracked.remove(&uid);
                }
            }
            event = events.try_next() => match event {
                Ok(Some(Event::Apply(pod) | Event::InitApply(pod))) => {
                    if let (Some(seen), Some(uid)) = (seen_in_relist.as_mut(), pod.metadata.uid.clone()) {
                        seen.push(uid);
                    }
                    handle_pod(&client, &cfg, &shutdown, &mut tracked, &mut workers, pod).await;
                }
                Ok(Some(Event::Delete(pod))) => {
                    if let Some(t) = pod.metadata.uid.as_ref().and_then(|uid| tracked.get(uid)) {
                        t.view.send_replace(PodView::Gone);
                    }
                }
                Ok(Some(Event::Init)) => seen_in_relist = Some(Vec::new()),
                Ok(Some(Event::InitDone)) => {
                    // Pods that disappeared while the watch was re-listing.
                    let seen = seen_in_relist.take().unwrap_or_default();
                    for (uid, t) in &tracked {
                        if !seen.contains(uid) {
                            t.view.send_replace(PodView::Gone);
                        }
                    }
                }
                Ok(None) => break Err(KubeletError::WatchEnded),
                Err(e) => tracing::warn!(error = %e, "pod watch error; retrying"),
            },
        }
    };
    // Workers see the cancelled token (or a closed channel) and kill their processes.
    drop(tracked);
    while workers.join_next().await.is_some() {}
    result
}

async fn handle_pod(
    client: &kube::Client,
    cfg: &KubeletConfig,
    shutdown: &CancellationToken,
    tracked: &mut HashMap<String, Tracked>,
    workers: &mut JoinSet<String>,
    pod: Pod,
) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    if let Some(t) = tracked.get(&uid) {
        t.view.send_replace(PodView::Present(Arc::new(pod)));
        return;
    }
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
    match node.as_deref() {
        Some(n) if n == cfg.node_name => {}
        Some(_) => return,
        None if cfg.schedule_unassigned && pod.metadata.deletion_timestamp.is_none() => {
            if !bind(client, &cfg.node_name, &pod).await {
                return;
            }
        }
        None => return,
    }
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let finished = matches!(phase, Some("Succeeded" | "Failed"));
    if finished && pod.metadata.deletion_timestamp.is_none() {
        // Already run to the end (e.g. by an earlier kubelet): nothing to do until deleted.
        return;
    }
    let mut pod = pod;
    if let Some(spec) = pod.spec.as_mut() {
        // Bound just now: the watch has not delivered the bound pod yet.
        spec.node_name = Some(cfg.node_name.clone());
    }
    let pod = Arc::new(pod);
    let (view, updates) = watch::channel(PodView::Present(Arc::clone(&pod)));
    let worker = PodWorker {
        client: client.clone(),
        runtime: Arc::clone(&cfg.runtime),
        start_delay: if finished {
            Duration::ZERO
        } else {
            cfg.start_delay
        },
        missing_images: cfg.missing_images.clone(),
        updates,
        shutdown: shutdown.clone(),
    };
    tracked.insert(uid.clone(), Tracked { view });
    workers.spawn(async move {
        worker.run(pod).await;
        uid
    });
}

/// Binds the pod to this node through `pods/binding`; false if the API refused.
async fn bind(client: &kube::Client, node: &str, pod: &Pod) -> bool {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let binding = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": namespace, "uid": pod.metadata.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    match api
        .create_subresource::<_, serde_json::Value>(
            "binding",
            name,
            &PostParams::default(),
            &binding,
        )
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::info!(pod = %name, error = %e, "binding refused");
            false
        }
    }
}

/// Convenience for tests and the sandbox: runs the kubelet in a task, stopped by
/// [`KubeletHandle::shutdown`].
#[derive(Debug)]
pub struct KubeletHandle {
    token: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), KubeletError>>>,
}

impl KubeletHandle {
    /// Starts the kubelet in the background.
    pub fn spawn(client: kube::Client, cfg: KubeletConfig) -> Self {
        let token = CancellationToken::new();
        let task = tokio::spawn(run(client, cfg, token.clone()));
        Self {
            token,
            task: Some(task),
        }
    }

    /// Stops the kubelet (killing its processes) and waits for it.
    pub async fn shutdown(mut self) -> Result<(), KubeletError> {
        self.token.cancel();
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(result) => result,
            Err(e) => {
                tracing::warn!(error = %e, "kubelet task failed");
                Ok(())
            }
        }
    }
}

impl Drop for KubeletHandle {
    fn drop(&mut self) {
        // A handle dropped without `shutdown` must still stop the processes.
        self.token.cancel();
    }
}
