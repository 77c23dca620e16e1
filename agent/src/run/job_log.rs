//! What the agent tells us about its job, without asking Azure DevOps.
//!
//! Best effort, from the official agent's own output: the listener prints
//! `Running job: <name>` and `Job <name> completed with result: <Result>` on stdout, and its
//! `_diag/Agent_*.log` has `Job request <id> for plan ...` (the stand-in logs `request_id=<id>`).
//! When a line is missing the field stays empty; nothing is invented.

use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use azp_contract::Outcome;

/// The job as seen on the listener's stdout.
#[derive(Debug, Default)]
pub struct JobProgress {
    state: Mutex<ProgressState>,
}

#[derive(Debug, Default, Clone)]
struct ProgressState {
    started: bool,
    result: Option<String>,
}

impl JobProgress {
    /// Feeds one stdout line of `run.sh`.
    pub fn observe(&self, line: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if line.contains("Running job: ") {
            state.started = true;
        }
        if let Some((head, result)) = line.rsplit_once(" completed with result: ")
            && head.contains("Job ")
        {
            state.started = true;
            state.result = Some(result.trim().to_string());
        }
    }

    /// A job started and has not reported its result yet.
    pub fn job_running(&self) -> bool {
        self.state
            .lock()
            .map(|state| state.started && state.result.is_none())
            .unwrap_or(false)
    }

    /// A job started (whether or not it finished).
    pub fn job_started(&self) -> bool {
        self.state
            .lock()
            .map(|state| state.started)
            .unwrap_or(false)
    }

    /// The reported result mapped to the termination outcome, if a result line was seen.
    pub fn outcome(&self) -> Option<Outcome> {
        let result = self.state.lock().ok()?.result.clone()?;
        Some(outcome_of(&result))
    }

    /// The raw result text (`Succeeded`, `Failed`, ...), if seen.
    pub fn result_text(&self) -> Option<String> {
        self.state.lock().ok()?.result.clone()
    }
}

/// The agent's `TaskResult` names mapped to the termination outcome.
pub fn outcome_of(result: &str) -> Outcome {
    match result.to_ascii_lowercase().as_str() {
        "succeeded" | "succeededwithissues" => Outcome::Succeeded,
        "failed" | "abandoned" => Outcome::Failed,
        "canceled" | "cancelled" => Outcome::Canceled,
        _ => Outcome::Unknown,
    }
}

/// The last job request id in `_diag/*.log` files written since `since`.
pub fn find_request_id(diag_dir: &Path, since: SystemTime) -> Option<i64> {
    let mut logs: Vec<(SystemTime, std::path::PathBuf)> = std::fs::read_dir(diag_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
        .filter_map(|entry| {
            let modified = entry.metadata().ok()?.modified().ok()?;
            (modified >= since).then(|| (modified, entry.path()))
        })
        .collect();
    logs.sort();
    logs.iter()
        .rev()
        .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
        .find_map(|text| text.lines().rev().find_map(request_id_in))
}

/// The request id named by one log line, if any.
pub fn request_id_in(line: &str) -> Option<i64> {
    if let Some((_, rest)) = line.split_once("Job request ")
        && let Some((id, _)) = rest.split_once(" for plan")
    {
        return id.trim().parse().ok();
    }
    let (_, rest) = line.split_once("request_id=")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_sets_the_outcome() {
        let progress = JobProgress::default();
        progress.observe("2026-01-01 12:00:00Z: Listening for Jobs");
        assert!(!progress.job_started());
        progress.observe("2026-01-01 12:00:01Z: Running job: build");
        assert!(progress.job_running());
        progress.observe("2026-01-01 12:00:09Z: Job build completed with result: Failed");
        assert!(!progress.job_running());
        assert_eq!(progress.outcome(), Some(Outcome::Failed));
    }

    #[test]
    fn request_id_from_real_and_standin_log_lines() {
        assert_eq!(
            request_id_in(
                "[2026-01-01 12:00:00Z INFO JobDispatcher] Job request 1234 for plan 9f0 job 77 received."
            ),
            Some(1234)
        );
        assert_eq!(
            request_id_in(
                "2026-01-01T12:00:00Z  INFO azp: job done request_id=1001 result=Some(Succeeded)"
            ),
            Some(1001)
        );
        assert_eq!(request_id_in("session created"), None);
    }

    #[test]
    fn request_id_comes_from_recent_logs_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Agent_old.log"), "job done request_id=5\n").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(3600);
        assert_eq!(find_request_id(dir.path(), later), None);
        assert_eq!(find_request_id(dir.path(), SystemTime::UNIX_EPOCH), Some(5));
    }

    #[test]
    fn result_names_map_to_outcomes() {
        assert_eq!(outcome_of("SucceededWithIssues"), Outcome::Succeeded);
        assert_eq!(outcome_of("Canceled"), Outcome::Canceled);
        assert_eq!(outcome_of("Skipped"), Outcome::Unknown);
    }
}
