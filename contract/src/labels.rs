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
