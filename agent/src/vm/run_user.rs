//! The user the job step runs as: resolved once, then switched to by `setpriv` (util-linux) in
//! the child, so the job has that user's groups (e.g. `docker`) and none of root's.
//!
//! This is the VM's counterpart of the pod's split: the `register` init container holds the
//! PAT, the `agent` container that runs the job never sees it. Here the loop (root) reads the
//! PAT file (root-only) and registers; `azp-agent run` and the job run as this user.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, User};

/// util-linux's privilege switcher (on Debian, Ubuntu, Amazon Linux and RHEL alike).
const SETPRIV: &str = "setpriv";

/// Why the run user cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunUserError {
    /// No such user in the passwd database.
    #[error(
        "user {0:?} does not exist: create it (useradd --system --create-home {0}) or fix --run-as-user"
    )]
    Unknown(String),
    /// The lookup itself failed.
    #[error("cannot look up user {name:?}: {source}")]
    Lookup {
        /// The user name.
        name: String,
        /// The error.
        source: nix::Error,
    },
    /// The run user is root: the job could read the PAT.
    #[error("--run-as-user {0:?} is root: jobs must run as a user that cannot read the PAT file")]
    Root(String),
    /// The user name contains a NUL byte.
    #[error("user name {0:?} contains a NUL byte")]
    BadName(String),
    /// The run user can read the PAT file.
    #[error(
        "the PAT file {path} is readable by {user}, who runs the jobs: chown root:root {path} && chmod 0600 {path}"
    )]
    PatReadable {
        /// The PAT file.
        path: PathBuf,
        /// The run user.
        user: String,
    },
    /// Changing the owner of a file for the run user failed.
    #[error("cannot give {path} to {user}: {source}")]
    Chown {
        /// The file.
        path: PathBuf,
        /// The run user.
        user: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A resolved, non-root user.
#[derive(Debug, Clone)]
pub struct RunUser {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: Uid,
    /// Primary group id.
    pub gid: Gid,
    /// Home directory (becomes `HOME` of the job step).
    pub home: PathBuf,
    c_name: CString,
}

impl RunUser {
    /// Looks `name` up in the passwd database; root is refused.
    pub fn resolve(name: &str) -> Result<Self, RunUserError> {
        let user = User::from_name(name)
            .map_err(|source| RunUserError::Lookup {
                name: name.to_owned(),
                source,
            })?
            .ok_or_else(|| RunUserError::Unknown(name.to_owned()))?;
        if user.uid.is_root() {
            return Err(RunUserError::Root(name.to_owned()));
        }
        let c_name = CString::new(name).map_err(|_| RunUserError::BadName(name.to_owned()))?;
        Ok(Self {
            name: user.name,
            uid: user.uid,
            gid: user.gid,
            home: user.dir,
            c_name,
        })
    }

    /// `program args...` run as this user through util-linux's `setpriv`: its own uid and
    /// primary group and its supplementary groups (`--init-groups`), none of root's. (This
    /// crate forbids `unsafe`, which a `pre_exec` drop would need.)
    pub fn command(&self, program: &Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(SETPRIV);
        command
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(program);
        command
    }

    /// Refuses a PAT file the run user could read by its mode (owner, group or others), so a
    /// job never gets the PAT through a careless `chmod`.
    pub fn check_cannot_read(&self, pat_file: &Path) -> Result<(), RunUserError> {
        let Ok(meta) = std::fs::metadata(pat_file) else {
            // A missing file is reported by the registration step with its own message.
            return Ok(());
        };
        use std::os::unix::fs::MetadataExt as _;
        let mode = meta.permissions().mode();
        let readable = (meta.uid() == self.uid.as_raw() && mode & 0o400 != 0)
            || (mode & 0o004 != 0)
            || (mode & 0o040 != 0 && self.in_group(Gid::from_raw(meta.gid())));
        if readable {
            return Err(RunUserError::PatReadable {
                path: pat_file.to_path_buf(),
                user: self.name.clone(),
            });
        }
        Ok(())
    }

    fn in_group(&self, gid: Gid) -> bool {
        gid == self.gid
            || nix::unistd::getgrouplist(&self.c_name, self.gid)
                .map(|groups| groups.contains(&gid))
                .unwrap_or(true)
    }

    /// Gives `path` to this user (the registration files the job step must read).
    pub fn chown(&self, path: &Path) -> Result<(), RunUserError> {
        std::os::unix::fs::chown(path, Some(self.uid.as_raw()), Some(self.gid.as_raw())).map_err(
            |source| RunUserError::Chown {
                path: path.to_path_buf(),
                user: self.name.clone(),
                source,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_refused_and_an_unknown_user_is_named() {
        let error = RunUser::resolve("root").unwrap_err().to_string();
        assert!(error.contains("is root"), "{error}");
        let error = RunUser::resolve("no-such-user-azp")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"no-such-user-azp\" does not exist"),
            "{error}"
        );
    }

    #[test]
    fn a_pat_file_others_can_read_is_refused() {
        let nobody = RunUser::resolve("nobody").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pat = dir.path().join("pat");
        std::fs::write(&pat, "secret").unwrap();
        std::fs::set_permissions(&pat, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = nobody.check_cannot_read(&pat).unwrap_err().to_string();
        assert!(error.contains("chmod 0600"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        std::fs::set_permissions(&pat, std::fs::Permissions::from_mode(0o600)).unwrap();
        nobody.check_cannot_read(&pat).unwrap();
    }
}
