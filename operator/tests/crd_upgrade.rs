//! Upgrading: an AgentPool created under an older CRD of this project keeps working after the
//! documented upgrade (`helm show crds … | kubectl apply --server-side -f -`, then the new
//! operator). Helm never upgrades a CRD itself, so this step is the user's; the test takes the
//! CRD of the first release and the one of the previous version, stores an AgentPool written for
//! it, applies today's CRD over it the same way, reads it back with today's types, and runs a job
//! through it with today's operator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use azp_operator::crd::AgentPool;
use common::agents::kubelet_in;
use common::{Harness, NAMESPACE, PAT, eventually};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::json;

/// Older CRDs, as `azp-operator crd` generated them then (from this repository's history).
const OLDER_CRDS: [(&str, &str); 2] = [
    (
        "first release (2026-11-28)",
        include_str!("fixtures/agentpool-crd-2026-11-28.yaml"),
    ),
    (
        "previous version (2026-12-03)",
        include_str!("fixtures/agentpool-crd-2026-12-03.yaml"),
    ),
];

const CURRENT_CRD: &str = include_str!("../../crds/agentpool.yaml");

async fn an_agent_pool_of_the_older_crd_runs_a_job_after_the_upgrade(label: &str, older: &str) {
    let crds = tempfile::tempdir().unwrap();
    std::fs::write(crds.path().join("agentpool.yaml"), older).unwrap();
    let mut h = Harness::start_with_crds(&["Linux"], crds.path()).await;
    h.pat_secret("azp-pat", PAT).await;

    // Written for the older CRD, the way its README showed, stored by the older server.
    let gvk = GroupVersionKind::gvk("azp.dev", "v1alpha1", "AgentPool");
    let stored: Api<DynamicObject> = Api::namespaced_with(
        h.client.clone(),
        NAMESPACE,
        &ApiResource::from_gvk_with_plural(&gvk, "agentpools"),
    );
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "azp.dev/v1alpha1", "kind": "AgentPool",
        "metadata": {"name": "linux", "namespace": NAMESPACE},
        "spec": {
            "organization": h.emu.org_url(),
            "pool": "Linux",
            "auth": {"patSecretRef": {"name": "azp-pat", "key": "token"}},
            "agent": {"image": "azp-agent:old"},
            "scaling": {"minIdle": 0, "maxAgents": 2, "idleTimeout": "10m", "pollInterval": "5s"},
        },
    }))
    .unwrap();
    stored
        .create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("{label}: the older CRD refused its own AgentPool: {e}"));

    // The upgrade step of charts/azp-operator/README.md: server-side apply of today's CRD.
    let current: CustomResourceDefinition = serde_yaml::from_str(CURRENT_CRD).unwrap();
    Api::<CustomResourceDefinition>::all(h.client.clone())
        .patch(
            "agentpools.azp.dev",
            &PatchParams::apply("kubectl").force(),
            &Patch::Apply(&current),
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: applying today's CRD failed: {e}"));

    // Today's types read it.
    let pool: AgentPool = h
        .pools()
        .get("linux")
        .await
        .unwrap_or_else(|e| panic!("{label}: today's AgentPool type cannot read it: {e}"));
    assert_eq!(pool.spec.pool, "Linux", "{label}");

    // Today's operator serves it: a job queued in its pool runs on a pod of it.
    let home = tempfile::tempdir().unwrap();
    let pods_dir = tempfile::tempdir().unwrap();
    let _kubelet = kubelet_in(&h, home.path(), pods_dir.path());
    h.start_operator(&[]).await;
    eventually(
        &format!("{label}: placeholder"),
        Duration::from_secs(60),
        || async { h.placeholder_registered("linux").then_some(()) },
    )
    .await;
    let job = h
        .emu
        .queue_job(azp_ado_emulator::QueueJob {
            pool: "Linux".into(),
            ..Default::default()
        })
        .unwrap();
    let result = eventually(
        &format!("{label}: job {job} finished"),
        Duration::from_secs(60),
        || async { h.emu.job(job).and_then(|j| j.result) },
    )
    .await;
    assert_eq!(result, "succeeded", "{label}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_pools_of_older_crds_keep_working_after_the_documented_upgrade() {
    for (label, older) in OLDER_CRDS {
        an_agent_pool_of_the_older_crd_runs_a_job_after_the_upgrade(label, older).await;
    }
}
