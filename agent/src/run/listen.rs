//! `run.sh --once`: wait for one job, run it, and map the official exit codes.

use std::time::{Instant, SystemTime};

use azp_contract::{Outcome, run_exit};

use super::process::{AgentProcess, describe};
use super::{Ending, IDLE_STOP_LIMIT, Run, job_log, millis};

/// How often an "updating" exit (3/4) of `run.sh` is answered with a rerun.
const UPDATE_RERUNS: u32 = 1;

impl Run<'_> {
    /// `run.sh --once`, rerun once after an "updating" exit (3 or 4).
    pub(super) async fn run_agent(&mut self) -> Ending {
        let settings = self.settings;
        let started = Instant::now();
        let since = SystemTime::now();
        let mut reruns = 0;
        let ending = loop {
            if let Some(name) = self.stop.received() {
                break Self::interrupted(name, "idle wait for a job");
            }
            let process = match AgentProcess::spawn(
                &settings.run_script(),
                &["--once".to_string()],
                &settings.agent_home,
                settings.agent_env.for_run(),
                settings.pat.as_ref(),
                Some(self.progress.clone()),
            ) {
                Ok(process) => process,
                Err(err) => {
                    break Ending::new(
                        run_exit::AGENT_FAILED,
                        Outcome::NoJob,
                        format!("cannot start run.sh: {err}"),
                    );
                }
            };
            let progress = self.progress.clone();
            let grace_period = settings.grace_period;
            let finished = process
                .wait_or_stop(&mut self.stop, move || {
                    if progress.job_running() {
                        grace_period
                    } else {
                        grace_period.min(IDLE_STOP_LIMIT)
                    }
                })
                .await;
            let finished = match finished {
                Ok(finished) => finished,
                Err(err) => {
                    break Ending::new(
                        run_exit::AGENT_FAILED,
                        self.outcome_so_far(),
                        format!("waiting for run.sh: {err}"),
                    );
                }
            };
            if let Some(name) = finished.stopped_by {
                let phase = if self.progress.job_started() {
                    "the job"
                } else {
                    "idle wait for a job"
                };
                break Self::interrupted(name, phase);
            }
            match finished.status.code() {
                Some(0) => {
                    break match self.progress.outcome() {
                        Some(outcome) => Ending::new(
                            run_exit::JOB_DONE,
                            outcome,
                            format!(
                                "job completed with result {}",
                                self.progress.result_text().unwrap_or_default()
                            ),
                        ),
                        None => Ending::new(
                            run_exit::JOB_DONE,
                            Outcome::NoJob,
                            "run.sh --once exited without running a job",
                        ),
                    };
                }
                Some(code @ (3 | 4)) if reruns < UPDATE_RERUNS => {
                    reruns += 1;
                    tracing::info!(code, "the agent is updating; running run.sh --once again");
                }
                Some(code @ (3 | 4)) => {
                    break Ending::new(
                        run_exit::AGENT_FAILED,
                        self.outcome_so_far(),
                        format!(
                            "run.sh asked for an update again (exit code {code}) after a rerun"
                        ),
                    );
                }
                _ => {
                    break Ending::new(
                        run_exit::AGENT_FAILED,
                        self.outcome_so_far(),
                        format!("run.sh ended with {}", describe(&finished.status)),
                    );
                }
            }
        };
        self.message.durations_ms.run = millis(started);
        self.message.request_id = job_log::find_request_id(&settings.diag_dir(), since);
        ending
    }

    /// After a crash: the job's reported result if any, `Failed` if one was running.
    pub(super) fn outcome_so_far(&self) -> Outcome {
        match self.progress.outcome() {
            Some(outcome) => outcome,
            None if self.progress.job_started() => Outcome::Failed,
            None => Outcome::NoJob,
        }
    }
}
