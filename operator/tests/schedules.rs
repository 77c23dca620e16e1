//! Standby schedules end to end (`spec.scaling.schedules`): the real operator keeps the
//! scheduled number of warm agents while a window is open, none outside it, and refuses an
//! unknown time zone with a condition instead of guessing. Daylight-saving changes are covered
//! by the unit tests of `crd::schedule` with an injected clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use chrono::{Timelike, Utc};
use common::{Harness, PAT, eventually};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

/// `HH:MM` of now + `minutes` (UTC).
fn utc_clock(minutes: i64) -> String {
    let at = Utc::now() + chrono::Duration::minutes(minutes);
    format!("{:02}:{:02}", at.hour(), at.minute())
}

fn pods_of<'a>(pods: &'a [k8s_openapi::api::core::v1::Pod], pool: &str) -> Vec<&'a str> {
    pods.iter()
        .filter(|p| p.metadata.labels.as_ref().unwrap()["azp.dev/pool"] == pool)
        .map(|p| p.metadata.name.as_deref().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_window_keeps_its_warm_agents_a_closed_one_none_and_a_bad_zone_is_refused() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    // Open now: every day, from an hour ago to an hour from now (UTC).
    let open =
        json!({"timeZone": "UTC", "start": utc_clock(-60), "end": utc_clock(60), "minIdle": 2});
    // Closed now: two hours from now to three hours from now.
    let closed =
        json!({"timeZone": "UTC", "start": utc_clock(120), "end": utc_clock(180), "minIdle": 3});
    h.agent_pool(
        "office",
        "Linux",
        json!({"scaling": {"maxAgents": 5, "pollInterval": "5s", "schedules": [open]}}),
    )
    .await;
    h.agent_pool(
        "later",
        "Linux",
        json!({"scaling": {"maxAgents": 5, "pollInterval": "5s", "schedules": [closed]}}),
    )
    .await;
    h.agent_pool(
        "atlantis",
        "Linux",
        json!({"scaling": {"maxAgents": 5, "pollInterval": "5s", "schedules": [
            {"timeZone": "Europe/Atlantis", "start": "00:00", "end": "00:00", "minIdle": 1}
        ]}}),
    )
    .await;
    // No kubelet: pods stay Pending and count as starting capacity (rule 3).
    h.start_operator(&[]).await;
    eventually("2 warm pods of office", WAIT, || async {
        (pods_of(&h.pods().await, "office").len() == 2).then_some(())
    })
    .await;
    let refused = eventually("atlantis refused", WAIT, || async {
        let pool = h.pools().get("atlantis").await.ok()?;
        pool.status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == "Ready" && c.status == "False")
    })
    .await;
    assert_eq!(refused.reason, "InvalidSpec", "{refused:?}");
    assert!(
        refused
            .message
            .contains("spec.scaling.schedules[0].timeZone: unknown time zone \"Europe/Atlantis\""),
        "{refused:?}"
    );
    // Two more polls: still exactly the scheduled warm pods, none for the closed window.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let pods = h.pods().await;
    assert_eq!(
        pods_of(&pods, "office").len(),
        2,
        "{:?}",
        pods_of(&pods, "office")
    );
    assert!(
        pods_of(&pods, "later").is_empty(),
        "{:?}",
        pods_of(&pods, "later")
    );
    assert!(pods_of(&pods, "atlantis").is_empty());
}
