//! What `/proc` says about `azp-agent run` and its descendants while it runs.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// What marks the official agent's listener (`run.sh` runs `Agent.Listener run --once`).
const LISTENER_MARK: &str = " run --once";

/// Samples `/proc` for the descendants of one process while it runs.
pub struct ProcSampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<(BTreeSet<String>, Vec<String>)>>,
    thread: std::thread::JoinHandle<()>,
}

impl ProcSampler {
    /// Starts sampling `root` and its descendants every 20 ms on a thread of its own.
    pub fn start(root: Pid) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new((BTreeSet::new(), Vec::new())));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for pid in descendants(root.as_raw()) {
                        let cmdline = proc_text(pid, "cmdline");
                        let is_listener = cmdline.contains(LISTENER_MARK);
                        let environ = if is_listener || !cmdline.contains("--root") {
                            proc_text(pid, "environ")
                        } else {
                            String::new()
                        };
                        let mut seen = seen.lock().unwrap();
                        // Children of run.sh (the job's shell) and the listener itself.
                        if (is_listener || pid_has_listener_ancestor(pid, root.as_raw()))
                            && !environ.is_empty()
                        {
                            seen.1.push(environ);
                        }
                        seen.0.insert(cmdline);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Self { stop, seen, thread }
    }

    /// Stops sampling; returns the command lines and the `run.sh` environments seen.
    pub fn stop(self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let seen = self.seen.lock().unwrap();
        (seen.0.iter().cloned().collect(), seen.1.clone())
    }
}

/// A NUL-separated `/proc/<pid>/<file>` as one line ("" once the process is gone).
fn proc_text(pid: i32, file: &str) -> String {
    std::fs::read(format!("/proc/{pid}/{file}"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .unwrap_or_default()
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn descendants(root: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let pids: Vec<i32> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    pids.into_iter()
        .filter(|pid| {
            let mut current = *pid;
            for _ in 0..32 {
                if current == root {
                    return true;
                }
                match parent_of(current) {
                    Some(parent) if parent > 1 => current = parent,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}

fn pid_has_listener_ancestor(pid: i32, root: i32) -> bool {
    let mut current = pid;
    while let Some(parent) = parent_of(current) {
        if parent <= 1 || current == root {
            return false;
        }
        if proc_text(parent, "cmdline").contains(LISTENER_MARK) {
            return true;
        }
        current = parent;
    }
    false
}

/// The listener process among the descendants of `root`, if it runs now.
pub fn listener_of(root: Pid) -> Option<Pid> {
    descendants(root.as_raw())
        .into_iter()
        .find(|child| proc_text(*child, "cmdline").contains(LISTENER_MARK))
        .map(Pid::from_raw)
}

/// Whether `pid` has installed a SIGTERM handler (`SigCgt` in `/proc/<pid>/status`).
pub fn catches_sigterm(pid: Pid) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (Signal::SIGTERM as i32 - 1)) != 0)
}
