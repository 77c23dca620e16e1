//! Custom resources are validated against their CRD's schema and CEL rules, as a real API server does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{ApiResource, Discovery};
use serde_json::json;

#[tokio::test]
async fn a_resource_breaking_a_cel_rule_is_rejected_naming_field_and_rule() {
    let (sim, client) = start().await;
    let widgets: Api<Widget> = Api::default_namespaced(client);
    let err = widgets
        .create(&PostParams::default(), &widget("bad", 5, 2))
        .await
        .unwrap_err();
    let kube::Error::Api(status) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code, 422);
    assert_eq!(status.reason, "Invalid");
    assert!(
        status
            .message
            .starts_with("Widget.test.azp.dev \"bad\" is invalid: spec"),
        "{}",
        status.message
    );
    assert!(
        status.message.contains("minIdle must be <= maxAgents"),
        "{}",
        status.message
    );

    // The same rule guards updates.
    widgets
        .create(&PostParams::default(), &widget("good", 1, 2))
        .await
        .unwrap();
    let err = widgets
        .patch(
            "good",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minIdle": 9}})),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), 422);
    assert_eq!(widgets.get("good").await.unwrap().spec.min_idle, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_resource_breaking_the_schema_is_rejected_naming_the_field() {
    let (sim, client) = start().await;
    let ar = ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("test.azp.dev", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.azp.dev/v1", "kind": "Widget", "metadata": {"name": "typed"},
        "spec": {"minIdle": "many", "maxAgents": 1}
    }))
    .unwrap();
    let err = api.create(&PostParams::default(), &obj).await.unwrap_err();
    let kube::Error::Api(status) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("spec.minIdle"),
        "{}",
        status.message
    );

    let missing: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.azp.dev/v1", "kind": "Widget", "metadata": {"name": "missing"}, "spec": {"minIdle": 1}
    }))
    .unwrap();
    let err = api
        .create(&PostParams::default(), &missing)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = &err else {
        panic!("{err:?}")
    };
    assert!(
        status.message.contains("spec.maxAgents") && status.message.contains("Required"),
        "{}",
        status.message
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn crds_created_through_the_api_are_served_and_discoverable() {
    let (sim, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut crd: serde_json::Value =
        serde_json::to_value(<Widget as kube::CustomResourceExt>::crd()).unwrap();
    crd["metadata"]["name"] = json!("gadgets.test.azp.dev");
    crd["spec"]["names"] =
        json!({"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "shortNames": ["gd"]});
    let created = crds
        .create(
            &PostParams::default(),
            &serde_json::from_value(crd).unwrap(),
        )
        .await
        .unwrap();
    let established = created
        .status
        .unwrap()
        .conditions
        .unwrap()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "test.azp.dev",
            "v1",
            "Gadget",
        ))
        .expect("discovered");
    assert_eq!(ar.plural, "gadgets");
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "status" || s.plural == "gadgets/status"),
        "{:?}",
        caps.subresources
    );

    let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let g: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "test.azp.dev/v1", "kind": "Gadget",
        "metadata": {"name": "g"}, "spec": {"minIdle": 0, "maxAgents": 1}}))
        .unwrap();
    gadgets.create(&PostParams::default(), &g).await.unwrap();
    assert_eq!(
        gadgets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // Invalid CRDs are rejected.
    let bad: serde_json::Value = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "wrong.test.azp.dev"},
        "spec": {"group": "test.azp.dev", "scope": "Namespaced", "names": {"plural": "things", "kind": "Thing"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
    let err = crds
        .create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), 422);

    // Deleting the CRD stops serving it and removes its objects.
    crds.delete("gadgets.test.azp.dev", &Default::default())
        .await
        .unwrap();
    assert_eq!(
        code(&gadgets.list(&ListParams::default()).await.unwrap_err()),
        404
    );
    sim.shutdown().await;
}
