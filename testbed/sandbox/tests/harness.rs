//! The harness against the real binaries: a job runs on a real agent pod, shutdown leaves no
//! process behind, and a deliberately broken system fails the invariants.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use azp_ado_emulator::QueueJob;
use azp_sandbox::harness::{POD_UID_ENV, processes};
use azp_sandbox::invariants::{self, Invariant, Limits, RunRecord};
use azp_sandbox::{AgentPoolSpec, Sandbox, SandboxOptions, Snapshot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_on_a_real_agent_and_shutdown_leaves_no_process() {
    let started_at = chrono::Utc::now();
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    sb.apply_agent_pool(&AgentPoolSpec::new("linux", "Linux"))
        .await
        .unwrap();
    sb.wait_for_placeholders(&["linux"], Duration::from_secs(30))
        .await
        .unwrap();
    let id = sb
        .queue_job(QueueJob {
            pool: "Linux".into(),
            duration_seconds: 3,
            ..Default::default()
        })
        .unwrap();
    // While the job runs, the agent and the stand-in are live processes of this sandbox.
    let running = sb
        .wait_until("job running", Duration::from_secs(60), |s| {
            s.jobs
                .iter()
                .any(|j| j.request_id == id && j.state == "running")
        })
        .await
        .unwrap();
    assert_eq!(running.pods.len(), 1, "{:?}", running.pods);
    let live = sb.live_processes();
    assert!(
        live.len() >= 3,
        "operator, azp-agent and run.sh expected, got {live:?}"
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
    let stragglers = sb.shutdown().await;
    // Whatever was still alive after the kubelet stopped has been killed; re-check nothing is.
    for pid in &live {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}/environ")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.contains(") Z ")),
            "process {pid} survived shutdown (stragglers {stragglers:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_without_a_pod_and_a_stopped_operator_fail_the_invariants() {
    let started_at = chrono::Utc::now();
    let mut sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    sb.apply_agent_pool(&AgentPoolSpec::new("linux", "Linux"))
        .await
        .unwrap();
    sb.wait_for_placeholders(&["linux"], Duration::from_secs(30))
        .await
        .unwrap();
    sb.kill_operator().await;
    // A registration for a pod that never existed, made with the PAT like a leaked agent.
    let org = sb.emulator().org_url();
    let response = reqwest::Client::new()
        .post(format!(
            "{org}/_apis/distributedtask/pools/10/agents?api-version=7.1"
        ))
        .basic_auth("x", Some(&sb.options().pat))
        .json(&serde_json::json!({"name": "default.linux-ghost", "version": "4.0.0"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let id = sb
        .queue_job(QueueJob {
            pool: "Linux".into(),
            ..Default::default()
        })
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let snapshot = sb.snapshot().await.unwrap();
    let record = RunRecord {
        started_at,
        operator_starts: sb.operator_starts(),
        ..RunRecord::default()
    };
    let violated: Vec<Invariant> = invariants::check_all(&snapshot, &record, &Limits::default())
        .into_iter()
        .map(|v| v.invariant)
        .collect();
    assert!(
        violated.contains(&Invariant::NoStaleRegistration),
        "{violated:?}"
    );
    assert!(
        violated.contains(&Invariant::EveryJobResolved),
        "{violated:?}"
    );
    assert_eq!(
        invariants::report(
            &invariants::check_all(&snapshot, &record, &Limits::default()),
            Some(42)
        ),
        invariants::Verdict::Violated
    );
    assert!(snapshot.jobs.iter().any(|j| j.request_id == id));
    assert!(sb.shutdown().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_sandbox_mid_job_without_shutdown_still_kills_every_process() {
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    sb.apply_agent_pool(&AgentPoolSpec::new("linux", "Linux"))
        .await
        .unwrap();
    sb.wait_for_placeholders(&["linux"], Duration::from_secs(30))
        .await
        .unwrap();
    sb.queue_job(QueueJob {
        pool: "Linux".into(),
        duration_seconds: 60,
        ..Default::default()
    })
    .unwrap();
    sb.wait_until("job running", Duration::from_secs(60), |s| {
        s.jobs.iter().any(|j| j.state == "running")
    })
    .await
    .unwrap();
    let live = sb.live_processes();
    assert!(live.len() >= 3, "{live:?}");
    // As when a test panics or Ctrl-C drops the command's future.
    drop(sb);
    // SIGKILL is sent by the drop, but a loaded machine may take a moment to reap: a process
    // that is still alive after a few seconds escaped the kill.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let alive = loop {
        let alive: Vec<i32> = live
            .iter()
            .copied()
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|stat| !stat.contains(") Z ") && !stat.contains(") X "))
            })
            .collect();
        if alive.is_empty() || std::time::Instant::now() > deadline {
            break alive;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(alive.is_empty(), "still running after drop: {alive:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_agent_killed_with_its_pod_leaves_no_process_and_no_registration() {
    // A grace-0 delete: azp-agent cannot deregister, and run.sh (in a process group of its
    // own) is mid long poll. As on a real node every process of the pod dies with it, and the
    // agent goes offline once its session idles out, so the operator removes it.
    let sb = Sandbox::start(SandboxOptions {
        long_poll: Duration::from_secs(5),
        session_idle_timeout: Duration::from_secs(3),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let mut pool = AgentPoolSpec::new("linux", "Linux");
    pool.min_idle = 1;
    sb.apply_agent_pool(&pool).await.unwrap();
    let idle_pod = |s: &Snapshot| {
        s.pods
            .iter()
            .find(|p| {
                p.phase == "Running"
                    && s.agents
                        .iter()
                        .any(|a| Some(&a.name) == p.agent_name.as_ref() && a.status == "online")
            })
            .cloned()
    };
    let idle = sb
        .wait_until("an idle agent", Duration::from_secs(60), |s| {
            idle_pod(s).is_some()
        })
        .await
        .unwrap();
    let pod = idle_pod(&idle).unwrap();
    let agent = pod.agent_name.clone().unwrap();
    let uid = sb.pods_api().get(&pod.name).await.unwrap().metadata.uid;
    let of_pod = || -> Vec<i32> {
        sb.live_processes()
            .into_iter()
            .filter(|pid| processes::env_of(*pid, POD_UID_ENV) == uid)
            .collect()
    };
    let before = of_pod();
    assert!(
        before.len() >= 2,
        "azp-agent and run.sh expected: {before:?}"
    );
    sb.delete_pod_now(&pod.name).await.unwrap();
    // A grace-0 delete removes the pod from the API at once; the kubelet kills its
    // containers as soon as it sees that, as a real one does after a forced delete.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut left = of_pod();
    while !left.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = of_pod();
    }
    assert_eq!(left, Vec::<i32>::new(), "processes outlived the pod");
    sb.wait_until("registration removed", Duration::from_secs(30), |s| {
        !s.agents.iter().any(|a| a.name == agent)
    })
    .await
    .unwrap();
    assert!(sb.shutdown().await.is_empty());
}
