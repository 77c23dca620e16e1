//! The `AgentPool` custom resource (`azp.dev/v1alpha1`, short name `azp`).
//!
//! Every `///` comment on a spec or status field becomes that field's description in the
//! generated CRD, which is what `kubectl explain agentpool.spec...` shows users.
//!
//! Validation lives in the schema wherever the apiserver can enforce it (CEL rules,
//! lengths, ranges), so a bad resource is refused at `kubectl apply` time instead of
//! surfacing later as a reconcile error.

mod organization;
mod registration;
mod schedule;
mod schema;
mod spec;
mod spec_hash;
mod status;
mod view;

pub use organization::{OrganizationUrlError, check_organization_url};
pub use registration::Registration;
pub use schedule::{ScheduleError, StandbySchedule, Weekday, scheduled_min_idle};
pub use spec::{
    AgentPool, AgentPoolSpec, AgentSpec, AuthSpec, BuildkitMode, BuildkitSpec, CaBundleSource,
    DEFAULT_BUILDKIT_IMAGE, DEFAULT_PRIVILEGED_BUILDKIT_IMAGE, EcrSpec, KeyReference,
    RemoteBuildkit, ScalingSpec, SecretKeyReference, WorkloadIdentity,
};
pub use status::{AgentPoolStatus, ImageCapabilities, StartFailures, condition_type};
pub use view::{AzureDevOpsPoolKey, ViewError};

#[cfg(test)]
mod tests;
