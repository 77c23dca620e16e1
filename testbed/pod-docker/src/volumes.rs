//! The pod's volumes as host directories, with the owners and modes a kubelet gives them.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{KeyToPath, Pod};

use crate::plan::{PlanError, VolumeHost};

/// Secret and ConfigMap contents the kubelet would read from the API: name → key → bytes.
#[derive(Debug, Clone, Default)]
pub struct SourceData {
    /// Secrets of the pod's namespace.
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// ConfigMaps of the pod's namespace.
    pub config_maps: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// Why a volume cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The volume type is not emulated, or its source is missing (the kubelet would keep the
    /// pod in `ContainerCreating`).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Writing the host side failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError + '_ {
    move |source| VolumeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The host side of every volume of one pod.
#[derive(Debug)]
pub struct PodVolumes {
    paths: BTreeMap<String, PathBuf>,
    read_only: Vec<String>,
}

impl VolumeHost for PodVolumes {
    fn host_path(&self, name: &str) -> Option<&Path> {
        self.paths.get(name).map(PathBuf::as_path)
    }

    fn always_read_only(&self, name: &str) -> bool {
        self.read_only.iter().any(|n| n == name)
    }
}

/// emptyDir: 0777, and with an fsGroup setgid and owned by root:fsGroup (the kubelet's
/// `SetVolumeOwnership`).
const EMPTY_DIR_MODE: u32 = 0o777;
/// Secret and ConfigMap files without `defaultMode`.
const DEFAULT_FILE_MODE: i32 = 0o644;
/// What the kubelet's ownership pass adds to files of a read-only volume with an fsGroup.
const READ_ONLY_GROUP_BITS: u32 = 0o440;

impl PodVolumes {
    /// Creates every volume of `pod` under `dir` (which must exist).
    pub fn prepare(pod: &Pod, dir: &Path, sources: &SourceData) -> Result<Self, VolumeError> {
        let spec = pod
            .spec
            .as_ref()
            .ok_or_else(|| PlanError::Invalid("no spec".into()))?;
        let fs_group = spec
            .security_context
            .as_ref()
            .and_then(|s| s.fs_group)
            .map(|g| u32::try_from(g).unwrap_or(u32::MAX));
        let mut paths = BTreeMap::new();
        let mut read_only = Vec::new();
        for volume in spec.volumes.iter().flatten() {
            let path = dir.join(&volume.name);
            std::fs::create_dir_all(&path).map_err(io(&path))?;
            if volume.empty_dir.is_some() {
                let mut mode = EMPTY_DIR_MODE;
                if let Some(group) = fs_group {
                    std::os::unix::fs::chown(&path, Some(0), Some(group)).map_err(io(&path))?;
                    mode |= 0o2000;
                }
                set_mode(&path, mode)?;
            } else if let Some(secret) = &volume.secret {
                let name = secret.secret_name.clone().unwrap_or_default();
                let data = sources.secrets.get(&name);
                if data.is_none() && secret.optional != Some(true) {
                    return Err(PlanError::Invalid(format!("secret {name} not found")).into());
                }
                let mode = secret.default_mode.unwrap_or(DEFAULT_FILE_MODE);
                write_files(&path, data, secret.items.as_deref(), mode, fs_group)?;
                read_only.push(volume.name.clone());
            } else if let Some(config_map) = &volume.config_map {
                let name = config_map.name.clone();
                let data = sources.config_maps.get(&name);
                if data.is_none() && config_map.optional != Some(true) {
                    return Err(PlanError::Invalid(format!("configmap {name} not found")).into());
                }
                let mode = config_map.default_mode.unwrap_or(DEFAULT_FILE_MODE);
                write_files(&path, data, config_map.items.as_deref(), mode, fs_group)?;
                read_only.push(volume.name.clone());
            } else {
                return Err(PlanError::Unsupported(format!(
                    "volume {}: only emptyDir, secret and configMap",
                    volume.name
                ))
                .into());
            }
            paths.insert(volume.name.clone(), path);
        }
        Ok(Self { paths, read_only })
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), VolumeError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
}

/// Writes the projected keys (all keys without `items`) with their modes.
fn write_files(
    dir: &Path,
    data: Option<&BTreeMap<String, Vec<u8>>>,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
    fs_group: Option<u32>,
) -> Result<(), VolumeError> {
    let Some(data) = data else { return Ok(()) };
    let files: Vec<(String, &[u8], i32)> = match items {
        Some(items) => items
            .iter()
            .map(|item| {
                let value = data.get(&item.key).ok_or_else(|| {
                    PlanError::Invalid(format!("key {} not found in the source", item.key))
                })?;
                Ok((
                    item.path.clone(),
                    value.as_slice(),
                    item.mode.unwrap_or(default_mode),
                ))
            })
            .collect::<Result<_, PlanError>>()?,
        None => data
            .iter()
            .map(|(key, value)| (key.clone(), value.as_slice(), default_mode))
            .collect(),
    };
    let mut dir_mode = 0o755;
    if let Some(group) = fs_group {
        std::os::unix::fs::chown(dir, Some(0), Some(group)).map_err(io(dir))?;
        dir_mode |= 0o2000 | READ_ONLY_GROUP_BITS | 0o110;
    }
    set_mode(dir, dir_mode)?;
    for (name, value, mode) in files {
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, value).map_err(io(&path))?;
        let mut mode = u32::try_from(mode).unwrap_or(0o644) & 0o777;
        if let Some(group) = fs_group {
            std::os::unix::fs::chown(&path, Some(0), Some(group)).map_err(io(&path))?;
            mode |= READ_ONLY_GROUP_BITS;
        }
        set_mode(&path, mode)?;
    }
    Ok(())
}
