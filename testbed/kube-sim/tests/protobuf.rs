//! Protobuf over HTTP, as a client that speaks only protobuf sees kube-sim: Pods and Events
//! posted as `application/vnd.kubernetes.protobuf`, a Secret answered in protobuf, 406 for
//! what kube-sim cannot answer that way, 415 naming a field it does not decode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::events::v1 as events;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message as _;
use serde_json::{Value, json};

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

fn envelope(api_version: &str, kind: &str, object: &impl prost::Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [b"k8s\0".to_vec(), unknown.encode_to_vec()].concat()
}

async fn post(url: String, body: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", PROTOBUF)
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get_json(url: String) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn meta(name: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: Some(name.into()),
        namespace: Some("default".into()),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    })
}

fn regarding() -> Option<core::ObjectReference> {
    Some(core::ObjectReference {
        kind: Some("Pod".into()),
        namespace: Some("default".into()),
        name: Some("agent-0".into()),
        api_version: Some("v1".into()),
        ..Default::default()
    })
}

#[tokio::test]
async fn core_v1_event_posted_as_protobuf_reads_back_as_json() {
    let (sim, _client) = start().await;
    let event = core::Event {
        metadata: meta("agent-0.1"),
        involved_object: regarding(),
        reason: Some("Started".into()),
        message: Some("agent started".into()),
        source: Some(core::EventSource {
            component: Some("azp-operator".into()),
            host: Some(String::new()),
        }),
        first_timestamp: Some(meta::Time {
            seconds: Some(1_714_979_289),
            nanos: Some(0),
        }),
        last_timestamp: Some(meta::Time {
            seconds: Some(1_714_979_289),
            nanos: Some(0),
        }),
        count: Some(1),
        r#type: Some("Normal".into()),
        event_time: Some(meta::MicroTime::default()),
        ..Default::default()
    };
    let url = format!("{}/api/v1/namespaces/default/events", sim.url());
    let (code, created) = post(url.clone(), envelope("v1", "Event", &event)).await;
    assert_eq!(code, 201, "{created}");
    let (code, read) = get_json(format!("{url}/agent-0.1")).await;
    assert_eq!(code, 200, "{read}");
    assert_eq!(
        read["involvedObject"],
        json!({"kind": "Pod", "namespace": "default", "name": "agent-0", "apiVersion": "v1"})
    );
    assert_eq!(read["reason"], "Started");
    assert_eq!(read["message"], "agent started");
    assert_eq!(read["source"], json!({"component": "azp-operator"}));
    assert_eq!(read["firstTimestamp"], "2024-05-06T07:08:09Z");
    assert_eq!(read["lastTimestamp"], "2024-05-06T07:08:09Z");
    assert_eq!(read["count"], 1);
    assert_eq!(read["type"], "Normal");
    sim.shutdown().await;
}

#[tokio::test]
async fn events_v1_event_posted_as_protobuf_reads_back_as_json() {
    let (sim, _client) = start().await;
    let event = events::Event {
        metadata: meta("agent-0.2"),
        event_time: Some(meta::MicroTime {
            seconds: Some(1_714_979_289),
            nanos: Some(123_456_000),
        }),
        reporting_controller: Some("azp.dev/operator".into()),
        reporting_instance: Some("operator-0".into()),
        action: Some("Scale".into()),
        reason: Some("ScaledUp".into()),
        regarding: regarding(),
        note: Some("1 agent".into()),
        r#type: Some("Normal".into()),
        deprecated_source: Some(core::EventSource::default()),
        deprecated_first_timestamp: Some(meta::Time::default()),
        deprecated_last_timestamp: Some(meta::Time::default()),
        deprecated_count: Some(0),
        ..Default::default()
    };
    let url = format!(
        "{}/apis/events.k8s.io/v1/namespaces/default/events",
        sim.url()
    );
    let (code, created) = post(url.clone(), envelope("events.k8s.io/v1", "Event", &event)).await;
    assert_eq!(code, 201, "{created}");
    let (code, read) = get_json(format!("{url}/agent-0.2")).await;
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["eventTime"], "2024-05-06T07:08:09.123456Z");
    assert_eq!(read["reportingController"], "azp.dev/operator");
    assert_eq!(read["reportingInstance"], "operator-0");
    assert_eq!(read["action"], "Scale");
    assert_eq!(read["reason"], "ScaledUp");
    assert_eq!(read["note"], "1 agent");
    assert_eq!(read["regarding"]["name"], "agent-0");
    assert!(read.get("deprecatedSource").is_none(), "{read}");
    sim.shutdown().await;
}

fn pod(name: &str) -> core::Pod {
    core::Pod {
        metadata: meta(name),
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: Some("agent".into()),
                image: Some("azp-agent:1".into()),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            ..Default::default()
        }),
        status: Some(core::PodStatus::default()),
    }
}

#[tokio::test]
async fn a_protobuf_pod_with_a_field_kube_sim_does_not_decode_is_refused_and_not_stored() {
    let (sim, _client) = start().await;
    let url = format!("{}/api/v1/namespaces/default/pods", sim.url());
    let (code, created) = post(url.clone(), envelope("v1", "Pod", &pod("plain"))).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["spec"]["containers"][0]["image"], "azp-agent:1");

    let mut with_affinity = pod("affine");
    with_affinity.spec.as_mut().unwrap().affinity = Some(core::Affinity::default());
    let (code, status) = post(url.clone(), envelope("v1", "Pod", &with_affinity)).await;
    assert_eq!(code, 415, "{status}");
    assert_eq!(status["reason"], "UnsupportedMediaType");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("kube-sim does not decode protobuf field PodSpec.affinity"),
        "{message}"
    );
    let (code, _) = get_json(format!("{url}/affine")).await;
    assert_eq!(code, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_protobuf_only_accept_gets_a_protobuf_secret_and_406_for_a_list() {
    let (sim, _client) = start().await;
    let url = format!("{}/api/v1/namespaces/default/secrets", sim.url());
    let secret = core::Secret {
        metadata: meta("pat"),
        data: BTreeMap::from([("token".into(), b"s3cr\xffet".to_vec())]),
        ..Default::default()
    };
    let (code, created) = post(url.clone(), envelope("v1", "Secret", &secret)).await;
    assert_eq!(code, 201, "{created}");

    let client = reqwest::Client::new();
    let response = client
        .get(format!("{url}/pat"))
        .header("accept", PROTOBUF)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    let body = response.bytes().await.unwrap();
    let unknown = Unknown::decode(body.strip_prefix(b"k8s\0").expect("magic")).unwrap();
    let type_meta = unknown.type_meta.unwrap();
    assert_eq!(type_meta.api_version.as_deref(), Some("v1"));
    assert_eq!(type_meta.kind.as_deref(), Some("Secret"));
    let read = core::Secret::decode(unknown.raw.unwrap().as_slice()).unwrap();
    assert_eq!(read.data, secret.data);
    assert_eq!(read.r#type.as_deref(), Some("Opaque"));
    let read_meta = read.metadata.unwrap();
    assert_eq!(read_meta.name.as_deref(), Some("pat"));
    assert!(read_meta.uid.is_some_and(|uid| !uid.is_empty()));

    for (what, url) in [
        ("list", url.clone()),
        (
            "pod",
            format!("{}/api/v1/namespaces/default/pods/none", sim.url()),
        ),
    ] {
        let response = client
            .get(url)
            .header("accept", PROTOBUF)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 406, "{what}");
        let status: Value = response.json().await.unwrap();
        assert_eq!(status["reason"], "NotAcceptable", "{what}: {status}");
    }
    // JSON stays the answer whenever it is acceptable.
    let response = client
        .get(format!("{url}/pat"))
        .header("accept", format!("{PROTOBUF}, application/json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    sim.shutdown().await;
}
