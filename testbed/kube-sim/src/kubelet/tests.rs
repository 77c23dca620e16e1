//! Kubelet tests against a live kube-sim API server, with real processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::{Value, json};

use super::{KubeletConfig, KubeletHandle, PodRuntime, ProcessRuntime, SimulatedRuntime};
use crate::{KubeSimConfig, RunningKubeSim};

struct Node {
    server: RunningKubeSim,
    kubelet: KubeletHandle,
    pods: Api<Pod>,
    client: kube::Client,
    runtime: Arc<ProcessRuntime>,
}

impl Node {
    async fn start() -> Self {
        Self::start_with(None).await
    }

    async fn start_with(runtime_override: Option<Arc<dyn PodRuntime>>) -> Self {
        Self::start_configured(runtime_override, |config| config).await
    }

    async fn start_configured(
        runtime_override: Option<Arc<dyn PodRuntime>>,
        configure: impl FnOnce(KubeletConfig) -> KubeletConfig,
    ) -> Self {
        let server =
            RunningKubeSim::start(KubeSimConfig::default(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        let client = server.client().await;
        let runtime = Arc::new(ProcessRuntime::in_temp_dir().unwrap());
        let used: Arc<dyn PodRuntime> = runtime_override.unwrap_or_else(|| runtime.clone());
        let kubelet = KubeletHandle::spawn(
            client.clone(),
            configure(KubeletConfig::new("node-1", used)),
        );
        Self {
            pods: Api::namespaced(client.clone(), "default"),
            server,
            kubelet,
            client,
            runtime,
        }
    }

    async fn stop(self) {
        self.kubelet.shutdown().await.unwrap();
        self.server.shutdown().await;
    }

    async fn create(&self, pod: Value) -> Pod {
        let pod: Pod = serde_json::from_value(pod).unwrap();
        self.pods
            .create(&PostParams::default(), &pod)
            .await
            .unwrap()
    }

    /// Polls the pod until `check` holds, failing after `timeout`.
    async fn wait_for(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let pod = self.pods.get_opt(name).await.unwrap();
            let json = serde_json::to_value(&pod).unwrap();
            if check(&json) {
                return json;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; pod: {json:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for_phase(&self, name: &str, phase: &str) -> Value {
        self.wait_for(name, Duration::from_secs(15), phase, |p| {
            p["status"]["phase"] == phase
        })
        .await
    }

    async fn wait_gone(&self, name: &str, timeout: Duration) {
        self.wait_for(name, timeout, "removal", Value::is_null)
            .await;
    }
}

fn pod(name: &str, containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
           "spec": {"restartPolicy": "Never", "containers": containers}})
}

fn shell(name: &str, script: &str) -> Value {
    json!({"name": name, "image": "busybox", "command": ["sh", "-c", script]})
}

fn terminated(pod: &Value, index: usize) -> &Value {
    &pod["status"]["containerStatuses"][index]["state"]["terminated"]
}

#[tokio::test]
async fn successful_container_reports_its_termination_message() {
    let node = Node::start().await;
    node.create(pod(
        "ok",
        json!([shell(
            "main",
            "echo ok > \"$KUBE_SIM_TERMINATION_LOG\"; exit 0"
        )]),
    ))
    .await;
    let done = node.wait_for_phase("ok", "Succeeded").await;
    let state = terminated(&done, 0);
    assert_eq!(state["exitCode"], 0);
    assert_eq!(state["reason"], "Completed");
    assert_eq!(state["message"], "ok\n");
    assert!(state["startedAt"].is_string() && state["finishedAt"].is_string());
    assert_eq!(done["status"]["podIP"], "127.0.0.1");
    assert_eq!(
        done["spec"]["nodeName"], "node-1",
        "the kubelet bound the pod to itself"
    );
    node.stop().await;
}

#[tokio::test]
async fn failing_container_fails_the_pod_with_its_exit_code() {
    let node = Node::start().await;
    node.create(pod("fail", json!([shell("main", "exit 3")])))
        .await;
    let done = node.wait_for_phase("fail", "Failed").await;
    assert_eq!(terminated(&done, 0)["exitCode"], 3);
    assert_eq!(terminated(&done, 0)["reason"], "Error");
    node.stop().await;
}

#[tokio::test]
async fn running_pod_is_ready_with_a_started_container() {
    let node = Node::start().await;
    node.create(pod("runs", json!([shell("main", "sleep 30")])))
        .await;
    let running = node.wait_for_phase("runs", "Running").await;
    let status = &running["status"]["containerStatuses"][0];
    assert!(
        status["state"]["running"]["startedAt"].is_string(),
        "{status}"
    );
    assert_eq!(status["ready"], true);
    let ready = running["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["status"], "True");
    node.stop().await;
}

#[tokio::test]
async fn fallback_to_logs_on_error_uses_the_log_tail() {
    let node = Node::start().await;
    let mut container = shell("main", "echo first; echo 'it broke' >&2; exit 1");
    container["terminationMessagePolicy"] = json!("FallbackToLogsOnError");
    node.create(pod("logs", json!([container]))).await;
    let done = node.wait_for_phase("logs", "Failed").await;
    assert_eq!(terminated(&done, 0)["message"], "first\nit broke");
    node.stop().await;
}

#[tokio::test]
async fn secret_env_and_secret_volume_reach_the_process() {
    let node = Node::start().await;
    let secrets: Api<Secret> = Api::namespaced(node.client.clone(), "default");
    let secret: Secret = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "azp-pat"}, "stringData": {"token": "s3cret-pat"}}))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let mut container = shell(
        "main",
        "test \"$PAT\" = s3cret-pat || exit 7; cat \"$PAT_FILE\" > \"$KUBE_SIM_TERMINATION_LOG\"; \
         test \"$KUBE_SIM_MOUNT_VAR_RUN_SECRETS_AZP/pat\" = \"$PAT_FILE\" || exit 8; \
         test \"$(stat -c %a \"$PAT_FILE\")\" = 400 || exit 9",
    );
    container["env"] = json!([
        {"name": "PAT", "valueFrom": {"secretKeyRef": {"name": "azp-pat", "key": "token"}}},
        {"name": "PAT_FILE", "value": "/var/run/secrets/azp/pat"},
    ]);
    container["volumeMounts"] =
        json!([{"name": "pat", "mountPath": "/var/run/secrets/azp", "readOnly": true}]);
    let mut spec = pod("secret", json!([container]));
    spec["spec"]["volumes"] = json!([{"name": "pat", "secret": {"secretName": "azp-pat",
        "items": [{"key": "token", "path": "pat"}], "defaultMode": 0o400}}]);
    node.create(spec).await;
    let done = node.wait_for_phase("secret", "Succeeded").await;
    assert_eq!(terminated(&done, 0)["message"], "s3cret-pat");
    node.stop().await;
}

#[tokio::test]
async fn missing_secret_keeps_the_pod_waiting_until_it_exists() {
    let node = Node::start().await;
    let mut container = shell(
        "main",
        "printf '%s' \"$PAT\" > \"$KUBE_SIM_TERMINATION_LOG\"",
    );
    container["env"] =
        json!([{"name": "PAT", "valueFrom": {"secretKeyRef": {"name": "later", "key": "k"}}}]);
    node.create(pod("waits", json!([container]))).await;
    node.wait_for(
        "waits",
        Duration::from_secs(10),
        "CreateContainerConfigError",
        |p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                == "CreateContainerConfigError"
        },
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(node.client.clone(), "default");
    let secret: Secret = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "later"}, "stringData": {"k": "arrived"}}))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let done = node.wait_for_phase("waits", "Succeeded").await;
    assert_eq!(terminated(&done, 0)["message"], "arrived");
    node.stop().await;
}

#[tokio::test]
async fn config_map_field_refs_and_variable_expansion() {
    let node = Node::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(node.client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings"}, "data": {"pool": "eks-linux", "conf.ini": "a=1"}}))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let container = json!({"name": "main", "image": "busybox",
        "command": ["sh", "-c"],
        "args": ["printf '%s|%s|%s|%s|%s' \"$POOL\" \"$POD\" \"$(GREETING)\" \"$IP\" \"$(cat \"$CONF\")\" > \"$KUBE_SIM_TERMINATION_LOG\""],
        "env": [
            {"name": "POOL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "pool"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "GREETING", "value": "hello-$(POOL)"},
            {"name": "CONF", "value": "/etc/azp/conf.ini"}],
        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/azp"}]});
    let mut spec = pod("cm", json!([container]));
    spec["spec"]["volumes"] = json!([{"name": "cfg", "configMap": {"name": "settings"}}]);
    node.create(spec).await;
    let done = node.wait_for_phase("cm", "Succeeded").await;
    assert_eq!(
        terminated(&done, 0)["message"],
        "eks-linux|cm|hello-eks-linux|127.0.0.1|a=1"
    );
    node.stop().await;
}

/// Waits for a script to write its pid. Scripts write it with `echo $$$$`: the kubelet
/// turns `$$` into `$` in command and args, as the real one does.
async fn read_pid(path: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in {}", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn deleting_a_running_pod_sends_sigterm_and_removes_it_within_grace() {
    let node = Node::start().await;
    let marks = tempfile::tempdir().unwrap();
    let marker = marks.path().join("marker");
    let mut container = shell(
        "main",
        "trap 'echo term > \"$MARKER\"; exit 0' TERM; echo $$$$ > \"$READY\"; while true; do sleep 0.05; done",
    );
    let ready = marks.path().join("ready");
    container["env"] = json!([
        {"name": "MARKER", "value": marker.display().to_string()},
        {"name": "READY", "value": ready.display().to_string()}]);
    let mut spec = pod("graceful", json!([container]));
    spec["spec"]["terminationGracePeriodSeconds"] = json!(5);
    node.create(spec).await;
    node.wait_for_phase("graceful", "Running").await;
    // The trap is installed once the script wrote its pid.
    read_pid(&ready).await;
    let asked = Instant::now();
    node.pods
        .delete("graceful", &DeleteParams::default())
        .await
        .unwrap();
    node.wait_gone("graceful", Duration::from_secs(5)).await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "removed well within the grace period"
    );
    assert_eq!(read_lines(&marker), vec!["term"]);
    node.stop().await;
}

#[tokio::test]
async fn process_ignoring_sigterm_is_killed_after_the_grace_period() {
    let node = Node::start().await;
    let marks = tempfile::tempdir().unwrap();
    let pid_file = marks.path().join("pid");
    let mut container = shell(
        "main",
        "trap '' TERM; echo $$$$ > \"$PID_FILE\"; while true; do sleep 0.05; done",
    );
    container["env"] = json!([{"name": "PID_FILE", "value": pid_file.display().to_string()}]);
    let mut spec = pod("stubborn", json!([container]));
    spec["spec"]["terminationGracePeriodSeconds"] = json!(1);
    node.create(spec).await;
    node.wait_for_phase("stubborn", "Running").await;
    let pid = read_pid(&pid_file).await;
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} is running"
    );
    let asked = Instant::now();
    node.pods
        .delete("stubborn", &DeleteParams::default())
        .await
        .unwrap();
    node.wait_gone("stubborn", Duration::from_secs(6)).await;
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "the kubelet waited for the grace period"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} was killed"
    );
    node.stop().await;
}

/// Wraps a runtime and records the order in which containers are started.
struct RecordingRuntime {
    inner: ProcessRuntime,
    starts: std::sync::Mutex<Vec<String>>,
}

impl PodRuntime for RecordingRuntime {
    fn prepare(
        &self,
        client: kube::Client,
        pod: Arc<Pod>,
    ) -> futures::future::BoxFuture<'static, Result<super::PodSandbox, super::RuntimeError>> {
        self.inner.prepare(client, pod)
    }

    fn start_container(
        &self,
        sandbox: &super::PodSandbox,
        container: &k8s_openapi::api::core::v1::Container,
    ) -> futures::future::BoxFuture<'static, Result<super::ContainerHandle, super::RuntimeError>>
    {
        self.starts.lock().unwrap().push(container.name.clone());
        self.inner.start_container(sandbox, container)
    }

    fn release(&self, sandbox: &super::PodSandbox) {
        self.inner.release(sandbox);
    }

    fn exec(
        &self,
        sandbox: &super::PodSandbox,
        container: &k8s_openapi::api::core::v1::Container,
        command: &[String],
    ) -> futures::future::BoxFuture<'static, Result<i32, super::RuntimeError>> {
        self.inner.exec(sandbox, container, command)
    }
}

#[tokio::test]
async fn native_sidecar_starts_before_and_stops_after_the_main_container() {
    let recording = Arc::new(RecordingRuntime {
        inner: ProcessRuntime::in_temp_dir().unwrap(),
        starts: std::sync::Mutex::default(),
    });
    let node = Node::start_with(Some(recording.clone())).await;
    let marks = tempfile::tempdir().unwrap();
    let log = marks.path().join("order");
    let log_env = json!([{"name": "ORDER", "value": log.display().to_string()}]);
    // The sidecar announces itself once its TERM trap is set; the main container waits
    // for that, so the sidecar's stop can only come after the main container's exit.
    let mut sidecar = shell(
        "buildkitd",
        "trap 'echo sidecar-stop >> \"$ORDER\"; exit 0' TERM; echo sidecar-ready >> \"$ORDER\"; while true; do sleep 0.05; done",
    );
    sidecar["restartPolicy"] = json!("Always");
    sidecar["env"] = log_env.clone();
    let mut main = shell(
        "agent",
        "until grep -q sidecar-ready \"$ORDER\"; do sleep 0.02; done; echo main-done >> \"$ORDER\"",
    );
    main["env"] = log_env;
    let mut spec = pod("sidecar", json!([main]));
    spec["spec"]["initContainers"] = json!([sidecar]);
    node.create(spec).await;
    let done = node.wait_for_phase("sidecar", "Succeeded").await;
    assert_eq!(
        *recording.starts.lock().unwrap(),
        vec!["buildkitd", "agent"]
    );
    assert_eq!(
        read_lines(&log),
        vec!["sidecar-ready", "main-done", "sidecar-stop"]
    );
    let sidecar_state = &done["status"]["initContainerStatuses"][0]["state"]["terminated"];
    assert_eq!(sidecar_state["exitCode"], 0, "{done:#}");
    node.stop().await;
}

#[tokio::test]
async fn failing_init_container_fails_a_never_restart_pod() {
    let node = Node::start().await;
    let mut spec = pod("init-fails", json!([shell("main", "exit 0")]));
    spec["spec"]["initContainers"] = json!([shell("setup", "exit 4")]);
    node.create(spec).await;
    let done = node.wait_for_phase("init-fails", "Failed").await;
    assert_eq!(
        done["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"],
        4
    );
    assert!(
        done["status"]["containerStatuses"][0]["state"]["waiting"].is_object(),
        "main never ran"
    );
    node.stop().await;
}

#[tokio::test]
async fn container_logs_are_captured() {
    let node = Node::start().await;
    let created = node
        .create(pod(
            "talks",
            json!([shell("main", "echo to-stdout; echo to-stderr >&2")]),
        ))
        .await;
    node.wait_for_phase("talks", "Succeeded").await;
    let log = std::fs::read_to_string(node.runtime.log_path(&created, "main")).unwrap();
    assert_eq!(log, "to-stdout\nto-stderr\n");
    node.stop().await;
}

#[tokio::test]
async fn simulated_runtime_follows_annotations() {
    let node = Node::start_with(Some(Arc::new(SimulatedRuntime::new()))).await;
    let mut spec = pod("sim", json!([{"name": "main", "image": "anything"}]));
    spec["metadata"]["annotations"] = json!({
        "sim.azp.dev/run-seconds": "0.2", "sim.azp.dev/exit-code": "2",
        "sim.azp.dev/termination-message": "{\"result\":\"failed\"}"});
    node.create(spec).await;
    let done = node.wait_for_phase("sim", "Failed").await;
    assert_eq!(terminated(&done, 0)["exitCode"], 2);
    assert_eq!(terminated(&done, 0)["message"], "{\"result\":\"failed\"}");

    node.create(pod(
        "sim-forever",
        json!([{"name": "main", "image": "anything"}]),
    ))
    .await;
    node.wait_for_phase("sim-forever", "Running").await;
    node.pods
        .delete("sim-forever", &DeleteParams::default())
        .await
        .unwrap();
    node.wait_gone("sim-forever", Duration::from_secs(5)).await;
    node.stop().await;
}

#[tokio::test]
async fn pods_of_other_nodes_are_left_alone() {
    let node = Node::start().await;
    let mut spec = pod("elsewhere", json!([shell("main", "exit 0")]));
    spec["spec"]["nodeName"] = json!("node-2");
    node.create(spec).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pod = serde_json::to_value(node.pods.get("elsewhere").await.unwrap()).unwrap();
    assert!(
        pod["status"]["phase"].is_null() || pod["status"]["phase"] == "Pending",
        "{pod:#}"
    );
    assert!(
        pod["status"]["containerStatuses"].is_null(),
        "no kubelet reported on it"
    );
    node.stop().await;
}

#[tokio::test]
async fn on_failure_pods_restart_failed_containers() {
    let node = Node::start().await;
    let marks = tempfile::tempdir().unwrap();
    let attempts = marks.path().join("attempts");
    let mut container = shell(
        "main",
        "echo x >> \"$ATTEMPTS\"; test $(wc -l < \"$ATTEMPTS\") -ge 2",
    );
    container["env"] = json!([{"name": "ATTEMPTS", "value": attempts.display().to_string()}]);
    let mut spec = pod("retries", json!([container]));
    spec["spec"]["restartPolicy"] = json!("OnFailure");
    node.create(spec).await;
    let done = node.wait_for_phase("retries", "Succeeded").await;
    let status = &done["status"]["containerStatuses"][0];
    assert_eq!(status["restartCount"], 1);
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(read_lines(&attempts).len(), 2);
    node.stop().await;
}

#[tokio::test]
async fn kubelet_shutdown_leaves_no_process_behind() {
    let node = Node::start().await;
    let marks = tempfile::tempdir().unwrap();
    let pid_file = marks.path().join("pid");
    let mut container = shell("main", "echo $$$$ > \"$PID_FILE\"; exec sleep 30");
    container["env"] = json!([{"name": "PID_FILE", "value": pid_file.display().to_string()}]);
    node.create(pod("orphan", json!([container]))).await;
    node.wait_for_phase("orphan", "Running").await;
    let pid = read_pid(&pid_file).await;
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} is running"
    );
    node.stop().await;
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} outlived the kubelet"
    );
}

/// Whether `pid` is a live process (a zombie has exited and only waits to be reaped).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// A container whose main process starts `sleep` in a process group of its own (bash job
/// control), writes its pid to `$PID_FILE`, then runs `then`.
fn escaping_container(pid_file: &Path, then: &str) -> Value {
    let mut container = json!({"name": "main", "image": "busybox", "command": [
        "bash", "-c", format!("set -m; sleep 300 & echo $! > \"$PID_FILE\"; {then}")
    ]});
    container["env"] = json!([{"name": "PID_FILE", "value": pid_file.display().to_string()}]);
    container
}

#[tokio::test]
async fn a_deleted_pod_takes_processes_outside_its_process_group_along() {
    // Like azp-agent, which starts run.sh in a group of its own: a real node kills every
    // process of the container, not only the entrypoint's group.
    let node = Node::start().await;
    let marks = tempfile::tempdir().unwrap();
    let pid_file = marks.path().join("pid");
    node.create(pod(
        "escaper",
        json!([escaping_container(&pid_file, "exec sleep 300")]),
    ))
    .await;
    node.wait_for_phase("escaper", "Running").await;
    let pid = read_pid(&pid_file).await;
    assert!(alive(pid), "background pid {pid} is running");
    node.pods
        .delete("escaper", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    node.wait_gone("escaper", Duration::from_secs(5)).await;
    // SIGKILL was sent before the pod went; on a loaded machine the process can take a moment to
    // die. One still alive after 5 s escaped the kill.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while alive(pid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(pid), "process {pid} outlived its pod");
    node.stop().await;
}

#[tokio::test]
async fn processes_left_behind_by_the_main_process_die_when_it_exits() {
    let node = Node::start().await;
    let marks = tempfile::tempdir().unwrap();
    let pid_file = marks.path().join("pid");
    node.create(pod(
        "leaver",
        json!([escaping_container(&pid_file, "exit 0")]),
    ))
    .await;
    node.wait_for_phase("leaver", "Succeeded").await;
    let pid = read_pid(&pid_file).await;
    assert!(!alive(pid), "process {pid} outlived its container");
    node.stop().await;
}

#[tokio::test]
async fn a_missing_program_is_a_start_error() {
    let node = Node::start().await;
    node.create(pod(
        "missing",
        json!([{"name": "main", "image": "busybox", "command": ["/nonexistent/program"]}]),
    ))
    .await;
    let failed = node.wait_for_phase("missing", "Failed").await;
    assert_eq!(terminated(&failed, 0)["reason"], "StartError", "{failed:#}");
    node.stop().await;
}

/// Throughput of the simulated runtime: `cargo test -p azp-kube-sim --lib -- --ignored --nocapture many_simulated`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand"]
async fn many_simulated_pods_complete() {
    let node = Node::start_with(Some(Arc::new(SimulatedRuntime::new()))).await;
    let count = 300;
    let started = Instant::now();
    for i in 0..count {
        let mut spec = pod(
            &format!("bench-{i}"),
            json!([{"name": "main", "image": "x"}]),
        );
        spec["metadata"]["annotations"] = json!({"sim.azp.dev/run-seconds": "0.5"});
        node.create(spec).await;
    }
    let created = started.elapsed();
    loop {
        let list = node.pods.list(&Default::default()).await.unwrap();
        let done = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"))
            .count();
        if done == count {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{done}/{count} done"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{count} pods: created in {created:?}, all Succeeded after {:?}",
        started.elapsed()
    );
    node.stop().await;
}

#[tokio::test]
async fn termination_message_path_in_env_points_at_the_host_file() {
    let server = RunningKubeSim::start(KubeSimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = server.client().await;
    let runtime = ProcessRuntime::in_temp_dir()
        .unwrap()
        .with_termination_log_env("AZP_TERMINATION_LOG");
    let kubelet = KubeletHandle::spawn(
        client.clone(),
        KubeletConfig::new("node-1", Arc::new(runtime)),
    );
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut explicit = shell("main", "printf explicit > \"$MSG\"");
    explicit["env"] = json!([{"name": "MSG", "value": "/dev/termination-log"}]);
    let implicit = shell("main", "printf implicit > \"$AZP_TERMINATION_LOG\"");
    for (name, container) in [("explicit", explicit), ("implicit", implicit)] {
        let p: Pod = serde_json::from_value(pod(name, json!([container]))).unwrap();
        pods.create(&PostParams::default(), &p).await.unwrap();
    }
    for name in ["explicit", "implicit"] {
        let deadline = Instant::now() + Duration::from_secs(15);
        let message = loop {
            let p = serde_json::to_value(pods.get(name).await.unwrap()).unwrap();
            if p["status"]["phase"] == "Succeeded" {
                break terminated(&p, 0)["message"].clone();
            }
            assert!(Instant::now() < deadline, "{name} did not succeed: {p:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(message, name);
    }
    kubelet.shutdown().await.unwrap();
    server.shutdown().await;
}

/// Throughput of real processes: `cargo test -p azp-kube-sim --lib -- --ignored --nocapture many_process`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run by hand"]
async fn many_process_pods_complete() {
    let node = Node::start().await;
    let count = 100;
    let started = Instant::now();
    for i in 0..count {
        node.create(pod(
            &format!("proc-{i}"),
            json!([shell("main", "echo done > \"$KUBE_SIM_TERMINATION_LOG\"")]),
        ))
        .await;
    }
    loop {
        let list = node.pods.list(&Default::default()).await.unwrap();
        let done = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"))
            .count();
        if done == count {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{done}/{count} done"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{count} process pods: all Succeeded after {:?}",
        started.elapsed()
    );
    node.stop().await;
}

#[tokio::test]
async fn active_deadline_fails_a_pod_that_runs_too_long() {
    let node = Node::start().await;
    let mut spec = pod("deadline", json!([shell("main", "exec sleep 30")]));
    spec["spec"]["activeDeadlineSeconds"] = json!(1);
    spec["spec"]["terminationGracePeriodSeconds"] = json!(1);
    let started = Instant::now();
    node.create(spec).await;
    let done = node.wait_for_phase("deadline", "Failed").await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(done["status"]["reason"], "DeadlineExceeded");
    assert_eq!(
        terminated(&done, 0)["exitCode"],
        143,
        "sleep dies of SIGTERM"
    );
    node.stop().await;
}

/// A pod like the operator's BuildKit pod: a sidecar that creates its socket only 1.5 s after
/// it started (buildkitd sets up its worker first; a file stands in for the socket), and an
/// `agent` container that checks the socket once, exiting 11 like a failed preflight.
fn slow_sidecar_pod(name: &str, startup_probe: Option<Value>) -> Value {
    let socket_env = json!([{"name": "SOCK", "value": "/run/buildkit/buildkitd.sock"}]);
    let mount = json!([{"name": "buildkit-socket", "mountPath": "/run/buildkit"}]);
    let mut sidecar = shell(
        "buildkitd",
        "sleep 1.5; : > \"$SOCK\"; while true; do sleep 0.05; done",
    );
    sidecar["restartPolicy"] = json!("Always");
    sidecar["env"] = socket_env.clone();
    sidecar["volumeMounts"] = mount.clone();
    if let Some(probe) = startup_probe {
        sidecar["startupProbe"] = probe;
    }
    let mut agent = shell(
        "agent",
        "if [ -e \"$SOCK\" ]; then exit 0; fi; echo \"cannot connect: $SOCK: No such file or directory\" > \"$KUBE_SIM_TERMINATION_LOG\"; exit 11",
    );
    agent["env"] = socket_env;
    agent["volumeMounts"] = mount;
    let mut spec = pod(name, json!([agent]));
    spec["spec"]["initContainers"] = json!([sidecar]);
    spec["spec"]["volumes"] = json!([{"name": "buildkit-socket", "emptyDir": {}}]);
    spec
}

#[tokio::test]
async fn without_a_startup_probe_the_next_container_races_a_slow_sidecar() {
    let node = Node::start().await;
    node.create(slow_sidecar_pod("racy", None)).await;
    let done = node.wait_for_phase("racy", "Failed").await;
    let agent = terminated(&done, 0);
    assert_eq!(agent["exitCode"], 11, "{done:#}");
    assert!(
        agent["message"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{done:#}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_sidecar_startup_probe_holds_the_next_container_back_until_it_passes() {
    let node = Node::start().await;
    let probe = json!({"exec": {"command": ["sh", "-c", "test -e \"$SOCK\""]},
                       "periodSeconds": 1, "failureThreshold": 10});
    node.create(slow_sidecar_pod("held", Some(probe))).await;
    // While probing: the sidecar runs but has not started; the agent waits.
    let probing = node
        .wait_for(
            "held",
            Duration::from_secs(10),
            "the sidecar running",
            |p| p["status"]["initContainerStatuses"][0]["state"]["running"].is_object(),
        )
        .await;
    assert_eq!(
        probing["status"]["initContainerStatuses"][0]["started"], false,
        "{probing:#}"
    );
    assert!(
        probing["status"]["containerStatuses"][0]["state"]["running"].is_null(),
        "{probing:#}"
    );
    let done = node.wait_for_phase("held", "Succeeded").await;
    assert_eq!(terminated(&done, 0)["exitCode"], 0, "{done:#}");
    let sidecar_started =
        &done["status"]["initContainerStatuses"][0]["state"]["terminated"]["startedAt"];
    let agent_started = &terminated(&done, 0)["startedAt"];
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(
        parse(agent_started) - parse(sidecar_started) >= chrono::TimeDelta::seconds(1),
        "the agent started only once the socket was there: {done:#}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_sidecar_that_fails_its_startup_probe_is_restarted_and_the_agent_never_starts() {
    let node = Node::start().await;
    let probe = json!({"exec": {"command": ["sh", "-c", "exit 1"]},
                       "periodSeconds": 1, "failureThreshold": 2});
    node.create(slow_sidecar_pod("never", Some(probe))).await;
    let restarted = node
        .wait_for("never", Duration::from_secs(15), "a sidecar restart", |p| {
            p["status"]["initContainerStatuses"][0]["restartCount"].as_i64() >= Some(1)
        })
        .await;
    assert_eq!(restarted["status"]["phase"], "Pending", "{restarted:#}");
    assert!(
        restarted["status"]["containerStatuses"][0]["state"]["waiting"].is_object(),
        "{restarted:#}"
    );
    node.stop().await;
}

#[tokio::test]
async fn a_missing_image_backs_off_and_an_invalid_one_waits_as_on_a_real_node() {
    let node = Node::start_configured(None, |config| {
        config.with_missing_image("registry.example/team/gone:1")
    })
    .await;
    let mut missing = shell("main", "exit 0");
    missing["image"] = json!("registry.example/team/gone:1");
    node.create(pod("missing", json!([missing]))).await;
    let mut invalid = shell("main", "exit 0");
    invalid["image"] = json!("Team/Agent:1");
    node.create(pod("invalid", json!([invalid]))).await;
    let waiting = |p: &Value| p["status"]["containerStatuses"][0]["state"]["waiting"].clone();
    let pulled = node
        .wait_for("missing", Duration::from_secs(10), "ErrImagePull", |p| {
            waiting(p)["reason"] == "ErrImagePull"
        })
        .await;
    assert!(
        waiting(&pulled)["message"]
            .as_str()
            .unwrap()
            .contains("failed to pull and unpack image \"registry.example/team/gone:1\""),
        "{pulled:#}"
    );
    assert_eq!(pulled["status"]["phase"], "Pending");
    let backing_off = node
        .wait_for(
            "missing",
            Duration::from_secs(10),
            "ImagePullBackOff",
            |p| waiting(p)["reason"] == "ImagePullBackOff",
        )
        .await;
    assert_eq!(
        waiting(&backing_off)["message"],
        "Back-off pulling image \"registry.example/team/gone:1\""
    );
    assert_eq!(backing_off["status"]["phase"], "Pending");
    let invalid = node
        .wait_for(
            "invalid",
            Duration::from_secs(10),
            "InvalidImageName",
            |p| waiting(p)["reason"] == "InvalidImageName",
        )
        .await;
    assert_eq!(invalid["status"]["phase"], "Pending");
    // Neither container ever ran.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for name in ["missing", "invalid"] {
        let pod = serde_json::to_value(node.pods.get(name).await.unwrap()).unwrap();
        assert_eq!(pod["status"]["phase"], "Pending", "{pod:#}");
    }
    node.stop().await;
}

#[tokio::test]
async fn a_missing_secret_volume_keeps_the_pod_container_creating_not_config_error() {
    let node = Node::start().await;
    let mut container = shell("main", "exit 0");
    container["volumeMounts"] = json!([{"name": "s", "mountPath": "/s"}]);
    let mut manifest = pod("mounts", json!([container]));
    manifest["spec"]["volumes"] = json!([{"name": "s", "secret": {"secretName": "later"}}]);
    node.create(manifest).await;
    // As the real kubelet: the volume cannot be set up, the container is still being created.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = serde_json::to_value(node.pods.get("mounts").await.unwrap()).unwrap();
    assert_eq!(waiting["status"]["phase"], "Pending", "{waiting:#}");
    assert_eq!(
        waiting["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ContainerCreating",
        "{waiting:#}"
    );
    let secrets: Api<Secret> = Api::namespaced(node.client.clone(), "default");
    let secret: Secret = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "later"}, "stringData": {"k": "v"}}))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    node.wait_for_phase("mounts", "Succeeded").await;
    node.stop().await;
}
