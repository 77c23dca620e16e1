//! The file through which `azp-sandbox queue` finds a running `azp-sandbox up`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How to reach a running `up`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UpState {
    /// The emulator's base URL (its control API lives under it).
    pub emulator: String,
    /// The organization URL the AgentPools point at.
    pub organization: String,
    /// kubeconfig for kube-sim.
    pub kubeconfig: PathBuf,
    /// The sandbox directory (logs).
    pub dir: PathBuf,
    /// The `up` process.
    pub pid: u32,
    /// Azure DevOps pools the emulator serves.
    pub ado_pools: Vec<String>,
}

/// `$TMPDIR/azp-sandbox-up-<uid>.json`: one running `up` per user unless `--state-file` is given.
pub fn default_path() -> PathBuf {
    use std::os::unix::fs::MetadataExt as _;
    // The owner of /proc/self is the process's user.
    let uid = std::fs::metadata("/proc/self").map_or(0, |meta| meta.uid());
    std::env::temp_dir().join(format!("azp-sandbox-up-{uid}.json"))
}

/// The written state file; removed when dropped (also when `up` is interrupted).
#[derive(Debug)]
pub struct StateFile(PathBuf);

impl StateFile {
    /// Writes `state` to `path` (readable by the user only: it names the sandbox's files).
    pub fn write(path: &Path, state: &UpState) -> std::io::Result<Self> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(serde_json::to_string_pretty(state)?.as_bytes())?;
        Ok(Self(path.to_owned()))
    }
}

impl Drop for StateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reads the state of a running `up`.
pub fn read(path: &Path) -> anyhow::Result<UpState> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        anyhow::anyhow!(
            "no running `azp-sandbox up` found ({}: {error}); start one with `azp-sandbox up --agentpool FILE`",
            path.display()
        )
    })?;
    Ok(serde_json::from_str(&text)?)
}
