//! Microsoft's Python SDK (`azure-devops` 7.1.0b4) against the emulator: `tests/sdk/sdk_conformance.py`.
//!
//! Interpreter: `AZP_TEST_PYTHON` (set by `make test`), else the workspace venv created by
//! `make peers`. Missing interpreter is a failure, not a skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use azp_ado_emulator::{EmulatorConfig, QueueJob, RunningEmulator};
use serde_json::{Value, json};

const PAT: &str = "sdk-pat";

fn python() -> PathBuf {
    let candidate = std::env::var_os("AZP_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/peers/venv/bin/python")
        });
    assert!(
        candidate.exists(),
        "no Python with azure-devops at {} — run `make peers` (or set AZP_TEST_PYTHON)",
        candidate.display()
    );
    candidate
}

#[tokio::test]
async fn microsoft_python_sdk_drives_pools_agents_and_job_requests() {
    let python = python();
    let cfg = EmulatorConfig {
        pat: PAT.to_owned(),
        pools: vec!["Default".to_owned(), "Linux".to_owned()],
        ..EmulatorConfig::default()
    };
    let emu = RunningEmulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();

    // An offline placeholder keeps one job queued, so the SDK's job-request call has something to see.
    let placeholder = reqwest::Client::new()
        .post(format!(
            "{}/_apis/distributedtask/pools/11/agents?api-version=7.1",
            emu.org_url()
        ))
        .basic_auth("", Some(PAT))
        .json(&json!({"name": "template", "version": "99.999.9"}))
        .send()
        .await
        .unwrap();
    assert!(placeholder.status().is_success());
    let queued = emu
        .queue_job(QueueJob {
            pool: "Linux".to_owned(),
            ..QueueJob::default()
        })
        .unwrap();
    let finished = emu
        .queue_job(QueueJob {
            pool: "Linux".to_owned(),
            demands: vec!["nothing-has-this".to_owned()],
            ..QueueJob::default()
        })
        .unwrap();

    let cache = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/sdk_conformance.py");
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .env("EMULATOR_ORG_URL", emu.org_url())
        .env("EMULATOR_PAT", PAT)
        .env("EMULATOR_POOL", "Linux")
        .env("AZURE_DEVOPS_CACHE_DIR", cache.path())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("SDK script timed out")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK script failed ({}):\n{stdout}\n{stderr}",
        output.status
    );

    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["poolId"], 11);
    assert_eq!(report["poolCount"], 2);
    assert_eq!(report["replacedVersion"], "4.262.0");
    assert_eq!(
        report["unfinishedRequestIds"],
        json!([queued]),
        "finished request {finished} must not be listed"
    );
    assert!(report["badPatError"].is_string());

    let stats = emu.stats();
    for route in [
        "OPTIONS /_apis",
        "POST /_apis/distributedtask/pools/{poolId}/agents",
        "PATCH /_apis/distributedtask/pools/{poolId}/agents/{agentId}",
        "PUT /_apis/distributedtask/pools/{poolId}/agents/{agentId}",
        "DELETE /_apis/distributedtask/pools/{poolId}/agents/{agentId}",
        "GET /_apis/distributedtask/pools/{poolId}/jobrequests",
    ] {
        assert!(
            stats.routes.contains_key(route),
            "the SDK never called {route}: {:?}",
            stats.routes.keys()
        );
    }
    let agents = emu.agents();
    assert_eq!(
        agents.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["template"],
        "the SDK deleted its agent"
    );
    emu.shutdown().await;
}
