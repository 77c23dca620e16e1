//! Startup probes of native sidecars, as the kubelet runs them: a sidecar with a
//! `startupProbe` holds back the containers after it until the probe succeeds; without one,
//! the next container starts as soon as the sidecar has started (the race real pods lose
//! when the sidecar needs a moment before it listens).
//!
//! Only `exec` probes are run (through [`PodRuntime::exec`]: a process in the process
//! runtime, an instant success in runtimes without processes). `httpGet`, `tcpSocket` and
//! `grpc` startup probes are not modelled: the sidecar counts as started at once, with a
//! warning in the log. Probe fields follow the API defaults: `initialDelaySeconds` 0,
//! `periodSeconds` 10, `timeoutSeconds` 1, `failureThreshold` 3 (success threshold is
//! always 1 for startup probes).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};

use super::runtime::{ContainerExit, PodRuntime, PodSandbox};

/// A container's exec startup probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupProbe {
    /// The command run inside the container; exit 0 = started.
    pub command: Vec<String>,
    /// Wait before the first run.
    pub initial_delay: Duration,
    /// Time between runs.
    pub period: Duration,
    /// A run that takes longer counts as a failure.
    pub timeout: Duration,
    /// Failed runs in a row before the kubelet kills (and restarts) the container.
    pub failure_threshold: u32,
}

fn seconds(value: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(
        value
            .and_then(|v| u64::try_from(v).ok())
            .filter(|v| *v > 0)
            .unwrap_or(default),
    )
}

impl StartupProbe {
    /// The container's startup probe, if it has an exec one.
    pub fn of(container: &Container) -> Option<Self> {
        let probe: &Probe = container.startup_probe.as_ref()?;
        let Some(command) = probe.exec.as_ref().and_then(|e| e.command.clone()) else {
            tracing::warn!(
                container = %container.name,
                "kube-sim runs only exec startup probes; this one counts as passed"
            );
            return None;
        };
        Some(Self {
            command,
            initial_delay: Duration::from_secs(
                probe
                    .initial_delay_seconds
                    .and_then(|v| u64::try_from(v).ok())
                    .unwrap_or(0),
            ),
            period: seconds(probe.period_seconds, 10),
            timeout: seconds(probe.timeout_seconds, 1),
            failure_threshold: probe
                .failure_threshold
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v > 0)
                .unwrap_or(3),
        })
    }
}

/// How probing a started container ended.
#[derive(Debug)]
pub enum ProbeOutcome {
    /// The probe succeeded: the container counts as started.
    Started,
    /// `failureThreshold` runs failed in a row; the kubelet must kill and restart it.
    GaveUp {
        /// What the last run said.
        last_error: String,
    },
    /// The container exited while being probed.
    Exited(ContainerExit),
}

/// Runs `probe` against the started container until it succeeds, fails too often, or the
/// container exits (`exited` resolves).
pub async fn wait_until_started(
    runtime: Arc<dyn PodRuntime>,
    sandbox: PodSandbox,
    container: Container,
    probe: StartupProbe,
    exited: impl Future<Output = ContainerExit>,
) -> ProbeOutcome {
    tokio::pin!(exited);
    tokio::select! {
        exit = &mut exited => return ProbeOutcome::Exited(exit),
        () = tokio::time::sleep(probe.initial_delay) => {}
    }
    let mut failures = 0u32;
    loop {
        let run = tokio::time::timeout(
            probe.timeout,
            runtime.exec(&sandbox, &container, &probe.command),
        );
        let last_error = tokio::select! {
            exit = &mut exited => return ProbeOutcome::Exited(exit),
            result = run => match result {
                Ok(Ok(0)) => return ProbeOutcome::Started,
                Ok(Ok(code)) => format!("probe command exited {code}"),
                Ok(Err(e)) => format!("probe command could not run: {e}"),
                Err(_) => format!("probe timed out after {} s", probe.timeout.as_secs()),
            },
        };
        failures += 1;
        tracing::debug!(container = %container.name, failures, %last_error, "startup probe failed");
        if failures >= probe.failure_threshold {
            return ProbeOutcome::GaveUp { last_error };
        }
        tokio::select! {
            exit = &mut exited => return ProbeOutcome::Exited(exit),
            () = tokio::time::sleep(probe.period) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_probe_fields_and_api_defaults() {
        let container: Container = serde_json::from_value(serde_json::json!({
            "name": "buildkitd",
            "startupProbe": {"exec": {"command": ["buildctl", "debug", "workers"]},
                             "periodSeconds": 1, "failureThreshold": 120}
        }))
        .unwrap();
        let probe = StartupProbe::of(&container).unwrap();
        assert_eq!(probe.command, ["buildctl", "debug", "workers"]);
        assert_eq!(probe.period, Duration::from_secs(1));
        assert_eq!(probe.failure_threshold, 120);
        assert_eq!(probe.timeout, Duration::from_secs(1));
        assert_eq!(probe.initial_delay, Duration::ZERO);

        let tcp: Container = serde_json::from_value(serde_json::json!({
            "name": "x", "startupProbe": {"tcpSocket": {"port": 80}}
        }))
        .unwrap();
        assert_eq!(StartupProbe::of(&tcp), None);
        let none: Container = serde_json::from_value(serde_json::json!({"name": "x"})).unwrap();
        assert_eq!(StartupProbe::of(&none), None);
    }
}
