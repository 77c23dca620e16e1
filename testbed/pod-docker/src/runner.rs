//! Runs a translated pod with the docker CLI, in the kubelet's order.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodStatus,
};

use crate::docker::{Docker, DockerError};
use crate::plan::{ContainerKind, ContainerPlan, ExecProbe, PlanError, plan_pod};
use crate::volumes::{PodVolumes, SourceData, VolumeError};

/// The kubelet keeps at most this much of a termination message.
const MAX_MESSAGE_BYTES: usize = 4096;
/// `FallbackToLogsOnError` keeps at most this many lines of the log tail.
const FALLBACK_LINES: usize = 80;
/// How often container states are polled.
const POLL: Duration = Duration::from_millis(100);
/// Seconds a sidecar gets between SIGTERM and SIGKILL.
const SIDECAR_STOP_SECONDS: u32 = 10;

/// Why the pod could not be run (a container failing is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Translation failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A volume could not be prepared.
    #[error(transparent)]
    Volume(#[from] VolumeError),
    /// A docker command failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// The kubelet would refuse to start it (`CreateContainerConfigError`).
    #[error("container {container}: {message}")]
    Refused {
        /// The container.
        container: String,
        /// Why (the kubelet's wording where it has one).
        message: String,
    },
    /// The pod did not finish in time.
    #[error("pod did not finish within {0:?}")]
    Timeout(Duration),
    /// Host I/O failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What happened to one container.
#[derive(Debug, Clone)]
pub struct ContainerResult {
    /// Its name.
    pub name: String,
    /// Init, sidecar or main.
    pub kind: ContainerKind,
    /// Exit code.
    pub exit_code: i64,
    /// The termination message (the file, or the log tail under `FallbackToLogsOnError`).
    pub message: String,
    /// stdout and stderr.
    pub logs: String,
    /// When `docker start` returned.
    pub started: Instant,
    /// When the startup probe first succeeded (sidecars with a probe).
    pub probe_succeeded: Option<Instant>,
    /// When it was seen exited.
    pub finished: Instant,
}

/// The outcome of one pod.
#[derive(Debug, Clone)]
pub struct PodRun {
    /// `Succeeded` or `Failed`.
    pub phase: String,
    /// Every container that was started, in start order.
    pub containers: Vec<ContainerResult>,
    /// Why the pod failed before its main containers ran, if it did.
    pub failure: Option<String>,
}

impl PodRun {
    /// The result of container `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerResult> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// The `status` a kubelet would have written (phase and terminated container states).
    pub fn status(&self) -> PodStatus {
        let status = |c: &ContainerResult| ContainerStatus {
            name: c.name.clone(),
            ready: false,
            restart_count: 0,
            image: String::new(),
            image_id: String::new(),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: i32::try_from(c.exit_code).unwrap_or(i32::MAX),
                    message: (!c.message.is_empty()).then(|| c.message.clone()),
                    reason: Some(
                        if c.exit_code == 0 {
                            "Completed"
                        } else {
                            "Error"
                        }
                        .into(),
                    ),
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        };
        PodStatus {
            phase: Some(self.phase.clone()),
            init_container_statuses: Some(
                self.containers
                    .iter()
                    .filter(|c| c.kind != ContainerKind::Main)
                    .map(status)
                    .collect(),
            ),
            container_statuses: Some(
                self.containers
                    .iter()
                    .filter(|c| c.kind == ContainerKind::Main)
                    .map(status)
                    .collect(),
            ),
            ..PodStatus::default()
        }
    }
}

/// Runs pods with one docker daemon; each pod gets a directory under `work_dir`.
#[derive(Debug, Clone)]
pub struct PodRunner {
    docker: Docker,
    work_dir: PathBuf,
}

/// Removes the pod's containers whatever happens.
struct Created<'a> {
    docker: &'a Docker,
    ids: Vec<String>,
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        let mut args = vec!["rm".to_owned(), "-f".to_owned()];
        args.extend(self.ids.iter().cloned());
        if let Err(error) = self.docker.run(&args) {
            tracing::warn!(%error, "could not remove the pod's containers");
        }
    }
}

impl PodRunner {
    /// A runner for `docker`, keeping volumes and termination messages under `work_dir`.
    pub fn new(docker: Docker, work_dir: impl Into<PathBuf>) -> Self {
        Self {
            docker,
            work_dir: work_dir.into(),
        }
    }

    /// Runs `pod` to completion (or `timeout`): volumes, init containers, sidecars (with their
    /// startup probes), main containers, then the sidecars' stop. `on_start(name, instant)` is
    /// called as each container starts.
    pub fn run(
        &self,
        pod: &Pod,
        sources: &SourceData,
        timeout: Duration,
        mut on_start: impl FnMut(&str, Instant),
    ) -> Result<PodRun, RunError> {
        let deadline = Instant::now() + timeout;
        let pod_name = pod.metadata.name.clone().unwrap_or_else(|| "pod".into());
        let unique = format!(
            "{pod_name}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() % 1_000_000_000)
                .unwrap_or_default()
        );
        let dir = self.work_dir.join(&unique);
        let volume_dir = dir.join("volumes");
        let termination_dir = dir.join("termination");
        std::fs::create_dir_all(&volume_dir)?;
        std::fs::create_dir_all(&termination_dir)?;
        let volumes = PodVolumes::prepare(pod, &volume_dir, sources)?;
        let plans = plan_pod(pod, &volumes, &termination_dir, &unique)?;
        for plan in &plans {
            // The kubelet creates the file world-writable so any uid can write its message.
            std::fs::write(&plan.termination_log, b"")?;
            std::fs::set_permissions(
                &plan.termination_log,
                std::os::unix::fs::PermissionsExt::from_mode(0o666),
            )?;
            self.check_non_root(plan)?;
        }

        let mut created = Created {
            docker: &self.docker,
            ids: Vec::new(),
        };
        let mut results: Vec<ContainerResult> = Vec::new();
        let mut running_sidecars: Vec<(usize, String, Instant, Option<Instant>)> = Vec::new();
        let mut failure = None;
        for (index, plan) in plans.iter().enumerate() {
            if plan.kind == ContainerKind::Main {
                continue;
            }
            let id = self.create(plan, &mut created)?;
            let started = self.start(&id)?;
            on_start(&plan.name, started);
            match plan.kind {
                ContainerKind::Init => {
                    let result = self.wait_exit(plan, &id, started, None, deadline)?;
                    let failed = result.exit_code != 0;
                    results.push(result);
                    if failed {
                        failure = Some(format!("init container {} failed", plan.name));
                        break;
                    }
                }
                _ => {
                    let probed = match &plan.startup_probe {
                        Some(probe) => match self.probe(&id, probe, deadline)? {
                            Some(at) => Some(at),
                            None => {
                                failure =
                                    Some(format!("startup probe of {} never succeeded", plan.name));
                                running_sidecars.push((index, id, started, None));
                                break;
                            }
                        },
                        None => None,
                    };
                    running_sidecars.push((index, id, started, probed));
                }
            }
        }

        if failure.is_none() {
            let mut mains = Vec::new();
            for plan in plans.iter().filter(|p| p.kind == ContainerKind::Main) {
                let id = self.create(plan, &mut created)?;
                let started = self.start(&id)?;
                on_start(&plan.name, started);
                mains.push((plan, id, started));
            }
            for (plan, id, started) in mains {
                results.push(self.wait_exit(plan, &id, started, None, deadline)?);
            }
        }

        for (index, id, started, probed) in running_sidecars.into_iter().rev() {
            self.docker.run(&[
                "stop".into(),
                "-t".into(),
                SIDECAR_STOP_SECONDS.to_string(),
                id.clone(),
            ])?;
            let plan = &plans[index];
            let result = self.wait_exit(plan, &id, started, probed, deadline)?;
            results.push(result);
        }

        let mains_ok = results
            .iter()
            .filter(|r| r.kind == ContainerKind::Main)
            .all(|r| r.exit_code == 0);
        let phase = if failure.is_none() && mains_ok {
            "Succeeded"
        } else {
            "Failed"
        };
        results.sort_by_key(|r| r.started);
        Ok(PodRun {
            phase: phase.into(),
            containers: results,
            failure,
        })
    }

    /// runAsNonRoot without runAsUser: the image's USER must be a non-zero numeric uid.
    fn check_non_root(&self, plan: &ContainerPlan) -> Result<(), RunError> {
        if !plan.run_as_non_root || plan.uid.is_some() {
            return Ok(());
        }
        let user =
            self.docker
                .run_str(&["image", "inspect", "-f", "{{.Config.User}}", &plan.image])?;
        let uid = user.split(':').next().unwrap_or("");
        let refuse = |message: String| RunError::Refused {
            container: plan.name.clone(),
            message,
        };
        match uid.parse::<u32>() {
            Ok(0) => Err(refuse(
                "container has runAsNonRoot and image will run as root".into(),
            )),
            Ok(_) => Ok(()),
            Err(_) if uid.is_empty() => Err(refuse(
                "container has runAsNonRoot and image will run as root".into(),
            )),
            Err(_) => Err(refuse(format!(
                "container has runAsNonRoot and image has non-numeric user ({uid}), cannot verify user is non-root"
            ))),
        }
    }

    fn create(&self, plan: &ContainerPlan, created: &mut Created<'_>) -> Result<String, RunError> {
        let mut args = vec!["create".to_owned()];
        args.extend(plan.create_args.iter().cloned());
        let id = self.docker.run(&args)?;
        created.ids.push(id.clone());
        Ok(id)
    }

    fn start(&self, id: &str) -> Result<Instant, RunError> {
        self.docker.run_str(&["start", id])?;
        Ok(Instant::now())
    }

    /// `Some(exit code)` once the container has exited.
    fn exit_code(&self, id: &str) -> Result<Option<i64>, RunError> {
        let state =
            self.docker
                .run_str(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", id])?;
        Ok(match state.split_once(' ') {
            Some(("exited" | "dead", code)) => Some(code.parse().unwrap_or(-1)),
            _ => None,
        })
    }

    fn wait_exit(
        &self,
        plan: &ContainerPlan,
        id: &str,
        started: Instant,
        probe_succeeded: Option<Instant>,
        deadline: Instant,
    ) -> Result<ContainerResult, RunError> {
        let exit_code = loop {
            if let Some(code) = self.exit_code(id)? {
                break code;
            }
            if Instant::now() > deadline {
                let _ = self.docker.run_str(&["kill", id]);
                return Err(RunError::Timeout(
                    deadline.saturating_duration_since(started),
                ));
            }
            std::thread::sleep(POLL);
        };
        let finished = Instant::now();
        let output = self.docker.output(&["logs".into(), id.into()])?;
        let logs = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut message = read_message(&plan.termination_log)?;
        if message.is_empty() && exit_code != 0 && plan.fallback_to_logs {
            let lines: Vec<&str> = logs.lines().collect();
            message = lines[lines.len().saturating_sub(FALLBACK_LINES)..].join("\n");
        }
        Ok(ContainerResult {
            name: plan.name.clone(),
            kind: plan.kind,
            exit_code,
            message,
            logs,
            started,
            probe_succeeded,
            finished,
        })
    }

    /// Runs the exec probe until it succeeds (`Some(when)`), fails `failure_threshold` times
    /// in a row or the container exits (`None`).
    fn probe(
        &self,
        id: &str,
        probe: &ExecProbe,
        deadline: Instant,
    ) -> Result<Option<Instant>, RunError> {
        std::thread::sleep(probe.initial_delay);
        let mut failures = 0;
        loop {
            // `timeoutSeconds` is not enforced: the probe command must end by itself.
            let mut args = vec!["exec".to_owned(), id.to_owned()];
            args.extend(probe.command.iter().cloned());
            let output = self.docker.output(&args)?;
            if output.status.success() {
                return Ok(Some(Instant::now()));
            }
            failures += 1;
            if failures >= probe.failure_threshold
                || self.exit_code(id)?.is_some()
                || Instant::now() > deadline
            {
                return Ok(None);
            }
            std::thread::sleep(probe.period);
        }
    }
}

fn read_message(path: &Path) -> Result<String, RunError> {
    let bytes = std::fs::read(path)?;
    let kept = &bytes[..bytes.len().min(MAX_MESSAGE_BYTES)];
    Ok(String::from_utf8_lossy(kept).into_owned())
}
