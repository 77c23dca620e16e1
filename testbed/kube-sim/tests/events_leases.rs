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
    let recorder = operator_recorder(&client, None);
    let event = pat_invalid_event();
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

/// kube-runtime's recorder (like client-go's) keys a series on type, reason, action,
/// regarding and related — not the note. Events that differ only in their note collapse
/// into the first one; a different `related` object keeps them apart.
#[tokio::test]
async fn the_recorder_keeps_events_apart_only_by_action_and_objects_not_by_note() {
    let (sim, client) = start().await;
    let owner = create_pod(&client, "owner").await;
    let recorder = Recorder::new(client.clone(), Reporter::from("azp-operator"));
    let event = |note: &str, related: Option<&str>| Event {
        type_: EventType::Normal,
        reason: "JobFinished".into(),
        note: Some(note.into()),
        action: "RecordOutcome".into(),
        secondary: related.map(|name| k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        }),
    };
    let reference = owner.object_ref(&());
    recorder
        .publish(&event("pod a: job 1 Succeeded", None), &reference)
        .await
        .unwrap();
    recorder
        .publish(&event("pod b: job 2 PreflightFailed", None), &reference)
        .await
        .unwrap();
    let events: Api<EventV1> = Api::default_namespaced(client.clone());
    let list = events.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(list.len(), 1, "same key: one series");
    assert_eq!(list[0].note.as_deref(), Some("pod a: job 1 Succeeded"));
    assert_eq!(list[0].series.as_ref().map(|s| s.count), Some(2));

    recorder
        .publish(&event("pod c: job 3 Succeeded", Some("c")), &reference)
        .await
        .unwrap();
    recorder
        .publish(&event("pod d: job 4 Failed", Some("d")), &reference)
        .await
        .unwrap();
    let mut notes: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.related.is_some())
        .filter_map(|e| e.note)
        .collect();
    notes.sort();
    assert_eq!(notes, ["pod c: job 3 Succeeded", "pod d: job 4 Failed"]);
    sim.shutdown().await;
}

/// What kube-apiserver enforces on events.k8s.io/v1: required fields, the 1 KiB note, and
/// that an update (a series bump) cannot rewrite the note or the objects.
#[tokio::test]
async fn events_v1_are_validated_and_a_series_cannot_rewrite_its_note() {
    let (sim, client) = start().await;
    let events: Api<EventV1> = Api::default_namespaced(client.clone());
    let event = |name: &str, note: &str| -> EventV1 {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default"},
            "eventTime": "2026-12-03T10:00:00.000000Z",
            "type": "Normal", "reason": "JobFinished", "action": "RecordOutcome",
            "note": note,
            "reportingController": "azp-operator", "reportingInstance": "azp-operator-0",
            "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": "default"}
        }))
        .unwrap()
    };
    let created = events
        .create(&PostParams::default(), &event("e1", "first"))
        .await
        .unwrap();
    assert_eq!(created.note.as_deref(), Some("first"));

    let too_long = events
        .create(&PostParams::default(), &event("e2", &"x".repeat(1025)))
        .await
        .unwrap_err();
    assert_eq!(code(&too_long), 422, "{too_long}");
    let mut untyped = event("e3", "n");
    untyped.action = None;
    untyped.type_ = Some("Info".into());
    let err = events
        .create(&PostParams::default(), &untyped)
        .await
        .unwrap_err();
    assert_eq!(code(&err), 422);
    let message = err.to_string();
    assert!(
        message.contains("action") && message.contains("type"),
        "{message}"
    );

    let series = json!({"series": {"count": 2, "lastObservedTime": "2026-12-03T10:00:05.000000Z"}});
    let bumped = events
        .patch(
            "e1",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&series),
        )
        .await
        .unwrap();
    assert_eq!(bumped.series.map(|s| s.count), Some(2));
    let rewrite = json!({"note": "second", "series": {"count": 3, "lastObservedTime": "2026-12-03T10:00:09.000000Z"}});
    let err = events
        .patch(
            "e1",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&rewrite),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), 422);
    assert!(err.to_string().contains("note"), "{err}");
    sim.shutdown().await;
}
