//! Shared helpers for the conformance suite: start a simulator, a test CRD, waiting helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use azp_kube_sim::{KubeSimConfig, RunningKubeSim};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A small CRD with a structural schema, a status subresource and a CEL rule, like AgentPool's.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "test.azp.dev",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus",
    shortname = "wd",
    printcolumn(json_path = ".spec.maxAgents", name = "Max", type_ = "integer"),
    printcolumn(
        json_path = ".metadata.creationTimestamp",
        name = "Age",
        type_ = "date"
    )
)]
#[x_kube(validation = Rule::new("self.minIdle <= self.maxAgents").message("minIdle must be <= maxAgents"))]
#[serde(rename_all = "camelCase")]
pub struct WidgetSpec {
    pub min_idle: i32,
    pub max_agents: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capabilities: BTreeMap<String, String>,
}

/// Status of a Widget.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub ready: i32,
}

pub fn widget(name: &str, min_idle: i32, max_agents: i32) -> Widget {
    let mut w = Widget::new(
        name,
        WidgetSpec {
            min_idle,
            max_agents,
            image: None,
            capabilities: BTreeMap::new(),
        },
    );
    w.metadata.namespace = Some("default".into());
    w
}

/// Starts a simulator on 127.0.0.1:0 with the Widget CRD registered.
pub async fn start_with(cfg: KubeSimConfig) -> (RunningKubeSim, kube::Client) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("widget.yaml"),
        serde_yaml::to_string(&Widget::crd()).unwrap(),
    )
    .unwrap();
    let cfg = KubeSimConfig {
        crds_dir: Some(dir.path().to_path_buf()),
        ..cfg
    };
    let sim = RunningKubeSim::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let client = sim.client().await;
    (sim, client)
}

pub async fn start() -> (RunningKubeSim, kube::Client) {
    start_with(KubeSimConfig::default()).await
}

pub fn pod_json(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "agent"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "agent", "image": "azp-agent:1"}]}
    })
}

pub async fn create_pod(client: &kube::Client, name: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod_json(name)).unwrap(),
    )
    .await
    .unwrap()
}

/// kube-runtime's Recorder as the operator sets it up (`instance`: its replica, if named).
pub fn operator_recorder(
    client: &kube::Client,
    instance: Option<&str>,
) -> kube::runtime::events::Recorder {
    kube::runtime::events::Recorder::new(
        client.clone(),
        kube::runtime::events::Reporter {
            controller: "azp-operator".into(),
            instance: instance.map(str::to_owned),
        },
    )
}

/// The Warning Event the operator records for a refused PAT.
pub fn pat_invalid_event() -> kube::runtime::events::Event {
    kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Warning,
        reason: "PatInvalid".into(),
        note: Some("Azure DevOps answered 401".into()),
        action: "Poll".into(),
        secondary: None,
    }
}

/// The HTTP status code of a kube-rs API error.
pub fn code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Polls `check` until it is true or 10 s pass.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}
