//! Reading the agent pods, once per pass: paged, and decoded straight into what the planner reads.
//!
//! Why not a full list: a pass re-lists every agent pod (no informer lag may ever make it
//! create a pod twice), and with hundreds of pods whole objects (spec, `managedFields`,
//! conditions) were most of the operator's memory. Pages of [`PAGE_SIZE`] bound what is held at
//! once, and each page is decoded into [`ListedPod`], which has fields only for what the planner
//! reads: `managedFields`, volumes, env and the other containers are skipped by the decoder and
//! never allocated (a heap profile of a 500-pod burst had whole pages of `Pod` at about a third of
//! the peak). [`ListedPod`] becomes a [`Pod`] holding only labels, annotations, timestamps, the
//! phase, the agent container's image (which image an agent ran: [`crate::learn`]) and its
//! terminated state, and any container's waiting state whose reason means the pod cannot start
//! ([`crate::observe::BLOCKING_REASONS`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Time};
use kube::Api;
use kube::api::ListParams;
use serde::Deserialize;

use crate::observe::BLOCKING_REASONS;
use crate::render::{AGENT_CONTAINER, REGISTER_CONTAINER};

/// Pods per list request.
pub const PAGE_SIZE: u32 = 100;

/// Every pod matching `selector`, slimmed, page by page.
pub async fn list_agent_pods(api: &Api<Pod>, selector: &str) -> Result<Vec<Pod>, kube::Error> {
    let client = api.clone().into_client();
    let mut pods = Vec::new();
    let mut params = ListParams::default().labels(selector).limit(PAGE_SIZE);
    loop {
        let request = kube::core::Request::new(api.resource_url())
            .list(&params)
            .map_err(kube::Error::BuildRequest)?;
        let page: PodPage = client.request(request).await?;
        let next = page.metadata.continue_.filter(|t| !t.is_empty());
        pods.extend(page.items.into_iter().map(Pod::from));
        match next {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(pods),
        }
    }
}

/// One page of a pod list, decoded as [`ListedPod`]s.
#[derive(Deserialize)]
struct PodPage {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<ListedPod>,
}

/// A pod as the planner reads it; every other field of the object is skipped while decoding.
#[derive(Deserialize)]
pub struct ListedPod {
    #[serde(default)]
    metadata: ListedMeta,
    spec: Option<ListedSpec>,
    status: Option<ListedStatus>,
}

/// The metadata the operator reads of its pods (no `managedFields`, no `ownerReferences`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListedMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
}

#[derive(Deserialize)]
struct ListedSpec {
    #[serde(default)]
    containers: Vec<ListedContainer>,
}

/// A container's name and image; its env, mounts and security context are skipped.
#[derive(Deserialize)]
struct ListedContainer {
    name: String,
    image: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedStatus {
    phase: Option<String>,
    reason: Option<String>,
    container_statuses: Option<Vec<ContainerStatus>>,
    init_container_statuses: Option<Vec<ContainerStatus>>,
}

impl From<ListedPod> for Pod {
    fn from(listed: ListedPod) -> Self {
        let ListedMeta {
            name,
            namespace,
            uid,
            resource_version,
            labels,
            annotations,
            creation_timestamp,
            deletion_timestamp,
        } = listed.metadata;
        let metadata = ObjectMeta {
            name,
            namespace,
            uid,
            resource_version,
            labels,
            annotations,
            creation_timestamp,
            deletion_timestamp,
            ..ObjectMeta::default()
        };
        let spec = listed.spec.map(|spec| PodSpec {
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
        let status = listed.status.map(|status| PodStatus {
            phase: status.phase,
            reason: status.reason,
            container_statuses: slim_statuses(status.container_statuses, AGENT_CONTAINER),
            init_container_statuses: slim_statuses(
                status.init_container_statuses,
                REGISTER_CONTAINER,
            ),
            ..PodStatus::default()
        });
        Pod {
            metadata,
            spec,
            status,
        }
    }
}

/// The statuses of container `keep` (its terminated state) and of any container waiting for
/// good (its waiting state); `None` when none is left.
fn slim_statuses(
    statuses: Option<Vec<ContainerStatus>>,
    keep: &str,
) -> Option<Vec<ContainerStatus>> {
    let blocked = |c: &ContainerStatus| {
        c.state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            .is_some_and(|reason| BLOCKING_REASONS.contains(&reason))
    };
    let kept: Vec<ContainerStatus> = statuses?
        .into_iter()
        .filter(|c| c.name == keep || blocked(c))
        .map(|c| {
            let is_blocked = blocked(&c);
            ContainerStatus {
                name: c.name,
                state: c.state.map(|mut state| {
                    state.running = None;
                    if !is_blocked {
                        state.waiting = None;
                    }
                    state
                }),
                ..ContainerStatus::default()
            }
        })
        .collect();
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe;
    use serde_json::json;

    /// The pod as the full type and as the list decodes it.
    fn both_ways(object: serde_json::Value) -> (Pod, Pod) {
        let full: Pod = serde_json::from_value(object.clone()).unwrap();
        let listed: ListedPod = serde_json::from_value(object).unwrap();
        (full, Pod::from(listed))
    }

    #[test]
    fn a_listed_pod_reads_the_same_to_the_planner_and_is_much_smaller() {
        let message =
            json!({ "outcome": "succeeded", "requestId": 42, "agentName": "a-1" }).to_string();
        let (pod, slimmed) = both_ways(json!({
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
        }));
        let full_size = serde_json::to_vec(&pod).unwrap().len();
        let slim_size = serde_json::to_vec(&slimmed).unwrap().len();
        assert!(
            slim_size * 4 < full_size,
            "{slim_size} vs {full_size} bytes"
        );
        assert_eq!(observe::pod_view(&slimmed), observe::pod_view(&pod));
        assert_eq!(observe::pod_outcome(&slimmed), observe::pod_outcome(&pod));
        assert_eq!(
            slimmed.metadata,
            ObjectMeta {
                managed_fields: None,
                ..pod.metadata.clone()
            },
            "every metadata field but managedFields is kept"
        );
        let containers = &slimmed.spec.as_ref().unwrap().containers;
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0].image.as_deref(), Some("azp-agent:1"));
    }

    #[test]
    fn a_pod_that_cannot_start_still_reads_so_when_listed() {
        let (pod, slimmed) = both_ways(json!({
            "metadata": {"name": "linux-x2", "namespace": "ci", "labels": {"azp.dev/pool": "linux"}},
            "status": {
                "phase": "Pending",
                "initContainerStatuses": [{ "name": "buildkitd", "ready": false, "restartCount": 0, "image": "b", "imageID": "",
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"b\""}} }],
                "containerStatuses": [{ "name": "agent", "ready": false, "restartCount": 0, "image": "a", "imageID": "",
                    "state": {"waiting": {"reason": "PodInitializing"}} }],
            },
        }));
        assert_eq!(
            observe::blocked_start(&slimmed),
            observe::blocked_start(&pod)
        );
        assert_eq!(
            observe::blocked_start(&slimmed).map(|b| (b.container, b.reason)),
            Some(("buildkitd".to_owned(), "ImagePullBackOff"))
        );
        assert_eq!(observe::pod_view(&slimmed), observe::pod_view(&pod));
        // An ordinary waiting state is still dropped.
        let agent = &slimmed
            .status
            .as_ref()
            .unwrap()
            .container_statuses
            .as_ref()
            .unwrap()[0];
        assert!(agent.state.as_ref().unwrap().waiting.is_none());
    }
}
