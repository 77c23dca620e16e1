//! When each agent pod was created, to the millisecond.
//!
//! kube-sim's `creationTimestamp` has whole-second precision (RFC 3339 without fractions, like
//! the real API server), far too coarse for a 500 ms target. So the bench watches agent pods
//! and stamps each one with the local clock when its first watch event arrives. The watch
//! runs over loopback in the same process as kube-sim, so the stamp trails the real creation
//! by the event's delivery time (well under a millisecond when idle, more under load).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher::{self, Event};

/// One observed agent pod.
#[derive(Debug, Clone)]
pub struct ObservedPod {
    /// Pod name.
    pub name: String,
    /// The agent name the operator gave it (`azp.dev/agent-name`).
    pub agent_name: Option<String>,
    /// The AgentPool it belongs to (`azp.dev/pool` label).
    pub agent_pool: Option<String>,
    /// First seen by the watch.
    pub seen_at: DateTime<Utc>,
}

/// A running pod watch; dropping it stops the watch.
pub struct PodClock {
    pods: Arc<Mutex<BTreeMap<String, ObservedPod>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PodClock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PodClock {
    /// Starts watching the operator's pods through `pods`.
    pub fn start(pods: Api<Pod>) -> Self {
        let seen: Arc<Mutex<BTreeMap<String, ObservedPod>>> = Arc::default();
        let sink = seen.clone();
        let selector = format!(
            "{}={}",
            azp_contract::labels::MANAGED_BY,
            azp_contract::labels::MANAGED_BY_VALUE
        );
        let task = tokio::spawn(async move {
            let mut stream =
                watcher::watcher(pods, watcher::Config::default().labels(&selector)).boxed();
            while let Some(event) = stream.next().await {
                let pod = match event {
                    Ok(Event::Apply(pod) | Event::InitApply(pod)) => pod,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "pod watch error; the watcher retries");
                        continue;
                    }
                };
                let now = Utc::now();
                let Some(name) = pod.metadata.name.clone() else {
                    continue;
                };
                let mut seen = sink
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                seen.entry(name.clone()).or_insert_with(|| ObservedPod {
                    name,
                    // The operator puts the agent name in a label; the annotation is read
                    // too in case that ever moves.
                    agent_name: [&pod.metadata.labels, &pod.metadata.annotations]
                        .into_iter()
                        .flatten()
                        .find_map(|m| m.get(azp_contract::labels::AGENT_NAME).cloned()),
                    agent_pool: pod
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(azp_contract::labels::POOL).cloned()),
                    seen_at: now,
                });
            }
        });
        Self { pods: seen, task }
    }

    /// Every pod seen so far.
    pub fn pods(&self) -> Vec<ObservedPod> {
        self.pods
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }
}
