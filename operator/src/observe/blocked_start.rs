//! Pods that will not start without a change: a container waits with a reason the kubelet
//! keeps reporting until someone fixes the image or the configuration. Waiting for the
//! startup timeout (10 min) would only delay the start-failure backoff.

use k8s_openapi::api::core::v1::Pod;

/// Waiting reasons that mean "this pod will not start as it is": the image cannot be pulled
/// (`ErrImagePull`, then `ImagePullBackOff` between retries), its name does not parse
/// (`InvalidImageName`), or a container's env references a missing Secret/ConfigMap key
/// (`CreateContainerConfigError`). `ContainerCreating` and `PodInitializing` are not among
/// them: they are every pod's first seconds (and a per-pod Secret made right after its pod).
pub const BLOCKING_REASONS: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
];

/// A container of a Pending pod that waits for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedStart {
    /// The container.
    pub container: String,
    /// One of [`BLOCKING_REASONS`].
    pub reason: &'static str,
    /// The kubelet's message (may name the image; never a Secret's value).
    pub message: String,
}

/// The first blocked container of a Pending pod not being deleted (init containers first).
pub fn blocked_start(pod: &Pod) -> Option<BlockedStart> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = pod.status.as_ref()?;
    if status
        .phase
        .as_deref()
        .is_some_and(|phase| phase != "Pending")
    {
        return None;
    }
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find_map(|container| {
            let waiting = container.state.as_ref()?.waiting.as_ref()?;
            let reason = BLOCKING_REASONS
                .iter()
                .find(|r| Some(**r) == waiting.reason.as_deref())?;
            Some(BlockedStart {
                container: container.name.clone(),
                reason,
                message: waiting.message.clone().unwrap_or_default(),
            })
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(phase: &str, init: serde_json::Value, main: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ci"},
            "status": {"phase": phase, "initContainerStatuses": init, "containerStatuses": main}
        }))
        .unwrap()
    }

    fn waiting(name: &str, reason: &str, message: &str) -> serde_json::Value {
        json!({"name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 0,
               "state": {"waiting": {"reason": reason, "message": message}}})
    }

    #[test]
    fn each_blocking_reason_is_found_and_ordinary_waiting_is_not() {
        for reason in BLOCKING_REASONS {
            let blocked = blocked_start(&pod(
                "Pending",
                json!([]),
                json!([waiting("agent", reason, "why")]),
            ))
            .unwrap_or_else(|| panic!("{reason}"));
            assert_eq!(
                (
                    blocked.container.as_str(),
                    blocked.reason,
                    blocked.message.as_str()
                ),
                ("agent", reason, "why")
            );
        }
        for reason in ["ContainerCreating", "PodInitializing", "CrashLoopBackOff"] {
            assert_eq!(
                blocked_start(&pod(
                    "Pending",
                    json!([]),
                    json!([waiting("agent", reason, "")])
                )),
                None,
                "{reason}"
            );
        }
    }

    #[test]
    fn an_init_container_counts_and_running_or_deleting_pods_do_not() {
        let init = json!([waiting(
            "register",
            "ImagePullBackOff",
            "Back-off pulling image \"x\""
        )]);
        let main = json!([waiting("agent", "PodInitializing", "")]);
        let blocked = blocked_start(&pod("Pending", init.clone(), main.clone())).unwrap();
        assert_eq!(
            (blocked.container.as_str(), blocked.reason),
            ("register", "ImagePullBackOff")
        );
        assert_eq!(
            blocked_start(&pod("Running", init.clone(), main.clone())),
            None
        );
        let mut deleting = pod("Pending", init, main);
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        assert_eq!(blocked_start(&deleting), None);
    }
}
