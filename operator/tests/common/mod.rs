//! Shared harness: an in-process kube-sim and Azure DevOps emulator, and the REAL operator
//! binary started against them as a child process.

#![allow(dead_code)]

pub mod agents;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use azp_ado_emulator::{EmulatorConfig, RunningEmulator};
use azp_kube_sim::{KubeSimConfig, RunningKubeSim};
use azp_operator::crd::AgentPool;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const PAT: &str = "test-pat-0123456789";
pub const NAMESPACE: &str = "default";
pub const SELECTOR: &str = "app.kubernetes.io/managed-by=azp-operator";

pub struct Harness {
    pub sim: RunningKubeSim,
    pub emu: RunningEmulator,
    pub client: Client,
    kubeconfig: tempfile::NamedTempFile,
    pub operators: Vec<Operator>,
}

pub struct Operator {
    pub child: Child,
    pub metrics_url: String,
    /// Everything the operator wrote to stderr so far.
    pub logs: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn crds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds")
}

impl Harness {
    pub async fn start(pools: &[&str]) -> Self {
        Self::start_with_crds(pools, &crds_dir()).await
    }

    /// As [`Harness::start`], with the CRDs of `crds` (e.g. an older AgentPool CRD).
    pub async fn start_with_crds(pools: &[&str], crds: &std::path::Path) -> Self {
        let sim = RunningKubeSim::start(
            KubeSimConfig {
                crds_dir: Some(crds.to_path_buf()),
                ..KubeSimConfig::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let emu = RunningEmulator::start(
            EmulatorConfig {
                pat: PAT.into(),
                pools: pools.iter().map(|p| (*p).to_owned()).collect(),
                ..EmulatorConfig::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let client = sim.client().await;
        let kubeconfig = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(kubeconfig.path(), sim.kubeconfig_yaml()).unwrap();
        Self {
            sim,
            emu,
            client,
            kubeconfig,
            operators: Vec::new(),
        }
    }

    pub async fn pat_secret(&self, name: &str, value: &str) {
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "stringData": {"token": value}
        }))
        .unwrap();
        Api::<Secret>::namespaced(self.client.clone(), NAMESPACE)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }

    /// Creates an AgentPool; `extra` is merged into the spec.
    pub async fn agent_pool(&self, name: &str, pool: &str, extra: serde_json::Value) -> AgentPool {
        let mut spec = json!({
            "organization": self.emu.org_url(),
            "pool": pool,
            "auth": {"patSecretRef": {"name": "azp-pat", "key": "token"}},
            "agent": {"image": "azp-agent:test"},
            "scaling": {"maxAgents": 100, "pollInterval": "5s"}
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                spec.insert(k.clone(), v.clone());
            }
        }
        let object: AgentPool = serde_json::from_value(json!({
            "apiVersion": "azp.dev/v1alpha1", "kind": "AgentPool",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec
        }))
        .unwrap();
        self.pools()
            .create(&PostParams::default(), &object)
            .await
            .unwrap()
    }

    pub fn pools(&self) -> Api<AgentPool> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    pub fn pods_api(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    pub async fn pods(&self) -> Vec<Pod> {
        self.pods_api()
            .list(&ListParams::default().labels(SELECTOR))
            .await
            .unwrap()
            .items
    }

    /// Starts the real operator binary; returns once its HTTP endpoint is listening.
    pub async fn start_operator(&mut self, extra_args: &[&str]) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_azp-operator"));
        command
            .args([
                "run",
                "--namespace",
                NAMESPACE,
                "--metrics-addr",
                "127.0.0.1:0",
                "--allow-insecure-http",
                "--min-poll-spacing-ms",
                "500",
            ])
            .args(extra_args)
            .args(if extra_args.contains(&"--log-format") {
                &[][..]
            } else {
                &["--log-format", "text"][..]
            })
            .env("KUBECONFIG", self.kubeconfig.path())
            .env(
                "RUST_LOG",
                std::env::var("OPERATOR_LOG")
                    .unwrap_or_else(|_| "info,azp_operator=debug,azp_ado=debug".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        // OPERATOR_ECHO=1 prints the operator's logs live (they are always kept in `logs`).
        let echo = std::env::var_os("OPERATOR_ECHO").is_some();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    eprintln!("{line}");
                }
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("operator did not print its address")
            .unwrap()
            .expect("operator exited");
        let metrics_url = line
            .strip_prefix("listening on ")
            .expect("address line")
            .to_owned();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.operators.push(Operator {
            child,
            metrics_url,
            logs,
        });
    }

    pub fn queue(&self, pool: &str, demands: &[&str]) -> i64 {
        self.emu
            .queue_job(azp_ado_emulator::QueueJob {
                pool: pool.into(),
                demands: demands.iter().map(|d| (*d).to_owned()).collect(),
                ..Default::default()
            })
            .unwrap()
    }

    pub fn placeholder_registered(&self, agent_pool: &str) -> bool {
        let name = format!("{NAMESPACE}.{agent_pool}.placeholder");
        self.emu.agents().iter().any(|a| a.name == name)
    }

    /// Waits (up to 60 s) until the operator has registered the AgentPool's placeholder: the
    /// sign that it admitted the AgentPool and polled its Azure DevOps pool.
    pub async fn wait_for_placeholder(&self, agent_pool: &str) {
        eventually("placeholder", Duration::from_secs(60), || async {
            self.placeholder_registered(agent_pool).then_some(())
        })
        .await;
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
