//! The bench's own assembly of the system: the harness's pieces (operator process, AgentPool
//! manifests, binaries) around a kubelet whose runtime is the in-process agent player.
//!
//! `Sandbox::start` only offers the process and timer runtimes (see `BENCH-NEEDS.md`); this
//! is the local stand-in until it accepts a custom one.

use std::sync::Arc;
use std::time::Duration;

use azp_ado_emulator::{EmulatorConfig, RunningEmulator};
use azp_kube_sim::kubelet::{KubeletConfig, KubeletHandle, PodRuntime};
use azp_kube_sim::{KubeSimConfig, RunningKubeSim};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::harness::{
    AgentPoolSpec, Binaries, NAMESPACE, OperatorLaunch, OperatorProcess, PAT_SECRET, SandboxError,
};

const FIELD_MANAGER: &str = "azp-sandbox-bench";
const CRD_YAML: &str = include_str!("../../../../crds/agentpool.yaml");

/// How to assemble the rig.
pub struct RigOptions {
    /// Azure DevOps pools of the emulator.
    pub ado_pools: Vec<String>,
    /// The PAT.
    pub pat: String,
    /// Point the emulator's service hooks at the operator.
    pub hooks: bool,
    /// `--min-poll-spacing-ms`.
    pub min_poll_spacing: Duration,
    /// The kubelet's runtime.
    pub runtime: Arc<dyn PodRuntime>,
    /// The binaries (operator).
    pub binaries: Binaries,
}

/// Emulator, kube-sim, kubelet and the operator process.
pub struct Rig {
    /// The emulator.
    pub emulator: RunningEmulator,
    /// kube-sim.
    pub kube_sim: RunningKubeSim,
    /// Client for kube-sim.
    pub client: Client,
    kubelet: Option<KubeletHandle>,
    /// The operator process.
    pub operator: OperatorProcess,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Rig {
    /// Starts everything; the operator last, with hooks wired when asked.
    pub async fn start(options: RigOptions) -> Result<Self, SandboxError> {
        let dir = tempfile::Builder::new().prefix("azp-bench-").tempdir()?;
        let crds = dir.path().join("crds");
        std::fs::create_dir_all(&crds)?;
        std::fs::write(crds.join("agentpool.yaml"), CRD_YAML)?;
        let loopback: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        let kube_sim = RunningKubeSim::start(
            KubeSimConfig {
                crds_dir: Some(crds),
                ..KubeSimConfig::default()
            },
            loopback,
        )
        .await
        .map_err(|e| SandboxError::Kube(e.to_string()))?;
        let emulator = RunningEmulator::start(
            EmulatorConfig {
                pat: options.pat.clone(),
                pools: options.ado_pools.clone(),
                long_poll: Duration::from_secs(20),
                lock_duration: Duration::from_secs(120),
                ..EmulatorConfig::default()
            },
            loopback,
        )
        .await
        .map_err(|e| SandboxError::Emulator(e.to_string()))?;
        let client = kube_sim.client().await;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kube_sim.kubeconfig_yaml())?;
        let kubelet = KubeletHandle::spawn(
            client.clone(),
            KubeletConfig::new("bench-node", options.runtime.clone()),
        );
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": PAT_SECRET, "namespace": NAMESPACE},
            "stringData": {"token": options.pat},
        }))
        .map_err(|e| SandboxError::Kube(e.to_string()))?;
        Api::<Secret>::namespaced(client.clone(), NAMESPACE)
            .patch(
                PAT_SECRET,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&secret),
            )
            .await?;
        let hook_secret = uuid::Uuid::new_v4().simple().to_string();
        let hook_secret_file = if options.hooks {
            let path = dir.path().join("hook-secret");
            std::fs::write(&path, &hook_secret)?;
            Some(path)
        } else {
            None
        };
        let launch = OperatorLaunch {
            binary: options.binaries.operator.clone(),
            kubeconfig,
            namespace: NAMESPACE.into(),
            min_poll_spacing: options.min_poll_spacing,
            registration_grace: Duration::from_secs(30),
            hook_secret_file,
            log_file: dir.path().join("operator.log"),
            // One debug line per Azure DevOps attempt, with its duration: the bench's
            // breakdown of where a run's time goes (`bench/phases.rs`).
            log_filter: "warn,azp_ado::client=debug".into(),
            marker: uuid::Uuid::new_v4().simple().to_string(),
            entra_authority: emulator.base_url(),
        };
        let operator = OperatorProcess::start(&launch).await?;
        let rig = Self {
            emulator,
            kube_sim,
            client,
            kubelet: Some(kubelet),
            operator,
            http: reqwest::Client::new(),
            dir,
        };
        if options.hooks {
            let url = format!("{}/hooks/azure-devops", rig.operator.base_url);
            rig.control(
                reqwest::Method::POST,
                "/_emulator/hooks",
                Some(
                    json!({"url": url, "basicAuth": {"username": "azp", "password": hook_secret}}),
                ),
            )
            .await?;
        }
        Ok(rig)
    }

    /// Creates or updates an AgentPool.
    pub async fn apply_agent_pool(&self, spec: &AgentPoolSpec) -> Result<(), SandboxError> {
        let manifest = spec.manifest(NAMESPACE, &self.emulator.org_url());
        let resource = kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("azp.dev", "v1alpha1", "AgentPool"),
            "agentpools",
        );
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(self.client.clone(), NAMESPACE, &resource);
        api.patch(
            &spec.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&manifest),
        )
        .await?;
        Ok(())
    }

    /// Pods API in the bench namespace.
    pub fn pods_api(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// Zeroes the emulator's request counters.
    pub async fn reset_stats(&self) -> Result<(), SandboxError> {
        self.control(reqwest::Method::POST, "/_emulator/stats/reset", None)
            .await
    }

    /// Directory with the operator's log.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Stops the operator, the kubelet, kube-sim and the emulator.
    pub async fn shutdown(mut self) {
        self.operator.kill().await;
        if let Some(kubelet) = self.kubelet.take()
            && let Err(e) = kubelet.shutdown().await
        {
            tracing::warn!(error = %e, "kubelet shutdown");
        }
        self.emulator.shutdown().await;
        self.kube_sim.shutdown().await;
    }

    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(), SandboxError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.emulator.base_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SandboxError::Emulator(format!("{path}: {e}")))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(SandboxError::Emulator(format!(
                "{path}: {}",
                response.status()
            )))
        }
    }
}
