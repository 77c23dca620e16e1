//! Core `v1` Events and `events.k8s.io/v1` Events are one storage seen through two API
//! versions, as on kube-apiserver: what the operator records (events.k8s.io/v1, through
//! kube-runtime's Recorder) is what core clients — kubectl, dashboards — read and watch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event as EventV1;
use kube::Resource;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

/// The replica name the Events of this file carry.
const INSTANCE: Option<&str> = Some("azp-operator-0");

#[tokio::test]
async fn a_recorded_series_reads_through_core_v1_with_its_count() {
    let (sim, client) = start().await;
    let pod = create_pod(&client, "agent-1").await;
    let recorder = operator_recorder(&client, INSTANCE);
    recorder
        .publish(&pat_invalid_event(), &pod.object_ref(&()))
        .await
        .unwrap();
    recorder
        .publish(&pat_invalid_event(), &pod.object_ref(&()))
        .await
        .unwrap();

    let core: Api<CoreEvent> = Api::default_namespaced(client.clone());
    let selector = format!(
        "involvedObject.kind=Pod,involvedObject.name=agent-1,involvedObject.uid={}",
        pod.metadata.uid.as_deref().unwrap()
    );
    let seen = core
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap()
        .items;
    assert_eq!(seen.len(), 1, "{seen:?}");
    let e = &seen[0];
    assert_eq!(e.reason.as_deref(), Some("PatInvalid"));
    assert_eq!(e.message.as_deref(), Some("Azure DevOps answered 401"));
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    assert_eq!(e.involved_object.name.as_deref(), Some("agent-1"));
    assert_eq!(e.reporting_component.as_deref(), Some("azp-operator"));
    assert_eq!(e.reporting_instance.as_deref(), Some("azp-operator-0"));
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(Some(2)));
    // The recorder keeps the count in `series`; the deprecated `count` stays unset.
    assert_eq!(e.count, None);

    let other = core
        .list(&ListParams::default().fields("involvedObject.name=someone-else"))
        .await
        .unwrap();
    assert!(other.items.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_core_v1_event_reads_back_through_events_v1_with_the_mapped_fields() {
    let (sim, client) = start().await;
    let core: Api<CoreEvent> = Api::default_namespaced(client.clone());
    // An old-style Event, as kubelets and client-go's legacy recorder write them.
    let old_style: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "agent-1.pulled", "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "agent-1",
                           "namespace": "default", "fieldPath": "spec.containers{agent}"},
        "reason": "Pulled", "message": "Container image already present", "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"}, "count": 3,
        "firstTimestamp": "2026-12-03T10:00:00Z", "lastTimestamp": "2026-12-03T10:02:00Z"
    }))
    .unwrap();
    let created = core
        .create(&PostParams::default(), &old_style)
        .await
        .unwrap();

    let v1: Api<EventV1> = Api::default_namespaced(client.clone());
    let e = v1.get("agent-1.pulled").await.unwrap();
    let regarding = e.regarding.as_ref().unwrap();
    assert_eq!(regarding.name.as_deref(), Some("agent-1"));
    assert_eq!(
        regarding.field_path.as_deref(),
        Some("spec.containers{agent}")
    );
    assert_eq!(e.note.as_deref(), Some("Container image already present"));
    assert_eq!(e.reason.as_deref(), Some("Pulled"));
    assert_eq!(e.type_.as_deref(), Some("Normal"));
    let source = e.deprecated_source.as_ref().unwrap();
    assert_eq!(source.component.as_deref(), Some("kubelet"));
    assert_eq!(source.host.as_deref(), Some("node-1"));
    assert_eq!(e.deprecated_count, Some(3));
    assert!(e.deprecated_first_timestamp.is_some() && e.deprecated_last_timestamp.is_some());
    assert!(e.event_time.is_none());
    // One object: the same resourceVersion through either API.
    assert_eq!(
        e.metadata.resource_version,
        created.metadata.resource_version
    );

    // Through events.k8s.io/v1 it is updatable like any Event of that version: a series,
    // yes; a new note, no.
    let series = json!({"series": {"count": 4, "lastObservedTime": "2026-12-03T10:03:00.000000Z"}});
    let patched = v1
        .patch(
            "agent-1.pulled",
            &PatchParams::default(),
            &Patch::Merge(&series),
        )
        .await
        .unwrap();
    assert_eq!(patched.series.map(|s| s.count), Some(4));
    let rewrite = json!({"note": "something else"});
    let err = v1
        .patch(
            "agent-1.pulled",
            &PatchParams::default(),
            &Patch::Merge(&rewrite),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), 422, "{err}");
    assert_eq!(
        core.get("agent-1.pulled")
            .await
            .unwrap()
            .series
            .and_then(|s| s.count),
        Some(4)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn core_v1_events_get_the_legacy_validation() {
    let (sim, client) = start().await;
    let core: Api<CoreEvent> = Api::default_namespaced(client.clone());
    let elsewhere: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "stray"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "kube-public"},
        "reason": "R", "message": "m"
    }))
    .unwrap();
    let err = core
        .create(&PostParams::default(), &elsewhere)
        .await
        .unwrap_err();
    assert_eq!(code(&err), 422);
    assert!(
        err.to_string().contains("involvedObject.namespace"),
        "{err}"
    );

    // A new-style core Event (with eventTime) needs the reporting fields.
    let incomplete: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "new-style"},
        "eventTime": "2026-12-03T10:00:00.000000Z",
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "R", "type": "Normal"
    }))
    .unwrap();
    let err = core
        .create(&PostParams::default(), &incomplete)
        .await
        .unwrap_err();
    assert_eq!(code(&err), 422);
    let message = err.to_string();
    assert!(
        message.contains("reportingController") && message.contains("action"),
        "{message}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_core_v1_watch_sees_what_the_recorder_writes() {
    let (sim, client) = start().await;
    let pod = create_pod(&client, "agent-2").await;
    let core: Api<CoreEvent> = Api::default_namespaced(client.clone());
    let rv = core
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let params = WatchParams::default()
        .fields("involvedObject.name=agent-2")
        .timeout(10);
    let mut stream = core.watch(&params, &rv).await.unwrap().boxed();

    operator_recorder(&client, INSTANCE)
        .publish(&pat_invalid_event(), &pod.object_ref(&()))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("a watch event")
        .unwrap();
    let Some(WatchEvent::Added(e)) = first else {
        panic!("expected ADDED, got {first:?}");
    };
    assert_eq!(e.reason.as_deref(), Some("PatInvalid"));
    assert_eq!(e.message.as_deref(), Some("Azure DevOps answered 401"));
    let v1: Api<EventV1> = Api::default_namespaced(client.clone());
    let stored = v1.get(e.metadata.name.as_deref().unwrap()).await.unwrap();
    assert_eq!(
        stored.metadata.resource_version,
        e.metadata.resource_version
    );
    sim.shutdown().await;
}
