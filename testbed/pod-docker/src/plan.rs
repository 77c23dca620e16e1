//! The pure part: one rendered [`Pod`] → one `docker create` argument list per container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod, PodSpec, Probe};

/// Kubernetes' default `terminationMessagePath`.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// Why a pod cannot be translated.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The pod has no spec, a container no image, …
    #[error("invalid pod: {0}")]
    Invalid(String),
    /// A feature this emulation does not implement (see the crate docs).
    #[error("not emulated: {0}")]
    Unsupported(String),
}

/// Where a container runs in the pod's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// An init container: runs to completion before anything that follows.
    Init,
    /// A native sidecar (`initContainers[]` with `restartPolicy: Always`).
    Sidecar,
    /// One of `containers[]`.
    Main,
}

/// An exec startup probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecProbe {
    /// The command `docker exec` runs.
    pub command: Vec<String>,
    /// `initialDelaySeconds`.
    pub initial_delay: Duration,
    /// `periodSeconds` (default 10 s).
    pub period: Duration,
    /// `timeoutSeconds` (default 1 s).
    pub timeout: Duration,
    /// `failureThreshold` (default 3).
    pub failure_threshold: u32,
}

/// One container, ready for `docker create`.
#[derive(Debug, Clone)]
pub struct ContainerPlan {
    /// The container's name in the pod.
    pub name: String,
    /// Init, sidecar or main.
    pub kind: ContainerKind,
    /// The image reference.
    pub image: String,
    /// The uid the container runs as, when the pod says (`None`: the image's USER).
    pub uid: Option<i64>,
    /// `runAsNonRoot` (container over pod).
    pub run_as_non_root: bool,
    /// Arguments after `docker create` (they end with the image and its arguments).
    pub create_args: Vec<String>,
    /// The startup probe, if any.
    pub startup_probe: Option<ExecProbe>,
    /// Host file bind-mounted at `terminationMessagePath`.
    pub termination_log: PathBuf,
    /// `terminationMessagePolicy: FallbackToLogsOnError`.
    pub fallback_to_logs: bool,
}

/// Host side of the pod's volumes, as [`crate::volumes::PodVolumes`] prepared them.
pub trait VolumeHost {
    /// The host directory (or file) of volume `name`.
    fn host_path(&self, name: &str) -> Option<&Path>;
    /// Whether the kubelet would mount it read-only whatever the mount says (Secret, ConfigMap).
    fn always_read_only(&self, name: &str) -> bool;
}

/// Translates every container of `pod` (init containers first, in order, then the main ones).
/// `termination_dir` receives one termination-message file per container; `name_prefix` makes
/// the docker container names unique.
pub fn plan_pod(
    pod: &Pod,
    volumes: &dyn VolumeHost,
    termination_dir: &Path,
    name_prefix: &str,
) -> Result<Vec<ContainerPlan>, PlanError> {
    let spec = pod
        .spec
        .as_ref()
        .ok_or_else(|| PlanError::Invalid("no spec".into()))?;
    if spec.host_pid == Some(true) || spec.host_ipc == Some(true) {
        return Err(PlanError::Unsupported("hostPID/hostIPC".into()));
    }
    let mut plans = Vec::new();
    for container in spec.init_containers.iter().flatten() {
        let kind = if container.restart_policy.as_deref() == Some("Always") {
            ContainerKind::Sidecar
        } else {
            ContainerKind::Init
        };
        plans.push(plan_container(
            pod,
            spec,
            container,
            kind,
            volumes,
            termination_dir,
            name_prefix,
        )?);
    }
    for container in &spec.containers {
        plans.push(plan_container(
            pod,
            spec,
            container,
            ContainerKind::Main,
            volumes,
            termination_dir,
            name_prefix,
        )?);
    }
    Ok(plans)
}

fn plan_container(
    pod: &Pod,
    spec: &PodSpec,
    container: &Container,
    kind: ContainerKind,
    volumes: &dyn VolumeHost,
    termination_dir: &Path,
    name_prefix: &str,
) -> Result<ContainerPlan, PlanError> {
    let name = &container.name;
    let image = container
        .image
        .clone()
        .ok_or_else(|| PlanError::Invalid(format!("container {name} has no image")))?;
    if container.env_from.is_some() {
        return Err(PlanError::Unsupported(format!("{name}: envFrom")));
    }
    let mut args = vec![
        "--name".to_owned(),
        format!("{name_prefix}-{name}"),
        "--network".into(),
        "host".into(),
        "--label".into(),
        format!("azp-pod-docker.container={name}"),
    ];

    // Security: the container's settings override the pod's.
    let pod_security = spec.security_context.clone().unwrap_or_default();
    let security = container.security_context.clone().unwrap_or_default();
    let uid = security.run_as_user.or(pod_security.run_as_user);
    let gid = security.run_as_group.or(pod_security.run_as_group);
    let run_as_non_root = security
        .run_as_non_root
        .or(pod_security.run_as_non_root)
        .unwrap_or(false);
    match (uid, gid) {
        (Some(uid), Some(gid)) => args.extend(["--user".into(), format!("{uid}:{gid}")]),
        (Some(uid), None) => args.extend(["--user".into(), uid.to_string()]),
        (None, Some(_)) => {
            return Err(PlanError::Unsupported(format!(
                "{name}: runAsGroup without runAsUser"
            )));
        }
        (None, None) => {}
    }
    if run_as_non_root && uid == Some(0) {
        return Err(PlanError::Invalid(format!(
            "{name}: runAsNonRoot with runAsUser 0"
        )));
    }
    let groups = pod_security
        .fs_group
        .into_iter()
        .chain(pod_security.supplemental_groups.iter().flatten().copied());
    for group in groups {
        args.extend(["--group-add".into(), group.to_string()]);
    }
    if security.privileged == Some(true) {
        args.push("--privileged".into());
    }
    if let Some(capabilities) = &security.capabilities {
        for cap in capabilities.drop.iter().flatten() {
            args.extend(["--cap-drop".into(), cap.clone()]);
        }
        for cap in capabilities.add.iter().flatten() {
            args.extend(["--cap-add".into(), cap.clone()]);
        }
    }
    if security.allow_privilege_escalation == Some(false) {
        args.extend(["--security-opt".into(), "no-new-privileges".into()]);
    }
    if security.read_only_root_filesystem == Some(true) {
        args.push("--read-only".into());
    }
    // A kubelet without --seccomp-default runs pods Unconfined when nothing is set; Docker's
    // default profile stands in for RuntimeDefault.
    let seccomp = security
        .seccomp_profile
        .as_ref()
        .or(pod_security.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str());
    match seccomp {
        Some("RuntimeDefault") => {}
        None | Some("Unconfined") => {
            args.extend(["--security-opt".into(), "seccomp=unconfined".into()]);
        }
        Some(other) => {
            return Err(PlanError::Unsupported(format!("{name}: seccomp {other}")));
        }
    }
    let apparmor = security
        .app_armor_profile
        .as_ref()
        .or(pod_security.app_armor_profile.as_ref())
        .map(|p| p.type_.as_str());
    match apparmor {
        None | Some("RuntimeDefault") => {}
        Some("Unconfined") => {
            args.extend(["--security-opt".into(), "apparmor=unconfined".into()]);
        }
        Some(other) => {
            return Err(PlanError::Unsupported(format!("{name}: AppArmor {other}")));
        }
    }

    // Environment, then `$(VAR)` in command and args.
    let env = environment(pod, container)?;
    for (key, value) in &env {
        args.extend(["--env".into(), format!("{key}={value}")]);
    }
    let vars: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // Volumes, and the termination message file.
    for mount in container.volume_mounts.iter().flatten() {
        let host = volumes.host_path(&mount.name).ok_or_else(|| {
            PlanError::Invalid(format!("{name}: mount of unknown volume {}", mount.name))
        })?;
        let host = match mount.sub_path.as_deref() {
            Some(sub) if !sub.is_empty() => host.join(sub),
            _ => host.to_path_buf(),
        };
        let read_only = mount.read_only == Some(true) || volumes.always_read_only(&mount.name);
        args.extend([
            "--mount".into(),
            format!(
                "type=bind,source={},target={}{}",
                host.display(),
                mount.mount_path,
                if read_only { ",readonly" } else { "" }
            ),
        ]);
    }
    let termination_path = container
        .termination_message_path
        .clone()
        .unwrap_or_else(|| DEFAULT_TERMINATION_MESSAGE_PATH.into());
    let termination_log = termination_dir.join(name);
    args.extend([
        "--mount".into(),
        format!(
            "type=bind,source={},target={termination_path}",
            termination_log.display()
        ),
    ]);
    if let Some(dir) = &container.working_dir {
        args.extend(["--workdir".into(), dir.clone()]);
    }
    if let Some(limits) = container.resources.as_ref().and_then(|r| r.limits.as_ref()) {
        if let Some(cpu) = limits.get("cpu") {
            args.extend(["--cpus".into(), cpus(&cpu.0)?]);
        }
        if let Some(memory) = limits.get("memory") {
            args.extend(["--memory".into(), bytes(&memory.0)?.to_string()]);
        }
    }

    // Kubernetes: `command` replaces ENTRYPOINT (and drops CMD), `args` replaces CMD.
    let command: Vec<String> = container
        .command
        .iter()
        .flatten()
        .map(|c| expand(c, &vars))
        .collect();
    let container_args: Vec<String> = container
        .args
        .iter()
        .flatten()
        .map(|a| expand(a, &vars))
        .collect();
    if let Some((entrypoint, rest)) = command.split_first() {
        args.extend(["--entrypoint".into(), entrypoint.clone()]);
        args.push(image.clone());
        args.extend(rest.iter().cloned());
    } else {
        args.push(image.clone());
    }
    args.extend(container_args);

    Ok(ContainerPlan {
        name: name.clone(),
        kind,
        image,
        uid,
        run_as_non_root,
        create_args: args,
        startup_probe: container
            .startup_probe
            .as_ref()
            .map(|p| exec_probe(name, p))
            .transpose()?,
        termination_log,
        fallback_to_logs: container.termination_message_policy.as_deref()
            == Some("FallbackToLogsOnError"),
    })
}

/// The container's environment in order, `$(VAR)` expanded against the variables before it.
fn environment(pod: &Pod, container: &Container) -> Result<Vec<(String, String)>, PlanError> {
    let mut env: Vec<(String, String)> = Vec::new();
    for EnvVar {
        name,
        value,
        value_from,
    } in container.env.iter().flatten()
    {
        let resolved = if let Some(from) = value_from {
            let field = from.field_ref.as_ref().ok_or_else(|| {
                PlanError::Unsupported(format!(
                    "{}: env {name} from a Secret, ConfigMap or resource",
                    container.name
                ))
            })?;
            field_value(pod, &field.field_path)?
        } else {
            let vars: BTreeMap<&str, &str> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            expand(value.as_deref().unwrap_or(""), &vars)
        };
        env.retain(|(existing, _)| existing != name);
        env.push((name.clone(), resolved));
    }
    Ok(env)
}

fn field_value(pod: &Pod, path: &str) -> Result<String, PlanError> {
    let meta = &pod.metadata;
    let value = match path {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "spec.nodeName" => pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        "status.podIP" | "status.hostIP" => Some("127.0.0.1".into()),
        other => return Err(PlanError::Unsupported(format!("fieldRef {other}"))),
    };
    Ok(value.unwrap_or_default())
}

/// Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` is a literal `$`,
/// anything else is left as written.
pub fn expand(text: &str, vars: &BTreeMap<&str, &str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find('$') {
        out.push_str(&rest[..index]);
        let tail = &rest[index..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = tail.strip_prefix("$(")
            && let Some(end) = body.find(')')
            && let Some(value) = vars.get(&body[..end])
        {
            out.push_str(value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

fn exec_probe(name: &str, probe: &Probe) -> Result<ExecProbe, PlanError> {
    let command = probe
        .exec
        .as_ref()
        .and_then(|e| e.command.clone())
        .ok_or_else(|| {
            PlanError::Unsupported(format!("{name}: a startup probe other than exec"))
        })?;
    let seconds = |value: Option<i32>, default: u64| {
        Duration::from_secs(value.map_or(default, |v| u64::try_from(v).unwrap_or(default)))
    };
    Ok(ExecProbe {
        command,
        initial_delay: seconds(probe.initial_delay_seconds, 0),
        period: seconds(probe.period_seconds, 10),
        timeout: seconds(probe.timeout_seconds, 1),
        failure_threshold: probe
            .failure_threshold
            .map_or(3, |v| u32::try_from(v).unwrap_or(3)),
    })
}

/// A CPU quantity (`500m`, `2`) as docker's `--cpus` value.
fn cpus(quantity: &str) -> Result<String, PlanError> {
    let bad = || PlanError::Unsupported(format!("cpu quantity {quantity}"));
    let cores = match quantity.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().map_err(|_| bad())? / 1000.0,
        None => quantity.parse::<f64>().map_err(|_| bad())?,
    };
    Ok(format!("{cores}"))
}

/// A memory quantity (`512Mi`, `1G`, `1000`) in bytes.
fn bytes(quantity: &str) -> Result<u64, PlanError> {
    const UNITS: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    let bad = || PlanError::Unsupported(format!("memory quantity {quantity}"));
    for (suffix, factor) in UNITS {
        if let Some(number) = quantity.strip_suffix(suffix) {
            return number.parse::<u64>().map(|n| n * factor).map_err(|_| bad());
        }
    }
    quantity.parse::<u64>().map_err(|_| bad())
}

#[cfg(test)]
mod tests;
