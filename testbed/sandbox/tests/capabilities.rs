//! Jobs are matched to AgentPools on what their agents really publish (issue 14): the
//! operator, the placeholder and the agent agree, end to end, with the real operator and
//! agent binaries, the stand-in agent and the Azure DevOps emulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use azp_ado_emulator::QueueJob;
use azp_sandbox::{AgentPoolSpec, Sandbox, SandboxOptions, Snapshot};
use kube::api::ListParams;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// `agent.env` of the AgentPool: a plain variable, as users set `JAVA_HOME`.
fn pool_with_env(name: &str) -> AgentPoolSpec {
    let mut spec = AgentPoolSpec::new(name, "Linux");
    spec.extra_spec = json!({"agent": {
        "image": "azp-agent:sandbox",
        "env": [{"name": "JAVA_HOME", "value": "/opt/sandbox-jdk"}]
    }});
    spec
}

fn job(demands: &[&str], script: Option<&str>) -> QueueJob {
    QueueJob {
        pool: "Linux".into(),
        demands: demands.iter().map(|d| (*d).to_owned()).collect(),
        duration_seconds: 1,
        script: script.map(str::to_owned),
        ..QueueJob::default()
    }
}

/// Waits until job `id` finished, counting the most pods seen live meanwhile.
async fn finished(sb: &Sandbox, id: i64) -> (Snapshot, usize) {
    let mut most_pods = 0;
    let snapshot = sb
        .wait_until(&format!("job {id} finished"), WAIT, |s| {
            most_pods = most_pods.max(s.pods.len());
            s.jobs
                .iter()
                .any(|j| j.request_id == id && j.state == "finished")
        })
        .await;
    match snapshot {
        Ok(snapshot) => (snapshot, most_pods),
        Err(error) => {
            let now = sb.snapshot().await.unwrap();
            panic!("{error}: jobs {:?}, agents {:?}", now.jobs, now.agents)
        }
    }
}

fn job_of(snapshot: &Snapshot, id: i64) -> &azp_ado_emulator::control::JobView {
    snapshot.jobs.iter().find(|j| j.request_id == id).unwrap()
}

async fn status(sb: &Sandbox, name: &str) -> Value {
    let pool = sb.agent_pools_api().get(name).await.unwrap();
    pool.data.get("status").cloned().unwrap_or(Value::Null)
}

/// Runs one plain job, then waits until the AgentPool recorded what its image publishes
/// and is back at zero pods.
async fn learn_the_image(sb: &Sandbox, name: &str) -> Value {
    let id = sb.queue_job(job(&[], None)).unwrap();
    let (snapshot, _) = finished(sb, id).await;
    assert_eq!(job_of(&snapshot, id).result.as_deref(), Some("succeeded"));
    let deadline = tokio::time::Instant::now() + WAIT;
    let learned = loop {
        let status = status(sb, name).await;
        if status["imageCapabilities"]["image"] == "azp-agent:sandbox" {
            break status["imageCapabilities"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing learned: {status}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    sb.wait_until("back at zero pods", WAIT, |s| s.pods.is_empty())
        .await
        .unwrap();
    learned
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_demanding_a_spec_agent_env_variable_runs_and_its_script_sees_it() {
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    sb.apply_agent_pool(&pool_with_env("java")).await.unwrap();
    sb.wait_for_placeholders(&["java"], Duration::from_secs(30))
        .await
        .unwrap();
    let id = sb
        .queue_job(job(
            &["JAVA_HOME"],
            Some("echo \"JAVA_HOME is $JAVA_HOME\""),
        ))
        .unwrap();
    let (snapshot, most_pods) = finished(&sb, id).await;
    let done = job_of(&snapshot, id);
    assert_eq!(done.result.as_deref(), Some("succeeded"), "{done:?}");
    assert!(
        done.log
            .as_deref()
            .unwrap_or_default()
            .contains("JAVA_HOME is /opt/sandbox-jdk"),
        "the step did not see the variable: {:?}",
        done.log
    );
    assert_eq!(most_pods, 1);
    // The agent published it, as the planner and the placeholder predicted.
    let agent = snapshot
        .agents
        .iter()
        .find(|a| Some(&a.name) == done.agent_name.as_ref());
    if let Some(agent) = agent {
        assert_eq!(
            agent
                .system_capabilities
                .get("JAVA_HOME")
                .map(String::as_str),
            Some("/opt/sandbox-jdk")
        );
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_zero_agents_jobs_demanding_linux_or_a_tool_of_the_image_are_queued_and_served() {
    let mut sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    sb.apply_agent_pool(&AgentPoolSpec::new("linux", "Linux"))
        .await
        .unwrap();
    sb.wait_for_placeholders(&["linux"], Duration::from_secs(30))
        .await
        .unwrap();

    // Nothing learned yet: Agent.OS is known, the tool is assumed until the first pod tells.
    for demands in [&["Agent.OS -equals Linux"][..], &["git"][..]] {
        let id = sb.queue_job(job(demands, None)).unwrap();
        let queued = sb.snapshot().await.unwrap();
        assert_ne!(
            job_of(&queued, id).state,
            "finished",
            "{demands:?} failed at once: {:?}",
            job_of(&queued, id).status_message
        );
        let (snapshot, most_pods) = finished(&sb, id).await;
        assert_eq!(
            job_of(&snapshot, id).result.as_deref(),
            Some("succeeded"),
            "{demands:?}"
        );
        assert_eq!(most_pods, 1, "{demands:?}: one pod");
        sb.wait_until("back at zero pods", WAIT, |s| s.pods.is_empty())
            .await
            .unwrap();
    }

    // Learned from the image, recorded in status, and still there after a restart.
    let learned = learn_the_image(&sb, "linux").await;
    assert!(
        learned["capabilities"]["git"]
            .as_str()
            .is_some_and(|path| path.ends_with("/git")),
        "{learned}"
    );
    sb.restart_operator().await.unwrap();
    let id = sb
        .queue_job(job(&["git", "Agent.OS -equals linux"], None))
        .unwrap();
    let (snapshot, most_pods) = finished(&sb, id).await;
    assert_eq!(job_of(&snapshot, id).result.as_deref(), Some("succeeded"));
    assert_eq!(most_pods, 1);
    assert_eq!(
        status(&sb, "linux").await["imageCapabilities"],
        learned,
        "survives the restart"
    );
    // The placeholder now publishes what the image does.
    let placeholder = snapshot
        .agents
        .iter()
        .find(|a| a.name.ends_with(".placeholder"))
        .unwrap();
    assert_eq!(
        placeholder
            .system_capabilities
            .get("git")
            .map(String::as_str),
        learned["capabilities"]["git"].as_str()
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_demanding_a_tool_the_image_lacks_is_reported_unservable_and_gets_no_pod() {
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    sb.apply_agent_pool(&AgentPoolSpec::new("linux", "Linux"))
        .await
        .unwrap();
    sb.wait_for_placeholders(&["linux"], Duration::from_secs(30))
        .await
        .unwrap();
    let learned = learn_the_image(&sb, "linux").await;
    assert!(
        learned["capabilities"].get("AndroidSDK").is_none(),
        "{learned}"
    );
    // A VM agent of the same Azure DevOps pool has the tool, so Azure DevOps keeps the job
    // queued (with no agent at all it fails it at once), but no AgentPool can serve it.
    let org = sb.emulator().org_url();
    let response = reqwest::Client::new()
        .post(format!(
            "{org}/_apis/distributedtask/pools/10/agents?api-version=7.1"
        ))
        .basic_auth("x", Some(&sb.options().pat))
        .json(&json!({
            "name": "vm-android",
            "version": "4.261.0",
            "systemCapabilities": {
                "Agent.OS": "Linux",
                "AndroidSDK": "/opt/android/tools/android"
            }
        }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let id = sb
        .queue_job(job(&["Agent.OS -equals Linux", "AndroidSDK"], None))
        .unwrap();

    let deadline = tokio::time::Instant::now() + WAIT;
    let message = loop {
        let status = status(&sb, "linux").await;
        let degraded = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Degraded" && c["reason"] == "UnservableJobs")
            .cloned();
        if let Some(condition) = degraded {
            break condition["message"].as_str().unwrap().to_owned();
        }
        if tokio::time::Instant::now() >= deadline {
            let snapshot = sb.snapshot().await.unwrap();
            panic!(
                "no UnservableJobs condition: {status}; job {:?}; agents {:?}",
                job_of(&snapshot, id),
                snapshot.agents
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        message.contains(&format!("job {id}: AndroidSDK")),
        "{message}"
    );
    // Several polls later: still queued, never a pod, and exactly one Event for the job.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let snapshot = sb.snapshot().await.unwrap();
    assert_eq!(job_of(&snapshot, id).state, "queued");
    assert!(snapshot.pods.is_empty(), "{:?}", snapshot.pods);
    let events = sb.events_api().list(&ListParams::default()).await.unwrap();
    let about_the_job: Vec<_> = events
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("UnservableJob"))
        .filter(|e| {
            e.note
                .as_deref()
                .is_some_and(|n| n.contains(&format!("job {id} ")))
        })
        .collect();
    assert_eq!(about_the_job.len(), 1, "{about_the_job:?}");
    assert!(
        about_the_job[0]
            .note
            .as_deref()
            .unwrap()
            .contains("AndroidSDK")
    );
    sb.shutdown().await;
}
