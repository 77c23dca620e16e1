//! The `PipelineAgentJobRequest` message body the stand-in (and the official agent) receive.

use serde_json::{Value, json};

use crate::state::Job;
use crate::wire::format_time;

/// JSON string of an `AgentJobRequestMessage` for a job.
///
/// `plan.version` is 7 so the *listener* reports completion with `PATCH jobrequests` (agents skip
/// that PATCH for plan version ≥ 8). The emulator-specific variables tell the stand-in what to do.
pub fn pipeline_job_body(job: &Job, org_url: &str) -> String {
    let mut variables = serde_json::Map::new();
    let mut var = |name: &str, value: String| {
        variables.insert(name.to_owned(), json!({ "value": value }));
    };
    var(
        "azp.emulator.durationSeconds",
        job.duration_seconds.to_string(),
    );
    var("azp.emulator.result", job.wanted_result.as_str().to_owned());
    var("system.jobId", job.job_id.to_string());
    var("system.planId", job.plan_id.to_string());
    var("system.collectionUri", format!("{org_url}/"));
    var("build.buildId", job.request_id.to_string());
    let steps: Vec<Value> = job
        .script
        .iter()
        .map(|script| json!({ "type": "script", "script": script }))
        .collect();
    let mut body = json!({
        "messageType": "PipelineAgentJobRequest",
        "plan": {
            "scopeIdentifier": job.scope_id.to_string(),
            "planType": "Build",
            "version": 7,
            "planId": job.plan_id.to_string(),
            "planGroup": "Build:emulator",
        },
        "timeline": { "id": job.plan_id.to_string(), "changeId": 1 },
        "jobId": job.job_id.to_string(),
        "jobName": job.name,
        "jobDisplayName": job.name,
        "requestId": job.request_id,
        "lockedUntil": job.locked_until.map(format_time),
        "resources": {
            "endpoints": [{
                "name": "SystemVssConnection",
                "url": format!("{org_url}/"),
                "authorization": { "scheme": "OAuth", "parameters": {} },
            }],
        },
        "variables": variables,
    });
    if !steps.is_empty() {
        body["steps"] = Value::Array(steps);
    }
    body.to_string()
}
