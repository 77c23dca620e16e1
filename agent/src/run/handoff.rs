//! Handing a registration from the `register` init container to the `agent` container.
//!
//! `config.sh` leaves the registration in the agent home. `run.sh` needs `.agent`,
//! `.credentials` and `.credentials_rsaparams` (the agent's key, which signs its OAuth
//! tokens); the other files `config.sh` may write are copied too when present, so `run.sh`
//! sees what it would have seen in the same container. The PAT is in none of them: the
//! official agent keeps it only for the duration of `config.sh`.
//!
//! The directory is an `emptyDir` both containers mount. `.agent` is written last, through a
//! rename, so its presence means the hand-over is complete.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Files `config.sh` writes into the agent home that describe the registration, in the
/// order they are handed over; `.agent` comes last (see the module docs).
pub const FILES: &[&str] = &[
    ".credentials",
    ".credentials_rsaparams",
    ".certificates",
    ".proxy",
    ".options",
    ".setup_info",
    ".capabilities",
    AGENT_FILE,
];

/// The settings file whose presence marks a complete registration.
const AGENT_FILE: &str = ".agent";
/// Files that must exist for `run.sh` to start a session.
const REQUIRED: &[&str] = &[AGENT_FILE, ".credentials", ".credentials_rsaparams"];
/// The registration files hold the agent's private key: owner only.
const FILE_MODE: u32 = 0o600;
/// The hand-over directory, when this process owns it.
const DIR_MODE: u32 = 0o700;

/// Why a registration could not be handed over or taken.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// `config.sh` (or `register`) did not leave a file `run.sh` needs.
    #[error("{0} is missing")]
    Missing(PathBuf),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Whether `dir` holds a complete hand-over.
pub fn is_present(dir: &Path) -> bool {
    dir.join(AGENT_FILE).is_file()
}

/// Copies the registration `config.sh` left in `agent_home` into `dir` (files 0600).
pub fn export(agent_home: &Path, dir: &Path) -> Result<(), HandoffError> {
    require(agent_home)?;
    // The emptyDir is created by the kubelet and may belong to root; then only the files'
    // own mode protects them, which is why they are created 0600.
    if let Err(error) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE)) {
        tracing::debug!(dir = %dir.display(), %error, "cannot restrict the registration directory");
    }
    copy_all(agent_home, dir)
}

/// Copies a handed-over registration from `dir` into `agent_home`, where `run.sh` reads it.
pub fn import(dir: &Path, agent_home: &Path) -> Result<(), HandoffError> {
    require(dir)?;
    copy_all(dir, agent_home)
}

fn require(dir: &Path) -> Result<(), HandoffError> {
    match REQUIRED
        .iter()
        .map(|name| dir.join(name))
        .find(|path| !path.is_file())
    {
        Some(missing) => Err(HandoffError::Missing(missing)),
        None => Ok(()),
    }
}

fn copy_all(from: &Path, to: &Path) -> Result<(), HandoffError> {
    for name in FILES {
        let source = from.join(name);
        if source.is_file() {
            copy_private(&source, &to.join(name))?;
        }
    }
    Ok(())
}

/// Writes `target` through a temporary file and a rename, so a reader never sees half a file
/// and `.agent` appears only once complete.
fn copy_private(source: &Path, target: &Path) -> Result<(), HandoffError> {
    let io = |context: String| move |source| HandoffError::Io { context, source };
    let bytes = std::fs::read(source).map_err(io(format!("reading {}", source.display())))?;
    let partial = target.with_extension("handoff-partial");
    let _ = std::fs::remove_file(&partial);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&partial)
        .map_err(io(format!("creating {}", partial.display())))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(io(format!("writing {}", partial.display())))?;
    std::fs::rename(&partial, target).map_err(io(format!("renaming to {}", target.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(dir: &Path) {
        for name in REQUIRED {
            std::fs::write(dir.join(name), format!("{name} content")).unwrap();
        }
    }

    #[test]
    fn export_then_import_carries_the_files_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (home, shared, other_home) = (
            tmp.path().join("home"),
            tmp.path().join("shared"),
            tmp.path().join("other"),
        );
        for dir in [&home, &shared, &other_home] {
            std::fs::create_dir(dir).unwrap();
        }
        registration(&home);
        std::fs::write(home.join(".proxy"), "proxy").unwrap();
        std::fs::write(home.join("config.sh"), "not a registration file").unwrap();

        assert!(!is_present(&shared));
        export(&home, &shared).unwrap();
        assert!(is_present(&shared));
        assert!(!shared.join("config.sh").exists());
        for name in [".agent", ".credentials", ".credentials_rsaparams", ".proxy"] {
            let mode = std::fs::metadata(shared.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, FILE_MODE, "{name}");
        }
        let dir_mode = std::fs::metadata(&shared).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, DIR_MODE);

        import(&shared, &other_home).unwrap();
        assert_eq!(
            std::fs::read_to_string(other_home.join(".credentials")).unwrap(),
            ".credentials content"
        );
        assert_eq!(
            std::fs::read_to_string(other_home.join(".proxy")).unwrap(),
            "proxy"
        );
    }

    #[test]
    fn an_incomplete_registration_is_not_handed_over() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(".credentials"), "c").unwrap();
        let shared = tempfile::tempdir().unwrap();
        let err = export(tmp.path(), shared.path()).unwrap_err();
        assert!(err.to_string().contains(".agent"), "{err}");
        assert!(!is_present(shared.path()));
        assert!(import(shared.path(), tmp.path()).is_err());
    }
}
