//! The pod's two processes end to end: `azp-agent register` (init container, with the PAT
//! file) then `azp-agent run` (the job's container, without it), sharing only a registration
//! directory, against the Azure DevOps emulator with `azp-agent-standin` as the official
//! agent (see [`run_harness`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(
    dead_code,
    unused_imports,
    reason = "the harness is shared with run_e2e, which uses the rest of it"
)]
mod run_harness;
mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use azp_contract::{Outcome, run_exit};

use run_harness::{Harness, OWNER, Process};

/// The two containers of the pod: `register` with its own agent home and the PAT file,
/// `run` with the harness's agent home and no PAT variable at all.
struct Pod {
    registration_dir: PathBuf,
    register: Process,
    run: Process,
}

impl Pod {
    fn new(h: &Harness) -> Self {
        let registration_dir = h.dir.path().join("registration");
        std::fs::create_dir(&registration_dir).unwrap();
        let shared = (
            "AZP_REGISTRATION_DIR".to_owned(),
            registration_dir.display().to_string(),
        );
        let register_home = h.another_agent_home("register-home");
        Self {
            register: Process {
                subcommand: "register",
                termination_log: h.dir.path().join("register-termination-log"),
                env: vec![
                    shared.clone(),
                    (
                        "AZP_TOKEN_FILE".into(),
                        h.token_file().display().to_string(),
                    ),
                    ("AZP_AGENT_HOME".into(), register_home.display().to_string()),
                ],
            },
            run: Process {
                subcommand: "run",
                termination_log: h.dir.path().join("run-termination-log"),
                env: vec![shared],
            },
            registration_dir,
        }
    }
}

/// Every regular file below `dir`.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.is_file() {
                files.push(path);
            }
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_hands_over_and_the_job_runs_without_any_way_to_the_pat() {
    let h = Harness::start().await;
    let pod = Pod::new(&h);

    // The init container: preflight (the Azure DevOps check uses the PAT), config.sh, hand-over.
    let (registered, ()) = h.run_as(&pod.register, &[], |_| async {}).await;
    let message = registered.assert_ended(run_exit::REGISTERED, Outcome::NoJob);
    let agent_id = message.agent_id.expect("register reports the agent id");
    assert!(message.durations_ms.preflight.is_some());
    assert!(h.is_registered(), "register leaves the agent registered");
    for name in [".agent", ".credentials", ".credentials_rsaparams"] {
        let mode = std::fs::metadata(pod.registration_dir.join(name))
            .unwrap_or_else(|e| panic!("{name} not handed over: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    h.assert_pat_hidden_in_output(&registered);

    // The PAT file is the init container's only: gone before the job's container starts.
    std::fs::remove_file(h.token_file()).unwrap();

    // The job's container. The job prints its environment and looks for the PAT in every
    // file it can reach, as a hostile step would.
    let reachable = [
        h.agent_home(),
        pod.registration_dir.clone(),
        h.dir.path().join("work"),
    ];
    // The pattern is split in two shell words so the script text itself (which the job's
    // files and logs may hold) does not contain the PAT.
    let (head, tail) = h.pat.split_at(h.pat.len() / 2);
    let hunt = format!(
        "env; grep -rl '{head}''{tail}' {} 2>/dev/null && echo PAT-FOUND || echo pat-not-found",
        reachable
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (out, (request, capabilities)) = h
        .run_as(&pod.run, &[], |_| {
            let (h, hunt) = (&h, hunt.clone());
            async move {
                let request = h.queue(1, "succeeded", Some(&hunt));
                h.wait_job_state(request, "running").await;
                (request, h.capabilities())
            }
        })
        .await;

    // The job ran, under the registration register made.
    let message = out.assert_ended(run_exit::JOB_DONE, Outcome::Succeeded);
    assert_eq!(message.agent_id, Some(agent_id));
    assert_eq!(message.request_id, Some(request));
    assert_eq!(message.durations_ms.configure, None, "run did not register");
    assert_eq!(message.durations_ms.deregister, None, "run has no PAT");
    let job = h.emulator.job(request).unwrap();
    assert_eq!(job.agent_id.map(i64::from), Some(agent_id));
    assert_eq!(job.result.as_deref(), Some("succeeded"));

    // Not in the job's environment, output or search, nor any variable naming the PAT file.
    let log = job.log.unwrap_or_default();
    assert!(log.contains("pat-not-found"), "job log:\n{log}");
    assert!(!log.contains("PAT-FOUND"), "job log:\n{log}");
    assert!(
        log.contains(&format!("AZP_AGENTPOOL={OWNER}")),
        "job log:\n{log}"
    );
    // (`VSO_AGENT_IGNORE` may name the variable; none may be set.)
    assert!(!log.contains("AZP_TOKEN_FILE="), "job log:\n{log}");
    h.assert_pat_hidden(&out);
    assert!(!out.run_environments.is_empty());
    for env in &out.run_environments {
        assert!(
            !env.contains("AZP_TOKEN_FILE="),
            "run.sh environment: {env}"
        );
    }
    // Not in the capabilities the agent published.
    let capabilities = capabilities.expect("agent seen");
    assert_eq!(
        capabilities.get("AZP_AGENTPOOL").map(String::as_str),
        Some(OWNER)
    );
    assert!(!capabilities.contains_key("AZP_TOKEN_FILE"));
    assert!(
        !capabilities.values().any(|value| value.contains(&h.pat)),
        "PAT published as a capability"
    );
    // Not in any file the job's container holds (checked again from outside the job).
    for dir in &reachable {
        for file in files_below(dir) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&h.pat),
                "PAT in {}",
                file.display()
            );
        }
    }
    // Without a PAT the job's container cannot deregister: the operator does, once the pod
    // has finished.
    assert!(h.is_registered());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_register_says_why_and_hands_nothing_over() {
    let h = Harness::start().await;
    let pod = Pod::new(&h);
    std::fs::write(h.token_file(), "not-the-pat\n").unwrap();

    let (preflight, ()) = h.run_as(&pod.register, &[], |_| async {}).await;
    let message = preflight.assert_ended(run_exit::PREFLIGHT_FAILED, Outcome::PreflightFailed);
    assert!(
        message.exit_reason.contains("azure-devops"),
        "{}",
        message.exit_reason
    );

    let (configure, ()) = h
        .run_as(&pod.register, &["--skip-preflight"], |_| async {})
        .await;
    configure.assert_ended(run_exit::REGISTRATION_FAILED, Outcome::RegistrationFailed);
    assert!(!pod.registration_dir.join(".agent").exists());
    h.assert_deregistered();

    // The job's container then finds neither a registration nor a PAT.
    let (run, ()) = h.run_as(&pod.run, &[], |_| async {}).await;
    let message = run.assert_ended(run_exit::CONFIG_ERROR, Outcome::PreflightFailed);
    assert!(
        message
            .exit_reason
            .contains(&pod.registration_dir.display().to_string()),
        "{}",
        message.exit_reason
    );
}
