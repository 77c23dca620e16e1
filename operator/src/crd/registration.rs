//! `spec.registration`: who registers an agent pod's agent with Azure DevOps.

use serde::{Deserialize, Serialize};

/// Who registers each agent pod's agent with Azure DevOps.
///
/// `Operator` (the default): the operator generates the agent's key pair, registers the
/// agent itself and hands the pod only that agent's credentials, in a Secret of its own that
/// only the `agent` container mounts; no container of the pod ever sees the PAT.
/// `Pod`: a `register` init container runs `config.sh` with the PAT and hands the
/// registration to the `agent` container; for organizations where operator-minted
/// registrations fail.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum Registration {
    /// The operator registers the agent and hands the pod a per-pod Secret with its files.
    #[default]
    #[serde(rename = "operator")]
    Operator,
    /// A `register` init container registers the agent with the PAT.
    #[serde(rename = "pod")]
    Pod,
}

impl Registration {
    /// Whether the operator mints the registration.
    pub fn is_minted(self) -> bool {
        self == Self::Operator
    }
}
