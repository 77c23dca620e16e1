//! Deserialisation of real-shaped bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use chrono::{TimeZone, Timelike, Utc};

/// KEDA's `testJobRequestResponse` fixture as quoted in ado-protocol.md §4, verbatim except that the elided
/// `"_links":{…}` objects (not valid JSON) are written as `{}`.
const KEDA_FIXTURE: &str = r#"{"count":1,"value":[{"requestId":890663,"queueTime":"2022-09-28T11:20:22.4633333Z","serviceOwner":"00025394-6065-48ca-87d9-7f5672854ef7",
 "hostId":"41a18c7d-…","scopeId":"02696e26-…","planType":"Build","planId":"b718cfed-…","jobId":"15b95994-…",
 "demands":["dotnet60","java","cmake","Agent.Version -gtVersion 2.182.1"],
 "matchedAgents":[{"_links":{"self":{"href":"https://dev.azure.com/FOO/_apis/distributedtask/pools/44/agents/1755"},"web":{"href":"…"}},
   "id":1755,"name":"dotnet60-keda-template","version":"2.210.1","enabled":true,"status":"offline","provisioningState":"Provisioned"}],
 "definition":{"_links":{},"id":3129,"name":"Other Build CI"},"owner":{"_links":{},"id":673585,"name":"20220928.11"},
 "data":{"ParallelismTag":"Private","IsScheduledKey":"False"},"poolId":44,
 "orchestrationId":"b718cfed-493c-46be-a650-88fe762f75aa.buildtest.build_and_test.__default","priority":0}]}"#;

#[test]
fn keda_fixture_is_a_pending_job_with_its_demands_and_matched_agent() {
    let parsed: Collection<JobRequest> = serde_json::from_str(KEDA_FIXTURE).unwrap();
    let [job] = parsed.value.as_slice() else {
        panic!("expected one job, got {}", parsed.value.len())
    };
    assert_eq!(job.request_id, 890_663);
    assert_eq!(job.pool_id, Some(44));
    assert_eq!(
        job.demands,
        [
            "dotnet60",
            "java",
            "cmake",
            "Agent.Version -gtVersion 2.182.1"
        ]
    );
    let matched = job.matched_agents.as_deref().unwrap();
    assert_eq!(matched, [MatchedAgent { id: 1755 }]);
    assert_eq!(
        job.definition.as_ref().unwrap().name.as_deref(),
        Some("Other Build CI")
    );
    assert_eq!(job.plan_type.as_deref(), Some("Build"));
    assert_eq!(
        job.data.get("ParallelismTag").map(String::as_str),
        Some("Private")
    );
    let queued = job.queue_time.unwrap();
    assert_eq!(
        queued.with_nanosecond(0).unwrap(),
        Utc.with_ymd_and_hms(2022, 9, 28, 11, 20, 22).unwrap()
    );
    assert_eq!(queued.nanosecond(), 463_333_300);
    assert!(job.is_pending());
    assert!(!job.is_running());
}

#[test]
fn matched_agents_absent_and_empty_are_told_apart() {
    let absent: JobRequest = serde_json::from_str(r#"{"requestId":5}"#).unwrap();
    assert_eq!(absent.matched_agents, None);
    let empty: JobRequest = serde_json::from_str(r#"{"requestId":6,"matchedAgents":[]}"#).unwrap();
    assert_eq!(empty.matched_agents, Some(Vec::new()));
    let null: JobRequest = serde_json::from_str(r#"{"requestId":7,"matchedAgents":null}"#).unwrap();
    assert_eq!(null.matched_agents, None);
}

#[test]
fn running_and_finished_requests_are_classified() {
    let running: JobRequest = serde_json::from_str(
        r#"{"requestId":2,"queueTime":"2022-09-28T11:20:22Z","assignTime":"2022-09-28T11:20:30.1Z",
            "receiveTime":"2022-09-28T11:20:32.05Z","lockedUntil":"2022-09-28T11:30:32.07Z",
            "reservedAgent":{"id":7,"name":"pod-a","osDescription":"Linux","accessPoint":"CodexAccessMapping"}}"#,
    )
    .unwrap();
    assert!(running.is_running());
    assert!(!running.is_pending());
    assert_eq!(running.reserved_agent.as_ref().unwrap().id, 7);

    let finished: JobRequest = serde_json::from_str(
        r#"{"requestId":3,"result":"succeeded","finishTime":"2022-09-28T11:40:00.123Z"}"#,
    )
    .unwrap();
    assert_eq!(finished.result, Some(TaskResult::Succeeded));
    assert!(!finished.is_pending() && !finished.is_running() && finished.is_finished());

    // Assigned but not yet received: capacity already promised, so not pending.
    let reserved: JobRequest =
        serde_json::from_str(r#"{"requestId":4,"assignTime":"2022-09-28T11:20:30Z"}"#).unwrap();
    assert!(!reserved.is_pending());
}

#[test]
fn unknown_enum_values_are_kept_not_rejected() {
    let job: JobRequest =
        serde_json::from_str(r#"{"requestId":5,"result":"manuallyQueued"}"#).unwrap();
    assert_eq!(
        job.result,
        Some(TaskResult::Other("manuallyQueued".to_owned()))
    );
    let agent: Agent = serde_json::from_str(r#"{"id":1,"name":"a","status":"busy"}"#).unwrap();
    assert_eq!(agent.status, Some(AgentStatus::Other("busy".to_owned())));
    let pool: Pool =
        serde_json::from_str(r#"{"id":1,"name":"p","poolType":"Automation"}"#).unwrap();
    assert_eq!(pool.pool_type, Some(PoolType::Automation));
    assert_eq!(
        TaskResult::SucceededWithIssues.as_str(),
        "succeededWithIssues"
    );
}

#[test]
fn agent_with_capabilities_and_requests_parses_and_unknown_fields_are_ignored() {
    let agent: Agent = serde_json::from_str(
        r#"{"_links":{"self":{"href":"x"}},"id":12,"name":"pod-b","version":"4.261.0","osDescription":"Linux",
            "enabled":false,"status":"online","provisioningState":"Provisioned","accessPoint":"CodexAccessMapping",
            "createdOn":"2026-01-02T03:04:05.1234567Z","statusChangedOn":"2026-01-02T03:04:06Z","maxParallelism":1,
            "systemCapabilities":{"Agent.Name":"pod-b"},"userCapabilities":{"azp.dev/agentpool":"linux"},
            "assignedRequest":{"requestId":99,"assignTime":"2026-01-02T03:05:00Z"},
            "authorization":{"authorizationUrl":"https://x/_apis/oauth2/token","clientId":"c-1"},
            "pendingUpdate":null,"properties":{}}"#,
    )
    .unwrap();
    assert_eq!(agent.enabled, Some(false));
    assert_eq!(
        agent
            .user_capabilities
            .get("azp.dev/agentpool")
            .map(String::as_str),
        Some("linux")
    );
    assert_eq!(agent.assigned_request.as_ref().unwrap().request_id, 99);
    assert_eq!(
        agent.authorization.unwrap().client_id.as_deref(),
        Some("c-1")
    );
    assert!(agent.created_on.is_some());

    let bare: Agent = serde_json::from_str(r#"{"id":13,"name":"placeholder"}"#).unwrap();
    assert!(bare.system_capabilities.is_empty() && bare.user_capabilities.is_empty());
    assert_eq!(bare.created_on, None);
}

#[test]
fn null_and_unparsable_dates_become_none() {
    let job: JobRequest = serde_json::from_str(
        r#"{"requestId":6,"queueTime":null,"receiveTime":"0001-01-01T00:00:00","finishTime":"not a date"}"#,
    )
    .unwrap();
    assert_eq!(
        (job.queue_time, job.receive_time, job.finish_time),
        (None, None, None)
    );
}

#[test]
fn request_bodies_are_camel_case_and_omit_unset_fields() {
    let patch = AgentPatch {
        enabled: Some(false),
        ..AgentPatch::default()
    };
    assert_eq!(
        serde_json::to_value(&patch).unwrap(),
        serde_json::json!({"enabled": false})
    );
    let agent = NewAgent {
        name: "pod-c".into(),
        version: "4.261.0".into(),
        os_description: Some("Linux".into()),
        max_parallelism: Some(1),
        user_capabilities: [("buildkit".to_owned(), "true".to_owned())].into(),
        ..NewAgent::default()
    };
    assert_eq!(
        serde_json::to_value(&agent).unwrap(),
        serde_json::json!({"name":"pod-c","version":"4.261.0","osDescription":"Linux","maxParallelism":1,
            "userCapabilities":{"buildkit":"true"}})
    );
}
