//! Registrations for the new pods of operator-minted AgentPools, made once every AgentPool of
//! the group has its pods: the pods are scheduled, and their images pulled, while the keys are
//! generated and Azure DevOps answers (see [`crate::mint`] for the order and its recovery).

use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;

use super::Controller;
use super::act::Created;
use super::admit::Member;
use super::group::GroupPass;
use crate::apply::{self, ApplyError, CreatedPod};
use crate::mint;

/// What became of one new pod's registration.
enum Outcome {
    Registered,
    Failed(ApplyError),
    /// Deleted unregistered after an earlier failure of the pass.
    Abandoned,
}

impl Controller {
    /// Registers an agent for each pod `created` holds for an operator-minted AgentPool,
    /// [`apply::CREATES_IN_FLIGHT`] at a time across the group. A pod that could not be
    /// registered is deleted; after the first failure the rest are deleted without calling
    /// Azure DevOps again (an outage must not cost one failed registration per pod). What stays
    /// in `created` for each AgentPool is its registered pods, or the first error.
    pub(super) async fn register_minted(&self, pass: &GroupPass<'_>, created: &mut Created) {
        let batches: Vec<(&Member<'_>, Vec<CreatedPod>)> = pass
            .members
            .iter()
            .filter(|member| member.pool.spec.registration.is_minted())
            .filter_map(|member| match created.get(&member.key) {
                Some(Ok(pods)) if !pods.is_empty() => Some((member, pods.clone())),
                _ => None,
            })
            .collect();
        if batches.is_empty() {
            return;
        }
        let targets: Vec<_> = batches
            .iter()
            .map(|(member, _)| self.target_for(member, pass))
            .collect();
        let failed = AtomicBool::new(false);
        let work = batches
            .iter()
            .enumerate()
            .flat_map(|(batch, (_, pods))| pods.iter().map(move |pod| (batch, pod)));
        let outcomes: Vec<(usize, &CreatedPod, Outcome)> = futures::stream::iter(work)
            .map(|(batch, pod)| {
                let (target, failed) = (&targets[batch], &failed);
                async move {
                    if failed.load(Ordering::Acquire) {
                        let why = "an earlier registration of this pass failed";
                        mint::abandon_pod(target, pod, why).await;
                        return (batch, pod, Outcome::Abandoned);
                    }
                    match mint::register_pod(target, pod).await {
                        Ok(()) => (batch, pod, Outcome::Registered),
                        Err(error) => {
                            failed.store(true, Ordering::Release);
                            (batch, pod, Outcome::Failed(error))
                        }
                    }
                }
            })
            .buffer_unordered(apply::CREATES_IN_FLIGHT)
            .collect()
            .await;
        let mut results: Vec<Result<Vec<CreatedPod>, ApplyError>> =
            batches.iter().map(|_| Ok(Vec::new())).collect();
        for (batch, pod, outcome) in outcomes {
            match (&mut results[batch], outcome) {
                (Ok(pods), Outcome::Registered) => pods.push(pod.clone()),
                (result @ Ok(_), Outcome::Failed(error)) => *result = Err(error),
                _ => {}
            }
        }
        for ((member, _), result) in batches.iter().zip(results) {
            created.insert(member.key.clone(), result);
        }
    }
}
