//! The simulated node's container runtime: real processes (`azp-agent` with the stand-in as
//! its agent home) or timers only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use azp_kube_sim::kubelet::{ContainerCommand, PodRuntime, ProcessRuntime, SimulatedRuntime};
use k8s_openapi::api::core::v1::Pod;

use super::binaries::Binaries;
use super::{MARKER_ENV, POD_UID_ENV, SandboxError};

/// Which runtime the kubelet uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeKind {
    /// Each agent pod runs the real `azp-agent` process (and through it the stand-in).
    #[default]
    Process,
    /// Containers are timers driven by pod annotations (`sim.azp.dev/run-seconds`, ...); no
    /// agent registers. For large benchmarks of the operator alone.
    Simulated,
}

/// Settings of the process runtime.
#[derive(Debug, Clone)]
pub struct ProcessSettings<'a> {
    /// The binaries.
    pub binaries: &'a Binaries,
    /// Agent home where the stand-in was installed once; each pod gets its own copy.
    pub agent_home: &'a Path,
    /// Where pod directories go.
    pub pods_dir: &'a Path,
    /// `azp-agent run --grace-period`.
    pub agent_grace_seconds: u32,
    /// Value of the marker variable every pod process carries.
    pub marker: &'a str,
    /// How long the BuildKit sidecar stand-in waits before it listens.
    pub buildkit_start_delay: std::time::Duration,
}

/// Host variable naming the directory of the pod's BuildKit socket volume (mounted at
/// `/run/buildkit`, see kube-sim's `mount_env_name`).
const BUILDKIT_SOCKET_DIR_VAR: &str = "KUBE_SIM_MOUNT_RUN_BUILDKIT";
/// The socket, relative to that directory. Unix socket paths are limited to 108 bytes and a
/// pod's host directory is longer, so every process addresses the socket from inside its
/// directory (`cd` first) rather than by its absolute host path.
const BUILDKIT_SOCKET: &str = "buildkitd.sock";

/// `sh -c SCRIPT PROGRAM ARGS...`: runs `PROGRAM` from the socket directory.
fn in_socket_dir(program: &Path, args: &[String]) -> ContainerCommand {
    let script = format!("cd \"${BUILDKIT_SOCKET_DIR_VAR}\" && exec \"$0\" \"$@\"");
    let mut sh_args: Vec<std::ffi::OsString> = vec!["-c".into(), script.into(), program.into()];
    sh_args.extend(args.iter().map(Into::into));
    ContainerCommand {
        program: "sh".into(),
        args: sh_args,
        env: Vec::new(),
    }
}

/// Whether the pod has the BuildKit sidecar.
fn has_buildkit(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .is_some_and(|inits| inits.iter().any(|c| c.name == "buildkitd"))
}

/// Installs the stand-in into the agent home (`azp-agent-standin install DIR`).
pub fn install_standin(standin: &Path, agent_home: &Path) -> Result<(), SandboxError> {
    let status = std::process::Command::new(standin)
        .arg("install")
        .arg(agent_home)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| SandboxError::Kubelet(format!("running {}: {e}", standin.display())))?;
    if status.success() {
        Ok(())
    } else {
        Err(SandboxError::Kubelet(format!(
            "azp-agent-standin install failed: {status}"
        )))
    }
}

/// Copies the template agent home (the stand-in's `config.sh`, `run.sh`, `_diag/`) into a
/// directory of its own for one pod. `config.sh` keeps `.agent` and `.credentials` next to
/// itself, as the official agent does, so pods sharing one home would overwrite each other's
/// registration ("already configured", then removing another pod's agent).
fn pod_agent_home(template: &Path, homes: &Path, pod: &Pod) -> std::io::Result<PathBuf> {
    let meta = &pod.metadata;
    let dir = homes.join(format!(
        "{}_{}_{}",
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or("unnamed"),
        meta.uid.as_deref().unwrap_or("no-uid")
    ));
    std::fs::create_dir_all(dir.join("_diag"))?;
    for script in ["config.sh", "run.sh"] {
        std::fs::copy(template.join(script), dir.join(script))?;
    }
    Ok(dir)
}

/// A process runtime whose `register` and `agent` containers run `azp-agent register` and
/// `azp-agent run` against the stand-in, each pod with its own agent home (shared by its two
/// containers, as the image's agent home would be).
pub fn process_runtime(settings: &ProcessSettings<'_>) -> ProcessRuntime {
    let agent = settings.binaries.agent.clone();
    let standin = settings.binaries.standin.clone();
    let delay_ms = settings.buildkit_start_delay.as_millis().to_string();
    let probe_agent = agent.clone();
    let template = settings.agent_home.to_path_buf();
    let homes = settings.pods_dir.join("agent-homes");
    let grace = settings.agent_grace_seconds.to_string();
    let marker = settings.marker.to_owned();
    ProcessRuntime::new(settings.pods_dir)
        .with_termination_log_env(azp_contract::env::TERMINATION_LOG)
        // The rendered startup probe runs `buildctl … debug workers`; without a real buildkitd
        // the sandbox asks the same question through azp-agent's BuildKit check instead (does
        // the socket answer the gRPC handshake?), with no other check enabled.
        .with_probe_override(Arc::new(move |_pod, container, _command| {
            (container.name == "buildkitd").then(|| {
                in_socket_dir(
                    &probe_agent,
                    &[
                        "preflight".into(),
                        "--no-credential-probe".into(),
                        "--buildkit-host".into(),
                        format!("unix://{BUILDKIT_SOCKET}"),
                    ],
                )
            })
        }))
        .with_command_override(Arc::new(move |pod, container| {
            if container.name == "buildkitd" {
                // The sidecar: the socket stand-in, listening only after the injected delay.
                return Some(in_socket_dir(
                    &standin,
                    &[
                        "buildkitd".into(),
                        "--socket".into(),
                        BUILDKIT_SOCKET.into(),
                        "--start-delay-ms".into(),
                        delay_ms.clone(),
                    ],
                ));
            }
            let subcommand = match container.name.as_str() {
                "register" => "register",
                "agent" => "run",
                _ => return None,
            };
            // On failure the shared template is used, and the error is logged: the pod then
            // runs, but may collide with another one, which the invariants will show.
            let home = pod_agent_home(&template, &homes, pod).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot prepare a per-pod agent home");
                template.clone()
            });
            // `agent` runs its preflight, which (with a handed-over registration and no ECR)
            // is the BuildKit check alone: a pod that raced its sidecar ends preflightFailed,
            // which the chaos invariants count. `register` skips it (the emulator's request
            // budget is for the operator).
            let buildkit = has_buildkit(pod);
            let mut args: Vec<std::ffi::OsString> = vec![subcommand.into()];
            if subcommand == "register" || !buildkit {
                args.push("--skip-preflight".into());
            }
            if subcommand == "run" && buildkit {
                args.push("--buildkit-host".into());
                args.push(format!("unix://{BUILDKIT_SOCKET}").into());
            }
            let command = ContainerCommand {
                program: agent.clone().into(),
                args: vec![
                    "--allow-insecure-http".into(),
                    "--grace-period".into(),
                    grace.clone().into(),
                    // The markers reach config.sh/run.sh too (azp-agent gives them an
                    // allow-listed environment), so shutdown can prove no pod process is left
                    // and a test can tell which pod a process belongs to.
                    "--pass-env".into(),
                    format!("{MARKER_ENV},{POD_UID_ENV}").into(),
                ],
                env: vec![
                    ("AZP_AGENT_HOME".into(), home.display().to_string()),
                    ("AGENT_ALLOW_RUNASROOT".into(), "1".into()),
                    ("VSS_ALLOW_UNSAFE_BASICAUTH".into(), "true".into()),
                    (MARKER_ENV.into(), marker.clone()),
                    (
                        POD_UID_ENV.into(),
                        pod.metadata.uid.clone().unwrap_or_default(),
                    ),
                ],
            };
            args.extend(command.args);
            if subcommand == "run" && buildkit {
                let words: Vec<String> = args
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                let mut wrapped = in_socket_dir(&agent, &words);
                wrapped.env = command.env;
                return Some(wrapped);
            }
            Some(ContainerCommand { args, ..command })
        }))
}

/// The timer-only runtime.
pub fn simulated_runtime() -> Arc<dyn PodRuntime> {
    Arc::new(SimulatedRuntime::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pod_gets_its_own_copy_of_the_agent_home() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("template");
        std::fs::create_dir_all(&template).unwrap();
        std::fs::write(template.join("config.sh"), "#!/bin/sh\necho config\n").unwrap();
        std::fs::write(template.join("run.sh"), "#!/bin/sh\necho run\n").unwrap();
        let pod = |name: &str, uid: &str| -> Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": "default", "uid": uid}
            }))
            .unwrap()
        };
        let homes = dir.path().join("homes");
        let a = pod_agent_home(&template, &homes, &pod("linux-a", "u1")).unwrap();
        let b = pod_agent_home(&template, &homes, &pod("linux-b", "u2")).unwrap();
        assert_ne!(a, b);
        for home in [&a, &b] {
            assert!(home.join("_diag").is_dir());
            assert_eq!(
                std::fs::read_to_string(home.join("run.sh")).unwrap(),
                "#!/bin/sh\necho run\n"
            );
        }
        // A registration written by one pod's config.sh is invisible to the other.
        std::fs::write(a.join(".agent"), "{}").unwrap();
        assert!(!b.join(".agent").exists());
    }
}
