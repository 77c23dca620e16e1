//! The harness of `run_e2e`: an in-process emulator, the stand-in installed as the official
//! agent in a temp directory, and `azp-agent run` started against both and watched via `/proc`.
//!
//! The stand-in is a binary of another package, so `CARGO_BIN_EXE_` cannot name it: it is built
//! once per test run with `cargo build -p azp-ado-emulator --bin azp-agent-standin` (set
//! `AZP_STANDIN_BIN` to use a prebuilt one).

mod processes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use azp_ado_emulator::{EmulatorConfig, QueueJob, RunningEmulator};
use azp_contract::{Outcome, TerminationMessage};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Command;

pub use processes::ProcSampler;
pub use processes::{catches_sigterm, listener_of};

const AGENT: &str = env!("CARGO_BIN_EXE_azp-agent");
/// The pool the emulator serves and the agent joins.
pub const POOL: &str = "Default";
/// The owning AzpAgentPool, which the agent publishes as `AZP_AGENTPOOL`.
pub const OWNER: &str = "ci/linux";

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

/// One emulator, one installed stand-in agent and the files `azp-agent run` is pointed at.
pub struct Harness {
    /// The in-process Azure DevOps emulator.
    pub emulator: RunningEmulator,
    /// The PAT the emulator accepts (in `dir/token`); must never leak.
    pub pat: String,
    /// Holds the stand-in (`agent/`), the token file, the work folder and the termination log.
    pub dir: tempfile::TempDir,
    /// The name `azp-agent run` registers under (`AZP_AGENT_NAME`).
    pub agent_name: String,
}

/// One `azp-agent` process: which subcommand, where its termination message goes, and the
/// environment it gets on top of the harness's.
pub struct Process {
    /// `run` or `register`.
    pub subcommand: &'static str,
    /// Its termination log.
    pub termination_log: PathBuf,
    /// Extra variables (the PAT file, the registration directory, another agent home).
    pub env: Vec<(String, String)>,
}

impl Process {
    /// The classic single process: `azp-agent run` with the PAT file.
    pub fn run_alone(h: &Harness) -> Self {
        Self {
            subcommand: "run",
            termination_log: h.termination_log(),
            env: vec![(
                "AZP_TOKEN_FILE".into(),
                h.token_file().display().to_string(),
            )],
        }
    }
}

/// What one `azp-agent run` did.
pub struct RunOutput {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
    message: Option<TerminationMessage>,
    /// Command lines of azp-agent and all its descendants, sampled during the run.
    pub cmdlines: Vec<String>,
    /// Environments of `run.sh` processes (the listener and the job), sampled during the run.
    pub run_environments: Vec<String>,
}

impl RunOutput {
    /// The termination message `azp-agent run` wrote; panics (showing stderr) without one.
    pub fn message(&self) -> &TerminationMessage {
        self.message
            .as_ref()
            .unwrap_or_else(|| panic!("no termination message; stderr:\n{}", self.stderr))
    }

    /// Asserts the exit code, showing stderr when it differs.
    #[track_caller]
    pub fn assert_exit(&self, code: i32) {
        assert_eq!(self.code, Some(code), "stderr:\n{}", self.stderr);
    }

    /// Asserts the exit code and the outcome the termination message reports; returns the message.
    #[track_caller]
    pub fn assert_ended(&self, code: i32, outcome: Outcome) -> &TerminationMessage {
        self.assert_exit(code);
        let message = self.message();
        assert_eq!(message.outcome, outcome);
        message
    }
}

impl Harness {
    /// Starts the emulator and installs the stand-in with a fresh PAT and agent name.
    pub async fn start() -> Self {
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

    /// The agent home of `azp-agent run` (the stand-in's `config.sh`/`run.sh`).
    pub fn agent_home(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    /// The PAT file (`dir/token`).
    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    /// A second agent home with the same stand-in, as another container's image would have.
    #[allow(
        dead_code,
        reason = "each test crate that includes the harness uses part of it"
    )]
    pub fn another_agent_home(&self, name: &str) -> PathBuf {
        let home = self.dir.path().join(name);
        std::fs::create_dir_all(home.join("_diag")).unwrap();
        for script in ["config.sh", "run.sh"] {
            std::fs::copy(self.agent_home().join(script), home.join(script)).unwrap();
        }
        home
    }

    fn termination_log(&self) -> PathBuf {
        self.dir.path().join("termination-log")
    }

    /// `azp-agent <process.subcommand>` with the harness's settings; the PAT file variable is
    /// set only when `process.token_file` is.
    fn command_as(&self, process: &Process, extra_args: &[&str]) -> Command {
        let mut cmd = Command::new(AGENT);
        cmd.arg(process.subcommand)
            .args(["--allow-insecure-http", "--deregister-attempts", "3"])
            .args(extra_args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AZP_URL", self.emulator.org_url())
            .env("AZP_POOL", POOL)
            .env("AZP_AGENT_NAME", &self.agent_name)
            .env("AZP_AGENT_HOME", self.agent_home())
            .env("AZP_WORK", self.dir.path().join("work"))
            .env("AZP_CAPABILITIES", r#"{"buildkit":"true"}"#)
            .env("AZP_AGENTPOOL", OWNER)
            .env("AZP_TERMINATION_LOG", &process.termination_log)
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
            .envs(process.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `azp-agent run`; `during` gets the pid while it runs (to send signals).
    pub async fn run<F, Fut, T>(&self, extra_args: &[&str], during: F) -> (RunOutput, T)
    where
        F: FnOnce(Pid) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        self.run_with_env(extra_args, &[], during).await
    }

    /// [`Harness::run`] with extra environment variables for `azp-agent`.
    pub async fn run_with_env<F, Fut, T>(
        &self,
        extra_args: &[&str],
        extra_env: &[(&str, &str)],
        during: F,
    ) -> (RunOutput, T)
    where
        F: FnOnce(Pid) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let process = Process::run_alone(self);
        let mut command = self.command_as(&process, extra_args);
        command.envs(extra_env.iter().copied());
        self.run_process(&process, command, during).await
    }

    /// Runs one `azp-agent` process as `process` describes; `during` gets its pid.
    #[allow(
        dead_code,
        reason = "each test crate that includes the harness uses part of it"
    )]
    pub async fn run_as<F, Fut, T>(
        &self,
        process: &Process,
        extra_args: &[&str],
        during: F,
    ) -> (RunOutput, T)
    where
        F: FnOnce(Pid) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let command = self.command_as(process, extra_args);
        self.run_process(process, command, during).await
    }

    async fn run_process<F, Fut, T>(
        &self,
        process: &Process,
        mut command: Command,
        during: F,
    ) -> (RunOutput, T)
    where
        F: FnOnce(Pid) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let child = command.spawn().unwrap();
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
        let message = std::fs::read_to_string(&process.termination_log)
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
    pub async fn queue_when_registered(
        &self,
        duration_seconds: u64,
        result: &str,
        script: Option<&str>,
    ) -> i64 {
        wait_for("registration", || {
            if let Ok(message) = std::fs::read_to_string(self.termination_log()) {
                panic!("azp-agent run ended before registering: {message}");
            }
            self.is_registered().then_some(())
        })
        .await;
        self.queue(duration_seconds, result, script)
    }

    /// The names of all agents registered in the emulator now.
    pub fn registered(&self) -> Vec<String> {
        self.emulator
            .agents()
            .into_iter()
            .map(|agent| agent.name)
            .collect()
    }

    /// Whether this harness's agent is registered now.
    pub fn is_registered(&self) -> bool {
        self.registered().contains(&self.agent_name)
    }

    /// Asserts that no agent is left registered in the pool.
    #[track_caller]
    pub fn assert_deregistered(&self) {
        assert!(
            self.registered().is_empty(),
            "left: {:?}",
            self.registered()
        );
    }

    /// The system capabilities this harness's agent registered with, if it is registered.
    pub fn capabilities(&self) -> Option<BTreeMap<String, String>> {
        self.emulator
            .agents()
            .into_iter()
            .find(|agent| agent.name == self.agent_name)
            .map(|agent| agent.system_capabilities)
    }

    /// Runs `azp-agent run` and sends it `sent` once the agent is online (idle, listening).
    pub async fn run_signalled_when_online(&self, extra_args: &[&str], sent: Signal) -> RunOutput {
        let (out, ()) = self
            .run(extra_args, |pid| async move {
                self.wait_online().await;
                signal(pid, sent);
            })
            .await;
        out
    }

    /// Installs an emulator fault (see `/_emulator/faults`); returns the status code.
    pub async fn add_fault(&self, fault: serde_json::Value) -> u16 {
        self.control("/_emulator/faults", fault).await
    }

    /// Waits until the agent holds a session (listening, idle) and returns its id.
    pub async fn wait_online(&self) -> i32 {
        wait_for("agent online", || {
            self.emulator
                .agents()
                .into_iter()
                .find(|agent| agent.name == self.agent_name && agent.status == "online")
                .map(|agent| agent.id)
        })
        .await
    }

    /// Waits until job request `id` is in `state`.
    pub async fn wait_job_state(&self, id: i64, state: &str) {
        wait_for(state, || {
            self.emulator
                .job(id)
                .filter(|job| job.state == state)
                .map(|_| ())
        })
        .await
    }

    /// POSTs `body` to an emulator control route; returns the status code.
    pub async fn control(&self, path: &str, body: serde_json::Value) -> u16 {
        reqwest::Client::new()
            .post(format!("{}{path}", self.emulator.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Queues a job in the pool now.
    pub fn queue(&self, duration_seconds: u64, result: &str, script: Option<&str>) -> i64 {
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

    /// The PAT appears in no command line of the process tree and not in its output.
    pub fn assert_pat_hidden_in_output(&self, out: &RunOutput) {
        assert!(!out.cmdlines.is_empty(), "the sampler saw no process");
        for line in &out.cmdlines {
            assert!(!line.contains(&self.pat), "PAT in a command line: {line}");
        }
        assert!(!out.stdout.contains(&self.pat), "PAT on stdout");
        assert!(!out.stderr.contains(&self.pat), "PAT on stderr");
    }

    /// The PAT appears nowhere it must not: argv of every process, our output, run.sh's env.
    pub fn assert_pat_hidden(&self, out: &RunOutput) {
        self.assert_pat_hidden_in_output(out);
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

/// Polls `probe` every 50 ms until it yields; panics naming `what` after 30 s.
pub async fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
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

/// Sends `signal` to `pid`; the process must still exist.
pub fn signal(pid: Pid, signal: Signal) {
    kill(pid, signal).unwrap();
}
