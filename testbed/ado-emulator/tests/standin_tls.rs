//! `config.sh --sslcacert`: an Azure DevOps Server behind a private CA. The emulator sits
//! behind a TLS-terminating proxy whose certificate only the given CA bundle vouches for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use azp_ado_emulator::tls::PrivateCa;
use azp_ado_emulator::{EmulatorConfig, QueueJob, RunningEmulator};
use tokio::process::Command;

const STANDIN: &str = env!("CARGO_BIN_EXE_azp-agent-standin");

async fn configure(dir: &Path, url: &str, pat: &str, extra: &[&str]) -> Output {
    Command::new(dir.join("config.sh"))
        .args([
            "--unattended",
            "--url",
            url,
            "--auth",
            "pat",
            "--agent",
            "tls-agent",
        ])
        .args(extra)
        .env("AGENT_ALLOW_RUNASROOT", "1")
        .env("VSTS_AGENT_INPUT_TOKEN", pat)
        // https needs no permission for Basic auth: make sure none is given.
        .env_remove("VSS_ALLOW_UNSAFE_BASICAUTH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap()
}

async fn install() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(STANDIN)
        .arg("install")
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_bundle_makes_the_server_trusted_for_config_and_run() {
    let pat = format!("pat-{}", uuid::Uuid::new_v4().simple());
    let emulator = RunningEmulator::start(
        EmulatorConfig {
            pat: pat.clone(),
            long_poll: Duration::from_secs(1),
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let ca = PrivateCa::new("azp-agent-standin test CA").unwrap();
    let ca_pem = ca.ca_pem.clone();
    let port = ca.proxy(emulator.local_addr()).await.unwrap();
    let url = format!("https://localhost:{port}/contoso");

    let untrusting = install().await;
    let out = configure(untrusting.path(), &url, &pat, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unknown CA must not be trusted"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("certificate") || stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
    assert!(emulator.agents().is_empty());

    let dir = install().await;
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let out = configure(
        dir.path(),
        &url,
        &pat,
        &["--sslcacert", ca_file.to_str().unwrap()],
    )
    .await;
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let credentials: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(".credentials")).unwrap())
            .unwrap();
    let token_url = credentials["data"]["oauthEndpointUrl"].as_str().unwrap();
    assert!(
        token_url.starts_with(&format!("https://localhost:{port}/")),
        "on-premises: the token endpoint is rebased on --url: {token_url}"
    );
    let certificates = std::fs::read_to_string(dir.path().join(".certificates")).unwrap();
    assert!(certificates.contains("ca.pem"), "{certificates}");

    // run.sh trusts the recorded bundle too.
    let request = emulator
        .queue_job(QueueJob {
            pool: "Default".into(),
            script: Some("echo over-tls".into()),
            ..QueueJob::default()
        })
        .unwrap();
    let run = Command::new(dir.path().join("run.sh"))
        .arg("--once")
        .env("AGENT_ALLOW_RUNASROOT", "1")
        .env("AZP_STANDIN_POLL_DELAY_MS", "50")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = emulator.job(request).unwrap();
    assert_eq!(job.result.as_deref(), Some("succeeded"));
    assert!(job.log.unwrap_or_default().contains("over-tls"));
    emulator.shutdown().await;
}
