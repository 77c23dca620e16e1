//! The loop's record of the registration it holds, so a restart after a crash, a SIGKILL or a
//! reboot can remove what the previous run left.
//!
//! The name is recorded before `config.sh` runs (a crash during registration leaves an agent
//! that only the name finds); the id once the registration exists. The file is written through
//! a rename, so a crash mid-write leaves the old record, never half of one.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the record inside the state directory.
const RECORD_FILE: &str = "registration.json";

/// The registration the loop holds or is about to hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    /// The agent name passed to `config.sh`.
    pub agent_name: String,
    /// The agent id, once `config.sh` has registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<i64>,
}

/// Why the record could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct StateError {
    context: String,
    source: std::io::Error,
}

/// The record file in the state directory.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The record in `state_dir`.
    pub fn in_dir(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join(RECORD_FILE),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The record, if one exists. A record that does not parse is reported, not ignored: it
    /// may stand for a registration nobody else will remove.
    pub fn load(&self) -> Result<Option<Recorded>, StateError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(self.error("reading", source)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| self.error("parsing", std::io::Error::other(error)))
    }

    /// Replaces the record (owner-only file, written through a rename and synced).
    pub fn save(&self, record: &Recorded) -> Result<(), StateError> {
        let partial = self.path.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        let json = serde_json::to_vec(record).map_err(|e| self.error("encoding", e.into()))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(|source| self.error("creating", source))?;
        file.write_all(&json)
            .and_then(|()| file.sync_all())
            .map_err(|source| self.error("writing", source))?;
        std::fs::rename(&partial, &self.path).map_err(|source| self.error("renaming", source))
    }

    /// Removes the record (the registration is gone).
    pub fn clear(&self) -> Result<(), StateError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(self.error("removing", source)),
        }
    }

    fn error(&self, what: &str, source: std::io::Error) -> StateError {
        StateError {
            context: format!("{what} {}", self.path.display()),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_record_survives_a_new_process_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::in_dir(dir.path());
        assert_eq!(state.load().unwrap(), None);
        let named = Recorded {
            agent_name: "vm-1".into(),
            agent_id: None,
        };
        state.save(&named).unwrap();
        let registered = Recorded {
            agent_id: Some(42),
            ..named
        };
        state.save(&registered).unwrap();
        let again = StateFile::in_dir(dir.path());
        assert_eq!(again.load().unwrap(), Some(registered));
        let mode = std::fs::metadata(again.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        again.clear().unwrap();
        assert_eq!(state.load().unwrap(), None);
        again.clear().unwrap();
    }

    #[test]
    fn a_garbled_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFile::in_dir(dir.path());
        std::fs::write(state.path(), "{not json").unwrap();
        let error = state.load().unwrap_err().to_string();
        assert!(error.contains("registration.json"), "{error}");
    }
}
