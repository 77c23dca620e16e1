//! Lease compare-and-swap against kube-sim: one holder at a time, takeover only after expiry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use azp_kube_sim::{KubeSimConfig, RunningKubeSim};
use azp_operator::leader::{LeaderConfig, release, try_acquire};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

fn config(identity: &str) -> LeaderConfig {
    LeaderConfig {
        namespace: "default".into(),
        name: "azp-operator-leader".into(),
        identity: identity.into(),
        lease_duration: Duration::from_secs(1),
        retry_period: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn one_holder_at_a_time_and_takeover_only_after_expiry() {
    let sim = RunningKubeSim::start(KubeSimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let api: Api<Lease> = Api::namespaced(sim.client().await, "default");
    let (a, b) = (config("a"), config("b"));
    assert!(try_acquire(&api, &a).await.unwrap(), "first claim wins");
    assert!(
        !try_acquire(&api, &b).await.unwrap(),
        "held lease is not taken"
    );
    assert!(try_acquire(&api, &a).await.unwrap(), "holder renews");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        try_acquire(&api, &b).await.unwrap(),
        "expired lease is taken over"
    );
    assert!(
        !try_acquire(&api, &a).await.unwrap(),
        "old holder does not get it back"
    );
    let spec = api.get("azp-operator-leader").await.unwrap().spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));

    // Two contenders racing for an expired lease: exactly one wins.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (c, d) = (config("c"), config("d"));
    let (won_c, won_d) = tokio::join!(try_acquire(&api, &c), try_acquire(&api, &d));
    let (won_c, won_d) = (won_c.unwrap(), won_d.unwrap());
    assert!(won_c ^ won_d, "exactly one contender wins");

    // A holder that releases (SIGTERM) hands over at once, without waiting for expiry.
    let (holder, other) = if won_c { (&c, &d) } else { (&d, &c) };
    release(&api, other).await.unwrap();
    assert!(
        !try_acquire(&api, other).await.unwrap(),
        "a non-holder cannot release"
    );
    release(&api, holder).await.unwrap();
    assert!(
        try_acquire(&api, other).await.unwrap(),
        "released lease is free"
    );
}
