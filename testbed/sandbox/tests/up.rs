//! `azp-sandbox up` with the repository's own example AgentPool file, real kubectl against it, and
//! `azp-sandbox queue` running a job on it to its end; SIGTERM stops everything.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sandbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_azp-sandbox"))
}

/// kubectl as `make test` installs it (the chart tests use the same one).
fn kubectl() -> PathBuf {
    let peers = std::env::var_os("AZP_PEERS_DIR").expect("AZP_PEERS_DIR (run through make test)");
    let kubectl = Path::new(&peers).join("bin/kubectl");
    assert!(
        kubectl.is_file(),
        "{} is missing: run `make peers`",
        kubectl.display()
    );
    kubectl
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Kills `up` if the test fails before stopping it.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn up_runs_the_example_agentpool_and_queue_runs_a_job_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("up.json");
    let log = dir.path().join("up.log");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/agentpool-basic.yaml");
    let mut up = Up(sandbox()
        .args(["up", "--agentpool"])
        .arg(&example)
        .arg("--state-file")
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("up.err")).unwrap())
        .spawn()
        .unwrap());
    let started = Instant::now();
    while !state.exists() {
        assert!(
            up.0.try_wait().unwrap().is_none(),
            "up exited:\n{}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(dir.path().join("up.err")).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "up did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let printed = std::fs::read_to_string(&log).unwrap();
    assert!(
        printed.contains("organization https://dev.azure.com/contoso → http://127.0.0.1:"),
        "{printed}"
    );
    let up_state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let kubeconfig = up_state["kubeconfig"].as_str().unwrap().to_owned();
    assert!(
        printed.contains(&format!("kubectl --kubeconfig {kubeconfig} get")),
        "{printed}"
    );

    // The user's own tools work against it.
    let pools = Command::new(kubectl())
        .args([
            "--kubeconfig",
            &kubeconfig,
            "get",
            "agentpools",
            "-o",
            "name",
        ])
        .output()
        .unwrap();
    assert!(pools.status.success(), "{}", text(&pools));
    assert_eq!(
        String::from_utf8_lossy(&pools.stdout).trim(),
        "agentpool.azp.dev/linux"
    );

    // kubectl sends built-in types as protobuf: the README's own one-liners work here too.
    let kubectl_ok = |args: &[&str]| {
        let output = Command::new(kubectl())
            .args(["--kubeconfig", &kubeconfig])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}",
            text(&output)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    kubectl_ok(&["create", "namespace", "azp"]);
    kubectl_ok(&[
        "-n",
        "azp",
        "create",
        "secret",
        "generic",
        "azp-pat",
        "--from-literal=token=not-a-real-pat",
    ]);
    kubectl_ok(&[
        "-n",
        "azp",
        "create",
        "configmap",
        "settings",
        "--from-literal=level=debug",
    ]);
    assert_eq!(
        kubectl_ok(&[
            "-n",
            "azp",
            "get",
            "secret",
            "azp-pat",
            "-o",
            "jsonpath={.data.token}"
        ]),
        "bm90LWEtcmVhbC1wYXQ="
    );
    assert_eq!(
        kubectl_ok(&[
            "-n",
            "azp",
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data.level}"
        ]),
        "debug"
    );

    // A job queued in the example's pool runs on a pod of that AgentPool, with its script's output.
    let queued = sandbox()
        .args([
            "queue",
            "--script",
            "echo hello-from-up",
            "--timeout",
            "90",
            "--state-file",
        ])
        .arg(&state)
        .output()
        .unwrap();
    let output = text(&queued);
    assert!(queued.status.success(), "{output}");
    assert!(output.contains("in pool eks-linux"), "{output}");
    assert!(output.contains("(agent default.linux-"), "{output}");
    assert!(
        output.contains("--- job log ---\nhello-from-up\n---"),
        "{output}"
    );
    assert!(output.contains(": succeeded"), "{output}");

    // A pool the sandbox does not serve is refused with the emulator's reason.
    let refused = sandbox()
        .args(["queue", "--pool", "nope", "--state-file"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("the emulator refused the job"),
        "{}",
        text(&refused)
    );

    // SIGTERM stops it cleanly, and `queue` then says nothing is running.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(up.0.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = up.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "up did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    assert!(!state.exists(), "the state file outlived up");
    let after = sandbox()
        .args(["queue", "--state-file"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(
        text(&after).contains("no running `azp-sandbox up` found"),
        "{}",
        text(&after)
    );
}
