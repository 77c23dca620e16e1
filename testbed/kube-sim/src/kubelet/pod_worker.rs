//! The life of one pod on the simulated node: start delay, sandbox, init containers and
//! native sidecars, main containers, completion, graceful deletion, removal from the API.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::probe::{self, ProbeOutcome, StartupProbe};
use super::runtime::{
    ContainerExit, ContainerHandle, PodRuntime, PodSandbox, RuntimeError, StopSignal,
};
use super::status::{ContainerRecord, ContainerState, Phase, PodReport};

/// Grace period when neither the deletion nor the spec gives one (the API default).
const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// How long to wait between attempts to prepare a pod or (re)start a container.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How long a SIGKILLed container may take to be reported gone.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The latest view of the pod, as the kubelet's watch sees it.
#[derive(Debug, Clone)]
pub enum PodView {
    /// The pod exists (possibly with a deletion timestamp).
    Present(Arc<Pod>),
    /// The pod was removed from the API.
    Gone,
}

/// Why the normal course of a pod stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    /// The pod got a deletion timestamp: stop gracefully, then remove it.
    Deleting,
    /// The pod vanished from the API: stop at once.
    Gone,
    /// The kubelet is shutting down: kill processes, leave the API alone.
    Shutdown,
}

/// Where the normal course ended.
enum Course {
    Completed,
    Interrupted(Interrupt),
}

/// Runs one pod from acceptance to removal.
pub struct PodWorker {
    pub(super) client: kube::Client,
    pub(super) runtime: Arc<dyn PodRuntime>,
    pub(super) start_delay: Duration,
    pub(super) missing_images: Vec<String>,
    pub(super) updates: watch::Receiver<PodView>,
    pub(super) shutdown: CancellationToken,
}

/// Live containers of the pod, by position in the spec.
struct Handles {
    init: Vec<Option<ContainerHandle>>,
    main: Vec<Option<ContainerHandle>>,
}

/// What stays fixed for the pod's whole life on the node.
struct PodContext {
    pod: Arc<Pod>,
    api: Api<Pod>,
    name: String,
    init_specs: Vec<Container>,
    main_specs: Vec<Container>,
    sidecar_names: Vec<String>,
    restart_policy: String,
}

impl PodWorker {
    /// Runs the pod until it is removed from the API or the kubelet shuts down.
    pub async fn run(mut self, pod: Arc<Pod>) {
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let spec = pod.spec.clone().unwrap_or_default();
        let init_specs = spec.init_containers.clone().unwrap_or_default();
        let ctx = PodContext {
            api: Api::namespaced(self.client.clone(), &namespace),
            name: pod.metadata.name.clone().unwrap_or_default(),
            sidecar_names: init_specs
                .iter()
                .filter(|c| is_sidecar(c))
                .map(|c| c.name.clone())
                .collect(),
            main_specs: spec.containers.clone(),
            init_specs,
            restart_policy: spec
                .restart_policy
                .clone()
                .unwrap_or_else(|| "Always".to_owned()),
            pod,
        };
        let mut report = PodReport::new(&ctx.pod);
        let mut handles = Handles {
            init: ctx.init_specs.iter().map(|_| None).collect(),
            main: ctx.main_specs.iter().map(|_| None).collect(),
        };
        let mut sandbox = None;
        let course = if self.pod_is_deleting() {
            Course::Interrupted(Interrupt::Deleting)
        } else {
            write_status(&ctx, &report).await;
            self.run_to_completion(&ctx, &mut report, &mut handles, &mut sandbox)
                .await
        };
        let interrupt = match course {
            Course::Completed => self.next_interrupt().await,
            Course::Interrupted(i) => i,
        };
        match interrupt {
            Interrupt::Deleting => {
                let grace = self.deletion_grace(&ctx.pod);
                let had_containers = stop_all(&ctx, &mut report, &mut handles, grace).await;
                if had_containers {
                    report.phase = final_phase(&report);
                    report.refresh_readiness(&ctx.sidecar_names);
                    write_status(&ctx, &report).await;
                }
                remove_from_api(&ctx).await;
            }
            Interrupt::Gone | Interrupt::Shutdown => {
                kill_all(&mut handles).await;
            }
        }
        if let Some(sandbox) = sandbox {
            self.runtime.release(&sandbox);
        }
    }

    fn pod_is_deleting(&self) -> bool {
        match &*self.updates.borrow() {
            PodView::Present(p) => p.metadata.deletion_timestamp.is_some(),
            PodView::Gone => true,
        }
    }

    /// Waits until the pod is being deleted, is gone, or the kubelet stops.
    async fn next_interrupt(&mut self) -> Interrupt {
        loop {
            match &*self.updates.borrow_and_update() {
                PodView::Gone => return Interrupt::Gone,
                PodView::Present(p) if p.metadata.deletion_timestamp.is_some() => {
                    return Interrupt::Deleting;
                }
                PodView::Present(_) => {}
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return Interrupt::Shutdown,
                changed = self.updates.changed() => if changed.is_err() { return Interrupt::Gone },
            }
        }
    }

    /// Sleeps, unless interrupted first.
    async fn pause(&mut self, duration: Duration) -> Result<(), Interrupt> {
        tokio::select! {
            () = tokio::time::sleep(duration) => Ok(()),
            i = self.next_interrupt() => Err(i),
        }
    }

    fn deletion_grace(&self, pod: &Pod) -> Duration {
        let latest = match &*self.updates.borrow() {
            PodView::Present(p) => p.metadata.deletion_grace_period_seconds,
            PodView::Gone => None,
        };
        latest
            .or_else(|| {
                pod.spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .and_then(|s| u64::try_from(s).ok())
            .map_or(DEFAULT_GRACE, Duration::from_secs)
    }

    async fn run_to_completion(
        &mut self,
        ctx: &PodContext,
        report: &mut PodReport,
        handles: &mut Handles,
        sandbox_slot: &mut Option<PodSandbox>,
    ) -> Course {
        let active_deadline = ctx
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.active_deadline_seconds)
            .and_then(|s| u64::try_from(s).ok())
            .map(|s| Instant::now() + Duration::from_secs(s));
        let deadline_passed = async {
            match active_deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            outcome = self.run_phases(ctx, report, handles, sandbox_slot) => outcome,
            () = deadline_passed => {
                self.fail_for_deadline(ctx, report, handles).await;
                Ok(())
            }
        };
        match outcome {
            Ok(()) => Course::Completed,
            Err(i) => Course::Interrupted(i),
        }
    }

    /// `activeDeadlineSeconds` passed: stop everything and fail the pod, as the real
    /// kubelet does.
    async fn fail_for_deadline(
        &self,
        ctx: &PodContext,
        report: &mut PodReport,
        handles: &mut Handles,
    ) {
        let grace = self.deletion_grace(&ctx.pod);
        stop_all(ctx, report, handles, grace).await;
        report.phase = Phase::Failed;
        report.failure = Some((
            "DeadlineExceeded".to_owned(),
            "Pod was active on the node longer than the specified deadline".to_owned(),
        ));
        report.refresh_readiness(&ctx.sidecar_names);
        write_status(ctx, report).await;
    }

    async fn run_phases(
        &mut self,
        ctx: &PodContext,
        report: &mut PodReport,
        handles: &mut Handles,
        sandbox_slot: &mut Option<PodSandbox>,
    ) -> Result<(), Interrupt> {
        self.pause(self.start_delay).await?;
        let sandbox = self.prepare(ctx, report).await?;
        *sandbox_slot = Some(sandbox.clone());
        report.sandbox_ready_at = Some(Utc::now());
        write_status(ctx, report).await;

        for (i, spec) in ctx.init_specs.iter().enumerate() {
            if is_sidecar(spec) {
                self.start_sidecar(ctx, report, handles, &sandbox, spec, i)
                    .await?;
                continue;
            }
            loop {
                let handle = self
                    .start_until_running(ctx, report, &sandbox, spec, Slot::Init(i))
                    .await?;
                report.init[i].started(handle.started_at);
                let waiting = handle.wait();
                handles.init[i] = Some(handle);
                write_status(ctx, report).await;
                let exit = tokio::select! {
                    exit = waiting => exit,
                    i = self.next_interrupt() => return Err(i),
                };
                handles.init[i] = None;
                let succeeded = exit.exit_code == 0;
                report.init[i].terminated(exit);
                if succeeded {
                    write_status(ctx, report).await;
                    break;
                }
                if ctx.restart_policy == "Never" {
                    for main in &mut report.main {
                        main.state = ContainerState::Waiting {
                            reason: "PodInitializing".to_owned(),
                            message: None,
                        };
                    }
                    report.phase = Phase::Failed;
                    self.stop_sidecars(ctx, report, handles).await;
                    write_status(ctx, report).await;
                    return Ok(());
                }
                write_status(ctx, report).await;
                self.pause(RETRY_DELAY).await?;
            }
        }
        report.initialized_at = Some(Utc::now());

        for (i, spec) in ctx.main_specs.iter().enumerate() {
            match self
                .start_container(ctx, report, &sandbox, spec, Slot::Main(i))
                .await?
            {
                Ok(handle) => {
                    report.main[i].started(handle.started_at);
                    handles.main[i] = Some(handle);
                }
                Err(exit) => report.main[i].terminated(exit),
            }
        }
        report.phase = Phase::Running;
        report.refresh_readiness(&ctx.sidecar_names);
        write_status(ctx, report).await;

        loop {
            let mut exits: FuturesUnordered<_> = handles
                .main
                .iter()
                .enumerate()
                .filter_map(|(i, h)| {
                    h.as_ref().map(|h| {
                        let waiting = h.wait();
                        async move { (i, waiting.await) }
                    })
                })
                .collect();
            let restartable = report
                .main
                .iter()
                .enumerate()
                .filter(|(i, c)| {
                    handles.main[*i].is_none()
                        && c.exit()
                            .is_some_and(|e| should_restart(&ctx.restart_policy, e))
                })
                .map(|(i, _)| i)
                .collect::<Vec<_>>();
            if exits.is_empty() && restartable.is_empty() {
                break;
            }
            if !restartable.is_empty() {
                drop(exits);
                self.pause(RETRY_DELAY).await?;
                for i in restartable {
                    match self
                        .start_container(ctx, report, &sandbox, &ctx.main_specs[i], Slot::Main(i))
                        .await?
                    {
                        Ok(handle) => {
                            report.main[i].started(handle.started_at);
                            handles.main[i] = Some(handle);
                        }
                        Err(exit) => report.main[i].terminated(exit),
                    }
                }
                report.refresh_readiness(&ctx.sidecar_names);
                write_status(ctx, report).await;
                continue;
            }
            let (i, exit) = tokio::select! {
                Some(done) = exits.next() => done,
                i = self.next_interrupt() => return Err(i),
            };
            drop(exits);
            handles.main[i] = None;
            report.main[i].terminated(exit);
            report.refresh_readiness(&ctx.sidecar_names);
            write_status(ctx, report).await;
        }

        self.stop_sidecars(ctx, report, handles).await;
        report.phase = final_phase(report);
        report.refresh_readiness(&ctx.sidecar_names);
        write_status(ctx, report).await;
        Ok(())
    }

    /// Starts a native sidecar; with a startup probe, returns only once the probe passed
    /// (killing and restarting the sidecar when it fails `failureThreshold` times, or when
    /// the sidecar exits first), as the real kubelet holds back the next container.
    async fn start_sidecar(
        &mut self,
        ctx: &PodContext,
        report: &mut PodReport,
        handles: &mut Handles,
        sandbox: &PodSandbox,
        spec: &Container,
        i: usize,
    ) -> Result<(), Interrupt> {
        let probe = StartupProbe::of(spec);
        loop {
            let handle = self
                .start_until_running(ctx, report, sandbox, spec, Slot::Init(i))
                .await?;
            report.init[i].started(handle.started_at);
            report.init[i].probing = probe.is_some();
            let exited = handle.wait();
            handles.init[i] = Some(handle);
            write_status(ctx, report).await;
            let Some(probe) = probe.clone() else {
                return Ok(());
            };
            let probing = probe::wait_until_started(
                Arc::clone(&self.runtime),
                sandbox.clone(),
                spec.clone(),
                probe,
                exited,
            );
            let outcome = tokio::select! {
                outcome = probing => outcome,
                i = self.next_interrupt() => return Err(i),
            };
            match outcome {
                ProbeOutcome::Started => {
                    report.init[i].probing = false;
                    write_status(ctx, report).await;
                    return Ok(());
                }
                ProbeOutcome::Exited(exit) => {
                    handles.init[i] = None;
                    report.init[i].terminated(exit);
                }
                ProbeOutcome::GaveUp { last_error } => {
                    tracing::info!(pod = %ctx.name, container = %spec.name, %last_error, "startup probe failed; restarting the sidecar");
                    if let Some(handle) = handles.init[i].take() {
                        let deadline = Instant::now() + self.deletion_grace(&ctx.pod);
                        let exit = stop_one(&handle, deadline).await;
                        report.init[i].terminated(exit);
                    }
                }
            }
            write_status(ctx, report).await;
            self.pause(RETRY_DELAY).await?;
        }
    }

    /// Stops native sidecars once the main containers are done, in reverse order.
    async fn stop_sidecars(&self, ctx: &PodContext, report: &mut PodReport, handles: &mut Handles) {
        let deadline = Instant::now() + self.deletion_grace(&ctx.pod);
        for i in (0..handles.init.len()).rev() {
            if let Some(handle) = handles.init[i].take() {
                let exit = stop_one(&handle, deadline).await;
                report.init[i].terminated(exit);
            }
        }
    }

    /// Prepares the sandbox, retrying while config is missing.
    async fn prepare(
        &mut self,
        ctx: &PodContext,
        report: &mut PodReport,
    ) -> Result<PodSandbox, Interrupt> {
        loop {
            let prepared = tokio::select! {
                r = self.runtime.prepare(self.client.clone(), Arc::clone(&ctx.pod)) => r,
                i = self.next_interrupt() => return Err(i),
            };
            match prepared {
                Ok(sandbox) => return Ok(sandbox),
                Err(e) => {
                    // A volume that cannot be set up (a missing Secret or ConfigMap) leaves the
                    // containers `ContainerCreating` / `PodInitializing`, as the real kubelet
                    // does (it says why in a FailedMount Event, which kube-sim does not write);
                    // `CreateContainerConfigError` is for a container's own env references.
                    tracing::info!(pod = %ctx.name, error = %e, "pod sandbox not ready");
                    write_status(ctx, report).await;
                    self.pause(RETRY_DELAY).await?;
                }
            }
        }
    }

    /// Starts a container; config errors wait and retry (re-reading Secrets/ConfigMaps),
    /// start errors become a `StartError` exit.
    async fn start_container(
        &mut self,
        ctx: &PodContext,
        report: &mut PodReport,
        sandbox: &PodSandbox,
        spec: &Container,
        slot: Slot,
    ) -> Result<Result<ContainerHandle, ContainerExit>, Interrupt> {
        self.pull_image(ctx, report, spec, slot).await?;
        let mut sandbox = sandbox.clone();
        loop {
            let started = tokio::select! {
                r = self.runtime.start_container(&sandbox, spec) => r,
                i = self.next_interrupt() => return Err(i),
            };
            match started {
                Ok(handle) => return Ok(Ok(handle)),
                Err(RuntimeError::Config(message)) => {
                    slot.record(report).state = ContainerState::Waiting {
                        reason: "CreateContainerConfigError".to_owned(),
                        message: Some(message),
                    };
                    write_status(ctx, report).await;
                    self.pause(RETRY_DELAY).await?;
                    if let Ok(fresh) = self
                        .runtime
                        .prepare(self.client.clone(), Arc::clone(&ctx.pod))
                        .await
                    {
                        sandbox = fresh;
                    }
                }
                Err(e) => {
                    tracing::warn!(pod = %ctx.name, container = %spec.name, error = %e, "container failed to start");
                    return Ok(Err(ContainerExit {
                        exit_code: 128,
                        reason: "StartError".to_owned(),
                        message: e.to_string(),
                        finished_at: Utc::now(),
                    }));
                }
            }
        }
    }

    /// Waits until the container's image "pulls" (see `image`): an invalid reference keeps
    /// the container waiting with `InvalidImageName`; a missing image alternates
    /// `ErrImagePull` and `ImagePullBackOff` with the kubelet's growing back-off.
    async fn pull_image(
        &mut self,
        ctx: &PodContext,
        report: &mut PodReport,
        spec: &Container,
        slot: Slot,
    ) -> Result<(), Interrupt> {
        let Some(image) = spec.image.clone() else {
            return Ok(());
        };
        let mut failures = 0;
        loop {
            let error = match super::image::pull(&image, &self.missing_images) {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            tracing::info!(pod = %ctx.name, container = %spec.name, reason = error.reason(), "image not pulled");
            slot.record(report).state = ContainerState::Waiting {
                reason: error.reason().to_owned(),
                message: Some(error.message().to_owned()),
            };
            write_status(ctx, report).await;
            match error {
                // The kubelet does not retry a reference it cannot parse.
                super::image::PullError::InvalidName(_) => {
                    self.pause(super::image::PULL_BACKOFF_MAX).await?;
                }
                super::image::PullError::NotFound(_) => {
                    failures += 1;
                    self.pause(RETRY_DELAY).await?;
                    slot.record(report).state = ContainerState::Waiting {
                        reason: "ImagePullBackOff".to_owned(),
                        message: Some(super::image::back_off_message(&image)),
                    };
                    write_status(ctx, report).await;
                    self.pause(super::image::back_off(failures)).await?;
                }
            }
        }
    }

    /// Like `start_container`, but a start error is retried (init containers and sidecars
    /// must run before the pod can go on).
    async fn start_until_running(
        &mut self,
        ctx: &PodContext,
        report: &mut PodReport,
        sandbox: &PodSandbox,
        spec: &Container,
        slot: Slot,
    ) -> Result<ContainerHandle, Interrupt> {
        loop {
            match self
                .start_container(ctx, report, sandbox, spec, slot)
                .await?
            {
                Ok(handle) => return Ok(handle),
                Err(exit) => {
                    slot.record(report).terminated(exit);
                    write_status(ctx, report).await;
                    self.pause(RETRY_DELAY).await?;
                }
            }
        }
    }
}

/// A container's position in the report.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Init(usize),
    Main(usize),
}

impl Slot {
    fn record(self, report: &mut PodReport) -> &mut ContainerRecord {
        match self {
            Slot::Init(i) => &mut report.init[i],
            Slot::Main(i) => &mut report.main[i],
        }
    }
}

/// A native sidecar: an init container with `restartPolicy: Always`.
pub fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

fn should_restart(policy: &str, exit: &ContainerExit) -> bool {
    match policy {
        "Always" => true,
        "OnFailure" => exit.exit_code != 0,
        _ => false,
    }
}

/// Succeeded when every main container exited 0, else Failed.
fn final_phase(report: &PodReport) -> Phase {
    let all_zero = report
        .main
        .iter()
        .all(|c| c.exit().is_some_and(|e| e.exit_code == 0));
    if all_zero {
        Phase::Succeeded
    } else {
        Phase::Failed
    }
}

/// SIGTERM, then SIGKILL at `deadline`; returns the exit.
async fn stop_one(handle: &ContainerHandle, deadline: Instant) -> ContainerExit {
    if let Some(exit) = handle.exit() {
        return exit;
    }
    handle.signal(StopSignal::Terminate);
    let waiting = handle.wait();
    tokio::pin!(waiting);
    if let Ok(exit) = tokio::time::timeout_at(deadline, &mut waiting).await {
        return exit;
    }
    handle.signal(StopSignal::Kill);
    match tokio::time::timeout(KILL_WAIT, waiting).await {
        Ok(exit) => exit,
        Err(_) => ContainerExit::from_code(137, "container did not stop after SIGKILL".to_owned()),
    }
}

/// Graceful stop on deletion: main containers first, then init containers and sidecars,
/// all within `grace`. Returns whether any container had been started.
async fn stop_all(
    ctx: &PodContext,
    report: &mut PodReport,
    handles: &mut Handles,
    grace: Duration,
) -> bool {
    let any_started = report
        .init
        .iter()
        .chain(report.main.iter())
        .any(|c| !matches!(c.state, ContainerState::Waiting { .. }));
    let deadline = Instant::now() + grace;
    tracing::info!(pod = %ctx.name, grace_seconds = grace.as_secs(), "stopping pod for deletion");
    let main_stops: Vec<_> = handles
        .main
        .iter_mut()
        .enumerate()
        .filter_map(|(i, h)| h.take().map(|h| (i, h)))
        .collect();
    let exits =
        futures::future::join_all(main_stops.iter().map(|(_, h)| stop_one(h, deadline))).await;
    for ((i, _), exit) in main_stops.iter().zip(exits) {
        report.main[*i].terminated(exit);
    }
    for i in (0..handles.init.len()).rev() {
        if let Some(handle) = handles.init[i].take() {
            let exit = stop_one(&handle, deadline).await;
            report.init[i].terminated(exit);
        }
    }
    any_started
}

/// SIGKILLs every container and waits (briefly) until the runtime saw them exit, so no
/// process outlives the pod or the kubelet.
async fn kill_all(handles: &mut Handles) {
    let killed: Vec<ContainerHandle> = handles
        .init
        .iter_mut()
        .chain(handles.main.iter_mut())
        .filter_map(Option::take)
        .collect();
    for handle in &killed {
        handle.signal(StopSignal::Kill);
    }
    let exits = futures::future::join_all(killed.iter().map(ContainerHandle::wait));
    if tokio::time::timeout(KILL_WAIT, exits).await.is_err() {
        tracing::warn!("containers did not report their exit after SIGKILL");
    }
}

/// Writes the status through `pods/status`; failures are logged (the watch reports a pod
/// that is gone).
async fn write_status(ctx: &PodContext, report: &PodReport) {
    let patch = Patch::Merge(json!({"status": report.to_json()}));
    if let Err(e) = ctx
        .api
        .patch_status(&ctx.name, &PatchParams::default(), &patch)
        .await
    {
        tracing::warn!(pod = %ctx.name, error = %e, "pod status write failed");
    }
}

/// Removes the pod from the API once its containers are stopped, as the real kubelet does:
/// a zero-grace delete guarded by the pod's uid.
async fn remove_from_api(ctx: &PodContext) {
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: ctx.pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match ctx.api.delete(&ctx.name, &params).await {
        Ok(_) => tracing::info!(pod = %ctx.name, "pod removed"),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
        Err(e) => tracing::warn!(pod = %ctx.name, error = %e, "removing pod failed"),
    }
}
