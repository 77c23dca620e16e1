//! The whole system with Microsoft Entra workload identity and no PAT anywhere in the cluster:
//! the operator exchanges its service account's token at the emulator's Entra endpoint, mints
//! the agent registration with the access token, and a real agent pod runs the job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use azp_ado_emulator::QueueJob;
use azp_sandbox::harness::NAMESPACE;
use azp_sandbox::invariants::{self, Limits, RunRecord};
use azp_sandbox::{AgentPoolSpec, Sandbox, SandboxOptions};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_with_workload_identity_and_no_pat_secret_exists() {
    let started_at = chrono::Utc::now();
    let sb = Sandbox::start(SandboxOptions {
        workload_identity: true,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    sb.apply_agent_pool(&AgentPoolSpec::new("linux", "Linux").workload_identity())
        .await
        .unwrap();
    sb.wait_for_placeholders(&["linux"], Duration::from_secs(30))
        .await
        .unwrap();
    let id = sb
        .queue_job(QueueJob {
            pool: "Linux".into(),
            duration_seconds: 2,
            ..Default::default()
        })
        .unwrap();
    let running = sb
        .wait_until("job running", Duration::from_secs(60), |s| {
            s.jobs
                .iter()
                .any(|j| j.request_id == id && j.state == "running")
        })
        .await
        .unwrap();
    assert_eq!(running.pods.len(), 1, "{:?}", running.pods);
    // While the pod runs: the only Secret in the namespace is its own registration.
    let secrets = Api::<Secret>::namespaced(sb.client(), NAMESPACE)
        .list(&Default::default())
        .await
        .unwrap();
    let names: Vec<String> = secrets
        .items
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.ends_with("-registration")),
        "{names:?}"
    );
    let done = sb
        .wait_until("job finished and pod gone", Duration::from_secs(60), |s| {
            s.unfinished_jobs() == 0 && s.pods.is_empty()
        })
        .await
        .unwrap();
    assert_eq!(done.results().get("succeeded"), Some(&1));
    let record = RunRecord {
        started_at,
        operator_starts: sb.operator_starts(),
        ..RunRecord::default()
    };
    let violations = invariants::check_all(&done, &record, &Limits::default());
    assert!(violations.is_empty(), "{violations:?}");
    let log = std::fs::read_to_string(sb.operator_log()).unwrap();
    assert!(
        log.contains("obtained a Microsoft Entra access token"),
        "the operator never exchanged a token"
    );
    assert!(!log.contains("eyJ"), "a token is in the operator's log");
    assert!(
        !log.contains(&sb.options().pat),
        "the emulator's PAT reached the operator"
    );
    sb.shutdown().await;
}
