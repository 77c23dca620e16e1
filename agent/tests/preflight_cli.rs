//! `azp-agent preflight` end to end: real DNS for loopback names, moto's STS for the IRSA probe,
//! a real registry port, and sockets for the BuildKit answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixListener;

use azp_ado_emulator::{EmulatorConfig, RunningEmulator};
use support::{Moto, Registry, agent, run, text};

const PAT: &str = "emulator-pat-for-preflight";

/// The Azure DevOps emulator on a run-time port, served by its own runtime while the test runs the agent binary.
fn start_emulator() -> (tokio::runtime::Runtime, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = EmulatorConfig {
        pat: PAT.to_owned(),
        pools: vec!["eks-linux".to_owned()],
        ..EmulatorConfig::default()
    };
    let emulator = runtime
        .block_on(RunningEmulator::start(
            config,
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let url = emulator.org_url();
    // Leak the handle into the runtime: dropping the runtime at the end of the test stops the server.
    std::mem::forget(emulator);
    (runtime, url)
}

/// Answers one connection like buildkitd's gRPC server: reads the HTTP/2 preface, sends SETTINGS.
fn fake_http2_socket(path: &std::path::Path) -> std::thread::JoinHandle<()> {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut preface = [0u8; 33];
        stream.read_exact(&mut preface).unwrap();
        assert!(preface.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        stream
            .write_all(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            .unwrap();
    })
}

fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn private_endpoint_irsa_and_buildkit_all_pass_in_json() {
    let moto = Moto::start();
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let token_file = work.path().join("token");
    std::fs::write(&token_file, "not-a-jwt-but-long-enough").unwrap();
    let socket = work.path().join("buildkitd.sock");
    let server = fake_http2_socket(&socket);
    let s3 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let registry_port = registry.host.rsplit(':').next().unwrap();
    let (_emulator, azp_url) = start_emulator();
    let pat_file = work.path().join("pat");
    std::fs::write(&pat_file, format!("{PAT}\n")).unwrap();

    let output = run(agent()
        .args([
            "preflight",
            "--json",
            "--require-private-endpoint",
            "--expect-identity",
            "irsa",
        ])
        .args([
            "--api-endpoint",
            &moto.url,
            "--registry",
            &format!("localhost:{registry_port}"),
        ])
        .args(["--s3-layer-host", &s3.local_addr().unwrap().to_string()])
        .args(["--buildkit-host", &format!("unix://{}", socket.display())])
        .args(["--azp-url", &azp_url, "--allow-insecure-http"])
        .env("AZP_POOL", "eks-linux")
        .env("AZP_TOKEN_FILE", &pat_file)
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/pusher")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file)
        .env("AWS_ENDPOINT_URL_STS", &moto.url));
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], true);
    let pass = |name: &str| (name.to_owned(), "pass".to_owned());
    assert_eq!(
        statuses(&report),
        [
            pass("azure-devops"),
            pass("ecr-api-private-dns"),
            pass("ecr-registry-private-dns"),
            pass("s3-layer-host"),
            pass("aws-identity"),
            pass("buildkit")
        ]
    );
    // The identity probe really obtained temporary credentials from (moto's) STS.
    let identity = &report["checks"][4]["detail"];
    assert!(
        identity.as_str().unwrap().contains("temporary"),
        "{identity}"
    );
    server.join().unwrap();
}

#[test]
fn bad_pat_node_role_fallback_unresolvable_registry_and_non_grpc_socket_fail_with_fixes() {
    let registry = Registry::start();
    let (_emulator, azp_url) = start_emulator();
    let work = tempfile::tempdir().unwrap();
    let pat_file = work.path().join("pat");
    std::fs::write(&pat_file, "revoked-pat").unwrap();
    let output = run(agent()
        .args([
            "preflight",
            "--azp-url",
            &azp_url,
            "--allow-insecure-http",
            "--pool",
            "eks-linux",
        ])
        .env("AZP_TOKEN_FILE", &pat_file)
        .args(["--require-private-endpoint", "--expect-identity", "irsa"])
        .args(["--registry", "no-such-registry.invalid", "--timeout", "3"])
        .args([
            "--s3-layer-host",
            &format!("127.0.0.1:{}", support::free_port()),
        ])
        // docker-registry speaks HTTP/1.1 only: a listener, but not a BuildKit daemon.
        .args(["--buildkit-host", &format!("tcp://{}", registry.host)])
        // IRSA expected, but only the role ARN is set: the SDK would fall through to the node role.
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/pusher")
        .env_remove("AWS_EC2_METADATA_DISABLED"));
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    assert!(!stdout.contains("revoked-pat"), "PAT leaked: {stdout}");
    let line = |name: &str| {
        *lines
            .iter()
            .find(|l| l.contains(&format!(" {name}: ")))
            .unwrap()
    };
    assert!(
        line("ecr-registry-private-dns").starts_with("FAIL"),
        "{stdout}"
    );
    assert!(
        line("ecr-registry-private-dns").contains("ecr.dkr"),
        "{stdout}"
    );
    assert!(line("s3-layer-host").starts_with("FAIL"), "{stdout}");
    assert!(line("aws-identity").starts_with("FAIL"), "{stdout}");
    assert!(
        line("aws-identity").contains("instance metadata"),
        "{stdout}"
    );
    assert!(line("buildkit").starts_with("FAIL"), "{stdout}");
    assert!(line("azure-devops").starts_with("FAIL"), "{stdout}");
    assert!(line("azure-devops").contains("renew the PAT"), "{stdout}");
    for failed in lines.iter().filter(|l| l.starts_with("FAIL")) {
        assert!(failed.contains("(fix: "), "no fix on: {failed}");
    }
}
