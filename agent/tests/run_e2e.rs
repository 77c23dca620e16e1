//! `azp-agent run` end to end: the real binary against the Azure DevOps emulator (in-process)
//! with `azp-agent-standin` installed as the official agent in a temp directory (see
//! [`run_harness`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod run_harness;
mod support;

use std::time::{Duration, Instant};

use azp_contract::{Outcome, run_exit};
use nix::sys::signal::Signal;

use run_harness::{Harness, OWNER, catches_sigterm, listener_of, signal, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_runs_then_the_registration_is_gone_and_the_message_tells() {
    let h = Harness::start().await;
    let (out, (request, capabilities)) = h
        .run(&[], |_| {
            let h = &h;
            async move {
                let request = h.queue_when_registered(1, "succeeded", Some("env")).await;
                h.wait_job_state(request, "running").await;
                (request, h.capabilities())
            }
        })
        .await;
    out.assert_exit(run_exit::JOB_DONE);
    let message = out.message();
    eprintln!("termination message: {}", message.to_json());
    let job = h.emulator.job(request).unwrap();
    assert_eq!(message.outcome, Outcome::Succeeded);
    assert_eq!(message.request_id, Some(request));
    assert_eq!(message.agent_id, job.agent_id.map(i64::from));
    assert!(message.agent_id.is_some());
    assert_eq!(message.agent_name, h.agent_name);
    let durations = &message.durations_ms;
    for (phase, value) in [
        ("preflight", durations.preflight),
        ("configure", durations.configure),
        ("run", durations.run),
        ("deregister", durations.deregister),
    ] {
        assert!(value.is_some(), "{phase} duration missing: {message:?}");
    }
    assert!(
        durations.run.unwrap() >= 1_000,
        "the job lasts 1 s: {message:?}"
    );
    assert_eq!(durations.ecr_login, None, "no ECR configured");
    h.assert_deregistered();
    assert_eq!(job.result.as_deref(), Some("succeeded"));

    // The job's environment (`env` output uploaded by the stand-in) has no PAT and no
    // unrelated pod secret, but has the capabilities and the owner.
    let log = job.log.unwrap_or_default();
    assert!(
        log.contains(&format!("AZP_AGENTPOOL={OWNER}")),
        "job log:\n{log}"
    );
    assert!(log.contains("buildkit=true"), "job log:\n{log}");
    assert!(!log.contains(&h.pat), "PAT in the job environment");
    assert!(!log.contains("VSTS_AGENT_INPUT_TOKEN"), "job log:\n{log}");
    assert!(
        !log.contains("decoy-secret-value"),
        "unrelated secret leaked"
    );
    h.assert_pat_hidden(&out);
    assert!(
        out.run_environments
            .iter()
            .any(|env| env.contains(&format!("AZP_AGENTPOOL={OWNER}"))),
        "the listener's environment was never sampled"
    );

    let capabilities = capabilities.expect("agent seen");
    assert_eq!(
        capabilities.get("AZP_AGENTPOOL").map(String::as_str),
        Some(OWNER)
    );
    assert_eq!(
        capabilities.get("buildkit").map(String::as_str),
        Some("true")
    );
    assert!(!capabilities.contains_key("GITHUB_TOKEN"));
    assert!(!capabilities.contains_key("AZP_TOKEN_FILE"));
    assert!(
        !capabilities.values().any(|value| value.contains(&h.pat)),
        "PAT published as a capability"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_is_reported_failed_and_deregistered() {
    let h = Harness::start().await;
    let (out, request) = h
        .run(&["--skip-preflight"], |_| {
            let h = &h;
            async move { h.queue_when_registered(0, "failed", None).await }
        })
        .await;
    out.assert_ended(run_exit::JOB_DONE, Outcome::Failed);
    assert_eq!(out.message().request_id, Some(request));
    assert_eq!(out.message().durations_ms.preflight, None, "skipped");
    h.assert_deregistered();
    h.assert_pat_hidden(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_idle_stops_at_once_and_deregisters() {
    let h = Harness::start().await;
    let started = Instant::now();
    let out = h
        .run_signalled_when_online(
            &["--skip-preflight", "--grace-period", "30"],
            Signal::SIGTERM,
        )
        .await;
    let message = out.assert_ended(run_exit::TERMINATED, Outcome::Interrupted);
    assert!(message.exit_reason.contains("idle"), "{message:?}");
    assert!(message.agent_id.is_some());
    h.assert_deregistered();
    // Idle means no waiting for the 30 s grace period.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_job_forwards_it_waits_and_deregisters() {
    let h = Harness::start().await;
    let (out, request) = h
        .run(&["--skip-preflight", "--grace-period", "20"], |pid| {
            let h = &h;
            async move {
                let request = h.queue_when_registered(60, "succeeded", None).await;
                h.wait_job_state(request, "running").await;
                signal(pid, Signal::SIGTERM);
                request
            }
        })
        .await;
    let message = out.assert_ended(run_exit::TERMINATED, Outcome::Interrupted);
    assert!(message.exit_reason.contains("the job"), "{message:?}");
    h.assert_deregistered();
    // The forwarded SIGTERM let the agent cancel the job and report it.
    let job = h.emulator.job(request).unwrap();
    assert_eq!(job.state, "finished");
    assert_eq!(job.result.as_deref(), Some("canceled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_preflight_never_registers() {
    let h = Harness::start().await;
    let fault = serde_json::json!({"kind": "latency", "ms": 3000, "route": "pools"});
    assert_eq!(h.add_fault(fault).await, 201);
    let (out, ()) = h
        .run(&[], |pid| async move {
            wait_for("SIGTERM handler", || catches_sigterm(pid).then_some(())).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            signal(pid, Signal::SIGTERM);
        })
        .await;
    let message = out.assert_ended(run_exit::TERMINATED, Outcome::Interrupted);
    assert!(message.exit_reason.contains("preflight"), "{message:?}");
    assert_eq!(message.agent_id, None);
    h.assert_deregistered();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_registration_removes_the_partial_registration() {
    let h = Harness::start().await;
    // config.sh has POSTed the agent and now waits for its first OAuth token: SIGTERM lands
    // after the registration exists but before `.agent` does.
    let fault = serde_json::json!({"kind": "latency", "ms": 5000, "route": "oauth2"});
    assert_eq!(h.add_fault(fault).await, 201);
    let (out, ()) = h
        .run(&["--skip-preflight"], |pid| {
            let h = &h;
            async move {
                wait_for("registration", || h.is_registered().then_some(())).await;
                signal(pid, Signal::SIGTERM);
            }
        })
        .await;
    let message = out.assert_ended(run_exit::TERMINATED, Outcome::Interrupted);
    assert!(message.exit_reason.contains("registration"), "{message:?}");
    h.assert_deregistered();
    h.assert_pat_hidden(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_failure_after_partial_registration_is_cleaned_up() {
    let h = Harness::start().await;
    // The registration succeeds, the connection test (first OAuth token) fails: config.sh
    // exits 1 leaving the agent registered and no `.agent`.
    let fault = serde_json::json!({"kind": "serverError", "status": 500, "route": "oauth2"});
    assert_eq!(h.add_fault(fault).await, 201);
    let (out, ()) = h.run(&["--skip-preflight"], |_| async {}).await;
    out.assert_ended(run_exit::REGISTRATION_FAILED, Outcome::RegistrationFailed);
    assert!(out.message().durations_ms.deregister.is_some());
    h.assert_deregistered();
    h.assert_pat_hidden(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_update_request_reruns_once_and_the_job_still_runs() {
    let h = Harness::start().await;
    let (out, ()) = h
        .run(&["--skip-preflight"], |_| {
            let h = &h;
            async move {
                let agent_id = h.wait_online().await;
                let refresh = serde_json::json!({"targetVersion": "9.999.0"});
                let path = format!("/_emulator/agents/{agent_id}/refresh");
                assert_eq!(h.control(&path, refresh).await, 204);
                // The rerun listener creates a new session; only then queue the job.
                tokio::time::sleep(Duration::from_millis(500)).await;
                h.wait_online().await;
                h.queue(0, "succeeded", None);
            }
        })
        .await;
    out.assert_ended(run_exit::JOB_DONE, Outcome::Succeeded);
    assert!(out.stderr.contains("updating"), "stderr:\n{}", out.stderr);
    h.assert_deregistered();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_agent_is_reported_as_crashed_and_deregistered() {
    let h = Harness::start().await;
    let (out, ()) = h
        .run(&["--skip-preflight"], |pid| {
            let h = &h;
            async move {
                h.wait_online().await;
                let listener = listener_of(pid).expect("listener process");
                signal(listener, Signal::SIGKILL);
            }
        })
        .await;
    let message = out.assert_ended(run_exit::AGENT_FAILED, Outcome::NoJob);
    assert!(message.exit_reason.contains("signal 9"), "{message:?}");
    h.assert_deregistered();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_pat_file_is_a_config_error_naming_the_path() {
    let h = Harness::start().await;
    std::fs::remove_file(h.dir.path().join("token")).unwrap();
    let (out, ()) = h.run(&[], |_| async {}).await;
    out.assert_exit(run_exit::CONFIG_ERROR);
    let token_path = h.dir.path().join("token").display().to_string();
    assert!(out.stderr.contains(&token_path), "stderr:\n{}", out.stderr);
    assert!(out.message().exit_reason.contains(&token_path));
    h.assert_deregistered();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_failure_without_registration_does_not_claim_a_leftover() {
    let h = Harness::start().await;
    let (out, ()) = h
        .run(&["--skip-preflight", "--pool", "NoSuchPool"], |_| async {})
        .await;
    let message = out.assert_ended(run_exit::REGISTRATION_FAILED, Outcome::RegistrationFailed);
    assert_eq!(message.durations_ms.deregister, None, "{message:?}");
    h.assert_deregistered();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deregistration_is_its_own_exit_code() {
    let h = Harness::start().await;
    let (out, ()) = h
        .run(&["--skip-preflight"], |pid| {
            let h = &h;
            async move {
                h.wait_online().await;
                // From now on every agents call fails: config.sh remove cannot succeed.
                let fault =
                    serde_json::json!({"kind": "serverError", "status": 503, "route": "/agents"});
                assert_eq!(h.add_fault(fault).await, 201);
                signal(pid, Signal::SIGTERM);
            }
        })
        .await;
    let message = out.assert_ended(run_exit::DEREGISTRATION_FAILED, Outcome::Interrupted);
    assert!(
        message.exit_reason.contains("after 3 attempts"),
        "{message:?}"
    );
    assert_eq!(
        h.registered(),
        vec![h.agent_name.clone()],
        "still registered"
    );
    h.assert_pat_hidden(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_login_runs_before_registration_and_aws_secrets_stay_unpublished() {
    let moto = support::Moto::start();
    let h = Harness::start().await;
    let docker_config = h.dir.path().join("docker");
    let registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let env = [
        ("AZP_ECR_REGION", "us-east-1"),
        ("AZP_ECR_REGISTRY", registry),
        ("AZP_ECR_API_ENDPOINT", moto.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "moto-secret-key"),
        ("DOCKER_CONFIG", docker_config.to_str().unwrap()),
    ];
    let (out, (request, capabilities)) = h
        .run_with_env(&[], &env, |_| {
            let h = &h;
            async move {
                let request = h.queue_when_registered(1, "succeeded", Some("env")).await;
                h.wait_job_state(request, "running").await;
                let capabilities = h.capabilities().expect("agent registered");
                (request, capabilities)
            }
        })
        .await;
    out.assert_exit(run_exit::JOB_DONE);
    assert!(out.message().durations_ms.ecr_login.is_some());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(docker_config.join("config.json")).unwrap())
            .unwrap();
    assert!(config["auths"][registry]["auth"].is_string(), "{config}");
    // The job can push (it gets the Docker config and the keys) ...
    let log = h.emulator.job(request).unwrap().log.unwrap_or_default();
    assert!(
        log.contains(&format!("DOCKER_CONFIG={}", docker_config.display())),
        "job log:\n{log}"
    );
    // ... but the secret key is not published to Azure DevOps as a capability.
    assert!(!capabilities.contains_key("AWS_SECRET_ACCESS_KEY"));
    assert!(
        !capabilities
            .values()
            .any(|value| value.contains("moto-secret-key"))
    );
    assert!(capabilities.contains_key("AZP_ECR_REGISTRY"));
    assert!(!out.stderr.contains("moto-secret-key"));
    h.assert_deregistered();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_is_handled_like_sigterm() {
    let h = Harness::start().await;
    let out = h
        .run_signalled_when_online(&["--skip-preflight"], Signal::SIGINT)
        .await;
    out.assert_exit(run_exit::TERMINATED);
    assert!(
        out.message().exit_reason.starts_with("SIGINT"),
        "{:?}",
        out.message()
    );
    h.assert_deregistered();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buildkit_that_never_answers_is_named_in_the_termination_message() {
    let h = Harness::start().await;
    let (out, ()) = h
        .run(
            &[
                "--buildkit-host",
                "unix:///nonexistent/buildkitd.sock",
                "--preflight-timeout",
                "3",
                // The socket never appears: give up after 1 s instead of the 60 s a starting
                // sidecar gets.
                "--buildkit-wait",
                "1",
            ],
            |_| async {},
        )
        .await;
    let message = out.assert_ended(run_exit::PREFLIGHT_FAILED, Outcome::PreflightFailed);
    // The operator turns this into the AgentPool's BuildkitUnavailable condition.
    assert_eq!(message.failed_checks, ["buildkit"], "{message:?}");
    assert!(message.exit_reason.contains("buildkit: "), "{message:?}");
    assert!(
        message.exit_reason.contains("gave up after waiting"),
        "{message:?}"
    );
    assert_eq!(message.agent_id, None);
    h.assert_deregistered();
}
