//! kubectl (the real one, from `make peers`) works against kube-sim: get, apply, delete, watch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

fn kubectl_path() -> PathBuf {
    let peers = std::env::var_os("AZP_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/peers"));
    let path = peers.join("bin/kubectl");
    assert!(
        path.exists(),
        "kubectl not found at {}: run `make peers`",
        path.display()
    );
    path
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(sim: &azp_kube_sim::RunningKubeSim) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, sim.kubeconfig_yaml()).unwrap();
        Self {
            bin: kubectl_path(),
            kubeconfig,
            _dir: dir,
        }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.bin);
        c.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self._dir.path())
            .kill_on_drop(true);
        c
    }

    /// Runs kubectl; returns (success, stdout, stderr).
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut c = self.command(args);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt;
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).await.unwrap();
        } else {
            drop(child.stdin.take());
        }
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  containers:\n  - name: c\n    image: nginx:1\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_applies_and_deletes_pods_and_custom_resources() {
    let (sim, _client) = start().await;
    let k = Kubectl::new(&sim);

    let (ok, out, err) = k.run(&["get", "pods", "-o", "json"], None).await;
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // kubectl validates on the server (fieldValidation=Strict), found through kube-sim's minimal OpenAPI v3.
    let (ok, out, err) = k.run(&["apply", "-f", "-"], Some(POD)).await;
    assert!(ok && out.contains("pod/web created"), "{out}{err}");
    let (ok, out, err) = k
        .run(
            &["apply", "-f", "-"],
            Some(&POD.replace("nginx:1", "nginx:2")),
        )
        .await;
    assert!(ok && out.contains("pod/web configured"), "{out}{err}");
    let typo = POD.replace("name: web", "name: typo").replace(
        "image: nginx:1",
        "image: nginx:1\n    imagePullPolicyy: Always",
    );
    let (ok, _, err) = k.run(&["apply", "-f", "-"], Some(&typo)).await;
    assert!(
        !ok && err.contains("unknown field \"spec.containers[0].imagePullPolicyy\""),
        "{err}"
    );
    let (ok, out, err) = k.run(&["get", "pods", "-o", "json"], None).await;
    assert!(ok, "{err}");
    let items = serde_json::from_str::<Value>(&out).unwrap()["items"].clone();
    assert_eq!(items[0]["metadata"]["name"], "web");
    assert_eq!(items[0]["spec"]["containers"][0]["image"], "nginx:2");

    // Custom resources: the short name from discovery, apply, a CEL rejection, server-side apply.
    let widget = "apiVersion: test.azp.dev/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  minIdle: 1\n  maxAgents: 2\n";
    let (ok, out, err) = k.run(&["apply", "-f", "-"], Some(widget)).await;
    assert!(
        ok && out.contains("widget.test.azp.dev/w1 created"),
        "{out}{err}"
    );
    let (ok, out, err) = k.run(&["get", "wd", "w1", "-o", "json"], None).await;
    assert!(ok, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["spec"]["maxAgents"],
        2
    );
    let (ok, _, err) = k
        .run(
            &["apply", "-f", "-"],
            Some(&widget.replace("maxAgents: 2", "maxAgents: 0")),
        )
        .await;
    assert!(!ok && err.contains("minIdle must be <= maxAgents"), "{err}");
    let (ok, _, err) = k
        .run(
            &["apply", "--server-side", "-f", "-"],
            Some(&widget.replace("maxAgents: 2", "maxAgents: 3")),
        )
        .await;
    assert!(
        !ok && err.contains("conflict with \"kubectl-client-side-apply\""),
        "{err}"
    );
    let (ok, out, err) = k
        .run(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--validate=false",
                "-f",
                "-",
            ],
            Some(&widget.replace("maxAgents: 2", "maxAgents: 3")),
        )
        .await;
    assert!(ok && out.contains("serverside-applied"), "{out}{err}");

    // Default output is the server's Table: pod columns, and the CRD's printer columns.
    let (ok, out, err) = k.run(&["get", "pods"], None).await;
    assert!(ok, "{err}");
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    assert!(
        out.lines().nth(1).unwrap_or("").contains("Pending"),
        "{out}"
    );
    let (ok, out, err) = k.run(&["get", "wd"], None).await;
    assert!(ok, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "MAX", "AGE"], "{out}");
    assert_eq!(rows[1][..2], ["w1", "3"], "{out}");

    let (ok, out, err) = k.run(&["delete", "pod", "web"], None).await;
    assert!(ok && out.contains("deleted"), "{out}{err}");
    let (ok, out, err) = k.run(&["delete", "widget", "w1"], None).await;
    assert!(ok && out.contains("deleted"), "{out}{err}");
    let (ok, out, _) = k.run(&["get", "pods,widgets", "-o", "json"], None).await;
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_watch_sees_a_change() {
    let (sim, client) = start().await;
    let k = Kubectl::new(&sim);
    let mut child = k
        .command(&["get", "configmaps", "--watch", "-o", "name"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Give kubectl time to list and start its watch, then make the change it must see.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({"metadata": {"name": "seen"}})).unwrap(),
    )
    .await
    .unwrap();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("kubectl printed the change")
        .unwrap();
    assert_eq!(line.as_deref(), Some("configmap/seen"));
    child.kill().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_run_creates_a_pod_that_reads_back_as_given() {
    let (sim, _client) = start().await;
    let k = Kubectl::new(&sim);
    // -v=8 logs the request headers: kubectl 1.34's `run` posts the pod through its
    // unstructured helper, as JSON (`kubectl debug --copy-to` is what sends a protobuf pod).
    let (ok, out, err) = k
        .run(
            &[
                "-v=8",
                "run",
                "job",
                "--image=busybox:1.36",
                "--restart=Never",
                "--labels=app=job,tier=ci",
                "--env=MODE=fast",
                "--env=LEVEL=debug",
                "--port=8080",
                "--command",
                "--",
                "sh",
                "-c",
                "echo hi",
            ],
            None,
        )
        .await;
    assert!(ok && out.contains("pod/job created"), "{out}{err}");
    assert!(err.contains("Content-Type: application/json"), "{err}");
    let (ok, out, err) = k.run(&["get", "pod", "job", "-o", "json"], None).await;
    assert!(ok, "{err}");
    let pod: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        pod["metadata"]["labels"],
        serde_json::json!({"app": "job", "tier": "ci"})
    );
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["name"], "job");
    assert_eq!(container["image"], "busybox:1.36");
    assert_eq!(
        container["command"],
        serde_json::json!(["sh", "-c", "echo hi"])
    );
    assert!(container.get("args").is_none(), "{container}");
    assert_eq!(
        container["env"],
        serde_json::json!([{"name": "MODE", "value": "fast"}, {"name": "LEVEL", "value": "debug"}])
    );
    assert_eq!(
        container["ports"],
        serde_json::json!([{"containerPort": 8080, "protocol": "TCP"}])
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(pod["spec"]["dnsPolicy"], "ClusterFirst");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_debug_copies_a_pod_as_protobuf() {
    let (sim, _client) = start().await;
    let k = Kubectl::new(&sim);
    let (ok, out, err) = k.run(&["apply", "-f", "-"], Some(POD)).await;
    assert!(ok, "{out}{err}");
    let (ok, out, err) = k
        .run(
            &[
                "-v=8",
                "debug",
                "web",
                "--copy-to=web-copy",
                "--set-image=c=nginx:2",
            ],
            None,
        )
        .await;
    assert!(ok, "{out}{err}");
    assert!(
        err.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "{err}"
    );
    let (ok, out, err) = k.run(&["get", "pod", "web-copy", "-o", "json"], None).await;
    assert!(ok, "{err}");
    let mut copy: Value = serde_json::from_str(&out).unwrap();
    let (ok, out, err) = k.run(&["get", "pod", "web", "-o", "json"], None).await;
    assert!(ok, "{err}");
    let mut original: Value = serde_json::from_str(&out).unwrap();
    // The copy is the original's defaulted spec, sent back as protobuf, with the new image
    // and without the node (no --same-node): every field survives the decoding.
    original["spec"]["containers"][0]["image"] = "nginx:2".into();
    for pod in [&mut original, &mut copy] {
        pod["spec"].as_object_mut().unwrap().remove("nodeName");
    }
    assert_eq!(copy["spec"], original["spec"]);
    sim.shutdown().await;
}

/// What the operator records (events.k8s.io/v1, through kube-runtime's Recorder) is what
/// `kubectl get events` and `kubectl describe pod` show, as on a real cluster: one storage,
/// two API versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_shows_the_events_the_operator_records() {
    use kube::Resource;
    let (sim, client) = start().await;
    let k = Kubectl::new(&sim);
    let pod = create_pod(&client, "agent-7").await;
    let recorder = operator_recorder(&client, None);
    let event = pat_invalid_event();
    for _ in 0..3 {
        recorder
            .publish(&event, &pod.object_ref(&()))
            .await
            .unwrap();
    }

    let (ok, out, err) = k.run(&["get", "events", "-n", "default"], None).await;
    assert!(ok, "{err}");
    let row = out
        .lines()
        .find(|l| l.contains("PatInvalid"))
        .unwrap_or_else(|| panic!("no PatInvalid row in:\n{out}"));
    for cell in ["Warning", "pod/agent-7", "Azure DevOps answered 401"] {
        assert!(row.contains(cell), "{cell:?} missing from {row:?}");
    }
    // The series the recorder patched is the COUNT of `-o wide`.
    let (ok, wide, err) = k
        .run(&["get", "events", "-n", "default", "-o", "wide"], None)
        .await;
    assert!(ok, "{err}");
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    let row = wide.lines().find(|l| l.contains("PatInvalid")).unwrap();
    assert!(header.contains(&"COUNT"), "{wide}");
    assert!(row.contains("azp-operator"), "SOURCE missing: {row}");
    assert!(
        row.split_whitespace().any(|c| c == "3"),
        "count 3 missing: {row}"
    );

    let (ok, described, err) = k.run(&["describe", "pod", "agent-7"], None).await;
    assert!(ok, "{err}");
    let events = described
        .split("Events:")
        .nth(1)
        .unwrap_or_else(|| panic!("no Events section in:\n{described}"));
    assert!(
        events.contains("PatInvalid") && events.contains("Azure DevOps answered 401"),
        "{described}"
    );
    assert!(events.contains("azp-operator"), "From missing: {events}");
    sim.shutdown().await;
}
