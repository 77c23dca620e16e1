//! Peak memory and CPU time of a process, read from `/proc` (Linux only).

use serde::Serialize;

/// Resource use of one process so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessUsage {
    /// Peak resident set size (`VmHWM`), in MiB.
    pub peak_rss_mib: f64,
    /// User + system CPU time (`utime + stime`), in seconds.
    pub cpu_seconds: f64,
}

/// Why `/proc` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The file could not be read (the process is gone, or not Linux).
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file did not have the expected shape.
    #[error("unexpected content in {0}")]
    Format(String),
}

/// Reads `VmHWM` and `utime + stime` of `pid`.
pub fn usage_of(pid: u32, clock_ticks_per_second: f64) -> Result<ProcessUsage, ProcError> {
    let status_path = format!("/proc/{pid}/status");
    let stat_path = format!("/proc/{pid}/stat");
    let read = |path: &str| {
        std::fs::read_to_string(path).map_err(|source| ProcError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let peak_kib = peak_rss_kib(&read(&status_path)?).ok_or(ProcError::Format(status_path))?;
    let ticks = cpu_ticks(&read(&stat_path)?).ok_or(ProcError::Format(stat_path))?;
    Ok(ProcessUsage {
        peak_rss_mib: peak_kib as f64 / 1024.0,
        cpu_seconds: ticks as f64 / clock_ticks_per_second,
    })
}

/// `VmHWM` in KiB from the text of `/proc/<pid>/status`.
pub fn peak_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `utime + stime` (fields 14 and 15) from the text of `/proc/<pid>/stat`. The command name
/// (field 2) is in parentheses and may itself contain spaces and parentheses, so fields are
/// counted after the last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so field n is index n - 3.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 when it cannot be asked: that is the
/// value on every Linux architecture we run on.
pub fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_comes_from_vmhwm_not_vmrss() {
        let status =
            "Name:\tazp-operator\nVmPeak:\t  900000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(peak_rss_kib(status), Some(20480));
        assert_eq!(peak_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_ticks_add_user_and_system_time_even_with_odd_names() {
        let stat =
            "4242 (azp (op) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 4 0 1 2 3";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn own_process_usage_is_readable_and_positive() {
        let usage = usage_of(std::process::id(), clock_ticks_per_second()).unwrap();
        assert!(usage.peak_rss_mib > 0.0);
        assert!(usage.cpu_seconds >= 0.0);
    }
}
