//! Finding (and killing) every process the sandbox started, by the marker variable in its
//! environment: the operator is a plain child, and pod processes belong to kube-sim's
//! container sessions, so neither parentage nor process groups find them all.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Pids of live processes whose environment has `name=value`.
pub fn with_env(name: &str, value: &str) -> Vec<i32> {
    let needle = format!("{name}={value}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // Unreadable (another user's) or vanished processes are not ours.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if is_zombie(pid) {
            continue;
        }
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|s| s == "Z"))
        })
        .unwrap_or(false)
}

/// Value of variable `name` in a process's environment, if readable.
pub fn env_of(pid: i32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    environ
        .split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// SIGKILLs each pid (already gone is fine).
pub fn kill_all(pids: &[i32]) {
    for pid in pids {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
}

/// Kills every process carrying the marker when dropped, so a sandbox dropped without
/// `shutdown` (a panicking test, Ctrl-C unwinding) leaves nothing running either.
#[derive(Debug)]
pub struct MarkerGuard {
    name: &'static str,
    value: String,
}

impl MarkerGuard {
    /// Guards processes with `name=value` in their environment.
    pub fn new(name: &'static str, value: String) -> Self {
        Self { name, value }
    }

    /// Pids still alive.
    pub fn live(&self) -> Vec<i32> {
        with_env(self.name, &self.value)
    }
}

impl Drop for MarkerGuard {
    fn drop(&mut self) {
        // A few rounds: a child spawned while the first scan ran (a pod's process starting
        // mid-shutdown) is found by the next one.
        for _ in 0..3 {
            let live = self.live();
            if live.is_empty() {
                return;
            }
            kill_all(&live);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn finds_a_child_by_its_marker_and_kills_it() {
        let marker = uuid::Uuid::new_v4().to_string();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("AZP_SANDBOX_TEST_MARKER", &marker)
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // One scan of /proc can miss a process that was just created (seen once in a loaded CI
        // run); callers scan again, so the contract is "found within a short time".
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut found = with_env("AZP_SANDBOX_TEST_MARKER", &marker);
        while found.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
            found = with_env("AZP_SANDBOX_TEST_MARKER", &marker);
        }
        assert_eq!(found, vec![pid]);
        kill_all(&[pid]);
        child.wait().unwrap();
        assert!(with_env("AZP_SANDBOX_TEST_MARKER", &marker).is_empty());
    }
}
