//! Volumes as host directories: `secret`, `configMap` and `projected` volumes become files in
//! the pod's private directory, `emptyDir` an empty directory, `hostPath` the host path
//! itself. Other volume types are empty directories.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Pod, Secret, Volume};
use kube::Api;

use super::runtime::{PodSandbox, RuntimeError};

/// The token written for projected `serviceAccountToken` sources; kube-sim issues no real
/// tokens.
pub const SIMULATED_SERVICE_ACCOUNT_TOKEN: &str = "kube-sim.simulated.service-account-token";

/// Default file mode of secret/configMap files (`defaultMode: 0644`).
const DEFAULT_MODE: u32 = 0o644;

type DataByName = HashMap<String, BTreeMap<String, Vec<u8>>>;

/// Names of the Secrets and ConfigMaps a pod references, with whether each is optional.
#[derive(Default)]
struct References {
    secrets: BTreeMap<String, bool>,
    config_maps: BTreeMap<String, bool>,
}

impl References {
    fn add(map: &mut BTreeMap<String, bool>, name: &str, optional: Option<bool>) {
        let optional = optional.unwrap_or(false);
        map.entry(name.to_owned())
            .and_modify(|o| *o = *o && optional)
            .or_insert(optional);
    }

    fn of(pod: &Pod) -> Self {
        let mut refs = Self::default();
        let Some(spec) = pod.spec.as_ref() else {
            return refs;
        };
        for volume in spec.volumes.iter().flatten() {
            if let Some(s) = &volume.secret
                && let Some(name) = &s.secret_name
            {
                Self::add(&mut refs.secrets, name, s.optional);
            }
            if let Some(c) = &volume.config_map {
                Self::add(&mut refs.config_maps, &c.name, c.optional);
            }
            for source in volume
                .projected
                .iter()
                .flat_map(|p| p.sources.iter().flatten())
            {
                if let Some(s) = &source.secret {
                    Self::add(&mut refs.secrets, &s.name, s.optional);
                }
                if let Some(c) = &source.config_map {
                    Self::add(&mut refs.config_maps, &c.name, c.optional);
                }
            }
        }
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter());
        // Env references are fetched when present but never hold the sandbox back: a missing
        // one is the container's `CreateContainerConfigError` when it is started (see `env`),
        // while a missing volume source keeps the whole pod `ContainerCreating`, as on a node.
        let env_only = Some(true);
        for container in containers {
            for from in container.env_from.iter().flatten() {
                if let Some(s) = &from.secret_ref {
                    Self::add(&mut refs.secrets, &s.name, env_only);
                }
                if let Some(c) = &from.config_map_ref {
                    Self::add(&mut refs.config_maps, &c.name, env_only);
                }
            }
            for var in container.env.iter().flatten() {
                let Some(from) = &var.value_from else {
                    continue;
                };
                if let Some(s) = &from.secret_key_ref {
                    Self::add(&mut refs.secrets, &s.name, env_only);
                }
                if let Some(c) = &from.config_map_key_ref {
                    Self::add(&mut refs.config_maps, &c.name, env_only);
                }
            }
        }
        refs
    }
}

/// Fetches the pod's Secrets and ConfigMaps; a missing non-optional one is a config error
/// (the pod waits, as on a real node).
pub async fn fetch_references(
    client: &kube::Client,
    pod: &Pod,
) -> Result<(DataByName, DataByName), RuntimeError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let refs = References::of(pod);
    let secrets_api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let config_maps_api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut secrets = DataByName::new();
    for (name, optional) in &refs.secrets {
        match secrets_api.get_opt(name).await {
            Ok(Some(secret)) => {
                let mut data: BTreeMap<String, Vec<u8>> = secret
                    .string_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                data.extend(
                    secret
                        .data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.0)),
                );
                secrets.insert(name.clone(), data);
            }
            Ok(None) if *optional => {}
            Ok(None) => return Err(RuntimeError::Config(format!("secret \"{name}\" not found"))),
            Err(e) => {
                return Err(RuntimeError::Config(format!(
                    "reading secret \"{name}\": {e}"
                )));
            }
        }
    }
    let mut config_maps = DataByName::new();
    for (name, optional) in &refs.config_maps {
        match config_maps_api.get_opt(name).await {
            Ok(Some(cm)) => {
                let mut data: BTreeMap<String, Vec<u8>> = cm
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                data.extend(
                    cm.binary_data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.0)),
                );
                config_maps.insert(name.clone(), data);
            }
            Ok(None) if *optional => {}
            Ok(None) => {
                return Err(RuntimeError::Config(format!(
                    "configmap \"{name}\" not found"
                )));
            }
            Err(e) => {
                return Err(RuntimeError::Config(format!(
                    "reading configmap \"{name}\": {e}"
                )));
            }
        }
    }
    Ok((secrets, config_maps))
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> RuntimeError {
    move |source| RuntimeError::Io { context, source }
}

/// Creates every volume of the sandbox's pod under `pod_dir/volumes/<name>`.
pub fn materialise(sandbox: &mut PodSandbox, pod_dir: &Path) -> Result<(), RuntimeError> {
    let volumes: Vec<Volume> = sandbox
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    for volume in &volumes {
        if let Some(host) = volume.host_path.as_ref() {
            sandbox
                .volume_dirs
                .insert(volume.name.clone(), PathBuf::from(&host.path));
            continue;
        }
        let dir = pod_dir.join("volumes").join(&volume.name);
        std::fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
        if let Some(s) = &volume.secret {
            let data = s.secret_name.as_ref().and_then(|n| sandbox.secrets.get(n));
            write_files(&dir, data, s.items.as_deref(), s.default_mode)?;
        }
        if let Some(c) = &volume.config_map {
            write_files(
                &dir,
                sandbox.config_maps.get(&c.name),
                c.items.as_deref(),
                c.default_mode,
            )?;
        }
        if let Some(projected) = &volume.projected {
            for source in projected.sources.iter().flatten() {
                if let Some(s) = &source.secret {
                    write_files(
                        &dir,
                        sandbox.secrets.get(&s.name),
                        s.items.as_deref(),
                        projected.default_mode,
                    )?;
                }
                if let Some(c) = &source.config_map {
                    write_files(
                        &dir,
                        sandbox.config_maps.get(&c.name),
                        c.items.as_deref(),
                        projected.default_mode,
                    )?;
                }
                if let Some(token) = &source.service_account_token {
                    write_file(
                        &dir.join(&token.path),
                        SIMULATED_SERVICE_ACCOUNT_TOKEN.as_bytes(),
                        DEFAULT_MODE,
                    )?;
                }
            }
        }
        sandbox.volume_dirs.insert(volume.name.clone(), dir);
    }
    Ok(())
}

fn write_files(
    dir: &Path,
    data: Option<&BTreeMap<String, Vec<u8>>>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
) -> Result<(), RuntimeError> {
    let Some(data) = data else {
        return Ok(());
    };
    let default_mode = default_mode.map_or(DEFAULT_MODE, |m| m.unsigned_abs());
    match items {
        Some(items) if !items.is_empty() => {
            for item in items {
                let Some(content) = data.get(&item.key) else {
                    return Err(RuntimeError::Config(format!("key {} not found", item.key)));
                };
                let mode = item.mode.map_or(default_mode, |m| m.unsigned_abs());
                write_file(&dir.join(&item.path), content, mode)?;
            }
        }
        _ => {
            for (key, content) in data {
                write_file(&dir.join(key), content, default_mode)?;
            }
        }
    }
    Ok(())
}

fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<(), RuntimeError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(io_error(format!("creating {}", parent.display())))?;
    }
    // A re-prepared pod rewrites its files; an earlier read-only copy must not block that.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(format!("replacing {}", path.display()))(e)),
    }
    std::fs::write(path, content).map_err(io_error(format!("writing {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_error(format!("setting mode of {}", path.display())))
}
