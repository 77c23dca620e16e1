//! Reads and writes as the operator does them: conflicts, selectors, subresources, finalizers, GC.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use serde_json::json;

#[tokio::test]
async fn stale_resource_version_update_is_409_and_fresh_one_succeeds() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("c".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let first = cms.create(&PostParams::default(), &cm).await.unwrap();
    let mut a = first.clone();
    a.data = Some([("k".to_string(), "1".to_string())].into());
    let updated = cms.replace("c", &PostParams::default(), &a).await.unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        first.metadata.resource_version
    );

    let mut stale = first.clone();
    stale.data = Some([("k".to_string(), "2".to_string())].into());
    let err = cms
        .replace("c", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(code(&err), 409);
    let kube::Error::Api(status) = &err else {
        unreachable!()
    };
    assert_eq!(status.reason, "Conflict");
    assert!(
        status.message.contains("the object has been modified"),
        "{}",
        status.message
    );
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["k"], "1");

    let dup = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert_eq!(code(&dup), 409);
    sim.shutdown().await;
}

#[tokio::test]
async fn generate_name_label_and_field_selectors_and_paging() {
    let (sim, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let mut created = Vec::new();
    for i in 0..5 {
        let mut p: Pod = serde_json::from_value(pod_json("x")).unwrap();
        p.metadata.name = None;
        p.metadata.generate_name = Some("agent-".into());
        p.metadata.labels = Some(
            [(
                "tier".to_string(),
                if i % 2 == 0 { "even" } else { "odd" }.to_string(),
            )]
            .into(),
        );
        created.push(pods.create(&PostParams::default(), &p).await.unwrap());
    }
    let names: std::collections::BTreeSet<_> = created
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names.len(), 5);
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("agent-") && n.len() == "agent-".len() + 5)
    );

    let even = pods
        .list(&ListParams::default().labels("tier=even"))
        .await
        .unwrap();
    assert_eq!(even.items.len(), 3);
    let not_even = pods
        .list(&ListParams::default().labels("tier notin (even)"))
        .await
        .unwrap();
    assert_eq!(not_even.items.len(), 2);
    let missing = pods
        .list(&ListParams::default().labels("!tier"))
        .await
        .unwrap();
    assert!(missing.items.is_empty());

    let first = names.iter().next().unwrap();
    let by_name = pods
        .list(&ListParams::default().fields(&format!("metadata.name={first}")))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    let pending = pods
        .list(&ListParams::default().fields("status.phase=Pending"))
        .await
        .unwrap();
    assert_eq!(pending.items.len(), 5, "new pods are Pending");
    let bad = pods
        .list(&ListParams::default().fields("spec.restartPolicy=Never"))
        .await
        .unwrap_err();
    assert_eq!(code(&bad), 400);

    let page1 = pods.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page1.items.len(), 2);
    let token = page1.metadata.continue_.clone().unwrap();
    let page2 = pods
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 3);
    assert!(page2.metadata.continue_.as_deref().unwrap_or("").is_empty());

    // Cluster-wide list sees the same pods.
    let all: Api<Pod> = Api::all(client);
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        5
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn status_writes_keep_spec_and_spec_writes_bump_generation() {
    let (sim, client) = start().await;
    let widgets: Api<Widget> = Api::default_namespaced(client);
    let w = widgets
        .create(&PostParams::default(), &widget("w", 1, 3))
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(1));
    assert!(
        w.status.is_none(),
        "status is dropped on create when a status subresource exists"
    );

    // A status write that also tries to change spec: only status changes, generation stays.
    let patch = json!({"spec": {"maxAgents": 99}, "status": {"ready": 2, "observedGeneration": 1}});
    let after = widgets
        .patch_status("w", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(after.spec.max_agents, 3);
    assert_eq!(after.status.as_ref().unwrap().ready, 2);
    assert_eq!(after.metadata.generation, Some(1));

    // A main-resource write that tries to change status: spec changes, status does not, generation bumps.
    let patch = json!({"spec": {"maxAgents": 5}, "status": {"ready": 7}});
    let after = widgets
        .patch("w", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(after.spec.max_agents, 5);
    assert_eq!(after.status.as_ref().unwrap().ready, 2);
    assert_eq!(after.metadata.generation, Some(2));

    // Metadata-only writes do not bump generation.
    let patch = json!({"metadata": {"labels": {"x": "y"}}});
    let after = widgets
        .patch("w", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(after.metadata.generation, Some(2));

    // A no-op write does not bump resourceVersion (controllers rely on this to avoid hot loops).
    let again = widgets
        .patch("w", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        after.metadata.resource_version
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn finalizer_keeps_object_with_deletion_timestamp_until_removed() {
    let (sim, client) = start().await;
    let widgets: Api<Widget> = Api::default_namespaced(client);
    let mut w = widget("fin", 0, 1);
    w.metadata.finalizers = Some(vec!["azp.dev/cleanup".into()]);
    widgets.create(&PostParams::default(), &w).await.unwrap();

    let deleted = widgets
        .delete("fin", &DeleteParams::default())
        .await
        .unwrap();
    let still = deleted
        .left()
        .expect("object is returned while finalizers remain");
    assert!(still.metadata.deletion_timestamp.is_some());
    let got = widgets.get("fin").await.unwrap();
    assert!(got.metadata.deletion_timestamp.is_some());

    // New finalizers cannot be added while deleting.
    let add = json!({"metadata": {"finalizers": ["azp.dev/cleanup", "other"]}});
    assert_eq!(
        code(
            &widgets
                .patch("fin", &PatchParams::default(), &Patch::Merge(&add))
                .await
                .unwrap_err()
        ),
        422
    );

    let remove = json!({"metadata": {"finalizers": null}});
    widgets
        .patch("fin", &PatchParams::default(), &Patch::Merge(&remove))
        .await
        .unwrap();
    assert_eq!(code(&widgets.get("fin").await.unwrap_err()), 404);
    sim.shutdown().await;
}

fn owned_by(w: &Widget, name: &str) -> ConfigMap {
    let owner = json!({"apiVersion": "test.azp.dev/v1", "kind": "Widget", "name": w.metadata.name, "uid": w.metadata.uid,
                       "controller": true, "blockOwnerDeletion": true});
    serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": [owner]}})).unwrap()
}

#[tokio::test]
async fn deleting_an_owner_removes_its_dependents_unless_orphaned() {
    let (sim, client) = start().await;
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client);
    let w = widgets
        .create(&PostParams::default(), &widget("owner", 0, 1))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned_by(&w, "dep"))
        .await
        .unwrap();
    let mut pod: Pod = serde_json::from_value(pod_json("dep-pod")).unwrap();
    pod.metadata.owner_references = owned_by(&w, "x").metadata.owner_references;
    pods.create(&PostParams::default(), &pod).await.unwrap();

    widgets
        .delete("owner", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(code(&cms.get("dep").await.unwrap_err()), 404);
    assert_eq!(
        code(&pods.get("dep-pod").await.unwrap_err()),
        404,
        "an unscheduled pod goes at once"
    );

    let w2 = widgets
        .create(&PostParams::default(), &widget("owner2", 0, 1))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &owned_by(&w2, "kept"))
        .await
        .unwrap();
    widgets
        .delete("owner2", &DeleteParams::orphan())
        .await
        .unwrap();
    assert_eq!(code(&widgets.get("owner2").await.unwrap_err()), 404);
    let kept = cms.get("kept").await.unwrap();
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );

    let w3 = widgets
        .create(&PostParams::default(), &widget("owner3", 0, 1))
        .await
        .unwrap();
    let mut blocked = owned_by(&w3, "blocked");
    blocked.metadata.finalizers = Some(vec!["test/hold".into()]);
    cms.create(&PostParams::default(), &blocked).await.unwrap();
    widgets
        .delete("owner3", &DeleteParams::foreground())
        .await
        .unwrap();
    let owner = widgets.get("owner3").await.unwrap();
    assert!(
        owner.metadata.deletion_timestamp.is_some(),
        "foreground owner waits for its dependents"
    );
    cms.patch(
        "blocked",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(code(&widgets.get("owner3").await.unwrap_err()), 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn scheduled_pod_deletion_is_graceful_and_grace_zero_removes() {
    let (sim, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    create_pod(&client, "p").await;
    // Bind like the scheduler, so the pod counts as running on a node.
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "node-1"}});
    let req = http::Request::post(format!(
        "{}/api/v1/namespaces/default/pods/p/binding",
        sim.url()
    ))
    .header("content-type", "application/json")
    .body(serde_json::to_vec(&binding).unwrap())
    .unwrap();
    let _: serde_json::Value = client.request(req).await.unwrap();
    assert_eq!(
        pods.get("p")
            .await
            .unwrap()
            .spec
            .unwrap()
            .node_name
            .as_deref(),
        Some("node-1")
    );

    pods.delete("p", &DeleteParams::default()).await.unwrap();
    let terminating = pods.get("p").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));

    // Pod spec is immutable apart from images and a few fields.
    let change = json!({"spec": {"restartPolicy": "Always"}});
    assert_eq!(
        code(
            &pods
                .patch("p", &PatchParams::default(), &Patch::Strategic(change))
                .await
                .unwrap_err()
        ),
        422
    );

    pods.delete(
        "p",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(code(&pods.get("p").await.unwrap_err()), 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn strategic_and_json_patches_and_secrets() {
    let (sim, client) = start().await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    create_pod(&client, "sp").await;
    let patch = json!({"spec": {"containers": [{"name": "agent", "image": "azp-agent:2"}]}});
    let p = pods
        .patch("sp", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let spec = p.spec.unwrap();
    assert_eq!(spec.containers.len(), 1);
    assert_eq!(spec.containers[0].image.as_deref(), Some("azp-agent:2"));

    let jp: json_patch::Patch = serde_json::from_value(
        json!([{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}]),
    )
    .unwrap();
    let p = pods
        .patch("sp", &PatchParams::default(), &Patch::Json::<()>(jp))
        .await
        .unwrap();
    assert_eq!(p.metadata.annotations.unwrap()["a"], "b");
    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/metadata/name", "value": "other"}]))
            .unwrap();
    assert_eq!(
        code(
            &pods
                .patch("sp", &PatchParams::default(), &Patch::Json::<()>(bad))
                .await
                .unwrap_err()
        ),
        422
    );

    let secrets: Api<Secret> = Api::default_namespaced(client);
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "pat"}, "stringData": {"token": "s3cret"}}),
    )
    .unwrap();
    let stored = secrets.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(stored.data.unwrap()["token"].0, b"s3cret");
    assert_eq!(stored.type_.as_deref(), Some("Opaque"));
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_and_verbs_answer_status_objects() {
    let (sim, _client) = start().await;
    let addr = sim.addr();
    for (method, path, expected) in [
        ("GET", "/api/v1/namespaces/default/widgets", 404),
        ("GET", "/apis/nope.dev/v1/things", 404),
        ("GET", "/api/v1/namespaces/default/pods/p/log", 404),
        ("POST", "/api/v1/pods", 405),
        ("PUT", "/api/v1/namespaces/default/pods", 405),
        ("DELETE", "/api/v1/pods", 405),
        ("GET", "/openapi/v2", 404),
        ("POST", "/version", 405),
    ] {
        let (status, body) = raw(addr, method, path, None).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["kind"], "Status", "{method} {path}");
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["code"], expected);
    }
    // A patch with an unknown content type is 415, not a silent success.
    let (status, _) = raw(
        addr,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/x",
        Some(("text/plain", "{}")),
    )
    .await;
    assert_eq!(status, 415);
    // dryRun=All stores nothing.
    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dry"}}"#;
    let (status, _) = raw(
        addr,
        "POST",
        "/api/v1/namespaces/default/configmaps?dryRun=All",
        Some(("application/json", cm)),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = raw(
        addr,
        "GET",
        "/api/v1/namespaces/default/configmaps/dry",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = raw(
        addr,
        "POST",
        "/api/v1/namespaces/default/configmaps?dryRun=Some",
        Some(("application/json", cm)),
    )
    .await;
    assert_eq!(status, 400);
    // Creating in a namespace that does not exist is 404, as on a real cluster.
    let (status, _) = raw(
        addr,
        "POST",
        "/api/v1/namespaces/nope/configmaps",
        Some(("application/json", cm)),
    )
    .await;
    assert_eq!(status, 404);
    sim.shutdown().await;
}

/// A minimal raw HTTP/1.1 client (so tests can send what kube-rs would refuse to): returns (status, body).
async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, &str)>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (ct, payload) = body.unwrap_or(("application/json", ""));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status: u16 = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn built_in_kinds_decode_like_typed_structs_and_strict_validation_rejects_unknown_fields() {
    let (sim, _client) = start().await;
    let addr = sim.addr();
    let typo = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t"},"data":{"a":"1"},"dataa":{"b":"2"}}"#;
    let (status, body) = raw(
        addr,
        "POST",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
        Some(("application/json", typo)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown field \\\"dataa\\\""), "{body}");
    let (status, body) = raw(
        addr,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(("application/json", typo)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let stored: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        stored.get("dataa").is_none(),
        "unknown fields are dropped: {stored}"
    );

    let wrong_type =
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"w"},"data":{"a":1}}"#;
    let (status, _) = raw(
        addr,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(("application/json", wrong_type)),
    )
    .await;
    assert_eq!(status, 400);

    let cr_typo = r#"{"apiVersion":"test.azp.dev/v1","kind":"Widget","metadata":{"name":"x"},"spec":{"minIdle":0,"maxAgents":1,"maxAgent":2}}"#;
    let path = "/apis/test.azp.dev/v1/namespaces/default/widgets";
    let (status, body) = raw(
        addr,
        "POST",
        &format!("{path}?fieldValidation=Strict"),
        Some(("application/json", cr_typo)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("spec.maxAgent"), "{body}");
    let (status, body) = raw(addr, "POST", path, Some(("application/json", cr_typo))).await;
    assert_eq!(status, 201, "pruned, not rejected, by default: {body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn metadata_only_lists_return_partial_object_metadata() {
    let (sim, client) = start().await;
    create_pod(&client, "meta").await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    let list = pods.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("meta"));
    let one = pods.get_metadata("meta").await.unwrap();
    assert_eq!(one.types.unwrap().kind, "PartialObjectMetadata");
    sim.shutdown().await;
}

#[tokio::test]
async fn namespaces_cascade_and_cross_namespace_owners_do_not_count() {
    let (sim, client) = start().await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": "team"}})).unwrap();
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));

    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let w = widgets
        .create(&PostParams::default(), &widget("owner", 0, 1))
        .await
        .unwrap();
    let team_cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    // A namespaced owner in another namespace is not an owner: the GC removes the dependent.
    team_cms
        .create(&PostParams::default(), &owned_by(&w, "elsewhere"))
        .await
        .unwrap();
    assert_eq!(code(&team_cms.get("elsewhere").await.unwrap_err()), 404);

    let mut held: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["test/hold"]}}))
            .unwrap();
    team_cms
        .create(&PostParams::default(), &held)
        .await
        .unwrap();
    namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get("team").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    held.metadata.name = Some("new".into());
    held.metadata.finalizers = None;
    assert_eq!(
        code(
            &team_cms
                .create(&PostParams::default(), &held)
                .await
                .unwrap_err()
        ),
        403
    );

    team_cms
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert_eq!(
        code(&namespaces.get("team").await.unwrap_err()),
        404,
        "an empty terminating namespace goes"
    );
    assert_eq!(
        code(
            &team_cms
                .create(&PostParams::default(), &held)
                .await
                .unwrap_err()
        ),
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn delete_preconditions_and_dry_runs_are_honoured() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();

    let wrong_uid = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("not-it".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    assert_eq!(code(&cms.delete("p", &wrong_uid).await.unwrap_err()), 409);
    let dry = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    cms.delete("p", &dry).await.unwrap();
    assert!(
        cms.get_opt("p").await.unwrap().is_some(),
        "a dry-run delete keeps the object"
    );

    let mut apply = PatchParams::apply("m");
    apply.dry_run = true;
    let applied = cms.patch("p", &apply, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "data": {"k": "v"}}))).await.unwrap();
    assert_eq!(
        applied.data.unwrap()["k"],
        "v",
        "the dry-run answer shows the result"
    );
    assert!(
        cms.get("p").await.unwrap().data.is_none(),
        "but nothing is stored"
    );

    let right = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: created.metadata.uid.clone(),
            resource_version: created.metadata.resource_version.clone(),
        }),
        ..Default::default()
    };
    cms.delete("p", &right).await.unwrap();
    assert!(cms.get_opt("p").await.unwrap().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_faults_fail_matching_requests_and_kube_rs_retries_429() {
    let (sim, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "f"}})).unwrap();
    let fault = |code, retry| azp_kube_sim::Fault {
        method: Some("POST".into()),
        path_contains: "/configmaps".into(),
        code,
        times: 2,
        retry_after_seconds: retry,
    };
    // A 500 is not retried by the client: the caller sees it, and reads are unaffected by a POST rule.
    sim.inject_fault(fault(500, None));
    assert_eq!(
        code(&cms.create(&PostParams::default(), &cm).await.unwrap_err()),
        500
    );
    assert!(cms.get_opt("f").await.unwrap().is_none());
    assert_eq!(
        code(&cms.create(&PostParams::default(), &cm).await.unwrap_err()),
        500
    );

    // 429 with Retry-After: kube-rs waits and retries, as it would against a throttling cluster.
    sim.inject_fault(fault(429, Some(1)));
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"f"}}"#;
    let (status, text) = raw(
        sim.addr(),
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(("application/json", body)),
    )
    .await;
    assert_eq!(status, 429);
    assert!(
        text.contains("TooManyRequests") && text.contains("retryAfterSeconds"),
        "{text}"
    );
    let started = std::time::Instant::now();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "the client honoured Retry-After"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn throttled_pod_creates_answer_429_with_retry_after_and_the_journal_shows_the_pacing() {
    let (sim, client) = start().await;
    sim.record_requests("POST", "/pods");
    sim.inject_fault(azp_kube_sim::Fault::throttle_pod_creates(1, 1));
    let pods: Api<Pod> = Api::namespaced(client, "default");
    // A ConfigMap create is not a pod create: neither throttled nor recorded.
    let cms: Api<ConfigMap> = Api::default_namespaced(pods.clone().into_client());
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();

    let started = std::time::Instant::now();
    let pod: Pod = serde_json::from_value(pod_json("p")).unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    let journal = sim.journal();
    let statuses: Vec<u16> = journal.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [429, 201], "{journal:?}");
    assert!(
        journal
            .iter()
            .all(|e| e.path == "/api/v1/namespaces/default/pods")
    );
    assert!(
        journal[1].at - journal[0].at >= std::time::Duration::from_millis(950),
        "the retry waited for Retry-After: {:?}",
        journal[1].at - journal[0].at
    );

    // The header itself, as a client without kube-rs' retry sees it.
    sim.inject_fault(azp_kube_sim::Fault::throttle_pod_creates(1, 7));
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/namespaces/default/pods", sim.url()))
        .json(&pod_json("q"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    sim.shutdown().await;
}
