//! `azp-agent vm` end to end: the loop against the Azure DevOps emulator (in-process) with
//! `azp-agent-standin` installed as the official agent, twice: the registering step's home
//! (root's) and the job step's home (the run user's), as `examples/vm/` lays them out.
//!
//! As root (CI), the job step runs as `nobody` through `setpriv`, and a job proves it cannot
//! read the PAT file.
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
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use run_harness::{Harness, POOL, ProcSampler, wait_for};
use support::imds::Imds;
use support::{DOCKER_CLI, Dockerd, MOTO_PASSWORD, Moto, Registry, require};

const AGENT: &str = env!("CARGO_BIN_EXE_azp-agent");
/// The job user when the tests run as root.
const RUN_USER: &str = "nobody";

/// The loop's directories inside the harness's temp dir.
struct VmLayout {
    state_dir: PathBuf,
    run_home: PathBuf,
    work: PathBuf,
    log: PathBuf,
    as_root: bool,
}

impl VmLayout {
    fn new(h: &Harness) -> Self {
        let as_root = nix::unistd::geteuid().is_root();
        let run_home = h.another_agent_home("run-home");
        let layout = Self {
            state_dir: h.dir.path().join("state"),
            run_home,
            work: h.dir.path().join("work"),
            log: h.dir.path().join("vm.log"),
            as_root,
        };
        // The PAT is root's alone, as examples/vm/ installs it.
        std::fs::set_permissions(h.token_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
        if as_root {
            // The job user must reach its own home through the temp dir.
            std::fs::set_permissions(h.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            let nobody = nix::unistd::User::from_name(RUN_USER).unwrap().unwrap();
            chown_tree(&layout.run_home, nobody.uid.as_raw(), nobody.gid.as_raw());
        } else {
            eprintln!(
                "not root: the job step runs as the test's own user; the PAT separation is not checked"
            );
        }
        layout
    }

    /// Starts `azp-agent vm`.
    fn start(&self, h: &Harness, extra: &[&str]) -> Child {
        self.start_with_env(h, extra, &[])
    }

    /// Starts `azp-agent vm` with extra environment variables.
    fn start_with_env(&self, h: &Harness, extra: &[&str], env: &[(&str, &str)]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(AGENT);
        command
            .arg("vm")
            .args(["--allow-insecure-http", "--deregister-attempts", "3"])
            .args(if extra.contains(&"--retry-pause") {
                &[][..]
            } else {
                &["--retry-pause", "1"][..]
            })
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--run-agent-home")
            .arg(&self.run_home)
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", h.dir.path())
            .env("AZP_URL", h.emulator.org_url())
            .env("AZP_POOL", POOL)
            .env("AZP_AGENT_NAME", &h.agent_name)
            .env("AZP_AGENT_HOME", h.agent_home())
            .env("AZP_TOKEN_FILE", h.token_file())
            .env("AZP_WORK", &self.work)
            .env("AGENT_ALLOW_RUNASROOT", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env(
                "AZP_PASS_ENV",
                "AZP_STANDIN_POLL_DELAY_MS,AZP_STANDIN_KEEPALIVE_MS",
            )
            .env("AZP_STANDIN_POLL_DELAY_MS", "50")
            .env("AZP_STANDIN_KEEPALIVE_MS", "500")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if self.as_root {
            command.args(["--run-as-user", RUN_USER]);
        }
        command.spawn().unwrap()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn state_record(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.state_dir.join("registration.json")).ok()?;
        serde_json::from_str(&text).ok()
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid, gid);
        }
    }
}

/// The ids of the agents registered now under the harness's name prefix.
fn registered_ids(h: &Harness) -> Vec<i32> {
    h.emulator
        .agents()
        .into_iter()
        .filter(|agent| agent.name.starts_with(&format!("{}-", h.agent_name)))
        .map(|agent| agent.id)
        .collect()
}

/// Waits for an agent of this machine that is online (listening) and returns its id.
async fn wait_online(h: &Harness, layout: &VmLayout, not: &[i32]) -> i32 {
    let prefix = format!("{}-", h.agent_name);
    let start = std::time::Instant::now();
    loop {
        if let Some(agent) = h.emulator.agents().into_iter().find(|agent| {
            agent.name.starts_with(&prefix) && agent.status == "online" && !not.contains(&agent.id)
        }) {
            return agent.id;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no new agent online; loop log:\n{}",
            layout.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_exit(child: &mut Child, layout: &VmLayout) -> std::process::ExitStatus {
    match tokio::time::timeout(Duration::from_secs(45), child.wait()).await {
        Ok(status) => status.unwrap(),
        Err(_) => {
            let _ = child.kill().await;
            panic!("azp-agent vm did not exit; log:\n{}", layout.log_text());
        }
    }
}

/// SIGKILL to `root` and every descendant, as a reboot or systemd's cgroup kill would.
fn kill_tree(root: i32) {
    let mut pids = vec![root];
    let mut index = 0;
    while index < pids.len() {
        let parent = pids[index];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<i32>().ok());
            if ppid == Some(parent) && !pids.contains(&pid) {
                pids.push(pid);
            }
        }
        index += 1;
    }
    for pid in pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_jobs_are_run_by_three_successive_registrations_each_removed() {
    let h = Harness::start().await;
    let layout = VmLayout::new(&h);
    let pat_file = h.token_file().display().to_string();
    let script = format!(
        "id -un; test -z \"$AZP_TOKEN_FILE\" && echo no-pat-variable; cat {pat_file} >/dev/null 2>&1 && echo PAT-READABLE || echo PAT-UNREADABLE; touch leftover-from-job"
    );
    let mut child = layout.start(&h, &["--max-jobs", "3"]);
    let sampler = ProcSampler::start(Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap()));
    let mut seen = Vec::new();
    for round in 0..3 {
        let agent = wait_online(&h, &layout, &seen).await;
        // The record names the agent before the job runs, by id.
        let record = layout
            .state_record()
            .expect("state record while registered");
        assert_eq!(record["agentId"], serde_json::json!(agent), "round {round}");
        let request = h.queue(1, "succeeded", Some(&script));
        h.wait_job_state(request, "finished").await;
        let job = h.emulator.job(request).unwrap();
        assert_eq!(job.agent_id, Some(agent), "round {round}: {job:?}");
        assert_eq!(job.result.as_deref(), Some("succeeded"), "{job:?}");
        let log = job.log.unwrap_or_default();
        assert!(log.contains("no-pat-variable"), "job log:\n{log}");
        if layout.as_root {
            assert!(log.contains(RUN_USER), "job log:\n{log}");
            assert!(log.contains("PAT-UNREADABLE"), "job log:\n{log}");
        }
        assert!(!log.contains(&h.pat), "PAT in the job log");
        wait_for("the job's registration removed", || {
            (!registered_ids(&h).contains(&agent)).then_some(())
        })
        .await;
        seen.push(agent);
    }
    let status = wait_exit(&mut child, &layout).await;
    let (cmdlines, run_environments) = sampler.stop();
    let log = layout.log_text();
    assert!(status.success(), "{status:?}; log:\n{log}");
    assert_eq!(seen.len(), 3);
    // No process of the loop's tree had the PAT on its command line, and the listener's
    // environment (which jobs inherit) never held it or its file's name.
    assert!(
        cmdlines.iter().any(|line| line.contains(" run --once")),
        "{cmdlines:#?}"
    );
    for line in &cmdlines {
        assert!(!line.contains(&h.pat), "PAT in a command line: {line}");
    }
    assert!(
        !run_environments.is_empty(),
        "run.sh's environment never sampled"
    );
    for env in &run_environments {
        assert!(!env.contains(&h.pat), "PAT in run.sh's environment");
        // (The name itself is in VSO_AGENT_IGNORE; the variable must not be there.)
        assert!(
            !env.contains("AZP_TOKEN_FILE=") && !env.contains(&pat_file),
            "PAT file named in run.sh's environment"
        );
    }
    assert!(seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2]);
    assert!(
        registered_ids(&h).is_empty(),
        "left: {:?}",
        registered_ids(&h)
    );
    assert_eq!(
        layout.state_record(),
        None,
        "record left after the last removal"
    );
    assert_eq!(
        std::fs::read_dir(&layout.work).unwrap().count(),
        0,
        "work directory not cleaned"
    );
    assert!(!h.agent_home().join(".credentials").exists());
    assert!(!layout.run_home.join(".credentials_rsaparams").exists());
    assert!(!log.contains(&h.pat), "PAT in the loop's log");
    assert_eq!(
        log.matches("registration removed").count(),
        3,
        "log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_job_leaves_no_registration_once_restarted() {
    let h = Harness::start().await;
    let layout = VmLayout::new(&h);
    let mut child = layout.start(&h, &["--skip-preflight"]);
    let crashed = wait_online(&h, &layout, &[]).await;
    let request = h.queue(60, "succeeded", None);
    h.wait_job_state(request, "running").await;

    // The machine dies mid-job: loop, job step, run.sh and the job, all at once.
    kill_tree(i32::try_from(child.id().unwrap()).unwrap());
    let _ = child.wait().await;
    assert_eq!(
        layout.state_record().unwrap()["agentId"],
        serde_json::json!(crashed)
    );
    assert!(registered_ids(&h).contains(&crashed), "the crash left it");

    let mut child = layout.start(&h, &["--skip-preflight"]);
    let replacement = wait_online(&h, &layout, &[crashed]).await;
    assert!(
        !registered_ids(&h).contains(&crashed),
        "the crashed registration outlived the restart"
    );
    // The job it abandoned shows as abandoned once its lock lapses.
    wait_for("the abandoned job", || {
        h.emulator
            .job(request)
            .filter(|job| job.result.as_deref() == Some("abandoned"))
    })
    .await;
    kill(
        Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_exit(&mut child, &layout).await;
    let log = layout.log_text();
    assert!(status.success(), "{status:?}; log:\n{log}");
    assert!(
        registered_ids(&h).is_empty(),
        "left after stopping: {:?} (replacement was {replacement})",
        registered_ids(&h)
    );
    assert!(
        log.contains(&format!("agent_id={crashed}")) && log.contains("registration removed"),
        "log:\n{log}"
    );
    assert!(!log.contains(&h.pat), "PAT in the loop's log");
}

/// `FROM scratch` + static busybox + a RUN step, readable by the job user.
fn write_build_context(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(require(Path::new("/bin/busybox")), dir.join("busybox")).unwrap();
    std::fs::write(
        dir.join("Containerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"id -u > /built-by\"]\n",
    )
    .unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The ECR side of the VM without a key: the SDK default chain of the job step (as the run
/// user) finds the instance role through IMDSv2 (moto's instance metadata behind a strict
/// relay, see `support::imds`), the preflight of both steps expects exactly that
/// (`--expect-identity instance-profile`), and the job's `build-push --builder docker` pushes to
/// the htpasswd registry with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_the_loop_builds_with_docker_and_pushes_with_the_instance_role_from_moto() {
    let h = Harness::start().await;
    let layout = VmLayout::new(&h);
    let moto = Moto::start();
    let registry = Registry::start();
    let dockerd = Dockerd::start(&registry.host);
    let imds = Imds::start(&moto.url).await;
    let socket = dockerd.dir.path().join("docker.sock");
    let docker_config = h.dir.path().join("docker-config");
    std::fs::create_dir(&docker_config).unwrap();
    if layout.as_root {
        let nobody = nix::unistd::User::from_name(RUN_USER).unwrap().unwrap();
        chown_tree(&docker_config, nobody.uid.as_raw(), nobody.gid.as_raw());
        // The test's stand-in for the `docker` group of examples/vm: the job user may use
        // this dockerd's socket.
        std::fs::set_permissions(dockerd.dir.path(), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    let context = h.dir.path().join("ctx");
    write_build_context(&context);
    let repository = format!("{}/team/app", registry.host);
    let script = format!(
        "{AGENT} build-push --builder docker --repository {repository} --tag v1 --context {ctx} --file {ctx}/Containerfile --docker-network none --plain-http --docker {DOCKER_CLI}",
        ctx = context.display(),
    );
    let docker_config_text = docker_config.display().to_string();
    let mut child = layout.start_with_env(
        &h,
        &[
            "--max-jobs",
            "1",
            "--expect-identity",
            "instance-profile",
            "--region",
            "us-east-1",
            "--registry",
            &registry.host,
            "--api-endpoint",
            &moto.url,
        ],
        &[
            ("DOCKER_CONFIG", &docker_config_text),
            ("DOCKER_HOST", &dockerd.host),
            (
                "AZP_PASS_ENV",
                "AZP_STANDIN_POLL_DELAY_MS,AZP_STANDIN_KEEPALIVE_MS,DOCKER_HOST",
            ),
            ("AWS_REGION", "us-east-1"),
            // No key anywhere: the chain ends at instance metadata, as on the VM.
            ("AWS_EC2_METADATA_DISABLED", "false"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url),
            ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            ),
            // The preflight's credential probe asks STS who the role is.
            ("AWS_ENDPOINT_URL_STS", &moto.url),
        ],
    );
    let agent = wait_online(&h, &layout, &[]).await;
    let request = h.queue(0, "succeeded", Some(&script));
    let start = std::time::Instant::now();
    let job = loop {
        if let Some(job) = h
            .emulator
            .job(request)
            .filter(|job| job.state == "finished")
        {
            break job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the build job did not finish; loop log:\n{}",
            layout.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = job.log.clone().unwrap_or_default();
    assert_eq!(
        job.result.as_deref(),
        Some("succeeded"),
        "job log:\n{log}\nloop log:\n{}",
        layout.log_text()
    );
    assert_eq!(job.agent_id, Some(agent));
    let pinned = log
        .lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{repository}@")))
        .unwrap_or_else(|| panic!("no pinned reference in the job log:\n{log}"))
        .to_owned();
    assert!(
        pinned.starts_with("sha256:") && pinned.len() == 71,
        "{pinned}"
    );

    // The job step wrote moto's token for the registry, and the registry accepts it.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(docker_config.join("config.json")).unwrap())
            .unwrap();
    let auth = config["auths"][&registry.host]["auth"].as_str().unwrap();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("AWS:{MOTO_PASSWORD}")
    );
    let inspect = std::process::Command::new(require(Path::new("/usr/bin/skopeo")))
        .arg("inspect")
        .arg("--authfile")
        .arg(docker_config.join("config.json"))
        .args([
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &format!("docker://{repository}:v1"),
        ])
        .output()
        .unwrap();
    assert!(inspect.status.success(), "{inspect:?}");
    assert_eq!(String::from_utf8_lossy(&inspect.stdout).trim(), pinned);

    let status = wait_exit(&mut child, &layout).await;
    let loop_log = layout.log_text();
    assert!(status.success(), "{status:?}; log:\n{loop_log}");
    assert!(
        registered_ids(&h).is_empty(),
        "left: {:?}",
        registered_ids(&h)
    );
    // Both steps' preflight saw the instance role, and the credentials came through IMDSv2.
    assert!(
        loop_log.matches("PASS aws-identity").count() >= 2,
        "loop log:\n{loop_log}"
    );
    assert!(
        imds.token_reads.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no IMDSv2 read"
    );
    assert_eq!(
        imds.refused.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "a metadata read without an IMDSv2 token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_job_is_passed_on_then_the_registration_is_removed() {
    let h = Harness::start().await;
    let layout = VmLayout::new(&h);
    let mut child = layout.start(&h, &["--skip-preflight", "--grace-period", "20"]);
    let agent = wait_online(&h, &layout, &[]).await;
    let request = h.queue(60, "succeeded", None);
    h.wait_job_state(request, "running").await;
    kill(
        Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_exit(&mut child, &layout).await;
    let log = layout.log_text();
    assert!(status.success(), "{status:?}; log:\n{log}");
    // The job step got the signal and let the agent cancel the job.
    let job = h.emulator.job(request).unwrap();
    assert_eq!(job.result.as_deref(), Some("canceled"), "log:\n{log}");
    assert!(!registered_ids(&h).contains(&agent));
    assert!(
        registered_ids(&h).is_empty(),
        "left: {:?}",
        registered_ids(&h)
    );
    assert_eq!(layout.state_record(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pat_file_the_job_user_could_read_stops_the_loop_before_registering() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: --run-as-user cannot be used, so there is no job user to check");
        return;
    }
    let h = Harness::start().await;
    let layout = VmLayout::new(&h);
    std::fs::set_permissions(h.token_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = layout.start(&h, &["--skip-preflight"]);
    let status = wait_exit(&mut child, &layout).await;
    let log = layout.log_text();
    assert!(!status.success(), "log:\n{log}");
    assert!(
        log.contains("readable by nobody") && log.contains("chmod 0600"),
        "log:\n{log}"
    );
    assert!(!log.contains(&h.pat), "PAT in the log");
    assert!(h.emulator.agents().is_empty(), "registered anyway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_step_that_cannot_start_is_retried_after_a_pause_not_in_a_tight_loop() {
    let h = Harness::start().await;
    let layout = VmLayout::new(&h);
    // ECR login, which only the job step does, fails every time (nothing listens on the API
    // endpoint); the registering step succeeds.
    let mut child = layout.start_with_env(
        &h,
        &[
            "--skip-preflight",
            "--region",
            "us-east-1",
            "--registry",
            "127.0.0.1:9",
            "--api-endpoint",
            "http://127.0.0.1:9",
            "--retry-pause",
            "4",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    kill(
        Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_exit(&mut child, &layout).await;
    let log = layout.log_text();
    assert!(status.success(), "{status:?}; log:\n{log}");
    let rounds = log.matches("registered; running one job").count();
    assert!(
        (1..=2).contains(&rounds),
        "{rounds} registrations in 5 s with a 4 s pause; log:\n{log}"
    );
    assert!(
        log.contains("the job step could not run a job"),
        "log:\n{log}"
    );
    assert!(
        registered_ids(&h).is_empty(),
        "left: {:?}",
        registered_ids(&h)
    );
}
