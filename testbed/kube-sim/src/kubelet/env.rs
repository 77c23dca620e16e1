//! A container's environment as the real kubelet builds it (`envFrom`, then `env` with
//! `valueFrom` and `$(VAR)` expansion), plus kube-sim's mount-path rewriting: processes run
//! on the host, so a value that starts with a `volumeMount.mountPath` is rewritten to the
//! host directory that stands in for the mount.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, EnvVar, ObjectFieldSelector, Pod};

use super::runtime::{PodSandbox, RuntimeError};

/// The pod IP every simulated pod reports.
pub const POD_IP: &str = "127.0.0.1";

/// One `volumeMount` resolved to a host path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMount {
    /// The path the container asked for, e.g. `/azp/secrets`.
    pub mount_path: String,
    /// The host path standing in for it.
    pub host_path: PathBuf,
}

/// The name of the variable that exposes a mount's host path:
/// `/azp/secrets` → `KUBE_SIM_MOUNT_AZP_SECRETS`.
pub fn mount_env_name(mount_path: &str) -> String {
    let sanitised: String = mount_path
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("KUBE_SIM_MOUNT_{sanitised}")
}

/// Rewrites `value` if it is a mount path or lies below one (longest mount wins).
pub fn rewrite_mounted_path(value: &str, mounts: &[HostMount]) -> Option<String> {
    mounts
        .iter()
        .filter(|m| {
            let mount = m.mount_path.trim_end_matches('/');
            value == mount
                || value
                    .strip_prefix(mount)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|m| m.mount_path.len())
        .map(|m| {
            let rest = &value[m.mount_path.trim_end_matches('/').len()..];
            format!("{}{rest}", m.host_path.display())
        })
}

/// The container's variables from `envFrom` and `env`, in definition order, values
/// expanded and mount paths rewritten.
pub fn container_env(
    sandbox: &PodSandbox,
    container: &Container,
    mounts: &[HostMount],
) -> Result<Vec<(String, String)>, RuntimeError> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.clone().unwrap_or_default();
        let (data, name, optional, kind) = if let Some(s) = &source.secret_ref {
            (sandbox.secrets.get(&s.name), &s.name, s.optional, "secret")
        } else if let Some(c) = &source.config_map_ref {
            (
                sandbox.config_maps.get(&c.name),
                &c.name,
                c.optional,
                "configmap",
            )
        } else {
            continue;
        };
        match data {
            Some(data) => {
                for (k, v) in data {
                    set(
                        &mut vars,
                        format!("{prefix}{k}"),
                        String::from_utf8_lossy(v).into_owned(),
                    );
                }
            }
            None if optional == Some(true) => {}
            None => return Err(RuntimeError::Config(format!("{kind} \"{name}\" not found"))),
        }
    }
    for var in container.env.iter().flatten() {
        if let Some(value) = resolve_var(sandbox, var)? {
            let expanded = expand(&value, &vars);
            set(&mut vars, var.name.clone(), expanded);
        }
    }
    for (_, value) in vars.iter_mut() {
        if let Some(rewritten) = rewrite_mounted_path(value, mounts) {
            *value = rewritten;
        }
    }
    Ok(vars)
}

fn set(vars: &mut Vec<(String, String)>, name: String, value: String) {
    match vars.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => vars.push((name, value)),
    }
}

fn resolve_var(sandbox: &PodSandbox, var: &EnvVar) -> Result<Option<String>, RuntimeError> {
    let Some(from) = &var.value_from else {
        return Ok(Some(var.value.clone().unwrap_or_default()));
    };
    if let Some(r) = &from.secret_key_ref {
        return lookup(&sandbox.secrets, "secret", &r.name, &r.key, r.optional);
    }
    if let Some(r) = &from.config_map_key_ref {
        return lookup(
            &sandbox.config_maps,
            "configmap",
            &r.name,
            &r.key,
            r.optional,
        );
    }
    if let Some(field) = &from.field_ref {
        return field_value(&sandbox.pod, field).map(Some);
    }
    // resourceFieldRef and fileKeyRef are not simulated: the variable is left unset.
    Ok(None)
}

fn lookup(
    sources: &std::collections::HashMap<String, BTreeMap<String, Vec<u8>>>,
    kind: &str,
    name: &str,
    key: &str,
    optional: Option<bool>,
) -> Result<Option<String>, RuntimeError> {
    match sources.get(name).and_then(|data| data.get(key)) {
        Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
        None if optional == Some(true) => Ok(None),
        None if sources.contains_key(name) => Err(RuntimeError::Config(format!(
            "couldn't find key {key} in {kind} {name}"
        ))),
        None => Err(RuntimeError::Config(format!("{kind} \"{name}\" not found"))),
    }
}

fn field_value(pod: &Pod, selector: &ObjectFieldSelector) -> Result<String, RuntimeError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let path = selector.field_path.as_str();
    let keyed = |prefix: &str, map: Option<&BTreeMap<String, String>>| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix("']"))
            .map(|key| map.and_then(|m| m.get(key)).cloned().unwrap_or_default())
    };
    let value = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".to_owned()),
        "status.podIP" | "status.podIPs" | "status.hostIP" | "status.hostIPs" => POD_IP.to_owned(),
        _ => keyed("metadata.labels['", meta.labels.as_ref())
            .or_else(|| keyed("metadata.annotations['", meta.annotations.as_ref()))
            .ok_or_else(|| RuntimeError::Config(format!("unsupported fieldRef {path}")))?,
    };
    Ok(value)
}

/// Expands `$(NAME)` references to variables defined earlier; `$$` escapes a `$`; unknown
/// references stay as written, as the real kubelet does.
pub fn expand(input: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(close) = inner.find(')')
        {
            let name = &inner[..close];
            match vars.iter().find(|(n, _)| n == name) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The host directory for `mount_path` when it is not a volume (e.g. a `workingDir`):
/// a directory under the pod's private root.
pub fn private_root_path(pod_dir: &Path, container_path: &str) -> PathBuf {
    pod_dir
        .join("rootfs")
        .join(container_path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_follows_kubelet_rules() {
        let vars = vec![("A".to_owned(), "x".to_owned())];
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &vars), "x-$(B)-$(A)-$");
    }

    #[test]
    fn mount_paths_are_rewritten_longest_first() {
        let mounts = vec![
            HostMount {
                mount_path: "/azp".into(),
                host_path: "/tmp/p/azp".into(),
            },
            HostMount {
                mount_path: "/azp/secrets/".into(),
                host_path: "/tmp/p/s".into(),
            },
        ];
        assert_eq!(
            rewrite_mounted_path("/azp/secrets/pat", &mounts).as_deref(),
            Some("/tmp/p/s/pat")
        );
        assert_eq!(
            rewrite_mounted_path("/azp/work", &mounts).as_deref(),
            Some("/tmp/p/azp/work")
        );
        assert_eq!(rewrite_mounted_path("/azpx", &mounts), None);
        assert_eq!(mount_env_name("/azp/secrets"), "KUBE_SIM_MOUNT_AZP_SECRETS");
    }
}
