//! A runtime without processes, for large benchmarks: each container "runs" for the time
//! the pod's annotations say and exits with the code and message they give.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Container, Pod};

use super::runtime::{
    ContainerExit, ContainerHandle, PodRuntime, PodSandbox, RuntimeError, StopSignal,
};

/// How long main containers run, in seconds (decimal allowed). Absent: until stopped.
pub const RUN_SECONDS_ANNOTATION: &str = "sim.azp.dev/run-seconds";
/// Exit code of main containers (default 0).
pub const EXIT_CODE_ANNOTATION: &str = "sim.azp.dev/exit-code";
/// Termination message of main containers (default empty).
pub const TERMINATION_MESSAGE_ANNOTATION: &str = "sim.azp.dev/termination-message";

/// Exit code of a process stopped by SIGTERM (128 + 15).
const TERMINATED_BY_SIGTERM: i32 = 143;
/// Exit code of a process stopped by SIGKILL (128 + 9).
const KILLED_BY_SIGKILL: i32 = 137;

/// Containers that only exist as timers. Sidecars (init containers with
/// `restartPolicy: Always`) and pods without `sim.azp.dev/run-seconds` run until stopped;
/// other init containers succeed at once (the annotations time the main containers); a
/// stopped container exits 143 on SIGTERM, 137 on SIGKILL.
#[derive(Debug, Default, Clone)]
pub struct SimulatedRuntime;

impl SimulatedRuntime {
    /// A new simulated runtime.
    pub fn new() -> Self {
        Self
    }
}

struct Behaviour {
    run_for: Option<Duration>,
    exit_code: i32,
    message: String,
}

fn behaviour(pod: &Pod, container: &Container) -> Behaviour {
    let annotation = |key: &str| {
        pod.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map(String::as_str)
    };
    let init = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .and_then(|inits| inits.iter().find(|c| c.name == container.name));
    if let Some(init) = init {
        let is_sidecar = init.restart_policy.as_deref() == Some("Always");
        return Behaviour {
            run_for: (!is_sidecar).then_some(Duration::ZERO),
            exit_code: 0,
            message: String::new(),
        };
    }
    Behaviour {
        run_for: annotation(RUN_SECONDS_ANNOTATION)
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
        exit_code: annotation(EXIT_CODE_ANNOTATION)
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0),
        message: annotation(TERMINATION_MESSAGE_ANNOTATION)
            .unwrap_or_default()
            .to_owned(),
    }
}

impl PodRuntime for SimulatedRuntime {
    fn prepare(
        &self,
        _client: kube::Client,
        pod: Arc<Pod>,
    ) -> BoxFuture<'static, Result<PodSandbox, RuntimeError>> {
        async move {
            Ok(PodSandbox {
                pod,
                ..PodSandbox::default()
            })
        }
        .boxed()
    }

    fn start_container(
        &self,
        sandbox: &PodSandbox,
        container: &Container,
    ) -> BoxFuture<'static, Result<ContainerHandle, RuntimeError>> {
        let plan = behaviour(&sandbox.pod, container);
        async move {
            let (handle, mut control) = ContainerHandle::new_pair();
            tokio::spawn(async move {
                let run = async {
                    match plan.run_for {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                let exit = tokio::select! {
                    () = run => ContainerExit::from_code(plan.exit_code, plan.message),
                    signal = control.signals.recv() => {
                        let code = match signal {
                            Some(StopSignal::Kill) => KILLED_BY_SIGKILL,
                            Some(StopSignal::Terminate) | None => TERMINATED_BY_SIGTERM,
                        };
                        ContainerExit::from_code(code, String::new())
                    }
                };
                control.exited(exit);
            });
            Ok(handle)
        }
        .boxed()
    }

    fn release(&self, _sandbox: &PodSandbox) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_init_containers_succeed_at_once_and_sidecars_run_until_stopped() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "annotations": {RUN_SECONDS_ANNOTATION: "5"}},
            "spec": {
                "initContainers": [
                    {"name": "register"},
                    {"name": "buildkitd", "restartPolicy": "Always"}
                ],
                "containers": [{"name": "agent"}]
            }
        }))
        .unwrap();
        let spec = pod.spec.clone().unwrap();
        let inits = spec.init_containers.unwrap();
        let register = behaviour(&pod, &inits[0]);
        assert_eq!(
            (register.run_for, register.exit_code),
            (Some(Duration::ZERO), 0)
        );
        assert_eq!(behaviour(&pod, &inits[1]).run_for, None);
        assert_eq!(
            behaviour(&pod, &spec.containers[0]).run_for,
            Some(Duration::from_secs(5))
        );
    }
}
