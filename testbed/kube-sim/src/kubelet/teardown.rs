//! Ending every process of a container, as a real node does.
//!
//! On a real node a container's processes share a PID namespace and a cgroup: when the main
//! process exits or the container is killed, every process in it dies, whatever process
//! group it moved to. A host process has neither, so the process runtime starts each
//! container as the leader of a new session (through util-linux `setsid`, since a safe
//! `setsid()` between fork and exec needs `unsafe`). Processes inherit the session across
//! fork, exec, `setpgid` and reparenting; only another `setsid()` leaves it. Killing the
//! container kills its process group and then every process of the session, found in
//! `/proc`. Where `setsid` is missing, only the process group is reached.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// How far a container's processes can be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The main process leads its own session (and process group) with this id.
    Session(Pid),
    /// The main process leads only a process group with this id.
    Group(Pid),
}

impl Reach {
    /// The main process's group, which SIGTERM is sent to.
    pub(crate) fn group(self) -> Pid {
        match self {
            Self::Session(id) | Self::Group(id) => id,
        }
    }

    /// SIGKILLs every process of the container that can be found.
    pub(crate) fn kill_all(self) {
        signal_group(self.group(), Signal::SIGKILL);
        if let Self::Session(sid) = self {
            kill_session(sid);
        }
    }
}

/// Sends `signal` to a process group; a group that is gone already is fine.
pub(crate) fn signal_group(group: Pid, signal: Signal) {
    match killpg(group, signal) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => {
            tracing::warn!(%group, ?signal, error = %e, "signalling container process group failed")
        }
    }
}

/// The host's `setsid` program, looked up once on the host `PATH`.
pub(crate) fn setsid_program() -> Option<&'static Path> {
    static SETSID: OnceLock<Option<PathBuf>> = OnceLock::new();
    SETSID
        .get_or_init(|| {
            let found = std::env::var_os("PATH")
                .and_then(|path| find_executable(OsStr::new("setsid"), &path, Path::new("/")));
            if found.is_none() {
                tracing::warn!(
                    "no `setsid` on PATH: a container's processes that leave its process group will outlive it"
                );
            }
            found
        })
        .as_deref()
}

/// `program` as `execvp` would find it in a process with `PATH` `path` and working
/// directory `cwd`: itself when it names a path, else the first executable file of that name
/// in a `PATH` directory.
pub(crate) fn find_executable(program: &OsStr, path: &OsStr, cwd: &Path) -> Option<PathBuf> {
    if Path::new(program).components().count() > 1 {
        let named = cwd.join(program);
        return is_executable(&named).then_some(named);
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// SIGKILLs every live process of session `sid`, scanning again for processes forked while
/// the previous scan ran, until a scan finds none it has not signalled yet.
fn kill_session(sid: Pid) {
    let mut signalled = HashSet::new();
    // A process cannot fork once SIGKILL is pending, so each round can only find children
    // created during the previous one; a handful of rounds is plenty.
    for _ in 0..8 {
        let fresh: Vec<Pid> = session_members(sid)
            .into_iter()
            .filter(|pid| signalled.insert(*pid))
            .collect();
        if fresh.is_empty() {
            return;
        }
        for pid in fresh {
            // Gone meanwhile is what we wanted.
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// Live (not zombie) processes whose session id is `sid`.
fn session_members(sid: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                session_of(&stat)
                    .is_some_and(|(state, session)| session == sid.as_raw() && state != "Z")
            })
        })
        .map(Pid::from_raw)
        .collect()
}

/// State and session id from a `/proc/<pid>/stat` line; the command name may hold spaces
/// and parentheses, so fields are counted from the last `)`.
fn session_of(stat: &str) -> Option<(&str, i32)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    // ppid, pgrp, then session.
    let session = fields.nth(2)?.parse().ok()?;
    Some((state, session))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn session_id_is_read_after_the_command_name() {
        let stat = "4242 (we ird) (name)) S 1 4240 4241 0 -1 4194560 0 0";
        assert_eq!(session_of(stat), Some(("S", 4241)));
        assert_eq!(session_of("4242 (x) Z 1 2 3 0"), Some(("Z", 3)));
        assert_eq!(session_of("garbage"), None);
    }

    #[test]
    fn programs_are_found_like_execvp_does() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        let data = dir.path().join("data");
        std::fs::write(&data, "").unwrap();
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = std::env::join_paths(["/nonexistent".as_ref(), dir.path()]).unwrap();
        let root = Path::new("/");
        let found = |program: &OsStr, path: &OsStr, cwd: &Path| find_executable(program, path, cwd);
        assert_eq!(found(OsStr::new("tool"), &path, root), Some(tool.clone()));
        assert_eq!(
            found(tool.as_os_str(), OsStr::new(""), root),
            Some(tool.clone())
        );
        assert_eq!(
            found(OsStr::new("./tool"), OsStr::new(""), dir.path()),
            Some(dir.path().join("./tool"))
        );
        assert_eq!(found(OsStr::new("./tool"), &path, root), None);
        assert_eq!(found(OsStr::new("data"), &path, root), None);
        assert_eq!(found(data.as_os_str(), &path, root), None);
        assert_eq!(found(OsStr::new("missing"), &path, root), None);
    }
}
