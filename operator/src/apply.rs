//! Applying one AgentPool's [`Plan`]: pods in Kubernetes, agents in Azure DevOps.
//!
//! Every step is idempotent and tolerant of races (a pod already gone, an agent already
//! removed), because the next plan is built from a fresh read and repeats what did not stick.

use std::collections::BTreeMap;
use std::sync::Arc;

use azp_ado::{AdoClient, AdoError, AgentQuery, NewAgent};
use azp_contract::{AgentPoolRef, labels, naming};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::crd::AgentPool;
use crate::mint::reserve::KeyReserve;
use crate::plan::{AgentId, DeleteReason, Plan};
use crate::render::{RenderError, new_pod_name, render_pod};
use crate::status::FIELD_MANAGER;

/// Finalizer that keeps an AgentPool until its registrations are removed from Azure DevOps.
pub const FINALIZER: &str = "azp.dev/cleanup";
/// Version reported by placeholder registrations (the service requires one).
const PLACEHOLDER_VERSION: &str = "4.0.0";

/// Why applying a plan stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The pod could not be rendered (bad template).
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A Kubernetes write failed.
    #[error("Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    /// An Azure DevOps write failed.
    #[error(transparent)]
    Ado(#[from] AdoError),
    /// An operator-minted registration could not be made.
    #[error(transparent)]
    Mint(#[from] crate::mint::MintError),
}

/// What was done, for status, metrics and Events.
#[derive(Debug, Default)]
pub struct Applied {
    /// Pods created.
    pub created: Vec<String>,
    /// Agents disabled: id, name and pod when known.
    pub disabled: Vec<AppliedAgent>,
    /// Pods deleted for scale-down.
    pub scaled_down: Vec<String>,
    /// Finished pods deleted.
    pub finished_deleted: u32,
    /// Pods deleted because they never started: name and seconds waited.
    pub timed_out: Vec<(String, u64)>,
    /// Pods deleted because their agent exited but the pod kept running: name and seconds
    /// since the agent's exit.
    pub finish_timed_out: Vec<(String, u64)>,
    /// Pods deleted because they cannot start as they are: name and the kubelet's reason.
    pub blocked: Vec<(String, &'static str)>,
    /// Registrations removed: id, name and pod when known.
    pub registrations_removed: Vec<AppliedAgent>,
    /// Id of a placeholder registered now.
    pub placeholder_id: Option<i64>,
    /// The finalizer was removed.
    pub finalizer_removed: bool,
}

/// An agent acted on, with what is known of it (for Events that name it and its pod).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedAgent {
    /// Azure DevOps agent id.
    pub id: AgentId,
    /// Agent name, when it was in the observation.
    pub name: Option<String>,
    /// Its pod: the name from the pod inventory, else the one the agent name encodes.
    pub pod: Option<String>,
}

impl AppliedAgent {
    fn of(plan: &Plan, id: AgentId) -> Self {
        let named = plan.names.agent(id);
        Self {
            id,
            name: named.map(|agent| agent.name.clone()),
            pod: named.and_then(|agent| agent.pod.clone()),
        }
    }
}

/// Pod creations sent to the API server at once.
///
/// A 429 (API priority and fairness) is retried inside kube-rs: its default client retry
/// policy waits the answer's `Retry-After` (up to 15 attempts) before sending the same create
/// again, so a throttled create keeps its slot while it waits and a throttling API server never
/// sees more than this many creates at once (`operator/tests/api_throttling.rs`). Retrying the
/// same create is safe: a 429 was not applied, and the pod name was chosen before the first try.
const CREATES_IN_FLIGHT: usize = 8;

/// Everything needed to act on one AgentPool.
pub struct Target<'a> {
    /// The AgentPool.
    pub pool: &'a AgentPool,
    /// Pods API of its namespace.
    pub pods: Api<Pod>,
    /// AgentPool API of its namespace.
    pub pools: Api<AgentPool>,
    /// Azure DevOps client and pool id.
    pub ado: &'a AdoClient,
    /// Azure DevOps pool id.
    pub pool_id: i32,
    /// Agent keys generated ahead of need (operator-minted registrations).
    pub keys: &'a Arc<KeyReserve>,
}

fn ado_id(id: AgentId) -> i32 {
    i32::try_from(id).unwrap_or(i32::MAX)
}

/// Applies everything in `plan` but its new pods, which [`create_pods`] makes first, for
/// every AgentPool of the group: they are what a user waits for, and a long cleanup (one
/// DELETE per finished agent) or a failing Azure DevOps call here must not delay them.
/// Scale-down follows rule 4: disable in Azure DevOps first, then mark the pod; deleting it
/// is left to a later plan built from a fresh read.
pub async fn apply_plan(target: &Target<'_>, plan: &Plan) -> Result<Applied, ApplyError> {
    let mut applied = Applied::default();
    if plan.ensure_placeholder {
        applied.placeholder_id = Some(ensure_placeholder(target).await?);
    }
    for (agent_id, reason) in &plan.remove_registrations {
        match target
            .ado
            .delete_agent(target.pool_id, ado_id(*agent_id))
            .await
        {
            Ok(()) | Err(AdoError::AgentNotFound { .. }) => {
                info!(agent_id, ?reason, "registration removed");
                applied
                    .registrations_removed
                    .push(AppliedAgent::of(plan, *agent_id));
            }
            // It picked up a job after all: leave it; the next sweep looks again.
            Err(AdoError::AgentBusy { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    for agent_id in &plan.disable_agents {
        match target
            .ado
            .set_agent_enabled(target.pool_id, ado_id(*agent_id), false)
            .await
        {
            Ok(_) | Err(AdoError::AgentNotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        let agent = AppliedAgent::of(plan, *agent_id);
        let pod = agent.pod.clone();
        applied.disabled.push(agent);
        if let Some(pod) = pod {
            annotate(
                &target.pods,
                &pod,
                labels::DRAINING,
                &Timestamp::now().to_string(),
            )
            .await?;
        }
    }
    delete_pods(target, plan, &mut applied).await?;
    if plan.deletion_complete {
        remove_finalizer(&target.pools, target.pool).await?;
        applied.finalizer_removed = true;
    }
    Ok(applied)
}

/// Deletes the plan's pods and notes each by the reason it was deleted for.
async fn delete_pods(
    target: &Target<'_>,
    plan: &Plan,
    applied: &mut Applied,
) -> Result<(), ApplyError> {
    for (pod, reason) in &plan.delete_pods {
        if matches!(reason, DeleteReason::StartTimeout { .. })
            && picked_up_a_job(target, plan.names.agent_of_pod(pod)).await?
        {
            // Its agent came online and took a job after the observation: never kill it.
            info!(pod, "not started pod picked up a job meanwhile; kept");
            continue;
        }
        delete_pod(&target.pods, pod).await?;
        match reason {
            DeleteReason::Finished => applied.finished_deleted += 1,
            DeleteReason::StartTimeout { waited_secs } => {
                applied.timed_out.push((pod.clone(), *waited_secs));
            }
            DeleteReason::FinishTimeout { waited_secs } => {
                applied.finish_timed_out.push((pod.clone(), *waited_secs));
            }
            DeleteReason::StartBlocked { reason } => {
                applied.blocked.push((pod.clone(), reason));
            }
            DeleteReason::ScaleDown | DeleteReason::PoolDeleting => {
                applied.scaled_down.push(pod.clone());
            }
        }
    }
    Ok(())
}

/// Creates `count` agent pods, [`CREATES_IN_FLIGHT`] at a time: a burst of hundreds of jobs is
/// otherwise bounded by one API round trip per pod. Every create is awaited before this
/// returns, so the count is exactly what the plan asked for; the first error wins.
pub async fn create_pods(target: &Target<'_>, count: u32) -> Result<Vec<String>, ApplyError> {
    let results: Vec<Result<String, ApplyError>> = futures::stream::iter(0..count)
        .map(|_| create_pod(target))
        .buffer_unordered(CREATES_IN_FLIGHT)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Re-reads the pod's agent right before a startup-timeout deletion: the plan saw it
/// unregistered or offline, but it may have registered and been assigned a job since.
async fn picked_up_a_job(target: &Target<'_>, agent_name: Option<&str>) -> Result<bool, AdoError> {
    let Some(agent_name) = agent_name else {
        return Ok(false);
    };
    let query = AgentQuery {
        name: Some(agent_name.to_owned()),
        include_assigned_request: true,
        ..AgentQuery::default()
    };
    let agents = target.ado.list_agents(target.pool_id, &query).await?;
    Ok(agents.iter().any(|agent| {
        agent.name.eq_ignore_ascii_case(agent_name) && agent.assigned_request.is_some()
    }))
}

async fn create_pod(target: &Target<'_>) -> Result<String, ApplyError> {
    if target.pool.spec.registration.is_minted() {
        return crate::mint::create_pod(target).await;
    }
    let name = target.pool.name_any();
    // A name clash (1 in 27^5 per existing pod) is retried once with a fresh name.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let pod_name = new_pod_name(&name);
        let pod = render_pod(target.pool, &pod_name)?;
        match target.pods.create(&PostParams::default(), &pod).await {
            Ok(_) => return Ok(pod_name),
            Err(kube::Error::Api(status)) if status.code == 409 && attempts < 3 => {}
            Err(error) => return Err(error.into()),
        }
    }
}

async fn ensure_placeholder(target: &Target<'_>) -> Result<i64, ApplyError> {
    let key = AgentPoolRef::new(
        target.pool.namespace().unwrap_or_default(),
        target.pool.name_any(),
    );
    let name = naming::placeholder_agent_name(&key);
    let capabilities = crate::learn::placeholder_capabilities(target.pool);
    let agent = NewAgent {
        name: name.clone(),
        version: PLACEHOLDER_VERSION.into(),
        os_description: Some("azp-operator placeholder (never runs jobs)".into()),
        enabled: Some(true),
        max_parallelism: Some(1),
        system_capabilities: capabilities,
        ..NewAgent::default()
    };
    match target.ado.add_agent(target.pool_id, &agent).await {
        Ok(agent) => Ok(i64::from(agent.id)),
        Err(AdoError::AgentExists { .. }) => {
            match target.ado.find_agent(target.pool_id, &name).await? {
                Some(agent) => Ok(i64::from(agent.id)),
                None => Err(AdoError::AgentNotFound {
                    pool_id: target.pool_id,
                    agent_id: 0,
                }
                .into()),
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// Sets one annotation on a pod (merge patch; a pod already gone is fine).
pub async fn annotate(
    api: &Api<Pod>,
    pod: &str,
    key: &str,
    value: &str,
) -> Result<(), kube::Error> {
    annotate_all(
        api,
        pod,
        &BTreeMap::from([(key.to_owned(), value.to_owned())]),
    )
    .await
}

/// Sets several annotations on a pod in one merge patch; a pod already gone is fine.
pub async fn annotate_all(
    api: &Api<Pod>,
    pod: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {"annotations": annotations}});
    match api
        .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// Deletes a pod; one already gone is fine.
pub async fn delete_pod(api: &Api<Pod>, pod: &str) -> Result<(), kube::Error> {
    match api.delete(pod, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// Adds [`FINALIZER`] unless present.
pub async fn ensure_finalizer(api: &Api<AgentPool>, pool: &AgentPool) -> Result<(), kube::Error> {
    if pool.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let mut finalizers = pool.finalizers().to_vec();
    finalizers.push(FINALIZER.into());
    write_finalizers(api, pool, finalizers).await
}

async fn remove_finalizer(api: &Api<AgentPool>, pool: &AgentPool) -> Result<(), kube::Error> {
    let finalizers: Vec<String> = pool
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if finalizers.len() == pool.finalizers().len() {
        return Ok(());
    }
    write_finalizers(api, pool, finalizers).await
}

/// Removes the finalizer without cleanup: used when cleanup is impossible for good (the
/// Azure DevOps pool no longer exists, or the credentials Secret was deleted first).
pub async fn abandon_cleanup(api: &Api<AgentPool>, pool: &AgentPool) -> Result<(), kube::Error> {
    warn!(pool = %pool.name_any(), "removing finalizer without Azure DevOps cleanup");
    remove_finalizer(api, pool).await
}

async fn write_finalizers(
    api: &Api<AgentPool>,
    pool: &AgentPool,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    // resourceVersion in a merge patch is a precondition: a concurrent change to the object
    // makes this write fail with 409 instead of overwriting someone else's finalizer.
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": pool.resource_version(),
    }});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    match api
        .patch(&pool.name_any(), &params, &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}
