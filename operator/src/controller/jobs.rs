//! What the agents are doing: which pod runs which job, how long jobs waited, and what each
//! image publishes.

use std::collections::{HashMap, HashSet};

use kube::{Api, ResourceExt};
use tracing::{info, warn};

use super::Controller;
use super::group::{GroupPass, GroupState};
use crate::apply;
use crate::crd::ImageCapabilities;
use crate::observe;
use crate::plan::PoolKey;
use crate::poller::Observation;

impl Controller {
    /// Pods whose agent took a job get the job's annotations and one `JobStarted` Event; the
    /// request id in the annotations makes this once per pod, across restarts too.
    pub(super) async fn annotate_running_jobs(&self, pass: &GroupPass<'_>) {
        use azp_contract::labels;
        let jobs = &pass.polled.observation.jobs;
        for job in jobs.iter().filter(|job| job.result.is_none()) {
            let Some(agent) = &job.reserved_agent else {
                continue;
            };
            let Some((member, pod)) = pass.members.iter().find_map(|member| {
                super::pods_of(pass.pods, &member.key)
                    .find(|pod| pod.annotations().get(labels::AGENT_NAME) == Some(&agent.name))
                    .map(|pod| (member, pod))
            }) else {
                continue;
            };
            let request_id = job.request_id.to_string();
            if pod.annotations().get(labels::job::REQUEST_ID) == Some(&request_id) {
                continue;
            }
            let running = observe::RunningJob::from_request(job);
            let name = pod.name_any();
            let api: Api<k8s_openapi::api::core::v1::Pod> =
                Api::namespaced(self.client.clone(), member.namespace());
            match apply::annotate_all(&api, &name, &running.annotations()).await {
                Ok(()) => {
                    info!(pool = %member.key, pod = %name, request_id = job.request_id, "agent took a job");
                    self.events.job_started(member.pool, &name, &running).await;
                }
                Err(error) => warn!(%error, pod = %name, "could not annotate the pod with its job"),
            }
        }
    }

    /// Observes the queue-to-assignment latency of every job seen assigned for the first time.
    pub(super) fn observe_assignments(&self, group: &mut GroupState, observation: &Observation) {
        for job in &observation.jobs {
            if let (Some(queued), Some(assigned)) = (job.queue_time, job.assign_time)
                && group.seen_assigned.insert(job.request_id)
            {
                let seconds = (assigned - queued).num_milliseconds().max(0) as f64 / 1000.0;
                self.metrics.queue_to_assignment_seconds.observe(seconds);
            }
        }
        // Forget jobs that left the unfinished list, so the sets stay bounded.
        let live: HashSet<i64> = observation.jobs.iter().map(|j| j.request_id).collect();
        group.seen_assigned.retain(|id| live.contains(id));
        group.served.retain(|id| live.contains(id));
    }

    /// What each image publishes (learned from its first agent with a session), and the
    /// placeholders kept in step with what the agents publish.
    pub(super) async fn learn_images(
        &self,
        pass: &GroupPass<'_>,
        group: &mut GroupState,
    ) -> HashMap<PoolKey, ImageCapabilities> {
        let agents = &pass.polled.observation.agents;
        let mut learned = HashMap::new();
        for member in pass.members.iter().filter(|m| !m.is_deleting()) {
            if let Some(image) = crate::learn::learn(member.pool, agents, pass.pods) {
                info!(pool = %member.key, image = %image.image, agent = %image.agent, "learned what the agent image publishes");
                learned.insert(member.key.clone(), image);
            }
            if let Err(error) = crate::learn::refresh_placeholder(
                &pass.polled.client,
                pass.polled.pool_id,
                member.pool,
                agents,
                &mut group.placeholder_capabilities,
            )
            .await
            {
                warn!(%error, pool = %member.key, "could not update the placeholder's capabilities");
            }
        }
        learned
    }
}
