//! Operator-minted registrations (`spec.registration: operator`): no PAT ever enters a pod.
//!
//! For each new pod the operator generates the agent's key pair ([`key`]), registers the
//! agent itself (`POST pools/{id}/agents` with the public key, the agent name, the ownership
//! capability and the capabilities the pod will advertise), and writes the files `run.sh`
//! reads ([`files`]) into a Secret of that pod, which only its `agent` container mounts.
//!
//! Order, and why: register → create the pod → create the Secret, owned by the pod. The pod's
//! Secret volume is not optional, so the kubelet waits for the Secret; the owner reference
//! lets the garbage collector remove the Secret with the pod. A registration whose pod or
//! Secret could not be created is deleted at once (and the pod, when only the Secret failed);
//! if the operator stops in between, the cleanup rule finds an offline registration of this
//! AgentPool without a pod and removes it at the next poll (no grace period for minted
//! registrations, see `plan::cleanup`).
//!
//! Why the registration comes before the pod and not after (tried and measured for issue 17,
//! `docs/benchmarks.md`): with every pod of a burst created first and registered afterwards,
//! a 500-job burst had its pods within 1 s instead of 15 s, but its jobs started no sooner
//! (the keys still had to be made) and agents of AgentPools that register themselves came
//! online first and took jobs counted for the others, each such job costing one pod more. Keys
//! come from a [`reserve`] generated ahead of need, so a burst of up to its size waits for no
//! key generation at all.

pub mod files;
pub mod key;
pub mod reserve;

use std::collections::{BTreeMap, HashMap};

use azp_ado::{AdoClient, AdoError, AgentAuthorization, AgentPublicKey, NewAgent};
use azp_contract::{AgentPoolRef, labels, naming};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use tracing::{info, warn};

use crate::apply::{ApplyError, Target, delete_pod};
use crate::render::{new_pod_name, render_pod};

use self::files::{AgentSettings, Credentials, registration_files};
use self::key::AgentKey;

/// `app.kubernetes.io/component` of registration Secrets.
pub const COMPONENT_REGISTRATION: &str = "agent-registration";
/// Version the operator registers; the agent's first session replaces it with its own.
const MINTED_VERSION: &str = "4.0.0";

/// Name of the registration Secret of pod `pod_name`.
pub fn secret_name(pod_name: &str) -> String {
    format!("{pod_name}-registration")
}

/// Why a registration could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The key could not be generated.
    #[error(transparent)]
    Key(#[from] key::KeyError),
    /// Azure DevOps answered without the OAuth client the key is for.
    #[error(
        "Azure DevOps registered agent {agent_id} without an OAuth client id and authorization URL"
    )]
    NoOAuthClient {
        /// The registration, already deleted again.
        agent_id: i32,
    },
    /// The files could not be serialised (never expected).
    #[error("registration files: {0}")]
    Files(#[from] serde_json::Error),
}

/// A registration made for one pod: its id and the files its `agent` container needs.
pub struct Minted {
    /// Id Azure DevOps gave the agent.
    pub agent_id: i32,
    /// `.agent`, `.credentials`, `.credentials_rsaparams` by name (holds the private key).
    pub files: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("agent_id", &self.agent_id)
            .finish_non_exhaustive()
    }
}

/// Creates one agent pod with an operator-minted registration; returns the pod name.
pub async fn create_pod(target: &Target<'_>) -> Result<String, ApplyError> {
    let pool_name = target.pool.name_any();
    let namespace = target.pool.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(target.pods.clone().into_client(), &namespace);
    // A pod name clash (1 in 27^5 per existing pod) is retried once with a fresh name.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let pod_name = new_pod_name(&pool_name);
        let pod = render_pod(target.pool, &pod_name)?;
        let agent_name = naming::pod_agent_name(&namespace, &pod_name);
        let minted = mint(target, &agent_name).await?;
        let created = match target.pods.create(&PostParams::default(), &pod).await {
            Ok(created) => created,
            Err(error) => {
                revoke(target, minted.agent_id, "its pod could not be created").await;
                match error {
                    kube::Error::Api(status) if status.code == 409 && attempts < 3 => continue,
                    error => return Err(error.into()),
                }
            }
        };
        let secret = registration_secret(&created, &pool_name, minted.files);
        if let Err(error) = secrets.create(&PostParams::default(), &secret).await {
            warn!(%error, pod = %pod_name, "registration Secret could not be created; removing the pod");
            if let Err(error) = delete_pod(&target.pods, &pod_name).await {
                warn!(%error, pod = %pod_name, "could not delete the pod without its Secret");
            }
            revoke(target, minted.agent_id, "its Secret could not be created").await;
            return Err(error.into());
        }
        info!(pod = %pod_name, agent_id = minted.agent_id, "agent registered by the operator");
        return Ok(pod_name);
    }
}

/// Takes a key (from the reserve, else generated now, off the async workers) and registers
/// the agent.
async fn mint(target: &Target<'_>, agent_name: &str) -> Result<Minted, ApplyError> {
    let key = target.keys.take().await.map_err(mint_error)?;
    mint_registration(target.ado, target.pool, target.pool_id, agent_name, key).await
}

/// Registers `agent_name` with `key` in Azure DevOps pool `pool_id` for `pool`, and returns
/// the registration files the pod's `agent` container reads. A registration whose files
/// cannot be made is removed again. (Also what tests use to run a rendered pod elsewhere.)
pub async fn mint_registration(
    ado: &AdoClient,
    pool: &crate::crd::AgentPool,
    pool_id: i32,
    agent_name: &str,
    key: AgentKey,
) -> Result<Minted, ApplyError> {
    let agent = NewAgent {
        name: agent_name.to_owned(),
        version: MINTED_VERSION.into(),
        os_description: Some("Linux (registered by azp-operator)".into()),
        enabled: Some(true),
        max_parallelism: Some(1),
        provisioning_state: Some("Provisioned".into()),
        system_capabilities: capabilities(pool, agent_name),
        authorization: Some(AgentAuthorization {
            public_key: Some(AgentPublicKey {
                exponent: key.exponent.clone(),
                modulus: key.modulus.clone(),
            }),
            ..AgentAuthorization::default()
        }),
        ..NewAgent::default()
    };
    let registered = ado.add_agent(pool_id, &agent).await?;
    let authorization = registered.authorization.clone().unwrap_or_default();
    let (Some(client_id), Some(authorization_url)) =
        (authorization.client_id, authorization.authorization_url)
    else {
        revoke_agent(ado, pool_id, registered.id, "it has no OAuth client").await;
        return Err(mint_error(MintError::NoOAuthClient {
            agent_id: registered.id,
        }));
    };
    let settings = AgentSettings {
        agent_id: registered.id,
        agent_name,
        pool_id,
        pool_name: &pool.spec.pool,
        server_url: &pool.spec.organization,
        work_folder: &pool.spec.agent.work_dir,
    };
    let credentials = Credentials::oauth(&client_id, &authorization_url);
    match registration_files(&settings, &credentials, &key) {
        Ok(files) => Ok(Minted {
            agent_id: registered.id,
            files,
        }),
        Err(error) => {
            revoke_agent(
                ado,
                pool_id,
                registered.id,
                "its files could not be written",
            )
            .await;
            Err(mint_error(MintError::Files(error)))
        }
    }
}

/// What the registration advertises until the agent's first session reports its own scan:
/// the AgentPool's capabilities, the ownership capability and the agent's implicit ones.
fn capabilities(pool: &crate::crd::AgentPool, agent_name: &str) -> HashMap<String, String> {
    let owner = AgentPoolRef::new(pool.namespace().unwrap_or_default(), pool.name_any());
    let mut capabilities: HashMap<String, String> =
        crate::published::capabilities(pool).into_iter().collect();
    capabilities.extend([
        (naming::OWNER_CAPABILITY.to_owned(), owner.to_string()),
        ("Agent.Name".to_owned(), agent_name.to_owned()),
        ("Agent.OS".to_owned(), "Linux".to_owned()),
        ("Agent.OSArchitecture".to_owned(), "X64".to_owned()),
        ("Agent.Version".to_owned(), MINTED_VERSION.to_owned()),
        (
            "Agent.HomeDirectory".to_owned(),
            azp_contract::paths::AGENT_HOME.to_owned(),
        ),
        ("InteractiveSession".to_owned(), "False".to_owned()),
    ]);
    capabilities
}

fn mint_error(error: impl Into<MintError>) -> ApplyError {
    ApplyError::Mint(error.into())
}

/// Deletes a registration whose pod will never run; a failure is left to the cleanup rule.
async fn revoke(target: &Target<'_>, agent_id: i32, why: &str) {
    revoke_agent(target.ado, target.pool_id, agent_id, why).await;
}

async fn revoke_agent(ado: &AdoClient, pool_id: i32, agent_id: i32, why: &str) {
    match ado.delete_agent(pool_id, agent_id).await {
        Ok(()) | Err(AdoError::AgentNotFound { .. }) => {
            info!(agent_id, why, "minted registration removed");
        }
        Err(error) => {
            warn!(%error, agent_id, why, "could not remove a minted registration; the cleanup sweep will");
        }
    }
}

/// The pod's registration Secret, owned by the pod so it goes with it.
fn registration_secret(pod: &Pod, pool_name: &str, files: BTreeMap<String, Vec<u8>>) -> Secret {
    let pod_name = pod.name_any();
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(&pod_name)),
            namespace: pod.namespace(),
            labels: Some(BTreeMap::from([
                (labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into()),
                (labels::POOL.into(), pool_name.into()),
                (labels::COMPONENT.into(), COMPONENT_REGISTRATION.into()),
            ])),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name: pod_name,
                uid: pod.uid().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..ObjectMeta::default()
        },
        // Nothing ever rewrites it: a new key means a new pod.
        immutable: Some(true),
        data: Some(
            files
                .into_iter()
                .map(|(name, bytes)| (name, ByteString(bytes)))
                .collect(),
        ),
        type_: Some("Opaque".into()),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests;
