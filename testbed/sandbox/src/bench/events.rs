//! The operator's Events of a run, counted by reason: why pods beyond one per job were made
//! (a pod deleted at the startup timeout and replaced, a failed start, a rollout) shows here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};

use super::rig::Rig;
use crate::harness::NAMESPACE;

/// `Reason × count` of every Event (series counted in full) first seen at or after `since`,
/// most frequent first; empty when the list fails (the run's figures do not depend on it).
pub async fn reasons_since(rig: &Rig, since: DateTime<Utc>) -> Vec<(String, u64)> {
    let api: Api<Event> = Api::namespaced(rig.client.clone(), NAMESPACE);
    let Ok(events) = api.list(&ListParams::default()).await else {
        return Vec::new();
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for event in events {
        let first = event
            .event_time
            .as_ref()
            .map(|t| t.0.as_millisecond())
            .or_else(|| {
                event
                    .deprecated_first_timestamp
                    .as_ref()
                    .map(|t| t.0.as_millisecond())
            });
        if first.is_some_and(|ms| ms < since.timestamp_millis()) {
            continue;
        }
        let count = event
            .series
            .as_ref()
            .map_or(1, |series| u64::try_from(series.count).unwrap_or(1));
        *counts.entry(event.reason.unwrap_or_default()).or_default() += count;
    }
    let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted
}
