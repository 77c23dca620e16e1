//! The agent pod of `spec.registration: operator`: the pod of the `register` path without
//! the `register` init container and the PAT, the registration hand-over volume replaced by
//! the per-pod Secret the operator writes ([`crate::mint`]), mounted by `agent` alone.

use k8s_openapi::api::core::v1::{Pod, SecretVolumeSource, Volume};

use super::{AGENT_CONTAINER, REGISTER_CONTAINER, REGISTRATION_VOLUME};

/// The registration files hold the agent's private key: readable by the agent's user only.
/// (A real kubelet adds group read for `fsGroup`, which is the agent's own group.)
pub const REGISTRATION_FILE_MODE: i32 = 0o400;

/// Turns the rendered `register`-path pod into the minted-registration pod.
pub fn shape_pod(mut pod: Pod, pod_name: &str) -> Pod {
    let Some(spec) = pod.spec.as_mut() else {
        return pod;
    };
    if let Some(init) = spec.init_containers.as_mut() {
        init.retain(|c| c.name != REGISTER_CONTAINER);
    }
    for volume in spec.volumes.iter_mut().flatten() {
        if volume.name == REGISTRATION_VOLUME {
            *volume = Volume {
                name: REGISTRATION_VOLUME.into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(crate::mint::secret_name(pod_name)),
                    default_mode: Some(REGISTRATION_FILE_MODE),
                    // Not optional: the kubelet waits until the operator has written it.
                    optional: Some(false),
                    items: None,
                }),
                ..Volume::default()
            };
        }
    }
    for container in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        let Some(mounts) = container.volume_mounts.as_mut() else {
            continue;
        };
        if container.name == AGENT_CONTAINER {
            for mount in mounts.iter_mut().filter(|m| m.name == REGISTRATION_VOLUME) {
                mount.read_only = Some(true);
            }
        } else {
            mounts.retain(|m| m.name != REGISTRATION_VOLUME);
        }
    }
    pod
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use azp_contract::{env, paths};
    use k8s_openapi::api::core::v1::Container;
    use serde_json::json;

    use super::super::{BUILDKIT_CONTAINER, render_pod};
    use super::*;
    use crate::crd::AgentPool;

    fn pool(extra: serde_json::Value) -> AgentPool {
        let mut spec = json!({
            "organization": "https://dev.azure.com/contoso",
            "pool": "eks",
            "auth": {"patSecretRef": {"name": "azp-pat", "key": "pat"}},
            "agent": {"image": "agent:1"},
            "buildkit": {"enabled": true},
            "caBundle": {"configMapRef": {"name": "ca", "key": "ca.crt"}}
        });
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(json!({
            "apiVersion": "azp.dev/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": "linux", "namespace": "ci", "uid": "u-1"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn containers(pod: &Pod) -> Vec<&Container> {
        let spec = pod.spec.as_ref().unwrap();
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .collect()
    }

    fn mounts(container: &Container, volume: &str) -> bool {
        container
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == volume)
    }

    #[test]
    fn operator_registration_is_the_default_and_no_container_gets_the_pat() {
        let pool = pool(json!({}));
        assert!(pool.spec.registration.is_minted());
        let pod = render_pod(&pool, "linux-abcde").unwrap();
        let names: Vec<&str> = containers(&pod).iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [AGENT_CONTAINER, BUILDKIT_CONTAINER],
            "no register container"
        );
        let json = serde_json::to_string(&pod).unwrap();
        // Neither the PAT Secret, nor its volume, nor a path into it, nor the variable.
        // (`/var/run/secrets/azp-ca`, the CA bundle, is not the PAT's directory.)
        let pat_dir = format!("\"{}\"", paths::PAT_DIR);
        let needles = [
            "azp-pat",
            paths::PAT_FILE,
            &pat_dir,
            env::PAT_FILE,
            "secretKeyRef",
        ];
        for needle in needles {
            assert!(!json.contains(needle), "{needle} in the pod: {json}");
        }
        let agent = containers(&pod)[0];
        assert_eq!(agent.args, Some(vec!["run".to_owned()]));
    }

    #[test]
    fn only_the_agent_container_mounts_its_own_registration_secret_owner_read_only() {
        let pod = render_pod(&pool(json!({})), "linux-abcde").unwrap();
        let spec = pod.spec.as_ref().unwrap();
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == REGISTRATION_VOLUME)
            .unwrap();
        let secret = volume.secret.as_ref().unwrap();
        assert_eq!(
            secret.secret_name.as_deref(),
            Some("linux-abcde-registration")
        );
        assert_eq!(secret.default_mode, Some(0o400));
        assert_eq!(secret.optional, Some(false), "the kubelet waits for it");
        for container in containers(&pod) {
            assert_eq!(
                mounts(container, REGISTRATION_VOLUME),
                container.name == AGENT_CONTAINER,
                "{}",
                container.name
            );
        }
        let mount = spec.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.name == REGISTRATION_VOLUME)
            .unwrap();
        assert_eq!(
            (mount.mount_path.as_str(), mount.read_only),
            (paths::REGISTRATION_DIR, Some(true))
        );
    }

    #[test]
    fn a_template_cannot_hand_the_registration_to_another_container() {
        let template = json!({"template": {"spec": {
            "containers": [{
                "name": "helper",
                "image": "busybox",
                "volumeMounts": [{"name": "registration", "mountPath": "/steal"}]
            }],
            "volumes": [{"name": "registration", "emptyDir": {}}]
        }}});
        let pod = render_pod(&pool(template), "linux-abcde").unwrap();
        let spec = pod.spec.as_ref().unwrap();
        let helper = spec.containers.iter().find(|c| c.name == "helper").unwrap();
        assert!(!mounts(helper, REGISTRATION_VOLUME));
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == REGISTRATION_VOLUME)
            .unwrap();
        assert!(
            volume.secret.is_some(),
            "the template cannot swap the volume"
        );
    }
}
