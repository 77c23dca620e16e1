//! Labels and annotations on agent pods.

/// Standard `managed-by` label key.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY`] on every pod the operator creates; the operator watches only these.
pub const MANAGED_BY_VALUE: &str = "azp-operator";
/// Label naming the AgentPool (same namespace) that owns the pod.
pub const POOL: &str = "azp.dev/pool";
/// Label marking the role of a pod; agent pods carry [`COMPONENT_AGENT`].
pub const COMPONENT: &str = "app.kubernetes.io/component";
/// Value of [`COMPONENT`] for agent pods.
pub const COMPONENT_AGENT: &str = "agent";

/// Annotation telling Karpenter not to consolidate the node away while the pod runs.
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// Value of [`DO_NOT_DISRUPT`].
pub const DO_NOT_DISRUPT_VALUE: &str = "true";
/// Annotation telling the Cluster Autoscaler not to evict the pod when it scales a node down.
pub const SAFE_TO_EVICT: &str = "cluster-autoscaler.kubernetes.io/safe-to-evict";
/// Value of [`SAFE_TO_EVICT`]: a running job must never be evicted by a scale-down.
pub const SAFE_TO_EVICT_VALUE: &str = "false";
/// Annotation holding the Azure DevOps agent name the pod registers as.
pub const AGENT_NAME: &str = "azp.dev/agent-name";
/// Annotation set (RFC 3339 time) once the operator disabled the pod's agent for scale-down.
///
/// Its presence means "draining": the next plan deletes the pod if the agent is still
/// unassigned, or leaves it alone to finish the job it got meanwhile.
pub const DRAINING: &str = "azp.dev/draining";
/// Annotation set once the operator read and recorded a finished pod's termination message,
/// after which the pod may be deleted.
pub const OUTCOME_RECORDED: &str = "azp.dev/outcome-recorded";

/// Annotation holding a hash of the AgentPool spec parts that shape the pod (everything but
/// `spec.scaling`), as it was when the pod was rendered: SHA-256 over the spec's canonical
/// JSON, lower-case hex.
///
/// A pod whose value differs from its AgentPool's current one runs an old spec: once its agent
/// is idle, a replacement is created and then the old agent is retired (a spec rollout).
pub const SPEC_HASH: &str = "azp.dev/spec-hash";

/// Annotations the operator sets on a pod once its agent has taken a job, so that
/// `kubectl get pods` / `describe` answer "what is this pod doing".
pub mod job {
    /// The Azure DevOps job request id.
    pub const REQUEST_ID: &str = "azp.dev/job-request-id";
    /// The job's name (`jobName`).
    pub const NAME: &str = "azp.dev/job-name";
    /// The pipeline (`definition.name`).
    pub const PIPELINE: &str = "azp.dev/pipeline";
    /// The run (`owner.name`, the run number).
    pub const RUN: &str = "azp.dev/run";
    /// The run's page (`owner._links.web.href`).
    pub const RUN_URL: &str = "azp.dev/run-url";
    /// When Azure DevOps assigned the job to the agent (RFC 3339).
    pub const ASSIGNED_AT: &str = "azp.dev/job-assigned-at";
}
