//! Typed endpoints, one file per resource.

mod agents;
mod job_requests;
mod pools;

pub use agents::AgentQuery;

/// `api-version` for the documented pool and agent endpoints (released in the 7.1 OpenAPI spec).
pub(crate) const API_VERSION: &str = "7.1";

/// `api-version` for `jobrequests`. The resource is absent from the public 7.1 spec and only exists as a preview
/// location (the node SDK asks for `7.2-preview.1`); Azure DevOps rejects a released version number for a resource
/// without a released version ("-preview flag must be supplied"), so the preview suffix is pinned explicitly.
pub(crate) const JOB_REQUESTS_API_VERSION: &str = "7.1-preview.1";
