//! Finding the real binaries the sandbox runs: `azp-operator`, `azp-agent` and
//! `azp-agent-standin`.
//!
//! A binary cannot depend on another package's binary, so they are looked up next to the
//! running executable (`target/<profile>/`, or its parent when running from `deps/` as a test
//! does) and rebuilt with cargo when missing or older than the running executable.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::SandboxError;

/// Paths of the three binaries the sandbox starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// The controller (`azp-operator run ...`).
    pub operator: PathBuf,
    /// The pod entrypoint (`azp-agent run ...`).
    pub agent: PathBuf,
    /// The stand-in for Microsoft's agent, installed as the agent home.
    pub standin: PathBuf,
}

/// Binary names, in the order of [`Binaries`]' fields.
const NAMES: [&str; 3] = ["azp-operator", "azp-agent", "azp-agent-standin"];
/// Packages that hold them (the stand-in lives in the emulator package).
const PACKAGES: [&str; 3] = ["azp-operator", "azp-agent", "azp-ado-emulator"];

impl Binaries {
    /// The binaries in `dir`, without checking that they exist.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            operator: dir.join(NAMES[0]),
            agent: dir.join(NAMES[1]),
            standin: dir.join(NAMES[2]),
        }
    }

    fn all(&self) -> [&Path; 3] {
        [&self.operator, &self.agent, &self.standin]
    }

    /// Locates the binaries next to the running executable and builds them when needed.
    ///
    /// `AZP_OPERATOR_BIN`, `AZP_AGENT_BIN` and `AZP_STANDIN_BIN` override single paths (then
    /// nothing is built for them). Prints one line to stderr when it runs cargo.
    pub fn locate_or_build() -> Result<Self, SandboxError> {
        let exe = std::env::current_exe().map_err(|e| SandboxError::Binaries(e.to_string()))?;
        let dir = profile_dir(&exe);
        let mut found = Self::in_dir(&dir);
        let exe_time = modified(&exe);
        let stale: Vec<&str> = found
            .all()
            .iter()
            .zip(NAMES)
            .filter(|(path, name)| {
                override_var(name).is_none() && modified(path).is_none_or(|t| Some(t) < exe_time)
            })
            .map(|(_, name)| name)
            .collect();
        if !stale.is_empty() {
            build(&dir, &stale)?;
        }
        for (slot, name) in [
            (&mut found.operator, NAMES[0]),
            (&mut found.agent, NAMES[1]),
            (&mut found.standin, NAMES[2]),
        ] {
            if let Some(path) = override_var(name) {
                *slot = path;
            }
            if !slot.is_file() {
                return Err(SandboxError::Binaries(format!(
                    "{} is missing after the build",
                    slot.display()
                )));
            }
        }
        Ok(found)
    }
}

/// `target/<profile>` for an executable in it or in its `deps/` directory.
pub fn profile_dir(exe: &Path) -> PathBuf {
    let dir = exe.parent().unwrap_or_else(|| Path::new("."));
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().unwrap_or(dir).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

fn override_var(name: &str) -> Option<PathBuf> {
    let var = match name {
        "azp-operator" => "AZP_OPERATOR_BIN",
        "azp-agent" => "AZP_AGENT_BIN",
        _ => "AZP_STANDIN_BIN",
    };
    std::env::var_os(var).map(PathBuf::from)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Runs `$CARGO build [--release] -p ...` for the workspace this crate was compiled in.
fn build(profile_dir: &Path, stale: &[&str]) -> Result<(), SandboxError> {
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    eprintln!(
        "azp-sandbox: building {} ({} profile) with cargo",
        stale.join(", "),
        if release { "release" } else { "dev" }
    );
    let mut command = std::process::Command::new(cargo);
    command.arg("build").arg("-q").current_dir(&workspace);
    if release {
        command.arg("--release");
    }
    for package in PACKAGES {
        command.args(["-p", package]);
    }
    let status = command
        .status()
        .map_err(|e| SandboxError::Binaries(format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(SandboxError::Binaries(format!(
            "cargo build failed: {status}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_executable_in_deps_finds_binaries_in_the_profile_directory() {
        assert_eq!(
            profile_dir(Path::new("/w/target/debug/deps/chaos-1234")),
            PathBuf::from("/w/target/debug")
        );
        assert_eq!(
            profile_dir(Path::new("/w/target/release/azp-sandbox")),
            PathBuf::from("/w/target/release")
        );
    }
}
