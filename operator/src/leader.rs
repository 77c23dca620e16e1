//! Leader election on a `coordination.k8s.io/v1` Lease, so two replicas never act at once.
//!
//! Acquire and renew are compare-and-swap writes: the Lease is replaced with the
//! `resourceVersion` that was read, so of two replicas racing for an expired Lease exactly one
//! wins (the other gets 409). A replica that cannot renew stops acting at once; the other may
//! take over only after the Lease has expired.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{info, warn};

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Lease name.
    pub name: String,
    /// This replica's identity (pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How often the leader renews (and followers retry).
    pub retry_period: Duration,
}

/// Whether the holder of `spec` lost its claim at `now`.
fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return true;
    };
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    renewed.0 + SignedDuration::from_secs(seconds) < now
}

/// One acquire-or-renew attempt; `Ok(true)` when this replica holds the Lease afterwards.
pub async fn try_acquire(api: &Api<Lease>, config: &LeaderConfig) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let seconds = i32::try_from(config.lease_duration.as_secs()).unwrap_or(15);
    let ours = |previous: Option<&LeaseSpec>| {
        let same_holder = previous
            .and_then(|s| s.holder_identity.as_deref())
            .is_some_and(|h| h == config.identity);
        let transitions = previous.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(config.identity.clone()),
            lease_duration_seconds: Some(seconds),
            acquire_time: if same_holder {
                previous.and_then(|s| s.acquire_time.clone())
            } else {
                Some(MicroTime(now))
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(if same_holder || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..LeaseSpec::default()
        }
    };
    match api.get_opt(&config.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(config.name.clone()),
                    namespace: Some(config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(ours(None)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(error) => Err(error),
            }
        }
        Some(mut lease) => {
            let spec = lease.spec.clone().unwrap_or_default();
            let held_by_us = spec.holder_identity.as_deref() == Some(config.identity.as_str());
            if !held_by_us && !expired(&spec, now) {
                return Ok(false);
            }
            lease.spec = Some(ours(Some(&spec)));
            // metadata.resourceVersion is kept: the replace is conditional on it.
            match api
                .replace(&config.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(error) => Err(error),
            }
        }
    }
}

/// Gives the Lease up if this replica holds it, so another replica takes over at once
/// instead of after the lease duration (called on SIGTERM).
pub async fn release(api: &Api<Lease>, config: &LeaderConfig) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&config.name).await? else {
        return Ok(());
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(());
    };
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.acquire_time = None;
    spec.renew_time = None;
    match api
        .replace(&config.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(()),
        // Someone else wrote it meanwhile: it is not ours to release any more.
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(error),
    }
}

/// Runs the election forever, publishing leadership on the returned channel.
pub fn spawn(client: Client, config: LeaderConfig) -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    tokio::spawn(async move {
        loop {
            let leading = match try_acquire(&api, &config).await {
                Ok(leading) => leading,
                Err(error) => {
                    warn!(%error, "lease renewal failed; not acting until it succeeds");
                    false
                }
            };
            if leading != *sender.borrow() {
                info!(leading, identity = %config.identity, "leadership changed");
            }
            sender.send_replace(leading);
            tokio::time::sleep(config.retry_period).await;
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_expires_after_its_duration_since_renewal() {
        let renewed = Timestamp::from_second(1_000).unwrap();
        let spec = LeaseSpec {
            holder_identity: Some("a".into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(renewed)),
            ..LeaseSpec::default()
        };
        assert!(!expired(&spec, Timestamp::from_second(1_014).unwrap()));
        assert!(expired(&spec, Timestamp::from_second(1_016).unwrap()));
        assert!(expired(&LeaseSpec::default(), renewed));
    }
}
