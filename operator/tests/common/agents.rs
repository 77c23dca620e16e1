//! Real agents in pods: kube-sim's process kubelet runs the real `azp-agent` in every pod's
//! `agent` container, with `azp-agent-standin` installed as the official agent.
//!
//! `azp-agent` and the stand-in are binaries of other packages, so they are built once per
//! test binary with `cargo build` (set `AZP_AGENT_BIN` / `AZP_STANDIN_BIN` to use prebuilt ones).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use azp_kube_sim::kubelet::{ContainerCommand, KubeletConfig, KubeletHandle, ProcessRuntime};

use super::Harness;

fn build(package: &str, bin: &str, env_override: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_override) {
        return PathBuf::from(path);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-q", "-p", package, "--bin", bin])
        .current_dir(workspace)
        .status()
        .expect("cannot run cargo");
    assert!(status.success(), "building {bin} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let path = target.join("debug").join(bin);
    assert!(path.is_file(), "{} missing", path.display());
    path
}

fn binaries() -> &'static (PathBuf, PathBuf) {
    static BINS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BINS.get_or_init(|| {
        (
            build("azp-agent", "azp-agent", "AZP_AGENT_BIN"),
            build("azp-ado-emulator", "azp-agent-standin", "AZP_STANDIN_BIN"),
        )
    })
}

/// An agent image the kubelet treats as having no `azp-agent` in it.
pub const BROKEN_IMAGE: &str = "azp-agent:no-azp-agent";

/// A kubelet whose `register` and `agent` containers run the real azp-agent (`register`,
/// then `run`) with the stand-in as the official agent, installed into `<agents_dir>/<pod name>`: one agent home per pod, as in a
/// real container image (the agent writes `.agent` and `.credentials` into its home, so pods
/// sharing one would race each other's configuration).
pub fn kubelet(h: &Harness, agents_dir: &Path) -> KubeletHandle {
    kubelet_with(h, agents_dir, ProcessRuntime::in_temp_dir().unwrap(), &[])
}

/// [`kubelet`] on a node whose registries lack `missing` images: a container using one
/// waits with `ErrImagePull` / `ImagePullBackOff`, as on a real node.
pub fn kubelet_missing_images(h: &Harness, agents_dir: &Path, missing: &[&str]) -> KubeletHandle {
    kubelet_with(
        h,
        agents_dir,
        ProcessRuntime::in_temp_dir().unwrap(),
        missing,
    )
}

/// [`kubelet`] with pod directories kept under `pods_dir`, so a test can look at the files
/// the kubelet materialised for a pod's volumes.
pub fn kubelet_in(h: &Harness, agents_dir: &Path, pods_dir: &Path) -> KubeletHandle {
    kubelet_with(h, agents_dir, ProcessRuntime::new(pods_dir), &[])
}

fn kubelet_with(
    h: &Harness,
    agents_dir: &Path,
    runtime: ProcessRuntime,
    missing_images: &[&str],
) -> KubeletHandle {
    let (agent, standin) = binaries().clone();
    let agents_dir = agents_dir.to_path_buf();
    let runtime = runtime
        .with_termination_log_env("AZP_TERMINATION_LOG")
        .with_command_override(Arc::new(move |pod, container| {
            let subcommand = match container.name.as_str() {
                "register" => "register",
                "agent" => "run",
                _ => return None,
            };
            // An image without azp-agent (BROKEN_IMAGE): the program does not exist, so the
            // container fails to start (`StartError`, as containerd reports it).
            if container.image.as_deref() == Some(BROKEN_IMAGE) {
                return Some(ContainerCommand {
                    program: "/nonexistent/azp-agent".into(),
                    args: vec![subcommand.into()],
                    env: Vec::new(),
                });
            }
            let home = agents_dir.join(pod.metadata.name.as_deref().unwrap_or("unnamed"));
            if !home.join("config.sh").exists() {
                let status = std::process::Command::new(&standin)
                    .arg("install")
                    .arg(&home)
                    .status()
                    .unwrap();
                assert!(status.success(), "standin install failed");
            }
            Some(ContainerCommand {
                program: agent.clone().into(),
                args: vec![
                    subcommand.into(),
                    "--skip-preflight".into(),
                    "--allow-insecure-http".into(),
                    "--grace-period".into(),
                    "5".into(),
                ],
                env: vec![
                    ("AZP_AGENT_HOME".into(), home.display().to_string()),
                    ("AGENT_ALLOW_RUNASROOT".into(), "1".into()),
                    ("VSS_ALLOW_UNSAFE_BASICAUTH".into(), "true".into()),
                ],
            })
        }));
    let config = missing_images.iter().fold(
        KubeletConfig::new("node-1", Arc::new(runtime)),
        |config, image| config.with_missing_image(*image),
    );
    KubeletHandle::spawn(h.client.clone(), config)
}
