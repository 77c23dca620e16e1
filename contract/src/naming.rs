//! Agent names and the ownership capability.
//!
//! Agent names in one Azure DevOps pool must be unique, and several clusters or namespaces may
//! share that pool, so every name the operator chooses starts with the AgentPool namespace.

use std::fmt;
use std::str::FromStr;

/// Capability every agent and placeholder of an AgentPool advertises, with value
/// `<namespace>/<name>` ([`AgentPoolRef`]'s `Display`). Same string as
/// [`crate::env::AGENT_POOL_OWNER`]: set as an environment variable of the agent process, the
/// official agent reports it as a system capability.
pub const OWNER_CAPABILITY: &str = crate::env::AGENT_POOL_OWNER;

/// Suffix of placeholder agent names.
///
/// Pod agent names end in the pod's generated `-xxxxx` suffix, so they can never end in this.
pub const PLACEHOLDER_SUFFIX: &str = ".placeholder";

/// Identity of an AgentPool: `<namespace>/<name>`, the value of [`OWNER_CAPABILITY`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentPoolRef {
    /// Namespace of the AgentPool.
    pub namespace: String,
    /// Name of the AgentPool.
    pub name: String,
}

impl AgentPoolRef {
    /// Builds a reference from its parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for AgentPoolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Why a string is not a `<namespace>/<name>` AgentPool reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseAgentPoolRefError(String);

impl fmt::Display for ParseAgentPoolRefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not of the form <namespace>/<name>", self.0)
    }
}

impl std::error::Error for ParseAgentPoolRefError {}

impl FromStr for AgentPoolRef {
    type Err = ParseAgentPoolRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Namespaces are DNS labels and names DNS subdomains: neither contains '/'.
        match s.split_once('/') {
            Some((namespace, name))
                if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Ok(Self::new(namespace, name))
            }
            _ => Err(ParseAgentPoolRefError(s.to_owned())),
        }
    }
}

/// Agent name of the pod `pod_name` in `namespace`: `<namespace>.<pod name>`.
///
/// Pod names are unique per namespace and namespaces contain no dots, so this is unique per
/// cluster; the operator sets it as [`crate::env::AGENT_NAME`].
pub fn pod_agent_name(namespace: &str, pod_name: &str) -> String {
    format!("{namespace}.{pod_name}")
}

/// The pod name an agent name of [`pod_agent_name`] encodes for `namespace`, if it is one.
/// A remainder holding a further dot is not taken for a pod name (placeholders are
/// `<namespace>.<pool>.placeholder`).
pub fn agent_pod_name<'a>(namespace: &str, agent_name: &'a str) -> Option<&'a str> {
    agent_name
        .strip_prefix(namespace)?
        .strip_prefix('.')
        .filter(|pod| !pod.is_empty() && !pod.contains('.'))
}

/// Name of the single offline placeholder agent of an AgentPool:
/// `<namespace>.<name>.placeholder`.
pub fn placeholder_agent_name(pool: &AgentPoolRef) -> String {
    format!("{}.{}{PLACEHOLDER_SUFFIX}", pool.namespace, pool.name)
}

/// Whether an agent name follows the placeholder naming rule.
pub fn is_placeholder_name(agent_name: &str) -> bool {
    agent_name.ends_with(PLACEHOLDER_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_reference_round_trips_through_its_capability_value() {
        let pool = AgentPoolRef::new("ci", "linux-x64");
        let value = pool.to_string();
        assert_eq!(value, "ci/linux-x64");
        assert_eq!(value.parse::<AgentPoolRef>(), Ok(pool));
    }

    #[test]
    fn malformed_owner_values_are_rejected() {
        for bad in ["", "ci", "/name", "ci/", "a/b/c"] {
            assert!(bad.parse::<AgentPoolRef>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn placeholder_and_pod_names_never_collide() {
        let pool = AgentPoolRef::new("ci", "linux");
        let placeholder = placeholder_agent_name(&pool);
        assert!(is_placeholder_name(&placeholder));
        // Generated pod names end in "-xxxxx", even for an AgentPool named "x.placeholder".
        let tricky = pod_agent_name("ci", "linux.placeholder-7fk2q");
        assert!(!is_placeholder_name(&tricky));
        assert_ne!(placeholder, pod_agent_name("ci", "linux"));
    }

    #[test]
    fn a_pod_agent_name_gives_back_its_pod_and_nothing_else_does() {
        let name = pod_agent_name("ci", "linux-7fk2q");
        assert_eq!(agent_pod_name("ci", &name), Some("linux-7fk2q"));
        assert_eq!(agent_pod_name("cd", &name), None, "another namespace");
        assert_eq!(agent_pod_name("c", &name), None, "a namespace prefix only");
        let placeholder = placeholder_agent_name(&AgentPoolRef::new("ci", "linux"));
        assert_eq!(agent_pod_name("ci", &placeholder), None);
        assert_eq!(agent_pod_name("ci", "ci."), None);
    }

    #[test]
    fn same_pod_name_in_two_namespaces_gives_two_agent_names() {
        assert_ne!(
            pod_agent_name("team-a", "ci-abcde"),
            pod_agent_name("team-b", "ci-abcde")
        );
    }
}
