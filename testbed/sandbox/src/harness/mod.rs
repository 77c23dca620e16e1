//! The sandbox harness: the Azure DevOps emulator and kube-sim in-process, the real operator
//! binary as a child process, and kube-sim's kubelet running the real `azp-agent` per pod.
//!
//! Used by `demo`, `chaos` and `bench`. [`Sandbox::shutdown`] leaves no process behind.

pub mod binaries;
pub mod kubelet;
pub mod operator;
pub mod pool;
pub mod processes;
pub mod workload_identity;

use std::path::PathBuf;
use std::time::Duration;

use azp_ado_emulator::{EmulatorConfig, QueueJob, RunningEmulator};
use azp_kube_sim::kubelet::{KubeletConfig, KubeletHandle};
use azp_kube_sim::{KubeSimConfig, RunningKubeSim};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::{Api, Client};
use serde_json::{Value, json};

pub use binaries::Binaries;
pub use kubelet::RuntimeKind;
pub use operator::{OperatorLaunch, OperatorProcess};
pub use pool::{AgentPoolSpec, PAT_SECRET};

use crate::snapshot::{PodInfo, Snapshot};

/// Environment variable (with a per-sandbox value) carried by the operator and every pod
/// process, so [`Sandbox::shutdown`] can prove none is left.
pub const MARKER_ENV: &str = "AZP_SANDBOX_ID";
/// Environment variable naming the pod (uid) a process belongs to, so a test can tell
/// whose process survived.
pub const POD_UID_ENV: &str = "AZP_SANDBOX_POD_UID";
/// The namespace everything lives in.
pub const NAMESPACE: &str = "default";
/// Field manager of the sandbox's own writes.
const FIELD_MANAGER: &str = "azp-sandbox";
/// The generated CRD, compiled in so the binary runs from any directory.
const CRD_YAML: &str = include_str!("../../../../crds/agentpool.yaml");

/// What went wrong while running the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A binary could not be found or built.
    #[error("binaries: {0}")]
    Binaries(String),
    /// The emulator failed.
    #[error("Azure DevOps emulator: {0}")]
    Emulator(String),
    /// kube-sim or the Kubernetes API failed.
    #[error("kube-sim: {0}")]
    Kube(String),
    /// The kubelet or its runtime failed.
    #[error("kubelet: {0}")]
    Kubelet(String),
    /// The operator process failed.
    #[error("operator: {0}")]
    Operator(String),
    /// A file in the sandbox directory.
    #[error("sandbox files: {0}")]
    Io(#[from] std::io::Error),
    /// `wait_until` ran out of time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

impl From<kube::Error> for SandboxError {
    fn from(e: kube::Error) -> Self {
        Self::Kube(e.to_string())
    }
}

/// How to start a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Azure DevOps pools the emulator serves.
    pub ado_pools: Vec<String>,
    /// The PAT (emulator and Secret).
    pub pat: String,
    /// The kubelet's runtime.
    pub runtime: RuntimeKind,
    /// Wire the emulator's service hooks to the operator's `/hooks/azure-devops`.
    pub hooks: bool,
    /// `--min-poll-spacing-ms` of the operator.
    pub min_poll_spacing: Duration,
    /// `--registration-grace-seconds` of the operator.
    pub registration_grace: Duration,
    /// `azp-agent run --grace-period` (seconds).
    pub agent_grace_seconds: u32,
    /// Emulator job lock (an unrenewed job is abandoned after it).
    pub lock_duration: Duration,
    /// Emulator long-poll hold time.
    pub long_poll: Duration,
    /// Emulator session idle timeout: a killed agent shows offline after it.
    pub session_idle_timeout: Duration,
    /// `RUST_LOG` of the operator (its log goes to `operator.log` in the sandbox directory).
    pub operator_log_filter: String,
    /// Start the operator at once (otherwise call [`Sandbox::start_operator`]).
    pub start_operator: bool,
    /// Binaries to use; `None` locates (and if needed builds) them.
    pub binaries: Option<Binaries>,
    /// Keep the sandbox directory (logs) after shutdown (default: `AZP_SANDBOX_KEEP` is set).
    pub keep_dir: bool,
    /// How long the BuildKit sidecar stand-in waits before it listens (process runtime, for
    /// AgentPools with `buildkit.enabled`): the start-up race of issue 20, injected.
    pub buildkit_start_delay: Duration,
    /// No PAT Secret: the operator's service account and an Entra application federated
    /// with it instead (AgentPools then use [`AgentPoolSpec::workload_identity`]).
    pub workload_identity: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            ado_pools: vec!["Linux".into()],
            pat: format!("sandbox-{}", uuid::Uuid::new_v4().simple()),
            runtime: RuntimeKind::Process,
            hooks: true,
            min_poll_spacing: Duration::from_millis(1000),
            registration_grace: Duration::from_secs(10),
            agent_grace_seconds: 5,
            lock_duration: Duration::from_secs(60),
            long_poll: Duration::from_secs(20),
            session_idle_timeout: Duration::from_secs(60),
            operator_log_filter: std::env::var("AZP_SANDBOX_OPERATOR_LOG")
                .unwrap_or_else(|_| "info".into()),
            start_operator: true,
            binaries: None,
            keep_dir: std::env::var_os("AZP_SANDBOX_KEEP").is_some(),
            buildkit_start_delay: Duration::from_millis(500),
            workload_identity: false,
        }
    }
}

/// The running system.
pub struct Sandbox {
    options: SandboxOptions,
    emulator: RunningEmulator,
    kube_sim: RunningKubeSim,
    client: Client,
    kubelet: Option<KubeletHandle>,
    // Kept to find pod logs (process runtime only).
    process_runtime: Option<azp_kube_sim::kubelet::ProcessRuntime>,
    operator: Option<OperatorProcess>,
    operator_launch: OperatorLaunch,
    operator_starts: u32,
    hook_secret: Option<String>,
    http: reqwest::Client,
    // Declared after the kubelet and operator so it is dropped last and sweeps what they left.
    processes: processes::MarkerGuard,
    dir: tempfile::TempDir,
    binaries: Binaries,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("emulator", &self.emulator.base_url())
            .field("kube_sim", &self.kube_sim.url())
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts emulator, kube-sim (with the CRD), the kubelet, the PAT Secret (or, with
    /// `workload_identity`, the service account and its Entra application) and (unless
    /// `start_operator` is false) the operator.
    pub async fn start(options: SandboxOptions) -> Result<Self, SandboxError> {
        let binaries = match &options.binaries {
            Some(b) => b.clone(),
            None => tokio::task::spawn_blocking(Binaries::locate_or_build)
                .await
                .map_err(|e| SandboxError::Binaries(e.to_string()))??,
        };
        let dir = tempfile::Builder::new()
            .prefix("azp-sandbox-")
            .disable_cleanup(options.keep_dir)
            .tempdir()?;
        if options.keep_dir {
            eprintln!("azp-sandbox: keeping {}", dir.path().display());
        }
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
                lock_duration: options.lock_duration,
                long_poll: options.long_poll,
                session_idle_timeout: options.session_idle_timeout,
                ..EmulatorConfig::default()
            },
            loopback,
        )
        .await
        .map_err(|e| SandboxError::Emulator(e.to_string()))?;
        let client = kube_sim.client().await;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kube_sim.kubeconfig_yaml())?;
        let marker = uuid::Uuid::new_v4().simple().to_string();
        let mut process_runtime = None;
        let runtime: std::sync::Arc<dyn azp_kube_sim::kubelet::PodRuntime> = match options.runtime {
            RuntimeKind::Process => {
                let agent_home = dir.path().join("agent-home");
                let pods_dir = dir.path().join("pods");
                std::fs::create_dir_all(&pods_dir)?;
                let standin = binaries.standin.clone();
                let home = agent_home.clone();
                tokio::task::spawn_blocking(move || kubelet::install_standin(&standin, &home))
                    .await
                    .map_err(|e| SandboxError::Kubelet(e.to_string()))??;
                let runtime = kubelet::process_runtime(&kubelet::ProcessSettings {
                    binaries: &binaries,
                    agent_home: &agent_home,
                    pods_dir: &pods_dir,
                    agent_grace_seconds: options.agent_grace_seconds,
                    marker: &marker,
                    buildkit_start_delay: options.buildkit_start_delay,
                });
                process_runtime = Some(runtime.clone());
                std::sync::Arc::new(runtime)
            }
            RuntimeKind::Simulated => kubelet::simulated_runtime(),
        };
        let kubelet_handle =
            KubeletHandle::spawn(client.clone(), KubeletConfig::new("sandbox-node", runtime));
        let hook_secret = options
            .hooks
            .then(|| uuid::Uuid::new_v4().simple().to_string());
        let hook_secret_file = match &hook_secret {
            Some(secret) => {
                let path = dir.path().join("hook-secret");
                std::fs::write(&path, secret)?;
                Some(path)
            }
            None => None,
        };
        let operator_launch = OperatorLaunch {
            binary: binaries.operator.clone(),
            kubeconfig,
            namespace: NAMESPACE.into(),
            min_poll_spacing: options.min_poll_spacing,
            registration_grace: options.registration_grace,
            hook_secret_file,
            log_file: dir.path().join("operator.log"),
            log_filter: options.operator_log_filter.clone(),
            marker: marker.clone(),
            entra_authority: emulator.base_url(),
        };
        let mut sandbox = Self {
            emulator,
            kube_sim,
            client,
            kubelet: Some(kubelet_handle),
            process_runtime,
            operator: None,
            operator_launch,
            operator_starts: 0,
            hook_secret,
            http: reqwest::Client::new(),
            processes: processes::MarkerGuard::new(MARKER_ENV, marker),
            dir,
            binaries,
            options,
        };
        if sandbox.options.workload_identity {
            workload_identity::create_service_account(&sandbox.client).await?;
            let application = workload_identity::application(&sandbox.kube_sim.url());
            sandbox
                .control("POST", "/_emulator/entra/applications", Some(application))
                .await?;
        } else {
            let pat = sandbox.options.pat.clone();
            sandbox.set_pat(&pat).await?;
        }
        if sandbox.options.start_operator {
            sandbox.start_operator().await?;
        }
        Ok(sandbox)
    }

    /// The in-process Azure DevOps emulator.
    pub fn emulator(&self) -> &RunningEmulator {
        &self.emulator
    }

    /// The in-process Kubernetes API double.
    pub fn kube_sim(&self) -> &RunningKubeSim {
        &self.kube_sim
    }

    /// A kube client for kube-sim (namespace [`NAMESPACE`]).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The options it was started with.
    pub fn options(&self) -> &SandboxOptions {
        &self.options
    }

    /// The binaries in use.
    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// Directory with `operator.log`, `kubeconfig`, pod directories.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The operator's log file.
    pub fn operator_log(&self) -> PathBuf {
        self.operator_launch.log_file.clone()
    }

    /// Pid of the running operator, for /proc sampling.
    pub fn operator_pid(&self) -> Option<u32> {
        self.operator.as_ref().and_then(OperatorProcess::pid)
    }

    /// `http://127.0.0.1:PORT` of the running operator's metrics/health server.
    pub fn operator_url(&self) -> Option<&str> {
        self.operator.as_ref().map(|o| o.base_url.as_str())
    }

    /// How many times an operator process was started.
    pub fn operator_starts(&self) -> u32 {
        self.operator_starts
    }

    /// Whether an operator process is running.
    pub fn operator_running(&mut self) -> bool {
        self.operator.as_mut().is_some_and(|o| !o.has_exited())
    }

    /// Starts the operator (if none runs) and, with hooks on, points the emulator's service
    /// hook at it.
    pub async fn start_operator(&mut self) -> Result<(), SandboxError> {
        if self.operator.is_some() {
            return Ok(());
        }
        let process = OperatorProcess::start(&self.operator_launch).await?;
        self.operator_starts += 1;
        if let Some(secret) = &self.hook_secret {
            let url = format!("{}/hooks/azure-devops", process.base_url);
            self.control("DELETE", "/_emulator/hooks", None).await?;
            self.control(
                "POST",
                "/_emulator/hooks",
                Some(json!({"url": url, "basicAuth": {"username": "azp", "password": secret}})),
            )
            .await?;
        }
        self.operator = Some(process);
        Ok(())
    }

    /// SIGKILLs the operator (a crash).
    pub async fn kill_operator(&mut self) {
        if let Some(process) = self.operator.take() {
            process.kill().await;
        }
    }

    /// Kills and starts the operator again.
    pub async fn restart_operator(&mut self) -> Result<(), SandboxError> {
        self.kill_operator().await;
        self.start_operator().await
    }

    /// Creates or updates (server-side apply) an AgentPool.
    pub async fn apply_agent_pool(&self, spec: &AgentPoolSpec) -> Result<(), SandboxError> {
        let manifest = spec.manifest(NAMESPACE, &self.emulator.org_url());
        self.agent_pools_api()
            .patch(
                &spec.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&manifest),
            )
            .await?;
        Ok(())
    }

    /// Deletes an AgentPool (the operator then drains and removes its finalizer).
    pub async fn delete_agent_pool(&self, name: &str) -> Result<(), SandboxError> {
        self.agent_pools_api()
            .delete(name, &DeleteParams::default())
            .await?;
        Ok(())
    }

    /// Creates or updates (server-side apply) an AgentPool given as a whole manifest (`up`).
    pub async fn apply_manifest(&self, manifest: &Value) -> Result<(), SandboxError> {
        let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
        self.agent_pools_api()
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(manifest),
            )
            .await?;
        Ok(())
    }

    /// Writes the PAT Secret (also used to rotate it to a bad value and back).
    pub async fn set_pat(&self, pat: &str) -> Result<(), SandboxError> {
        self.set_secret(PAT_SECRET, "token", pat).await
    }

    /// Writes a one-key Secret in the sandbox namespace.
    pub async fn set_secret(&self, name: &str, key: &str, value: &str) -> Result<(), SandboxError> {
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "stringData": {key: value},
        }))
        .map_err(|e| SandboxError::Kube(e.to_string()))?;
        Api::<Secret>::namespaced(self.client.clone(), NAMESPACE)
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&secret),
            )
            .await?;
        Ok(())
    }

    /// Queues a job in the emulator; returns its request id.
    pub fn queue_job(&self, job: QueueJob) -> Result<i64, SandboxError> {
        self.emulator
            .queue_job(job)
            .map_err(|e| SandboxError::Emulator(format!("{}: {}", e.0, e.1)))
    }

    /// Cancels a job (queued: finished `canceled`; running: the agent is told to cancel).
    pub fn cancel_job(&self, request_id: i64) -> Result<(), SandboxError> {
        self.emulator
            .cancel_job(request_id)
            .map(|_| ())
            .map_err(|e| SandboxError::Emulator(format!("{}: {}", e.0, e.1)))
    }

    /// Adds an emulator fault (`POST /_emulator/faults`, body as in the emulator README).
    pub async fn add_fault(&self, fault: Value) -> Result<(), SandboxError> {
        self.control("POST", "/_emulator/faults", Some(fault)).await
    }

    /// Clears every emulator fault.
    pub async fn clear_faults(&self) -> Result<(), SandboxError> {
        self.control("DELETE", "/_emulator/faults", None).await
    }

    /// The operator's agent pods.
    pub async fn pods(&self) -> Result<Vec<Pod>, SandboxError> {
        Ok(self
            .pods_api()
            .list(&ListParams::default().labels(&format!(
                "{}={}",
                azp_contract::labels::MANAGED_BY,
                azp_contract::labels::MANAGED_BY_VALUE
            )))
            .await?
            .items)
    }

    /// The last `lines` lines of a pod's `agent` container log (azp-agent and, through it,
    /// the stand-in); `None` with the simulated runtime or when the pod or log is gone.
    pub async fn agent_log_tail(&self, pod_name: &str, lines: usize) -> Option<String> {
        let runtime = self.process_runtime.as_ref()?;
        let pod = self.pods_api().get(pod_name).await.ok()?;
        let text = std::fs::read_to_string(runtime.log_path(&pod, "agent")).ok()?;
        let all: Vec<&str> = text.lines().collect();
        Some(all[all.len().saturating_sub(lines)..].join("\n"))
    }

    /// Deletes a pod gracefully (as `kubectl delete pod` would).
    pub async fn delete_pod(&self, name: &str) -> Result<(), SandboxError> {
        match self.pods_api().delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            // Already gone is what the caller wanted.
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a pod with grace 0: the kubelet SIGKILLs its processes at once, so the agent
    /// cannot deregister or finish its job.
    pub async fn delete_pod_now(&self, name: &str) -> Result<(), SandboxError> {
        match self
            .pods_api()
            .delete(name, &DeleteParams::default().grace_period(0))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Pods API in the sandbox namespace.
    pub fn pods_api(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// AgentPool API (dynamic, so the sandbox does not link the operator).
    pub fn agent_pools_api(&self) -> Api<DynamicObject> {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("azp.dev", "v1alpha1", "AgentPool"),
            "agentpools",
        );
        Api::namespaced_with(self.client.clone(), NAMESPACE, &resource)
    }

    /// Events in the sandbox namespace (events.k8s.io/v1, as the operator writes them).
    pub fn events_api(&self) -> Api<k8s_openapi::api::events::v1::Event> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    /// Observes everything once.
    pub async fn snapshot(&self) -> Result<Snapshot, SandboxError> {
        // Secrets before pods: a Secret's pod exists before it, so a Secret listed without
        // its pod really outlived it (or the pod went between the two lists: rechecked).
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), NAMESPACE);
        let registration_secrets = crate::credentials::RegistrationSecret::among(
            &secrets.list(&ListParams::default()).await?.items,
        );
        let pods = self.pods().await?.iter().map(pod_info).collect();
        let agent_pools = self
            .agent_pools_api()
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        let preflight_failures = self
            .events_api()
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("JobFinished"))
            .filter_map(|e| e.note)
            .filter(|note| note.contains("PreflightFailed"))
            .collect();
        Ok(Snapshot {
            taken_at: chrono::Utc::now(),
            jobs: self.emulator.jobs(),
            agents: self.emulator.agents(),
            pods,
            agent_pools,
            preflight_failures,
            registration_secrets,
            stats: self.emulator.stats(),
        })
    }

    /// Takes snapshots every 200 ms until `done` holds; returns that snapshot.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Snapshot) -> bool,
    ) -> Result<Snapshot, SandboxError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let snapshot = self.snapshot().await?;
            if done(&snapshot) {
                return Ok(snapshot);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SandboxError::Timeout(timeout, what.to_owned()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until each named AgentPool's placeholder agent is registered. Jobs queued before
    /// that fail at once in Azure DevOps ("no agent ... satisfies the demands"), as on the
    /// real service.
    pub async fn wait_for_placeholders(
        &self,
        agent_pools: &[&str],
        timeout: Duration,
    ) -> Result<Snapshot, SandboxError> {
        let names: Vec<String> = agent_pools
            .iter()
            .map(|name| {
                azp_contract::naming::placeholder_agent_name(
                    &azp_contract::naming::AgentPoolRef::new(NAMESPACE, *name),
                )
            })
            .collect();
        self.wait_until("placeholder registrations", timeout, |s| {
            names.iter().all(|n| s.agents.iter().any(|a| &a.name == n))
        })
        .await
    }

    /// Pids of processes the sandbox started that are still alive (operator and pods).
    pub fn live_processes(&self) -> Vec<i32> {
        self.processes.live()
    }

    /// Stops everything: the operator, the kubelet (SIGKILL to pod processes), any straggler
    /// carrying the marker, then kube-sim and the emulator. Returns the pids that had to be
    /// killed after the kubelet stopped (normally none).
    pub async fn shutdown(mut self) -> Vec<i32> {
        self.kill_operator().await;
        if let Some(kubelet) = self.kubelet.take()
            && let Err(e) = kubelet.shutdown().await
        {
            tracing::warn!(error = %e, "kubelet shutdown");
        }
        // The kubelet kills every process of each container; this sweep by marker proves it
        // and catches what escaped (a process that called setsid), twice in case one forked
        // meanwhile.
        let mut stragglers = Vec::new();
        for _ in 0..2 {
            let pids = self.live_processes();
            processes::kill_all(&pids);
            stragglers.extend(pids);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stragglers.sort_unstable();
        stragglers.dedup();
        self.emulator.shutdown().await;
        self.kube_sim.shutdown().await;
        stragglers
    }

    async fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(), SandboxError> {
        let url = format!("{}{path}", self.emulator.base_url());
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| SandboxError::Emulator(e.to_string()))?;
        let mut request = self.http.request(method, &url);
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
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            Err(SandboxError::Emulator(format!("{path}: {status} {text}")))
        }
    }
}

/// The sandbox's view of one pod.
pub fn pod_info(pod: &Pod) -> PodInfo {
    let meta = &pod.metadata;
    PodInfo {
        name: meta.name.clone().unwrap_or_default(),
        agent_pool: meta
            .labels
            .as_ref()
            .and_then(|l| l.get(azp_contract::labels::POOL).cloned()),
        agent_name: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(azp_contract::labels::AGENT_NAME).cloned()),
        phase: pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into()),
        terminating: meta.deletion_timestamp.is_some(),
        credentials: crate::credentials::PodCredentials::of(pod),
        created: meta.creation_timestamp.as_ref().and_then(|t| {
            chrono::DateTime::from_timestamp(
                t.0.as_second(),
                u32::try_from(t.0.subsec_nanosecond()).unwrap_or(0),
            )
        }),
    }
}
