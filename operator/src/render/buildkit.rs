//! The `privileged` and `remote` BuildKit modes (`spec.buildkit.mode`); the default rootless
//! sidecar is rendered in `mod.rs`.

use k8s_openapi::api::core::v1::{
    Container, ExecAction, Probe, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};

use super::{BUILDKIT_CONTAINER, BUILDKIT_SOCKET_VOLUME, BUILDKIT_STATE_VOLUME, mount};
use crate::crd::{AgentPool, RemoteBuildkit};
use crate::crd::{DEFAULT_BUILDKIT_IMAGE, DEFAULT_PRIVILEGED_BUILDKIT_IMAGE};
use azp_contract::paths;

/// Volume holding the remote BuildKit's client certificate.
pub(super) const CLIENT_TLS_VOLUME: &str = "buildkit-client-tls";
/// Where the `agent` container sees it (`AZP_BUILDKIT_TLS_DIR`).
pub(super) const CLIENT_TLS_DIR: &str = "/run/buildkit-client";
/// The group of the agent's user: rootful buildkitd hands it the socket (`--group`).
const AGENT_GID: &str = "1000";

/// The rootful sidecar: `privileged: true`, root, state in `/var/lib/buildkit`. Whoever
/// controls a build (any pipeline author of the pool) can become root on the node.
pub(super) fn privileged_sidecar(pool: &AgentPool) -> Container {
    let image = if pool.spec.buildkit.image == DEFAULT_BUILDKIT_IMAGE {
        DEFAULT_PRIVILEGED_BUILDKIT_IMAGE.to_owned()
    } else {
        pool.spec.buildkit.image.clone()
    };
    Container {
        name: BUILDKIT_CONTAINER.into(),
        image: Some(image),
        restart_policy: Some("Always".into()),
        args: Some(vec![
            "--addr".into(),
            paths::BUILDKIT_HOST.into(),
            // The agent runs as uid/gid 1000; a root-owned socket would refuse it.
            "--group".into(),
            AGENT_GID.into(),
        ]),
        resources: pool.spec.buildkit.resources.clone(),
        volume_mounts: Some(vec![
            mount(BUILDKIT_SOCKET_VOLUME, paths::BUILDKIT_SOCKET_DIR, false),
            mount(BUILDKIT_STATE_VOLUME, "/var/lib/buildkit", false),
        ]),
        // Containers after a native sidecar start once it has started; hold them until
        // BuildKit answers on its socket.
        startup_probe: Some(Probe {
            exec: Some(ExecAction {
                command: Some(vec![
                    "buildctl".into(),
                    "--addr".into(),
                    paths::BUILDKIT_HOST.into(),
                    "debug".into(),
                    "workers".into(),
                ]),
            }),
            period_seconds: Some(1),
            failure_threshold: Some(60),
            ..Probe::default()
        }),
        security_context: Some(privileged_security_context()),
        ..Container::default()
    }
}

/// Privileged and root: the only way rootful BuildKit runs. Nothing else of the pod changes.
pub(super) fn privileged_security_context() -> SecurityContext {
    SecurityContext {
        privileged: Some(true),
        run_as_non_root: Some(false),
        run_as_user: Some(0),
        run_as_group: Some(0),
        ..SecurityContext::default()
    }
}

/// The client certificate Secret of `mode: remote`, for the `agent` container only.
pub(super) fn client_tls_volume(remote: &RemoteBuildkit) -> Volume {
    Volume {
        name: CLIENT_TLS_VOLUME.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(remote.client_secret_name.clone()),
            default_mode: Some(0o440),
            optional: Some(false),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// Read-only mount of [`client_tls_volume`].
pub(super) fn client_tls_mount() -> VolumeMount {
    mount(CLIENT_TLS_VOLUME, CLIENT_TLS_DIR, true)
}
