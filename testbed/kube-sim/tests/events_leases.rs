//! Events (as kube-runtime's Recorder writes them) and Leases (as leader election uses them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event as EventV1;
use kube::Resource;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::json;

#[tokio::test]
async fn recorder_creates_then_counts_repeated_events() {
    let (sim, client) = start().await;
    let pod = create_pod(&client, "evented").await;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "azp-operator".into(),
            instance: None,
        },
    );
    let event = Event {
        type_: EventType::Warning,
        reason: "PatInvalid".into(),
        note: Some("Azure DevOps answered 401".into()),
        action: "Poll".into(),
        secondary: None,
    };
    let reference = pod.object_ref(&());
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events: Api<EventV1> = Api::default_namespaced(client);
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.items.len(),
        1,
        "a repeated event is patched, not duplicated"
    );
    let e = &list.items[0];
    assert_eq!(e.reason.as_deref(), Some("PatInvalid"));
    assert_eq!(
        e.regarding.as_ref().unwrap().name.as_deref(),
        Some("evented")
    );
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(2));
    sim.shutdown().await;
}

#[tokio::test]
async fn lease_takeover_with_a_stale_resource_version_conflicts() {
    let (sim, client) = start().await;
    let leases: Api<Lease> = Api::default_namespaced(client);
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "azp-operator"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}))
    .unwrap();
    let held = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut b = held.clone();
    b.spec.as_mut().unwrap().holder_identity = Some("b".into());
    leases
        .replace("azp-operator", &PostParams::default(), &b)
        .await
        .unwrap();
    let mut c = held;
    c.spec.as_mut().unwrap().holder_identity = Some("c".into());
    assert_eq!(
        code(
            &leases
                .replace("azp-operator", &PostParams::default(), &c)
                .await
                .unwrap_err()
        ),
        409
    );
    assert_eq!(
        leases
            .get("azp-operator")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("b")
    );
    sim.shutdown().await;
}
