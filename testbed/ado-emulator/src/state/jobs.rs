//! Job requests and their state machine: queued → assigned → running → finished.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::State;
use crate::hooks::{HookEvent, HookJobState};
use crate::wire::format_time;
use crate::wire::job::{OrchestrationOwner, TaskAgentJobRequest};

/// `TaskResult`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobResult {
    /// succeeded
    Succeeded,
    /// succeededWithIssues
    SucceededWithIssues,
    /// failed
    Failed,
    /// canceled
    Canceled,
    /// skipped
    Skipped,
    /// abandoned
    Abandoned,
}

impl JobResult {
    /// Wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::SucceededWithIssues => "succeededWithIssues",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Skipped => "skipped",
            Self::Abandoned => "abandoned",
        }
    }

    /// Parses a wire string (case-insensitive, as Newtonsoft's enum converter is).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Succeeded,
            Self::SucceededWithIssues,
            Self::Failed,
            Self::Canceled,
            Self::Skipped,
            Self::Abandoned,
        ]
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }
}

/// A job request.
#[derive(Debug, Clone)]
pub struct Job {
    /// Request id.
    pub request_id: i64,
    /// Pool id.
    pub pool_id: i32,
    /// Display name.
    pub name: String,
    /// Demands.
    pub demands: Vec<String>,
    /// How long the stand-in should "run" it.
    pub duration_seconds: u64,
    /// The result the stand-in should report.
    pub wanted_result: JobResult,
    /// Optional shell script step.
    pub script: Option<String>,
    /// Job id.
    pub job_id: Uuid,
    /// Plan id.
    pub plan_id: Uuid,
    /// Project id.
    pub scope_id: Uuid,
    /// Queue time.
    pub queue_time: DateTime<Utc>,
    /// Assignment time.
    pub assign_time: Option<DateTime<Utc>>,
    /// First renewal.
    pub receive_time: Option<DateTime<Utc>>,
    /// Lock deadline.
    pub locked_until: Option<DateTime<Utc>>,
    /// Finish time.
    pub finish_time: Option<DateTime<Utc>>,
    /// Final result.
    pub result: Option<JobResult>,
    /// Reserved agent.
    pub reserved_agent: Option<i32>,
    /// Failure explanation.
    pub status_message: Option<String>,
    /// Log text uploaded by the stand-in.
    pub log: Option<String>,
    /// Cancellation sent to the agent.
    pub cancel_requested: bool,
}

/// Coarse state for the control API.
pub fn job_state_name(job: &Job) -> &'static str {
    if job.result.is_some() {
        "finished"
    } else if job.receive_time.is_some() {
        "running"
    } else if job.assign_time.is_some() {
        "assigned"
    } else {
        "queued"
    }
}

impl Job {
    /// Wire shape; `with_matches` adds `matchedAgents`.
    pub fn to_wire(&self, state: &State, org_url: &str, with_matches: bool) -> TaskAgentJobRequest {
        let build_id = i32::try_from(self.request_id).unwrap_or(i32::MAX);
        let matched = with_matches.then(|| {
            state
                .agents_in_pool(self.pool_id)
                .filter(|a| a.enabled && crate::assign::satisfies_all(&self.demands, a))
                .map(|a| a.reference(org_url))
                .collect()
        });
        TaskAgentJobRequest {
            request_id: self.request_id,
            queue_time: format_time(self.queue_time),
            assign_time: self.assign_time.map(format_time),
            receive_time: self.receive_time.map(format_time),
            locked_until: self
                .locked_until
                .filter(|_| self.result.is_none())
                .map(format_time),
            finish_time: self.finish_time.map(format_time),
            result: self.result.map(JobResult::as_str),
            service_owner: "00025394-6065-48ca-87d9-7f5672854ef7".to_owned(),
            host_id: state.instance_id.to_string(),
            scope_id: self.scope_id.to_string(),
            plan_type: "Build",
            plan_id: self.plan_id.to_string(),
            job_id: self.job_id.to_string(),
            job_name: self.name.clone(),
            demands: self.demands.clone(),
            reserved_agent: self
                .reserved_agent
                .and_then(|id| state.agents.get(&id))
                .map(|a| a.reference(org_url)),
            matched_agents: matched,
            definition: OrchestrationOwner::new(org_url, 1, "emulator-pipeline".to_owned()),
            owner: OrchestrationOwner::new(org_url, build_id, format!("run-{}", self.request_id)),
            data: BTreeMap::from([
                ("ParallelismTag".to_owned(), "Private".to_owned()),
                ("IsScheduledKey".to_owned(), "False".to_owned()),
            ]),
            pool_id: self.pool_id,
            queue_id: self.pool_id,
            orchestration_id: format!("{}.build.{}.__default", self.plan_id, self.name),
            priority: 0,
            status_message: self.status_message.clone(),
        }
    }

    fn event(&self, state: HookJobState) -> HookEvent {
        HookEvent {
            request_id: self.request_id,
            job_id: self.job_id,
            plan_id: self.plan_id,
            scope_id: self.scope_id,
            job_name: self.name.clone(),
            state,
            result: self.result,
            start_time: self.receive_time,
            finish_time: self.finish_time,
        }
    }
}

/// What the control API asks to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Pool id.
    pub pool_id: i32,
    /// Pool name (for the fail-fast message).
    pub pool_name: String,
    /// Demands.
    pub demands: Vec<String>,
    /// Duration for the stand-in.
    pub duration_seconds: u64,
    /// Result for the stand-in.
    pub wanted_result: JobResult,
    /// Script.
    pub script: Option<String>,
    /// Name.
    pub name: Option<String>,
}

impl State {
    /// Queues a job; fails it at once when no enabled agent of the pool (online or not) matches.
    pub fn queue_job(&mut self, new: NewJob) -> i64 {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let now = Utc::now();
        let mut job = Job {
            request_id,
            pool_id: new.pool_id,
            name: new.name.unwrap_or_else(|| "job".to_owned()),
            demands: new.demands,
            duration_seconds: new.duration_seconds,
            wanted_result: new.wanted_result,
            script: new.script,
            job_id: Uuid::new_v4(),
            plan_id: Uuid::new_v4(),
            scope_id: Uuid::new_v4(),
            queue_time: now,
            assign_time: None,
            receive_time: None,
            locked_until: None,
            finish_time: None,
            result: None,
            reserved_agent: None,
            status_message: None,
            log: None,
            cancel_requested: false,
        };
        let any_match = self
            .agents_in_pool(new.pool_id)
            .any(|a| a.enabled && crate::assign::satisfies_all(&job.demands, a));
        if any_match {
            self.pending_events.push(job.event(HookJobState::Waiting));
        } else {
            job.result = Some(JobResult::Failed);
            job.finish_time = Some(now);
            job.status_message = Some(format!(
                "No agent found in pool {} which satisfies the specified demands: {}",
                new.pool_name,
                job.demands.join(", ")
            ));
            self.pending_events.push(job.event(HookJobState::Completed));
        }
        self.jobs.insert(request_id, job);
        request_id
    }

    /// Renews the lock; the first renewal marks the job received. Returns false when not renewable.
    pub fn renew_job(&mut self, request_id: i64, lock: chrono::Duration) -> bool {
        let Some(job) = self.jobs.get_mut(&request_id) else {
            return false;
        };
        if job.result.is_some() || job.reserved_agent.is_none() {
            return false;
        }
        let now = Utc::now();
        job.locked_until = Some(now + lock);
        if job.receive_time.is_none() {
            job.receive_time = Some(now);
            let event = job.event(HookJobState::InProgress);
            self.pending_events.push(event);
        }
        true
    }

    /// Finishes an unfinished job. Returns false when it is unknown or already finished.
    pub fn finish_job(
        &mut self,
        request_id: i64,
        result: JobResult,
        message: Option<String>,
    ) -> bool {
        let Some(job) = self.jobs.get_mut(&request_id) else {
            return false;
        };
        if job.result.is_some() {
            return false;
        }
        job.result = Some(result);
        job.finish_time = Some(Utc::now());
        if message.is_some() {
            job.status_message = message;
        }
        let event = job.event(HookJobState::Completed);
        let agent_id = job.reserved_agent;
        self.pending_events.push(event);
        if let Some(agent) = agent_id.and_then(|id| self.agents.get_mut(&id)) {
            agent.last_completed_request = Some(request_id);
        }
        // Drop any undelivered job message of this request so a finished job is never started.
        for session in self.sessions.values_mut() {
            session
                .messages
                .retain(|m| m.request_id != Some(request_id));
        }
        true
    }

    /// Returns assigned-but-not-received jobs of an agent to the queue (its session ended).
    pub fn release_unreceived_jobs(&mut self, agent_id: i32) {
        for job in self.jobs.values_mut() {
            if job.result.is_none()
                && job.reserved_agent == Some(agent_id)
                && job.receive_time.is_none()
            {
                job.reserved_agent = None;
                job.assign_time = None;
                job.locked_until = None;
            }
        }
    }

    /// Abandons every job whose lock ran out (not renewed, or assigned but never received).
    pub fn abandon_expired_locks(&mut self, now: DateTime<Utc>) {
        let expired: Vec<i64> = self
            .jobs
            .values()
            .filter(|j| j.result.is_none() && j.locked_until.is_some_and(|t| t < now))
            .map(|j| j.request_id)
            .collect();
        for id in expired {
            tracing::info!(request_id = id, "job request lock expired; abandoning");
            self.finish_job(id, JobResult::Abandoned, None);
        }
    }
}
