//! Reading the agent pods, once per pass: paged, and stripped to what the planner reads.
//!
//! Why not a full list: a pass re-lists every agent pod (no informer lag may ever make it
//! create a pod twice), and with hundreds of pods a full list of whole objects (spec,
//! managedFields, conditions) is most of the operator's memory. Pages of [`PAGE_SIZE`] bound
//! what is held while decoding, and [`slim`] keeps only labels, annotations, timestamps,
//! the phase, the agent container's image (which image an agent ran: [`crate::learn`]) and
//! its terminated state.

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, PodSpec, PodStatus};
use kube::Api;
use kube::api::ListParams;

use crate::render::AGENT_CONTAINER;

/// Pods per list request.
pub const PAGE_SIZE: u32 = 100;

/// Every pod matching `selector`, slimmed, page by page.
pub async fn list_agent_pods(api: &Api<Pod>, selector: &str) -> Result<Vec<Pod>, kube::Error> {
    let mut pods = Vec::new();
    let mut params = ListParams::default().labels(selector).limit(PAGE_SIZE);
    loop {
        let page = api.list(&params).await?;
        let next = page.metadata.continue_.clone().filter(|t| !t.is_empty());
        pods.extend(page.items.into_iter().map(slim));
        match next {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(pods),
        }
    }
}

/// The pod without what the planner never reads.
pub fn slim(pod: Pod) -> Pod {
    let Pod {
        mut metadata,
        spec,
        status,
    } = pod;
    let spec = spec.map(|spec| PodSpec {
        containers: spec
            .containers
            .into_iter()
            .filter(|c| c.name == AGENT_CONTAINER)
            .map(|c| Container {
                name: c.name,
                image: c.image,
                ..Container::default()
            })
            .collect(),
        ..PodSpec::default()
    });
    metadata.managed_fields = None;
    let status = status.map(|status| PodStatus {
        phase: status.phase,
        reason: status.reason,
        container_statuses: status.container_statuses.map(|statuses| {
            statuses
                .into_iter()
                .filter(|c| c.name == AGENT_CONTAINER)
                .map(|c| ContainerStatus {
                    name: c.name,
                    state: c.state.map(|mut state| {
                        state.running = None;
                        state.waiting = None;
                        state
                    }),
                    ..ContainerStatus::default()
                })
                .collect()
        }),
        init_container_statuses: crate::observe::outcome_init_statuses(
            status.init_container_statuses,
        ),
        ..PodStatus::default()
    });
    Pod {
        metadata,
        spec,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe;
    use serde_json::json;

    #[test]
    fn a_slim_pod_reads_the_same_to_the_planner_and_is_much_smaller() {
        let message =
            json!({ "outcome": "succeeded", "requestId": 42, "agentName": "a-1" }).to_string();
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {
                "name": "linux-x1", "namespace": "ci",
                "labels": { "azp.dev/pool": "linux", "app.kubernetes.io/managed-by": "azp-operator" },
                "annotations": { "azp.dev/agent-name": "ci-linux-x1" },
                "creationTimestamp": "2026-11-29T01:00:00Z",
                "managedFields": [{ "manager": "azp-operator", "operation": "Apply", "fieldsType": "FieldsV1",
                    "fieldsV1": { "f:spec": { "f:containers": { "k:{\"name\":\"agent\"}": {} } } } }],
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{ "name": "agent", "image": "azp-agent:1", "env": [{ "name": "A", "value": "x".repeat(2000) }] }],
                "initContainers": [{ "name": "buildkitd", "image": "moby/buildkit:rootless", "restartPolicy": "Always" }],
            },
            "status": {
                "phase": "Succeeded",
                "conditions": [{ "type": "Ready", "status": "False" }],
                "initContainerStatuses": [{ "name": "buildkitd", "ready": false, "restartCount": 0, "image": "b", "imageID": "" }],
                "containerStatuses": [{
                    "name": "agent", "ready": false, "restartCount": 0, "image": "azp-agent:1", "imageID": "",
                    "state": { "terminated": { "exitCode": 0, "reason": "Completed", "message": message } }
                }],
            },
        }))
        .unwrap();
        let full_size = serde_json::to_vec(&pod).unwrap().len();
        let slimmed = slim(pod.clone());
        let slim_size = serde_json::to_vec(&slimmed).unwrap().len();
        assert!(
            slim_size * 4 < full_size,
            "{slim_size} vs {full_size} bytes"
        );
        assert_eq!(observe::pod_view(&slimmed), observe::pod_view(&pod));
        assert_eq!(observe::pod_outcome(&slimmed), observe::pod_outcome(&pod));
        assert!(slimmed.metadata.managed_fields.is_none());
        let containers = &slimmed.spec.as_ref().unwrap().containers;
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0].image.as_deref(), Some("azp-agent:1"));
    }
}
