//! Early detection of pods that cannot start: an AgentPool whose image the node's registry
//! does not have gets a pod that stays Pending with `ErrImagePull` / `ImagePullBackOff`
//! (kube-sim's kubelet reports it as a real one does). The operator counts it as a failed
//! start at once, deletes it with a `PodCannotStart` Event, and backs off before the next
//! one, instead of waiting for the startup timeout (600 s here). After the image is fixed the
//! job runs. Real operator, real agents for the fixed spec.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::agents::kubelet_missing_images;
use common::{Harness, NAMESPACE, PAT, eventually};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::json;

const MISSING: &str = "registry.example/team/azp-agent:missing";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_whose_image_cannot_be_pulled_is_a_failed_start_at_once_and_is_deleted() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool(
        "linux",
        "Linux",
        json!({"agent": {"image": MISSING}, "scaling": {"maxAgents": 2, "pollInterval": "5s"}}),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let _kubelet = kubelet_missing_images(&h, home.path(), &[MISSING]);
    h.start_operator(&[
        "--start-backoff-initial-seconds",
        "2",
        "--start-backoff-max-seconds",
        "30",
        "--pod-startup-timeout-seconds",
        "600",
    ])
    .await;
    h.wait_for_placeholder("linux").await;
    let job = h.queue("Linux", &[]);

    // Two pods come and go, each counted once, long before any startup timeout.
    let started = Instant::now();
    let mut names = BTreeSet::new();
    let failures = loop {
        for pod in h.pods().await {
            names.insert(pod.metadata.name.clone().unwrap());
        }
        let status = h.pools().get("linux").await.unwrap().status;
        let failures = status.and_then(|s| s.start_failures);
        if let Some(failures) = failures.as_ref().filter(|f| f.consecutive >= 2) {
            break failures.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no second failed start; pods {names:?}, status {failures:?}: {:#?}",
            h.operators[0]
                .logs
                .lock()
                .unwrap()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        failures.last_failure.contains("ErrImagePull")
            || failures.last_failure.contains("ImagePullBackOff"),
        "{failures:?}"
    );
    assert!(failures.last_failure.contains(MISSING), "{failures:?}");
    // One failure per pod: never more failures than pods made.
    assert!(
        usize::try_from(failures.consecutive).unwrap() <= names.len(),
        "{failures:?} for pods {names:?}"
    );
    let events: Vec<Event> = Api::<Event>::namespaced(h.client.clone(), NAMESPACE)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("PodCannotStart"))
        .collect();
    assert!(!events.is_empty(), "no PodCannotStart Event");
    let note = events[0].note.clone().unwrap_or_default();
    assert!(
        note.contains("cannot start (ErrImagePull")
            || note.contains("cannot start (ImagePullBackOff"),
        "{note}"
    );
    assert_eq!(h.emu.job(job).unwrap().state, "queued");

    // Fixed image: the job runs on a new pod.
    h.pools()
        .patch(
            "linux",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"agent": {"image": "azp-agent:test"}}})),
        )
        .await
        .unwrap();
    let result = eventually(
        "the job ran after the fix",
        Duration::from_secs(60),
        || async { h.emu.job(job)?.result },
    )
    .await;
    assert_eq!(result, "succeeded");
}
