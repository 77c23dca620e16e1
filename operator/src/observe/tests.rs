use azp_contract::TerminationMessage;
use serde_json::json;

use super::*;

fn agent(value: serde_json::Value) -> Agent {
    serde_json::from_value(value).unwrap()
}

#[test]
fn job_maps_reservation_receipt_and_matches() {
    let job: JobRequest = serde_json::from_value(json!({
        "requestId": 7, "queueTime": "2026-01-01T00:00:00Z", "demands": ["java"],
        "reservedAgent": {"id": 3, "name": "ci.linux-abcde"},
        "matchedAgents": [{"id": 3, "name": "ci.linux-abcde"}, {"id": 4, "name": "ci.linux.placeholder"}]
    }))
    .unwrap();
    let view = job_view(&job);
    assert_eq!(view.request_id, 7);
    assert_eq!(view.assigned_agent.as_deref(), Some("ci.linux-abcde"));
    assert!(!view.received && !view.finished && !view.is_pending());
    assert_eq!(view.matched_agent_ids, Some(vec![3, 4]));

    let pending: JobRequest =
        serde_json::from_value(json!({"requestId": 8, "demands": []})).unwrap();
    assert!(job_view(&pending).is_pending());
}

#[test]
fn absent_matched_agents_stay_unknown_and_an_empty_list_stays_empty() {
    let absent: JobRequest =
        serde_json::from_value(json!({"requestId": 9, "demands": ["java"]})).unwrap();
    assert_eq!(job_view(&absent).matched_agent_ids, None);
    let none_matched: JobRequest =
        serde_json::from_value(json!({"requestId": 10, "demands": ["java"], "matchedAgents": []}))
            .unwrap();
    assert_eq!(job_view(&none_matched).matched_agent_ids, Some(Vec::new()));
}

#[test]
fn agent_ownership_comes_from_its_capability() {
    let view = agent_view(&agent(json!({
        "id": 5, "name": "ci.linux-abcde", "enabled": false, "status": "online",
        "systemCapabilities": {"AZP_AGENTPOOL": "ci/linux"},
        "assignedRequest": {"requestId": 9}
    })));
    assert_eq!(view.owner, Some(AgentPoolRef::new("ci", "linux")));
    assert!(!view.enabled && view.online && !view.is_placeholder);
    assert_eq!(view.assigned_request, Some(9));

    let foreign = agent_view(&agent(json!({"id": 6, "name": "vm-1", "status": "offline",
        "systemCapabilities": {"AZP_AGENTPOOL": "not-a-ref"}})));
    assert_eq!(foreign.owner, None);
    let placeholder = agent_view(&agent(json!({"id": 7, "name": "ci.linux.placeholder",
        "userCapabilities": {"AZP_AGENTPOOL": "ci/linux"}})));
    assert!(placeholder.is_placeholder);
    assert_eq!(placeholder.owner, Some(AgentPoolRef::new("ci", "linux")));
}

fn pod(value: serde_json::Value) -> Pod {
    serde_json::from_value(value).unwrap()
}

#[test]
fn pod_view_reads_labels_annotations_and_phase() {
    let view = pod_view(&pod(json!({
        "metadata": {"name": "linux-abcde", "namespace": "ci",
            "labels": {"azp.dev/pool": "linux"},
            "annotations": {"azp.dev/agent-name": "ci.linux-abcde", "azp.dev/draining": "now"}},
        "status": {"phase": "Failed"}
    })))
    .unwrap();
    assert_eq!(view.owner, AgentPoolRef::new("ci", "linux"));
    assert_eq!(view.phase, PodPhase::Failed);
    assert!(view.draining && !view.outcome_recorded && !view.is_live());
    assert!(pod_view(&pod(json!({"metadata": {"name": "x", "namespace": "ci"}}))).is_none());
}

#[test]
fn outcome_comes_from_the_agent_termination_message() {
    let message = TerminationMessage {
        agent_id: Some(1),
        agent_name: "a".into(),
        request_id: Some(2),
        outcome: azp_contract::Outcome::Succeeded,
        exit_reason: String::new(),
        durations_ms: Default::default(),
        failed_checks: Vec::new(),
    };
    let finished = pod(
        json!({"metadata": {"name": "p"}, "status": {"phase": "Succeeded",
        "containerStatuses": [{"name": "agent", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "message": message.to_json()}}}]}}),
    );
    let outcome = pod_outcome(&finished);
    assert!(outcome.succeeded() && outcome.ran_job());

    let oom = pod(
        json!({"metadata": {"name": "p"}, "status": {"phase": "Failed",
        "containerStatuses": [{"name": "agent", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}),
    );
    assert_eq!(
        pod_outcome(&oom),
        PodOutcome::Unreported {
            reason: "OOMKilled".into()
        }
    );
    assert!(!pod_outcome(&oom).succeeded());
}

fn message(outcome: azp_contract::Outcome, agent_id: Option<i64>) -> TerminationMessage {
    TerminationMessage {
        agent_id,
        agent_name: "ci.linux-abcde".into(),
        request_id: None,
        outcome,
        exit_reason: "preflight failed: azure-devops: unreachable".into(),
        durations_ms: Default::default(),
        failed_checks: Vec::new(),
    }
}

/// A pod whose `register` init container ended with `exit_code` and `message`, and whose
/// `agent` container never started.
fn register_ended(exit_code: i32, message: Option<String>) -> Pod {
    pod(
        json!({"metadata": {"name": "p"}, "status": {"phase": "Failed",
        "initContainerStatuses": [{"name": "register", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": exit_code, "reason": "Error", "message": message}}},
            {"name": "buildkitd", "image": "b", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "PodInitializing"}}}],
        "containerStatuses": [{"name": "agent", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "PodInitializing"}}}]}}),
    )
}

#[test]
fn a_failed_register_init_container_reports_why_the_agent_never_ran() {
    for outcome in [
        azp_contract::Outcome::PreflightFailed,
        azp_contract::Outcome::RegistrationFailed,
    ] {
        let sent = message(outcome, Some(42));
        let read = pod_outcome(&register_ended(11, Some(sent.to_json())));
        assert_eq!(read, PodOutcome::Reported(sent));
        assert!(!read.succeeded());
    }
    // Killed before it could write anything: its terminated reason.
    assert_eq!(
        pod_outcome(&register_ended(137, None)),
        PodOutcome::Unreported {
            reason: "Error".into()
        }
    );
}

#[test]
fn the_agent_container_speaks_for_the_pod_once_it_ran() {
    let registered = message(azp_contract::Outcome::NoJob, Some(42));
    let mut pod = register_ended(0, Some(registered.to_json()));
    // register succeeded, the agent never ran (the pod was deleted meanwhile): register's
    // "registered" message is not a job outcome.
    assert!(matches!(pod_outcome(&pod), PodOutcome::Unreported { .. }));

    let job = message(azp_contract::Outcome::Succeeded, Some(42));
    let status = pod.status.as_mut().unwrap();
    status.container_statuses = Some(vec![
        serde_json::from_value(
            json!({"name": "agent", "image": "i", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"terminated": {"exitCode": 0, "message": job.to_json()}}}),
        )
        .unwrap(),
    ]);
    assert_eq!(pod_outcome(&pod), PodOutcome::Reported(job));
}

#[test]
fn caches_keep_the_register_state_the_outcome_needs() {
    let sent = message(azp_contract::Outcome::RegistrationFailed, None);
    let full = register_ended(12, Some(sent.to_json()));
    let mut slim = full.clone();
    let status = slim.status.as_mut().unwrap();
    status.init_container_statuses = outcome_init_statuses(status.init_container_statuses.take());
    status.container_statuses = None;
    let kept = status.init_container_statuses.as_ref().unwrap();
    assert_eq!(kept.len(), 1, "only the register container is kept");
    assert_eq!(pod_outcome(&slim), pod_outcome(&full));
    assert_eq!(outcome_init_statuses(None), None);
}

#[test]
fn a_running_pod_whose_agent_container_terminated_is_finished_from_its_finished_at() {
    let status = |agent_state: serde_json::Value| {
        pod(json!({
            "metadata": {"name": "linux-abcde", "namespace": "ci",
                "labels": {"azp.dev/pool": "linux"},
                "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "log-shipper", "image": "b", "imageID": "", "ready": true, "restartCount": 0,
                 "state": {"running": {"startedAt": "2026-01-01T00:00:05Z"}}},
                {"name": "agent", "image": "a", "imageID": "", "ready": false, "restartCount": 0,
                 "state": agent_state}
            ]}
        }))
    };
    let exited = pod_view(&status(json!({"terminated": {"exitCode": 0,
        "startedAt": "2026-01-01T00:00:05Z", "finishedAt": "2026-01-01T00:01:00Z"}})))
    .unwrap();
    assert_eq!(exited.phase, PodPhase::Running);
    assert_eq!(
        exited.agent_exited,
        Some(SystemTime::from(
            "2026-01-01T00:01:00Z".parse::<DateTime<Utc>>().unwrap()
        ))
    );
    assert!(exited.is_finished() && !exited.is_live());
    let running = pod_view(&status(
        json!({"running": {"startedAt": "2026-01-01T00:00:05Z"}}),
    ))
    .unwrap();
    assert_eq!(running.agent_exited, None);
    assert!(running.is_live());
}
