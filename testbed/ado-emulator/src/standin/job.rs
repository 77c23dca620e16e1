//! One job, as the listener + worker of the real agent handle it with `plan.version < 8`:
//! gate on the first lock renewal, run the script step, keep the lock alive, report the result.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use tokio_util::sync::CancellationToken;

use super::args::ENV_INPUT_PREFIX;
use super::capabilities::process_env;
use super::console;
use super::error::ApiError;
use super::http::{AdoClient, api_version};
use super::script::run_script;
use super::settings::AgentSettings;
use super::timing::Timing;
use super::wire::{JobRequestLock, JobRequestMessage, JobRequestUpdate};

/// The lock token the ADO agent always sends ("lockToken has never been used").
const EMPTY_LOCK_TOKEN: &str = "00000000-0000-0000-0000-000000000000";
/// Attempts of the first, job-gating renewal.
const FIRST_RENEW_ATTEMPTS: u32 = 5;
/// Attempts to report the job finished.
const FINISH_ATTEMPTS: u32 = 5;
/// The agent renews at least this often.
const MAX_RENEW_INTERVAL: Duration = Duration::from_secs(60);
/// Lower bound so a lock about to expire does not turn renewal into a busy loop.
const MIN_RENEW_INTERVAL: Duration = Duration::from_millis(200);
/// The agent gives up renewing this long after the lock expired.
const RENEW_GIVE_UP_AFTER_EXPIRY: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// Variable carrying how long the emulated job "runs".
const DURATION_VARIABLE: &str = "azp.emulator.durationSeconds";
/// Variable carrying the emulated job's result.
const RESULT_VARIABLE: &str = "azp.emulator.result";

/// The result a job is reported with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobResult {
    /// Script and variable said so.
    Succeeded,
    /// Script exit code ≠ 0, or the variable said so.
    Failed,
    /// `JobCancellation` or agent shutdown.
    Canceled,
}

impl JobResult {
    /// Wire value.
    pub fn as_wire(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Console spelling of the real agent.
    pub fn display(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Canceled => "Canceled",
        }
    }
}

/// What became of a dispatched job.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// The request.
    pub request_id: i64,
    /// Display name.
    pub name: String,
    /// `None` when the job never started (first renewal failed) or could not be reported.
    pub result: Option<JobResult>,
}

/// Everything a job needs from the listener.
#[derive(Clone)]
pub struct JobContext {
    /// OAuth client of the agent.
    pub client: AdoClient,
    /// `.agent` settings.
    pub settings: AgentSettings,
    /// Agent root directory.
    pub root: PathBuf,
    /// Pauses.
    pub timing: Timing,
}

impl JobContext {
    /// Runs `job` to completion; `cancel` stops it with result `canceled`.
    pub async fn run(self, job: JobRequestMessage, cancel: CancellationToken) -> JobReport {
        let name = job
            .job_display_name
            .clone()
            .unwrap_or_else(|| job.job_id.clone());
        let mut report = JobReport {
            request_id: job.request_id,
            name: name.clone(),
            result: None,
        };
        let Some(locked_until) = self.first_renewal(job.request_id, &cancel).await else {
            return report;
        };
        console::line(&format!("Running job: {name}"));
        let result = tokio::select! {
            result = self.execute(&job, &cancel) => result,
            () = self.keep_renewing(job.request_id, locked_until) => JobResult::Canceled,
        };
        if self.finish(job.request_id, result).await {
            report.result = Some(result);
        }
        console::line(&format!(
            "Job {name} completed with result: {}",
            result.display()
        ));
        report
    }

    fn lock_path(&self, request_id: i64) -> String {
        format!(
            "_apis/distributedtask/pools/{}/jobrequests/{request_id}",
            self.settings.pool_id
        )
    }

    async fn patch_request<T: serde::de::DeserializeOwned>(
        &self,
        request_id: i64,
        update: &JobRequestUpdate,
    ) -> Result<T, ApiError> {
        self.client
            .send_json(
                Method::PATCH,
                &self.lock_path(request_id),
                &[("lockToken", EMPTY_LOCK_TOKEN)],
                api_version::POOLS,
                update,
            )
            .await
    }

    async fn renew(&self, request_id: i64) -> Result<DateTime<Utc>, ApiError> {
        let update = JobRequestUpdate {
            request_id,
            finish_time: None,
            result: None,
        };
        self.patch_request::<JobRequestLock>(request_id, &update)
            .await
            .map(|lock| lock.locked_until)
    }

    /// The first renewal gates the job: without it the worker is never started.
    async fn first_renewal(
        &self,
        request_id: i64,
        cancel: &CancellationToken,
    ) -> Option<DateTime<Utc>> {
        for attempt in 1..=FIRST_RENEW_ATTEMPTS {
            match self.renew(request_id).await {
                Ok(locked_until) => return Some(locked_until),
                Err(err) if is_job_gone(&err) => {
                    tracing::warn!(%err, request_id, "job request no longer exists; not running it");
                    return None;
                }
                Err(err) => {
                    tracing::warn!(%err, request_id, attempt, "first job request renewal failed");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.timing.first_renew_backoff()) => {}
                () = cancel.cancelled() => return None,
            }
        }
        console::error(&format!(
            "Could not renew the lock of job request {request_id}; the job was not started."
        ));
        None
    }

    /// Renews the lock until dropped; returns only if the lock was lost for good.
    async fn keep_renewing(&self, request_id: i64, mut locked_until: DateTime<Utc>) {
        loop {
            tokio::time::sleep(renew_interval(locked_until, Utc::now())).await;
            match self.renew(request_id).await {
                Ok(until) => locked_until = until,
                Err(err) if is_job_gone(&err) => {
                    // The real agent stops renewing silently; the server cancels the job.
                    tracing::warn!(%err, request_id, "job request gone; renewal stopped");
                    return std::future::pending().await;
                }
                Err(err) => {
                    tracing::warn!(%err, request_id, "job request renewal failed; retrying");
                    if Utc::now() > locked_until + RENEW_GIVE_UP_AFTER_EXPIRY {
                        return std::future::pending().await;
                    }
                    tokio::time::sleep(self.timing.first_renew_backoff()).await;
                }
            }
        }
    }

    /// Runs the script step (if any), then "works" for `durationSeconds`.
    async fn execute(&self, job: &JobRequestMessage, cancel: &CancellationToken) -> JobResult {
        let variable = |name: &str| {
            job.variables
                .get(name)
                .and_then(|variable| variable.value.as_deref())
                .map(str::trim)
        };
        let mut result = match variable(RESULT_VARIABLE) {
            Some(value) if value.eq_ignore_ascii_case("failed") => JobResult::Failed,
            _ => JobResult::Succeeded,
        };
        let duration = variable(DURATION_VARIABLE)
            .and_then(|value| value.parse::<f64>().ok())
            .filter(|secs| secs.is_finite() && *secs > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or_default();

        if let Some(script) = job.steps.iter().find_map(|step| step.script_text()) {
            let work_dir = self.work_dir();
            if let Err(err) = std::fs::create_dir_all(&work_dir) {
                console::error(&format!(
                    "cannot create work folder {}: {err}",
                    work_dir.display()
                ));
                return JobResult::Failed;
            }
            match run_script(script, &work_dir, self.script_env(job, &work_dir), cancel).await {
                Ok(outcome) => {
                    self.upload_log(job.request_id, outcome.output.clone())
                        .await;
                    if outcome.cancelled {
                        return JobResult::Canceled;
                    }
                    if !outcome.succeeded() {
                        result = JobResult::Failed;
                    }
                }
                Err(err) => {
                    console::error(&format!("script step could not start: {err}"));
                    return JobResult::Failed;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => result,
            () = cancel.cancelled() => JobResult::Canceled,
        }
    }

    fn work_dir(&self) -> PathBuf {
        let configured = PathBuf::from(&self.settings.work_folder);
        if configured.is_absolute() {
            configured
        } else {
            self.root.join(configured)
        }
    }

    /// The process environment (without `VSTS_AGENT_INPUT_*`, which the agent strips after
    /// reading) plus non-secret job variables as `NAME_WITH_UNDERSCORES` and the agent's own.
    fn script_env(
        &self,
        job: &JobRequestMessage,
        work_dir: &std::path::Path,
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = process_env()
            .into_iter()
            .filter(|(name, _)| !name.starts_with(ENV_INPUT_PREFIX))
            .collect();
        for (name, variable) in &job.variables {
            if variable.is_secret {
                continue;
            }
            if let Some(value) = &variable.value {
                env.push((variable_env_name(name), value.clone()));
            }
        }
        let agent_facts = [
            ("SYSTEM_JOBID", job.job_id.clone()),
            ("AGENT_ID", self.settings.agent_id.to_string()),
            ("AGENT_NAME", self.settings.agent_name.clone()),
            ("AGENT_WORKFOLDER", work_dir.display().to_string()),
            ("AGENT_HOMEDIRECTORY", self.root.display().to_string()),
            ("TF_BUILD", "True".to_string()),
        ];
        env.extend(
            agent_facts
                .into_iter()
                .map(|(name, value)| (name.to_string(), value)),
        );
        env
    }

    /// Sends the script output to the emulator's control API; failures only warn, and
    /// `--disableloguploads` turns uploads off as it does for the real agent.
    async fn upload_log(&self, request_id: i64, output: String) {
        if self.settings.disable_log_uploads {
            return;
        }
        let Some(url) = emulator_log_url(self.client.base_url(), request_id) else {
            return;
        };
        if let Err(err) = self.client.post_text(url, output).await {
            tracing::warn!(%err, request_id, "job log upload failed");
        }
    }

    async fn finish(&self, request_id: i64, result: JobResult) -> bool {
        let update = JobRequestUpdate {
            request_id,
            finish_time: Some(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)),
            result: Some(result.as_wire().to_string()),
        };
        for attempt in 1..=FINISH_ATTEMPTS {
            // A finished request carries no lock any more: only the status matters here.
            match self
                .patch_request::<serde_json::Value>(request_id, &update)
                .await
            {
                Ok(_) => return true,
                Err(err) if is_job_gone(&err) => {
                    tracing::warn!(%err, request_id, "job request gone before it could be finished");
                    return false;
                }
                Err(err) => {
                    tracing::warn!(%err, request_id, attempt, "reporting the job finished failed");
                }
            }
            tokio::time::sleep(self.timing.finish_retry()).await;
        }
        console::error(&format!(
            "Could not report job request {request_id} finished."
        ));
        false
    }
}

/// `system.jobId` → `SYSTEM_JOBID`, as the worker maps variables to environment variables.
pub fn variable_env_name(name: &str) -> String {
    name.replace(['.', ' '], "_").to_ascii_uppercase()
}

/// 60 s, or a third of the remaining lock time when that is shorter.
pub fn renew_interval(locked_until: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    let remaining = (locked_until - now).to_std().unwrap_or_default();
    (remaining / 3).clamp(MIN_RENEW_INTERVAL, MAX_RENEW_INTERVAL)
}

/// `{server root}/_emulator/jobs/{requestId}/log`, derived from the organization URL.
pub fn emulator_log_url(org_url: &str, request_id: i64) -> Option<url::Url> {
    let mut url = url::Url::parse(org_url).ok()?;
    url.set_query(None);
    url.set_path(&format!("/_emulator/jobs/{request_id}/log"));
    Some(url)
}

fn is_job_gone(err: &ApiError) -> bool {
    err.has_type_key("TaskAgentJobNotFoundException")
        || err.has_type_key("TaskAgentJobTokenExpiredException")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_interval_follows_the_lock() {
        let now = Utc::now();
        assert_eq!(
            renew_interval(now + chrono::TimeDelta::minutes(10), now),
            MAX_RENEW_INTERVAL
        );
        assert_eq!(
            renew_interval(now + chrono::TimeDelta::seconds(9), now),
            Duration::from_secs(3)
        );
        assert_eq!(
            renew_interval(now - chrono::TimeDelta::seconds(9), now),
            MIN_RENEW_INTERVAL
        );
    }

    #[test]
    fn log_url_is_on_the_server_root() {
        let url = emulator_log_url("http://127.0.0.1:8080/contoso", 42).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/_emulator/jobs/42/log");
        let url = emulator_log_url("https://host/tfs/DefaultCollection/", 7).unwrap();
        assert_eq!(url.as_str(), "https://host/_emulator/jobs/7/log");
    }

    #[test]
    fn variables_map_to_environment_names() {
        assert_eq!(variable_env_name("system.jobId"), "SYSTEM_JOBID");
        assert_eq!(
            variable_env_name("Build.RequestedFor"),
            "BUILD_REQUESTEDFOR"
        );
    }
}
