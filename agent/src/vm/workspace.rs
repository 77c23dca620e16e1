//! The directories of the loop: its state, the two agent homes, the registration hand-over and
//! the job's work directory; and what "clean" means for each between jobs.

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::run::handoff;

use super::VmError;
use super::run_user::RunUser;

/// The state directory: the record (owner-only) and the hand-over below it. Others may only
/// traverse it, so the run user reaches the hand-over it owns and nothing else.
const STATE_DIR_MODE: u32 = 0o711;
/// The hand-over directory.
const REGISTRATION_DIR_MODE: u32 = 0o700;

/// The loop's directories.
#[derive(Debug, Clone)]
pub(super) struct Workspace {
    pub state_dir: PathBuf,
    /// Where the registering step runs `config.sh` (never writable by the run user).
    pub register_home: PathBuf,
    /// Where the job step runs `run.sh`.
    pub run_home: PathBuf,
    /// The job's work directory, emptied between jobs.
    pub work_dir: PathBuf,
}

impl Workspace {
    /// The hand-over directory.
    pub fn registration_dir(&self) -> PathBuf {
        self.state_dir.join("registration")
    }

    /// Creates the state and work directories; the work directory belongs to the run user.
    pub fn prepare(&self, user: Option<&RunUser>) -> Result<(), VmError> {
        create_dir(&self.state_dir, STATE_DIR_MODE)?;
        std::fs::set_permissions(
            &self.state_dir,
            std::fs::Permissions::from_mode(STATE_DIR_MODE),
        )
        .map_err(VmError::io(format!(
            "restricting {}",
            self.state_dir.display()
        )))?;
        create_dir(&self.work_dir, 0o755)?;
        if let Some(user) = user {
            user.chown(&self.work_dir)?;
        }
        Ok(())
    }

    /// An empty hand-over directory owned by this process.
    pub fn fresh_registration_dir(&self) -> Result<(), VmError> {
        let dir = self.registration_dir();
        remove_tree(&dir)?;
        create_dir(&dir, REGISTRATION_DIR_MODE)
    }

    /// Gives the handed-over files to the run user (they are its registration now).
    pub fn give_registration_to(&self, user: &RunUser) -> Result<(), VmError> {
        let dir = self.registration_dir();
        user.chown(&dir)?;
        for entry in read_dir(&dir)? {
            user.chown(&entry)?;
        }
        Ok(())
    }

    /// Removes every registration file of both homes and the hand-over, and empties the work
    /// directory: the next job starts as a fresh pod would.
    pub fn clean(&self) -> Result<(), VmError> {
        for home in [&self.register_home, &self.run_home] {
            for name in handoff::FILES {
                remove_file(&home.join(name))?;
            }
        }
        remove_tree(&self.registration_dir())?;
        for entry in read_dir(&self.work_dir)? {
            remove_tree(&entry)?;
        }
        Ok(())
    }
}

fn create_dir(dir: &Path, mode: u32) -> Result<(), VmError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(VmError::io(format!("creating {}", dir.display())))
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, VmError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()
            .map_err(VmError::io(format!("listing {}", dir.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(VmError::io(format!("listing {}", dir.display()))(error)),
    }
}

fn remove_file(path: &Path) -> Result<(), VmError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(VmError::io(format!("removing {}", path.display()))(error))
        }
        _ => Ok(()),
    }
}

/// Removes a file or a whole directory tree (symlinks are removed, not followed).
fn remove_tree(path: &Path) -> Result<(), VmError> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(error) => Err(error),
    };
    match result {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(VmError::io(format!("removing {}", path.display()))(error))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_leaves_no_registration_and_an_empty_work_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let workspace = Workspace {
            state_dir: tmp.path().join("state"),
            register_home: tmp.path().join("register"),
            run_home: tmp.path().join("run"),
            work_dir: tmp.path().join("work"),
        };
        workspace.prepare(None).unwrap();
        for home in [&workspace.register_home, &workspace.run_home] {
            std::fs::create_dir_all(home).unwrap();
            std::fs::write(home.join(".agent"), "{}").unwrap();
            std::fs::write(home.join(".credentials_rsaparams"), "key").unwrap();
            std::fs::write(home.join("config.sh"), "kept").unwrap();
        }
        workspace.fresh_registration_dir().unwrap();
        std::fs::write(workspace.registration_dir().join(".agent"), "{}").unwrap();
        std::fs::create_dir_all(workspace.work_dir.join("1/s/.git")).unwrap();
        std::fs::write(workspace.work_dir.join("1/s/file"), "x").unwrap();

        workspace.clean().unwrap();

        for home in [&workspace.register_home, &workspace.run_home] {
            assert!(!home.join(".agent").exists());
            assert!(!home.join(".credentials_rsaparams").exists());
            assert!(home.join("config.sh").exists(), "the agent itself stays");
        }
        assert!(!workspace.registration_dir().exists());
        assert!(workspace.work_dir.is_dir());
        assert_eq!(std::fs::read_dir(&workspace.work_dir).unwrap().count(), 0);
        let mode = std::fs::metadata(&workspace.state_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, STATE_DIR_MODE);
    }
}
