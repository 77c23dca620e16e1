//! Per-route request counters for `_apis` calls.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counts by `"METHOD /_apis/route/{template}"` then by status code.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// All counted requests.
    pub total: u64,
    /// Route key → status → count.
    pub routes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Route key → the largest response body sent, in bytes (bodies of known length).
    #[serde(default, rename = "largestBodyBytes")]
    pub largest_body_bytes: BTreeMap<String, u64>,
}

impl Stats {
    /// Records the size of one response body of `method template`, keeping the largest.
    pub fn record_body(&mut self, method: &str, template: &str, bytes: u64) {
        let largest = self
            .largest_body_bytes
            .entry(format!("{method} {template}"))
            .or_default();
        *largest = (*largest).max(bytes);
    }

    /// Records one answered request.
    pub fn record(&mut self, method: &str, template: &str, status: u16) {
        self.total += 1;
        *self
            .routes
            .entry(format!("{method} {template}"))
            .or_default()
            .entry(status.to_string())
            .or_default() += 1;
    }
}

/// Turns a matched route (`/{org}/_apis/...`) into the stats key's template (`/_apis/...`).
pub fn route_template(matched: Option<&str>) -> String {
    match matched {
        Some(path) => path.strip_prefix("/{org}").unwrap_or(path).to_owned(),
        None => "(unmatched)".to_owned(),
    }
}
