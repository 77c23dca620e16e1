//! Where credentials end up in agent pods, for the invariants that hold in both registration
//! modes: the PAT reaches no container but `register` (which operator-minted pods do not
//! have), an agent's registration Secret is mounted by its `agent` container alone, and no
//! registration Secret outlives its pod.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, Pod, Secret};
use serde::Serialize;

use crate::harness::PAT_SECRET;

/// Name of the only container that may hold the PAT (`spec.registration: pod`).
const REGISTER_CONTAINER: &str = "register";
/// Name of the only container that may mount an operator-minted registration.
const AGENT_CONTAINER: &str = "agent";
/// `app.kubernetes.io/component` of registration Secrets.
const COMPONENT_REGISTRATION: &str = "agent-registration";

/// Which containers of one pod can read which credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PodCredentials {
    /// Containers that mount the PAT Secret, or name the PAT file or its directory.
    pub pat: BTreeSet<String>,
    /// Containers that mount an operator-minted registration Secret.
    pub registration: BTreeSet<String>,
}

impl PodCredentials {
    /// What `pod`'s spec gives each container.
    pub fn of(pod: &Pod) -> Self {
        let mut out = Self::default();
        let Some(spec) = pod.spec.as_ref() else {
            return out;
        };
        let volumes_of = |pred: &dyn Fn(&str) -> bool| -> BTreeSet<String> {
            spec.volumes
                .iter()
                .flatten()
                .filter(|v| {
                    let secret = v.secret.as_ref().and_then(|s| s.secret_name.as_deref());
                    let projected = v.projected.iter().flat_map(|p| p.sources.iter().flatten());
                    secret.is_some_and(pred)
                        || projected
                            .filter_map(|s| s.secret.as_ref())
                            .any(|s| pred(&s.name))
                })
                .map(|v| v.name.clone())
                .collect()
        };
        let pat_volumes = volumes_of(&|name| name == PAT_SECRET);
        let registration_volumes = volumes_of(&|name| name.ends_with("-registration"));
        for container in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            if mounts_any(container, &pat_volumes) || names_pat(container) {
                out.pat.insert(container.name.clone());
            }
            if mounts_any(container, &registration_volumes) {
                out.registration.insert(container.name.clone());
            }
        }
        out
    }

    /// What is wrong with these holders, if anything.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for container in self.pat.iter().filter(|c| *c != REGISTER_CONTAINER) {
            out.push(format!("container {container:?} can read the PAT"));
        }
        for container in self.registration.iter().filter(|c| *c != AGENT_CONTAINER) {
            out.push(format!(
                "container {container:?} mounts the agent's registration"
            ));
        }
        out
    }
}

fn mounts_any(container: &Container, volumes: &BTreeSet<String>) -> bool {
    container
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| volumes.contains(&m.name))
}

fn names_pat(container: &Container) -> bool {
    container.env.iter().flatten().any(|var| {
        var.name == azp_contract::env::PAT_FILE
            || var
                .value
                .as_deref()
                .is_some_and(|v| v.starts_with(azp_contract::paths::PAT_DIR))
            || var
                .value_from
                .as_ref()
                .and_then(|f| f.secret_key_ref.as_ref())
                .is_some_and(|r| r.name == PAT_SECRET)
    })
}

/// One operator-minted registration Secret and the pod that owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistrationSecret {
    /// Secret name.
    pub name: String,
    /// Name of the owning pod (its controller owner reference), if any.
    pub owner_pod: Option<String>,
}

impl RegistrationSecret {
    /// The registration Secrets among `secrets`.
    pub fn among(secrets: &[Secret]) -> Vec<Self> {
        secrets
            .iter()
            .filter(|s| {
                s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(azp_contract::labels::COMPONENT))
                    .is_some_and(|c| c == COMPONENT_REGISTRATION)
            })
            .map(|s| Self {
                name: s.metadata.name.clone().unwrap_or_default(),
                owner_pod: s
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|o| o.kind == "Pod")
                    .map(|o| o.name.clone()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": spec}))
            .unwrap()
    }

    #[test]
    fn the_pat_in_register_and_the_registration_in_agent_are_fine() {
        let pod = pod(serde_json::json!({
            "volumes": [
                {"name": "azp-pat", "secret": {"secretName": "azp-pat"}},
                {"name": "registration", "secret": {"secretName": "p-registration"}}
            ],
            "initContainers": [{"name": "register", "volumeMounts": [{"name": "azp-pat", "mountPath": "/x"}]}],
            "containers": [{"name": "agent", "volumeMounts": [{"name": "registration", "mountPath": "/r"}]}]
        }));
        let holders = PodCredentials::of(&pod);
        assert_eq!(holders.pat, BTreeSet::from(["register".to_owned()]));
        assert!(holders.problems().is_empty());
    }

    #[test]
    fn the_pat_or_the_registration_anywhere_else_is_a_problem() {
        let pod = pod(serde_json::json!({
            "volumes": [{"name": "registration", "secret": {"secretName": "p-registration"}}],
            "initContainers": [{"name": "buildkitd", "volumeMounts": [{"name": "registration", "mountPath": "/r"}]}],
            "containers": [{"name": "agent", "env": [{"name": "AZP_TOKEN_FILE", "value": "/var/run/secrets/azp/token"}]}]
        }));
        let problems = PodCredentials::of(&pod).problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
