//! `azp-agent run` end to end: the real binary against the Azure DevOps emulator (in-process)
//! with `azp-agent-standin` installed as the official agent in a temp directory.
//!
//! The stand-in is a binary of another package, so `CARGO_BIN_EXE_` cannot name it: it is built
//! once per test run with `cargo build -p azp-ado-emulator --bin azp-agent-standin` (set
//! `AZP_STANDIN_BIN` to use a prebuilt one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use azp_ado_emulator::{EmulatorConfig, QueueJob, RunningEmulator};
use azp_contract::{Outcome, TerminationMessage, run_exit};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Command;

const AGENT: &str = env!("CARGO_BIN_EXE_azp-agent");
const POOL: &str = "Default";
const OWNER: &str = "ci/linux";

/// Builds (or finds) the stand-in binary once for the whole test run.
fn standin_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("AZP_STANDIN_BIN") {
            return PathBuf::from(bin);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "-p",
                "azp-ado-emulator",
                "--bin",
                "azp-agent-standin",
            ])
            .current_dir(workspace)
            .status()
            .expect("cannot run cargo to build azp-agent-standin");
        assert!(status.success(), "building azp-agent-standin failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        let bin = target.join("debug/azp-agent-standin");
        assert!(bin.is_file(), "{} missing after the build", bin.display());
        bin
    })
}

struct Harness {
    emulator: RunningEmulator,
    pat: String,
    dir: tempfile::TempDir,
    agent_name: String,
}

/// What one `azp-agent run` did.
struct RunOutput {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    message: Option<TerminationMessage>,
    /// Command lines of azp-agent and all its descendants, sampled during the run.
    cmdlines: Vec<String>,
    /// Environments of `run.sh` processes (the listener and the job), sampled during the run.
    run_environments: Vec<String>,
}

impl RunOutput {
    fn message(&self) -> &TerminationMessage {
        self.message
            .as_ref()
            .unwrap_or_else(|| panic!("no termination message; stderr:\n{}", self.stderr))
    }
}

impl Harness {
    async fn start() -> Self {
        let pat = format!("pat-{}", uuid_like());
        let cfg = EmulatorConfig {
            pat: pat.clone(),
            pools: vec![POOL.to_string()],
            long_poll: Duration::from_secs(1),
            lock_duration: Duration::from_secs(5),
            session_idle_timeout: Duration::from_secs(10),
            ..EmulatorConfig::default()
        };
        let emulator = RunningEmulator::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("agent");
        let out = Command::new(standin_bin())
            .arg("install")
            .arg(&home)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "install: {out:?}");
        std::fs::write(dir.path().join("token"), format!("{pat}\n")).unwrap();
        Self {
            emulator,
            pat,
            agent_name: format!("ci.linux-{}", &uuid_like()[8..14]),
            dir,
        }
    }

    fn agent_home(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    fn termination_log(&self) -> PathBuf {
        self.dir.path().join("termination-log")
    }

    fn command(&self, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(AGENT);
        cmd.arg("run")
            .args(["--allow-insecure-http", "--deregister-attempts", "3"])
            .args(extra_args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AZP_URL", self.emulator.org_url())
            .env("AZP_POOL", POOL)
            .env("AZP_AGENT_NAME", &self.agent_name)
            .env("AZP_AGENT_HOME", self.agent_home())
            .env("AZP_TOKEN_FILE", self.dir.path().join("token"))
            .env("AZP_WORK", self.dir.path().join("work"))
            .env("AZP_CAPABILITIES", r#"{"buildkit":"true"}"#)
            .env("AZP_AGENTPOOL", OWNER)
            .env("AZP_TERMINATION_LOG", self.termination_log())
            .env("AGENT_ALLOW_RUNASROOT", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // A secret of the pod that has nothing to do with the agent: must not reach it.
            .env("GITHUB_TOKEN", "decoy-secret-value")
            .env(
                "AZP_PASS_ENV",
                "AZP_STANDIN_POLL_DELAY_MS,AZP_STANDIN_KEEPALIVE_MS",
            )
            .env("AZP_STANDIN_POLL_DELAY_MS", "50")
            .env("AZP_STANDIN_KEEPALIVE_MS", "500")
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `azp-agent run`; `during` gets the pid while it runs (to send signals).
    async fn run<F, Fut, T>(&self, extra_args: &[&str], during: F) -> (RunOutput, T)
    where
        F: FnOnce(Pid) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        self.run_with_env(extra_args, &[], during).await
    }

    /// [`Harness::run`] with extra environment variables for `azp-agent`.
    async fn run_with_env<F, Fut, T>(
        &self,
        extra_args: &[&str],
        extra_env: &[(&str, &str)],
        during: F,
    ) -> (RunOutput, T)
    where
        F: FnOnce(Pid) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let child = self.command(extra_args, extra_env).spawn().unwrap();
        let pid = Pid::from_raw(child.id().unwrap() as i32);
        let sampler = ProcSampler::start(pid);
        let mut waiting = tokio::spawn(child.wait_with_output());
        let deadline = Duration::from_secs(45);
        let value = tokio::time::timeout(deadline, during(pid))
            .await
            .expect("test step timed out");
        let output: Output = match tokio::time::timeout(deadline, &mut waiting).await {
            Ok(output) => output.unwrap().unwrap(),
            Err(_) => {
                let _ = kill(pid, Signal::SIGKILL);
                let output = waiting.await.unwrap().unwrap();
                panic!(
                    "azp-agent run did not exit; jobs {:?}\nstdout:\n{}\nstderr:\n{}",
                    self.emulator.jobs(),
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        };
        let (cmdlines, run_environments) = sampler.stop();
        let message = std::fs::read_to_string(self.termination_log())
            .ok()
            .map(|json| TerminationMessage::from_json(&json).unwrap());
        let out = RunOutput {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            message,
            cmdlines,
            run_environments,
        };
        (out, value)
    }

    /// Queues a job once the agent is registered (the service fails a job at once when no
    /// agent in the pool could ever run it).
    async fn queue_when_registered(
        &self,
        duration_seconds: u64,
        result: &str,
        script: Option<&str>,
    ) -> i64 {
        wait_for("registration", || {
            if let Ok(message) = std::fs::read_to_string(self.termination_log()) {
                panic!("azp-agent run ended before registering: {message}");
            }
            self.registered().contains(&self.agent_name).then_some(())
        })
        .await;
        self.queue(duration_seconds, result, script)
    }

    fn registered(&self) -> Vec<String> {
        self.emulator
            .agents()
            .into_iter()
            .map(|agent| agent.name)
            .collect()
    }

    /// Waits until the agent holds a session (listening, idle) and returns its id.
    async fn wait_online(&self) -> i32 {
        wait_for("agent online", || {
            self.emulator
                .agents()
                .into_iter()
                .find(|agent| agent.name == self.agent_name && agent.status == "online")
                .map(|agent| agent.id)
        })
        .await
    }

    async fn wait_job_state(&self, id: i64, state: &str) {
        wait_for(state, || {
            self.emulator
                .job(id)
                .filter(|job| job.state == state)
                .map(|_| ())
        })
        .await
    }

    async fn control(&self, path: &str, body: serde_json::Value) -> u16 {
        reqwest::Client::new()
            .post(format!("{}{path}", self.emulator.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn queue(&self, duration_seconds: u64, result: &str, script: Option<&str>) -> i64 {
        self.emulator
            .queue_job(QueueJob {
                pool: POOL.into(),
                duration_seconds,
                result: Some(result.into()),
                script: script.map(str::to_string),
                name: Some("build".into()),
                ..Default::default()
            })
            .unwrap()
    }

    /// The PAT appears nowhere it must not: argv of every process, our output, run.sh's env.
    fn assert_pat_hidden(&self, out: &RunOutput) {
        assert!(!out.cmdlines.is_empty(), "the sampler saw no process");
        for line in &out.cmdlines {
            assert!(!line.contains(&self.pat), "PAT in a command line: {line}");
        }
        assert!(!out.stdout.contains(&self.pat), "PAT on stdout");
        assert!(!out.stderr.contains(&self.pat), "PAT on stderr");
        for env in &out.run_environments {
            assert!(!env.contains(&self.pat), "PAT in run.sh's environment");
        }
        // The agent's own logs (config, run and remove all write `_diag/`).
        let logs: Vec<_> = std::fs::read_dir(self.agent_home().join("_diag"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert!(!logs.is_empty(), "no _diag logs");
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(!text.contains(&self.pat), "PAT in {}", log.display());
        }
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}{:x}", std::process::id())
}

async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Samples `/proc` for the descendants of one process while it runs.
struct ProcSampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<(BTreeSet<String>, Vec<String>)>>,
    thread: std::thread::JoinHandle<()>,
}

impl ProcSampler {
    fn start(root: Pid) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new((BTreeSet::new(), Vec::new())));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for pid in descendants(root.as_raw()) {
                        let read = |file: &str| {
                            std::fs::read(format!("/proc/{pid}/{file}"))
                                .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
                                .unwrap_or_default()
                        };
                        let cmdline = read("cmdline");
                        let is_listener = cmdline.contains(" run --once");
                        let environ = if is_listener || !cmdline.contains("--root") {
                            read("environ")
                        } else {
                            String::new()
                        };
                        let mut seen = seen.lock().unwrap();
                        // Children of run.sh (the job's shell) and the listener itself.
                        if (is_listener || pid_has_listener_ancestor(pid, root.as_raw()))
                            && !environ.is_empty()
                        {
                            seen.1.push(environ);
                        }
                        seen.0.insert(cmdline);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Self { stop, seen, thread }
    }

    fn stop(self) -> (Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let seen = self.seen.lock().unwrap();
        (seen.0.iter().cloned().collect(), seen.1.clone())
    }
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn descendants(root: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let pids: Vec<i32> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    pids.into_iter()
        .filter(|pid| {
            let mut current = *pid;
            for _ in 0..32 {
                if current == root {
                    return true;
                }
                match parent_of(current) {
                    Some(parent) if parent > 1 => current = parent,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}

fn pid_has_listener_ancestor(pid: i32, root: i32) -> bool {
    let mut current = pid;
    while let Some(parent) = parent_of(current) {
        if parent <= 1 || current == root {
            return false;
        }
        let cmdline = std::fs::read(format!("/proc/{parent}/cmdline"))
            .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
            .unwrap_or_default();
        if cmdline.contains(" run --once") {
            return true;
        }
        current = parent;
    }
    false
}

/// Whether `pid` has installed a SIGTERM handler (`SigCgt` in `/proc/<pid>/status`).
fn catches_sigterm(pid: Pid) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (Signal::SIGTERM as i32 - 1)) != 0)
}

fn signal(pid: Pid, signal: Signal) {
    kill(pid, signal).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_runs_then_the_registration_is_gone_and_the_message_tells() {
    let h = Harness::start().await;
    let (out, (request, capabilities)) = h
        .run(&[], |_| {
            let h = &h;
            async move {
                let request = h.queue_when_registered(1, "succeeded", Some("env")).await;
                h.wait_job_state(request, "running").await;
                let capabilities = h
                    .emulator
                    .agents()
                    .into_iter()
                    .find(|agent| agent.name == h.agent_name)
                    .map(|agent| agent.system_capabilities);
                (request, capabilities)
            }
        })
        .await;
    assert_eq!(
        out.code,
        Some(run_exit::JOB_DONE),
        "stderr:\n{}",
        out.stderr
    );
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
    assert!(h.registered().is_empty(), "left: {:?}", h.registered());
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
    assert_eq!(
        out.code,
        Some(run_exit::JOB_DONE),
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(out.message().outcome, Outcome::Failed);
    assert_eq!(out.message().request_id, Some(request));
    assert_eq!(out.message().durations_ms.preflight, None, "skipped");
    assert!(h.registered().is_empty(), "left: {:?}", h.registered());
    h.assert_pat_hidden(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_idle_stops_at_once_and_deregisters() {
    let h = Harness::start().await;
    let started = Instant::now();
    let (out, ()) = h
        .run(&["--skip-preflight", "--grace-period", "30"], |pid| {
            let h = &h;
            async move {
                h.wait_online().await;
                signal(pid, Signal::SIGTERM);
            }
        })
        .await;
    assert_eq!(
        out.code,
        Some(run_exit::TERMINATED),
        "stderr:\n{}",
        out.stderr
    );
    let message = out.message();
    assert_eq!(message.outcome, Outcome::Interrupted);
    assert!(message.exit_reason.contains("idle"), "{message:?}");
    assert!(message.agent_id.is_some());
    assert!(h.registered().is_empty(), "left: {:?}", h.registered());
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
    assert_eq!(
        out.code,
        Some(run_exit::TERMINATED),
        "stderr:\n{}",
        out.stderr
    );
    let message = out.message();
    assert_eq!(message.outcome, Outcome::Interrupted);
    assert!(message.exit_reason.contains("the job"), "{message:?}");
    assert!(h.registered().is_empty(), "left: {:?}", h.registered());
    // The forwarded SIGTERM let the agent cancel the job and report it.
    let job = h.emulator.job(request).unwrap();
    assert_eq!(job.state, "finished");
    assert_eq!(job.result.as_deref(), Some("canceled"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_preflight_never_registers() {
    let h = Harness::start().await;
    let fault = serde_json::json!({"kind": "latency", "ms": 3000, "route": "pools"});
    assert_eq!(h.control("/_emulator/faults", fault).await, 201);
    let (out, ()) = h
        .run(&[], |pid| async move {
            wait_for("SIGTERM handler", || catches_sigterm(pid).then_some(())).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            signal(pid, Signal::SIGTERM);
        })
        .await;
    assert_eq!(
        out.code,
        Some(run_exit::TERMINATED),
        "stderr:\n{}",
        out.stderr
    );
    let message = out.message();
    assert_eq!(message.outcome, Outcome::Interrupted);
    assert!(message.exit_reason.contains("preflight"), "{message:?}");
    assert_eq!(message.agent_id, None);
    assert!(h.registered().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_registration_removes_the_partial_registration() {
    let h = Harness::start().await;
    // config.sh has POSTed the agent and now waits for its first OAuth token: SIGTERM lands
    // after the registration exists but before `.agent` does.
    let fault = serde_json::json!({"kind": "latency", "ms": 5000, "route": "oauth2"});
    assert_eq!(h.control("/_emulator/faults", fault).await, 201);
    let (out, ()) = h
        .run(&["--skip-preflight"], |pid| {
            let h = &h;
            async move {
                wait_for("registration", || {
                    h.registered().contains(&h.agent_name).then_some(())
                })
                .await;
                signal(pid, Signal::SIGTERM);
            }
        })
        .await;
    assert_eq!(
        out.code,
        Some(run_exit::TERMINATED),
        "stderr:\n{}",
        out.stderr
    );
    let message = out.message();
    assert_eq!(message.outcome, Outcome::Interrupted);
    assert!(message.exit_reason.contains("registration"), "{message:?}");
    assert!(h.registered().is_empty(), "left: {:?}", h.registered());
    h.assert_pat_hidden(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_failure_after_partial_registration_is_cleaned_up() {
    let h = Harness::start().await;
    // The registration succeeds, the connection test (first OAuth token) fails: config.sh
    // exits 1 leaving the agent registered and no `.agent`.
    let fault = serde_json::json!({"kind": "serverError", "status": 500, "route": "oauth2"});
    assert_eq!(h.control("/_emulator/faults", fault).await, 201);
    let (out, ()) = h.run(&["--skip-preflight"], |_| async {}).await;
    assert_eq!(
        out.code,
        Some(run_exit::REGISTRATION_FAILED),
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(out.message().outcome, Outcome::RegistrationFailed);
    assert!(out.message().durations_ms.deregister.is_some());
    assert!(h.registered().is_empty(), "left: {:?}", h.registered());
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
    assert_eq!(
        out.code,
        Some(run_exit::JOB_DONE),
        "stderr:\n{}",
        out.stderr
    );
    assert_eq!(out.message().outcome, Outcome::Succeeded);
    assert!(out.stderr.contains("updating"), "stderr:\n{}", out.stderr);
    assert!(h.registered().is_empty(), "left: {:?}", h.registered());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_agent_is_reported_as_crashed_and_deregistered() {
    let h = Harness::start().await;
    let (out, ()) = h
        .run(&["--skip-preflight"], |pid| {
            let h = &h;
            async move {
                h.wait_online().await;
                let listener = descendants(pid.as_raw())
                    .into_iter()
                    .find(|child| {
                        std::fs::read(format!("/proc/{child}/cmdline"))
                            .map(|bytes| {
                                String::from_utf8_lossy(&bytes)
                                    .replace('\0', " ")
                                    .contains(" run --once")
                            })
                            .unwrap_or(false)
                    })
                    .expect("listener process");
                signal(Pid::from_raw(listener), Signal::SIGKILL);
            }
        })
        .await;
    assert_eq!(
        out.code,
        Some(run_exit::AGENT_FAILED),
        "stderr:\n{}",
        out.stderr
    );
    let message = out.message();
    assert_eq!(message.outcome, Outcome::NoJob);
    assert!(message.exit_reason.contains("signal 9"), "{message:?}");
    assert!(h.registered().is_empty(), "left: {:?}", h.registered());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_pat_file_is_a_config_error_naming_the_path() {
    let h = Harness::start().await;
    std::fs::remove_file(h.dir.path().join("token")).unwrap();
    let (out, ()) = h.run(&[], |_| async {}).await;
    assert_eq!(
        out.code,
        Some(run_exit::CONFIG_ERROR),
        "stderr:\n{}",
        out.stderr
    );
    let token_path = h.dir.path().join("token").display().to_string();
    assert!(out.stderr.contains(&token_path), "stderr:\n{}", out.stderr);
    assert!(out.message().exit_reason.contains(&token_path));
    assert!(h.registered().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_failure_without_registration_does_not_claim_a_leftover() {
    let h = Harness::start().await;
    let (out, ()) = h
        .run(&["--skip-preflight", "--pool", "NoSuchPool"], |_| async {})
        .await;
    assert_eq!(
        out.code,
        Some(run_exit::REGISTRATION_FAILED),
        "stderr:\n{}",
        out.stderr
    );
    let message = out.message();
    assert_eq!(message.outcome, Outcome::RegistrationFailed);
    assert_eq!(message.durations_ms.deregister, None, "{message:?}");
    assert!(h.registered().is_empty());
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
                assert_eq!(h.control("/_emulator/faults", fault).await, 201);
                signal(pid, Signal::SIGTERM);
            }
        })
        .await;
    assert_eq!(
        out.code,
        Some(run_exit::DEREGISTRATION_FAILED),
        "stderr:\n{}",
        out.stderr
    );
    let message = out.message();
    assert_eq!(message.outcome, Outcome::Interrupted);
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
                let capabilities = h
                    .emulator
                    .agents()
                    .into_iter()
                    .find(|agent| agent.name == h.agent_name)
                    .map(|agent| agent.system_capabilities)
                    .expect("agent registered");
                (request, capabilities)
            }
        })
        .await;
    assert_eq!(
        out.code,
        Some(run_exit::JOB_DONE),
        "stderr:\n{}",
        out.stderr
    );
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
    assert!(h.registered().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_is_handled_like_sigterm() {
    let h = Harness::start().await;
    let (out, ()) = h
        .run(&["--skip-preflight"], |pid| {
            let h = &h;
            async move {
                h.wait_online().await;
                signal(pid, Signal::SIGINT);
            }
        })
        .await;
    assert_eq!(
        out.code,
        Some(run_exit::TERMINATED),
        "stderr:\n{}",
        out.stderr
    );
    assert!(
        out.message().exit_reason.starts_with("SIGINT"),
        "{:?}",
        out.message()
    );
    assert!(h.registered().is_empty(), "left: {:?}", h.registered());
}
