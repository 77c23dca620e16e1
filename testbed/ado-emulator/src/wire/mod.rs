//! The emulator's own wire types (camelCase JSON, unset optionals omitted).
//!
//! They are deliberately independent of `azp-ado`: a field name wrong in the client must not be
//! wrong here too.

pub mod agent;
pub mod job;
pub mod location;
pub mod pool;
pub mod session;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// The `{"count":N,"value":[...]}` wrapper every collection answer uses.
#[derive(Debug, Serialize)]
pub struct Collection<T> {
    /// Number of items in `value`.
    pub count: usize,
    /// The items.
    pub value: Vec<T>,
}

impl<T> Collection<T> {
    /// Wraps a list.
    pub fn new(value: Vec<T>) -> Self {
        Self {
            count: value.len(),
            value,
        }
    }
}

/// RFC 3339 UTC with `Z` and at most 7 fraction digits (the .NET `DateTime` precision).
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A `{"href": ...}` link.
#[derive(Debug, Clone, Serialize)]
pub struct Href {
    /// Absolute URL.
    pub href: String,
}

/// `_links` with `self` and `web`.
#[derive(Debug, Clone, Serialize)]
pub struct Links {
    /// API URL of the resource.
    #[serde(rename = "self")]
    pub self_link: Href,
    /// Web UI URL of the resource.
    pub web: Href,
}
