//! Server-side apply with two field managers, as the operator and a user would race.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

fn apply(manager: &str) -> PatchParams {
    PatchParams::apply(manager)
}

#[tokio::test]
async fn disjoint_fields_merge_overlaps_conflict_force_wins_and_dropped_fields_go() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let alice = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "labels": {"owner": "alice"}},
                       "data": {"a": "1", "both": "alice"}});
    let created = cms
        .patch("shared", &apply("alice"), &Patch::Apply(&alice))
        .await
        .unwrap();
    assert_eq!(created.data.as_ref().unwrap()["a"], "1");

    // Disjoint fields from a second manager merge.
    let bob = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "annotations": {"bob": "yes"}},
                     "data": {"b": "2"}});
    let merged = cms
        .patch("shared", &apply("bob"), &Patch::Apply(&bob))
        .await
        .unwrap();
    let data = merged.data.clone().unwrap();
    assert_eq!((data["a"].as_str(), data["b"].as_str()), ("1", "2"));
    assert_eq!(merged.metadata.labels.unwrap()["owner"], "alice");
    let managers: Vec<_> = merged
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .map(|m| (m.manager.clone().unwrap(), m.operation.clone().unwrap()))
        .collect();
    assert!(
        managers.contains(&("alice".into(), "Apply".into()))
            && managers.contains(&("bob".into(), "Apply".into())),
        "{managers:?}"
    );

    // Overlapping field with a different value: 409 naming alice and the field.
    let bob_takes = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "annotations": {"bob": "yes"}},
                           "data": {"b": "2", "both": "bob"}});
    let err = cms
        .patch("shared", &apply("bob"), &Patch::Apply(&bob_takes))
        .await
        .unwrap_err();
    assert_eq!(code(&err), 409);
    let kube::Error::Api(status) = &err else {
        unreachable!()
    };
    assert!(
        status.message.contains("conflict with \"alice\"") && status.message.contains(".data.both"),
        "{}",
        status.message
    );
    assert_eq!(
        cms.get("shared").await.unwrap().data.unwrap()["both"],
        "alice"
    );

    // With force, bob wins and takes the field over.
    let forced = cms
        .patch("shared", &apply("bob").force(), &Patch::Apply(&bob_takes))
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["both"], "bob");

    // Alice stops applying "a" and her label: they are removed; bob's fields stay.
    let alice_less = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {}});
    let after = cms
        .patch("shared", &apply("alice"), &Patch::Apply(&alice_less))
        .await
        .unwrap();
    let data = after.data.unwrap_or_default();
    assert!(!data.contains_key("a"), "{data:?}");
    assert_eq!((data["b"].as_str(), data["both"].as_str()), ("2", "bob"));
    assert!(
        !after
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("owner")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn apply_merges_containers_by_name_and_status_is_applied_separately() {
    let (sim, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a/one"]},
                     "spec": {"restartPolicy": "Never", "containers": [{"name": "agent", "image": "agent:1"}]}});
    pods.patch("p", &apply("operator"), &Patch::Apply(&pod))
        .await
        .unwrap();
    // Another manager adds a finalizer (a set): both stay.
    let other = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["b/two"]}});
    let p = pods
        .patch("p", &apply("other"), &Patch::Apply(&other))
        .await
        .unwrap();
    assert_eq!(
        p.metadata.finalizers.unwrap(),
        vec!["a/one".to_string(), "b/two".to_string()]
    );

    // Status applied through /status by the kubelet's manager; the main resource ignores status.
    let status = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
    let p = pods
        .patch_status("p", &apply("kubelet"), &Patch::Apply(&status))
        .await
        .unwrap();
    assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
    let sneaky = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": {"phase": "Failed"}});
    let p = pods
        .patch("p", &apply("operator2"), &Patch::Apply(&sneaky))
        .await
        .unwrap();
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Running"));

    // The status apply is recorded (subresource `status`), so a later apply by the same manager
    // that leaves a status field out removes it, as kube-apiserver does.
    let p = pods.get("p").await.unwrap();
    let entry = p
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|e| e.manager.as_deref() == Some("kubelet"))
        .expect("the kubelet's status apply is in managedFields");
    assert_eq!(entry.subresource.as_deref(), Some("status"));
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
    let without_conditions = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                    "status": {"phase": "Running"}});
    let p = pods
        .patch_status("p", &apply("kubelet"), &Patch::Apply(&without_conditions))
        .await
        .unwrap();
    let status = p.status.unwrap();
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert!(
        status.conditions.unwrap_or_default().is_empty(),
        "a status field the manager stopped applying stayed"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn apply_requires_a_field_manager_and_force_only_with_apply() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    // kube-rs validates the manager itself; so send a wrong kind instead: 400 from the server.
    let wrong = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}});
    assert_eq!(
        code(
            &cms.patch("x", &apply("m"), &Patch::Apply(&wrong))
                .await
                .unwrap_err()
        ),
        400
    );
    cms.patch("x", &apply("m"), &Patch::Apply(&cm))
        .await
        .unwrap();
    sim.shutdown().await;
}

#[tokio::test]
async fn leaving_a_whole_map_out_of_an_apply_removes_it_not_just_its_keys() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let with_data = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"},
                           "data": {"a": "1", "b": "2"}});
    cms.patch("m", &apply("alice"), &Patch::Apply(&with_data))
        .await
        .unwrap();
    let without = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m", "labels": {"x": "y"}}});
    let cm = cms
        .patch("m", &apply("alice"), &Patch::Apply(&without))
        .await
        .unwrap();
    assert_eq!(cm.data, None, "an emptied map stayed behind");
    // Applied explicitly empty, it stays.
    let empty =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "data": {}});
    let cm = cms
        .patch("m", &apply("alice"), &Patch::Apply(&empty))
        .await
        .unwrap();
    assert_eq!(cm.data, Some(Default::default()));
    sim.shutdown().await;
}
