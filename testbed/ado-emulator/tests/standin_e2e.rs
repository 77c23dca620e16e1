//! End-to-end: the real `azp-agent-standin` binary, driven through its generated `config.sh` /
//! `run.sh`, against the emulator running in-process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use azp_ado_emulator::{AgentInfo, EmulatorConfig, JobView, QueueJob, RunningEmulator};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

const STANDIN: &str = env!("CARGO_BIN_EXE_azp-agent-standin");
const POOL: &str = "Default";

struct Harness {
    emulator: RunningEmulator,
    pat: String,
}

impl Harness {
    async fn start() -> Self {
        let pat = format!("pat-{}", uuid::Uuid::new_v4().simple());
        let cfg = EmulatorConfig {
            pat: pat.clone(),
            pools: vec![POOL.to_string()],
            long_poll: Duration::from_secs(1),
            // Short lock: a job of a few seconds only survives if the stand-in renews it.
            lock_duration: Duration::from_secs(3),
            session_idle_timeout: Duration::from_secs(10),
            ..EmulatorConfig::default()
        };
        let emulator = RunningEmulator::start(cfg, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Self { emulator, pat }
    }

    /// A fresh agent directory with the generated scripts.
    async fn install(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(STANDIN)
            .arg("install")
            .arg(dir.path())
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "install: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    }

    /// `config.sh` with the environment a pod entrypoint provides (PAT via env, never argv).
    fn config_command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(dir.join("config.sh"));
        cmd.args(args)
            .env("AGENT_ALLOW_RUNASROOT", "1")
            .env("VSS_ALLOW_UNSAFE_BASICAUTH", "true")
            .env("VSTS_AGENT_INPUT_TOKEN", &self.pat)
            .env("AZP_STANDIN_POLL_DELAY_MS", "50")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    async fn configure(&self, dir: &Path, agent: &str, extra: &[&str]) -> Output {
        let url = self.emulator.org_url();
        let mut args = vec![
            "--unattended",
            "--url",
            &url,
            "--auth",
            "pat",
            "--pool",
            POOL,
            "--agent",
            agent,
            "--acceptTeeEula",
        ];
        args.extend_from_slice(extra);
        self.config_command(dir, &args).output().await.unwrap()
    }

    async fn configure_ok(&self, dir: &Path, agent: &str) {
        let out = self.configure(dir, agent, &[]).await;
        assert_success("config.sh", &out);
    }

    /// A fresh agent directory, configured as `agent`.
    async fn configured(&self, agent: &str) -> tempfile::TempDir {
        let dir = self.install().await;
        self.configure_ok(dir.path(), agent).await;
        dir
    }

    async fn remove(&self, dir: &Path) -> Output {
        self.config_command(dir, &["remove", "--unattended", "--auth", "pat"])
            .output()
            .await
            .unwrap()
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Child {
        self.run_with_env(dir, args, &[])
    }

    fn run_with_env(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
        Command::new(dir.join("run.sh"))
            .args(args)
            .envs(env.iter().copied())
            .env("AGENT_ALLOW_RUNASROOT", "1")
            .env("AZP_STANDIN_POLL_DELAY_MS", "50")
            .env("AZP_STANDIN_KEEPALIVE_MS", "200")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    /// `run.sh --once`, which must exit 0; its output.
    async fn run_once_ok(&self, dir: &Path) -> String {
        finish_ok(self.run(dir, &["--once"])).await
    }

    fn queue(&self, demands: &[&str], duration_seconds: u64, script: Option<&str>) -> i64 {
        self.emulator
            .queue_job(QueueJob {
                pool: POOL.to_string(),
                demands: demands.iter().map(|d| d.to_string()).collect(),
                duration_seconds,
                script: script.map(str::to_string),
                ..QueueJob::default()
            })
            .unwrap()
    }

    fn job(&self, id: i64) -> JobView {
        self.emulator.job(id).unwrap()
    }

    fn agent(&self, name: &str) -> Option<AgentInfo> {
        self.emulator
            .agents()
            .into_iter()
            .find(|agent| agent.name == name)
    }

    async fn wait_for(&self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_running(&self, request: i64) {
        self.wait_for("job running", |h| h.job(request).state == "running")
            .await;
    }

    async fn wait_online(&self, name: &str) {
        self.wait_for(&format!("{name} online"), |h| {
            h.agent(name).is_some_and(|a| a.status == "online")
        })
        .await;
    }
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn finish(child: Child) -> (ExitStatus, String) {
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("run.sh did not exit in time")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

/// [`finish`] for a run that must exit 0; returns its output.
async fn finish_ok(child: Child) -> String {
    let (status, output) = finish(child).await;
    assert_eq!(status.code(), Some(0), "{output}");
    output
}

/// Asserts that a refused `config.sh`/`run.sh` exited 1 and said `needle` on stderr.
#[track_caller]
fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
}

fn sigterm(child: &Child) {
    kill(
        Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
}

/// All `_diag` logs in `dir`, concatenated.
fn diag_text(dir: &Path) -> String {
    std::fs::read_dir(dir.join("_diag"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect()
}

/// WARN/ERROR lines of every `_diag` log in `dir`.
fn diag_warnings(dir: &Path) -> Vec<String> {
    diag_text(dir)
        .lines()
        .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
        .map(str::to_string)
        .collect()
}

/// `/proc/self` is owned by the effective uid of the process.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

fn read_json(path: PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_run_once_and_remove() {
    let h = Harness::start().await;
    let dir = h.install().await;
    let url = h.emulator.org_url();

    // Watch the configuring process's argv while it runs: the PAT must never be there.
    let mut child = h
        .config_command(
            dir.path(),
            &[
                "--unattended",
                "--url",
                &url,
                "--auth",
                "pat",
                "--pool",
                POOL,
                "--agent",
                "e2e-1",
            ],
        )
        .spawn()
        .unwrap();
    let cmdline = PathBuf::from(format!("/proc/{}/cmdline", child.id().unwrap()));
    let mut samples = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(argv) = std::fs::read(&cmdline) {
            samples += 1;
            assert!(
                !String::from_utf8_lossy(&argv).contains(&h.pat),
                "PAT in argv"
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(samples > 0);
    assert_success("config.sh", &child.wait_with_output().await.unwrap());

    let agent = h.agent("e2e-1").expect("agent registered");
    assert!(agent.keyed);
    assert_eq!(agent.status, "offline");
    let settings = read_json(dir.path().join(".agent"));
    assert_eq!(settings["agentId"], agent.id);
    assert_eq!(settings["agentName"], "e2e-1");
    assert_eq!(settings["poolId"], agent.pool_id);
    assert_eq!(settings["serverUrl"], url.as_str());
    assert_eq!(settings["workFolder"], "_work");
    let credentials = read_json(dir.path().join(".credentials"));
    assert_eq!(credentials["scheme"], "OAuth");
    assert!(
        credentials["data"]["clientId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let key_mode = std::fs::metadata(dir.path().join(".credentials_rsaparams"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);

    // Longer than the 3 s lock: the job only survives if the lock is renewed.
    let request = h.queue(
        &[],
        5,
        Some(
            "echo hello-from-script; echo on-stderr >&2; echo \"job=$SYSTEM_JOBID\"; \
             echo \"input=${VSTS_AGENT_INPUT_TOKEN:-absent}\"",
        ),
    );
    // Even if a wrapper leaked the token input into run.sh, the agent strips it from jobs.
    let run = h.run_with_env(
        dir.path(),
        &["--once"],
        &[("VSTS_AGENT_INPUT_TOKEN", &h.pat)],
    );
    let output = finish_ok(run).await;
    let job = h.job(request);
    assert_eq!(job.state, "finished", "{output}");
    assert_eq!(job.result.as_deref(), Some("succeeded"), "{output}");
    assert_eq!(job.agent_name.as_deref(), Some("e2e-1"));
    let log = job.log.unwrap_or_default();
    assert!(
        log.contains("hello-from-script") && log.contains("on-stderr"),
        "log: {log}"
    );
    assert!(!log.contains("job=\n"), "SYSTEM_JOBID must be set: {log}");
    assert!(
        log.contains("input=absent") && !log.contains(&h.pat),
        "log: {log}"
    );
    assert_eq!(
        h.agent("e2e-1").unwrap().status,
        "offline",
        "session deleted after --once"
    );
    assert!(
        dir.path().join(".agent").exists(),
        "--once does not deregister"
    );
    // Every exchange went as the protocol says: the agent logged no warnings (e.g. a response
    // it could not decode, a renewal or finish that needed a retry).
    let warnings = diag_warnings(dir.path());
    assert!(warnings.is_empty(), "{warnings:#?}");
    // Wrappers find the request id in `_diag` the way they would with the real agent.
    let diag = diag_text(dir.path());
    assert!(
        diag.contains(&format!("Job request {request} for plan ")),
        "{diag}"
    );

    let out = h.configure(dir.path(), "e2e-1", &[]).await;
    assert_eq!(out.status.code(), Some(1), "configuring a configured agent");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already configured"));

    let out = h.remove(dir.path()).await;
    assert_success("config.sh remove", &out);
    assert!(h.agent("e2e-1").is_none());
    assert!(!dir.path().join(".agent").exists());
    assert!(!dir.path().join(".credentials_rsaparams").exists());
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demands_route_jobs_to_user_capabilities() {
    let h = Harness::start().await;
    let unmatched = h.queue(&["no-agent-has-this"], 0, None);
    let job = h.job(unmatched);
    assert_eq!(job.state, "finished");
    assert_eq!(job.result.as_deref(), Some("failed"));

    let dir = h.install().await;
    std::fs::write(dir.path().join(".capabilities"), "gpu=true\n").unwrap();
    h.configure_ok(dir.path(), "gpu-agent").await;
    assert_eq!(
        h.agent("gpu-agent")
            .unwrap()
            .user_capabilities
            .get("gpu")
            .map(String::as_str),
        Some("true")
    );

    let matched = h.queue(&["gpu -equals true"], 0, None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        h.job(matched).state,
        "queued",
        "an offline matching agent keeps the job waiting"
    );

    let output = h.run_once_ok(dir.path()).await;
    let job = h.job(matched);
    assert_eq!(job.result.as_deref(), Some("succeeded"), "{output}");
    assert_eq!(job.agent_name.as_deref(), Some("gpu-agent"));
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_name_needs_replace_which_keeps_the_id_and_swaps_the_key() {
    let h = Harness::start().await;
    let first = h.configured("dup").await;
    let second = h.install().await;

    let out = h.configure(second.path(), "dup", &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Pool Default already contains an agent with name dup."),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!second.path().join(".agent").exists());

    let out = h.configure(second.path(), "dup", &["--replace"]).await;
    assert_success("config.sh --replace", &out);
    let first_settings = read_json(first.path().join(".agent"));
    let second_settings = read_json(second.path().join(".agent"));
    assert_eq!(first_settings["agentId"], second_settings["agentId"]);
    let first_key = read_json(first.path().join(".credentials_rsaparams"));
    let second_key = read_json(second.path().join(".credentials_rsaparams"));
    assert_ne!(first_key["modulus"], second_key["modulus"]);
    assert_eq!(
        h.emulator
            .agents()
            .iter()
            .filter(|a| a.name == "dup")
            .count(),
        1
    );

    // The replaced registration's old key no longer authenticates.
    let (status, output) = finish(h.run(first.path(), &["--once"])).await;
    assert_ne!(status.code(), Some(0), "{output}");
    // The new one does.
    let request = h.queue(&[], 0, None);
    h.run_once_ok(second.path()).await;
    assert_eq!(h.job(request).result.as_deref(), Some("succeeded"));
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_script_and_failed_variable_report_failed() {
    let h = Harness::start().await;
    let dir = h.configured("fails").await;
    let request = h.queue(&[], 0, Some("echo boom; exit 7"));
    let (status, output) = finish(h.run(dir.path(), &["--once"])).await;
    assert_eq!(
        status.code(),
        Some(0),
        "a failed job is still a completed run: {output}"
    );
    let job = h.job(request);
    assert_eq!(job.result.as_deref(), Some("failed"));
    assert!(job.log.unwrap_or_default().contains("boom"));

    let request = h
        .emulator
        .queue_job(QueueJob {
            pool: POOL.into(),
            result: Some("failed".into()),
            ..QueueJob::default()
        })
        .unwrap();
    h.run_once_ok(dir.path()).await;
    assert_eq!(h.job(request).result.as_deref(), Some("failed"));
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_finishes_the_job_canceled() {
    let h = Harness::start().await;
    let dir = h.configured("cancel-me").await;
    let request = h.queue(&[], 60, Some("echo started"));
    let run = h.run(dir.path(), &["--once"]);
    h.wait_running(request).await;
    let out = h.remove(dir.path()).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "an agent running a job cannot be removed"
    );
    assert!(dir.path().join(".agent").exists());
    assert!(h.agent("cancel-me").is_some());
    let started = Instant::now();
    h.emulator.cancel_job(request).unwrap();
    let output = finish_ok(run).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        h.job(request).result.as_deref(),
        Some("canceled"),
        "{output}"
    );
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_once_jobs_run_one_after_another_until_sigterm() {
    let h = Harness::start().await;
    let dir = h.configured("idle").await;
    let run = h.run(dir.path(), &[]);
    h.wait_online("idle").await;
    let first = h.queue(&[], 0, Some("echo first"));
    let second = h.queue(&[], 0, Some("echo second"));
    h.wait_for("both jobs finished", |h| {
        h.job(first).state == "finished" && h.job(second).state == "finished"
    })
    .await;
    for request in [first, second] {
        assert_eq!(h.job(request).result.as_deref(), Some("succeeded"));
        assert_eq!(h.job(request).agent_name.as_deref(), Some("idle"));
    }
    h.wait_online("idle").await;
    // Idle again: SIGTERM stops the listener at once and takes the agent offline.
    sigterm(&run);
    finish_ok(run).await;
    assert_eq!(h.agent("idle").unwrap().status, "offline");
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_job_kills_the_script_and_reports_canceled() {
    let h = Harness::start().await;
    let dir = h.configured("busy").await;
    let marker = dir.path().join("still-running");
    let script = format!("sleep 30; touch '{}'", marker.display());
    let request = h.queue(&[], 0, Some(&script));
    let run = h.run(dir.path(), &["--once"]);
    h.wait_running(request).await;
    sigterm(&run);
    let output = finish_ok(run).await;
    assert_eq!(
        h.job(request).result.as_deref(),
        Some("canceled"),
        "{output}"
    );
    assert_eq!(h.agent("busy").unwrap().status, "offline");
    assert!(!marker.exists());
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_refresh_exits_4_with_once_and_3_without() {
    let h = Harness::start().await;
    let dir = h.configured("refresh").await;
    let id = h.agent("refresh").unwrap().id;
    let http = reqwest::Client::new();
    // Run-once through the environment, as `VSTS_AGENT_INPUT_ONCE=true` works for the real agent.
    for (once_env, expected) in [("true", 4), ("false", 3)] {
        let run = h.run_with_env(dir.path(), &[], &[("VSTS_AGENT_INPUT_ONCE", once_env)]);
        h.wait_online("refresh").await;
        let response = http
            .post(format!(
                "{}/_emulator/agents/{id}/refresh",
                h.emulator.base_url()
            ))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let (status, output) = finish(run).await;
        assert_eq!(status.code(), Some(expected), "once={once_env}: {output}");
        assert_eq!(h.agent("refresh").unwrap().status, "offline");
    }
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_listener_for_the_same_agent_gives_up_on_the_session_conflict() {
    let h = Harness::start().await;
    let dir = h.configured("twice").await;
    let first = h.run(dir.path(), &[]);
    h.wait_online("twice").await;
    let (status, output) = finish(h.run(dir.path(), &[])).await;
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("A session for this agent already exists."),
        "{output}"
    );
    assert_eq!(
        h.agent("twice").unwrap().status,
        "online",
        "the first listener is unaffected"
    );
    sigterm(&first);
    assert_eq!(finish(first).await.0.code(), Some(0));
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_deleted_while_listening_exits_2() {
    let h = Harness::start().await;
    let dir = h.configured("doomed").await;
    let run = h.run(dir.path(), &[]);
    h.wait_online("doomed").await;
    // Another party (e.g. the operator's sweep) deletes the registration.
    let other = h.install().await;
    std::fs::copy(dir.path().join(".agent"), other.path().join(".agent")).unwrap();
    assert_success("config.sh remove", &h.remove(other.path()).await);
    assert!(h.agent("doomed").is_none());
    let (status, output) = finish(run).await;
    assert_eq!(status.code(), Some(2), "{output}");
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_the_environment_become_capabilities_unless_ignored() {
    let h = Harness::start().await;
    let url = h.emulator.org_url();
    let args = [
        "--unattended",
        "--url",
        url.as_str(),
        "--auth",
        "pat",
        "--pool",
        POOL,
    ];
    let hidden = h.install().await;
    let mut cmd = h.config_command(hidden.path(), &args);
    cmd.args(["--agent", "hidden"])
        .env("AZP_TOKEN", &h.pat)
        .env("VSO_AGENT_IGNORE", "AZP_TOKEN,AZP_TOKEN_FILE");
    assert_success("config.sh", &cmd.output().await.unwrap());
    let leaky = h.install().await;
    let mut cmd = h.config_command(leaky.path(), &args);
    cmd.args(["--agent", "leaky"]).env("AZP_TOKEN", &h.pat);
    assert_success("config.sh", &cmd.output().await.unwrap());

    let hidden_caps: BTreeMap<String, String> = h.agent("hidden").unwrap().system_capabilities;
    assert!(
        !hidden_caps.values().any(|value| value.contains(&h.pat)),
        "PAT leaked: {hidden_caps:?}"
    );
    assert!(!hidden_caps.contains_key("VSTS_AGENT_INPUT_TOKEN"));
    assert_eq!(
        hidden_caps.get("Agent.Name").map(String::as_str),
        Some("hidden")
    );
    assert_eq!(
        hidden_caps.get("Agent.OS").map(String::as_str),
        Some("Linux")
    );
    // Faithful to the real agent: without the ignore list the variable is published.
    let leaky_caps = h.agent("leaky").unwrap().system_capabilities;
    assert_eq!(leaky_caps.get("AZP_TOKEN"), Some(&h.pat));
    assert!(!leaky_caps.contains_key("VSTS_AGENT_INPUT_TOKEN"));
    h.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_refuses_what_the_real_agent_refuses() {
    let h = Harness::start().await;
    let dir = h.install().await;
    let url = h.emulator.org_url();
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();

    let base = [
        "--unattended",
        "--url",
        url.as_str(),
        "--auth",
        "pat",
        "--agent",
        "strict",
    ];
    let out = h
        .config_command(dir.path(), &[&base[..], &["--bogus"]].concat())
        .output()
        .await
        .unwrap();
    assert_refused(&out, "--bogus");

    let out = h
        .config_command(dir.path(), &base)
        .env("VSS_ALLOW_UNSAFE_BASICAUTH", "false")
        .output()
        .await
        .unwrap();
    assert_refused(&out, "secure connection");

    let out = h
        .config_command(dir.path(), &base)
        .env_remove("VSTS_AGENT_INPUT_TOKEN")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains(&h.pat));

    let out = h
        .config_command(dir.path(), &[&base[..], &["--pool", "nope"]].concat())
        .output()
        .await
        .unwrap();
    assert_refused(&out, "nope");

    let mut bad_pat = h.config_command(dir.path(), &base);
    bad_pat.env("VSTS_AGENT_INPUT_TOKEN", "wrong-pat-value");
    let out = bad_pat.output().await.unwrap();
    assert_refused(&out, "401");
    assert!(!stderr(&out).contains("wrong-pat-value") && !stdout(&out).contains("wrong-pat-value"));
    assert!(
        h.agent("strict").is_none(),
        "nothing registered by refused runs"
    );

    let out = Command::new(dir.path().join("run.sh"))
        .env("AGENT_ALLOW_RUNASROOT", "1")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "run.sh before config.sh");
    assert!(
        stderr(&out).contains("Must configure first"),
        "{}",
        stderr(&out)
    );

    if running_as_root() {
        let out = h
            .config_command(dir.path(), &base)
            .env_remove("AGENT_ALLOW_RUNASROOT")
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(stdout(&out).contains("Must not run with sudo"));
        let out = Command::new(dir.path().join("run.sh"))
            .env_remove("AGENT_ALLOW_RUNASROOT")
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(stdout(&out).contains("Must not run interactively with sudo"));
    }
    h.emulator.shutdown().await;
}
