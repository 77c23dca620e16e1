//! Security settings of agent pods, and re-applying them after the template merge.
//!
//! Decision (documented in the README): `spec.template` may add anything (node selectors,
//! tolerations, service account, extra containers, volumes, resources, extra env) but the
//! following always come from the operator and a template value for them is overwritten:
//! `restartPolicy: Never`, the operator's labels and annotations, the owner reference, the
//! agent container's security context, the BuildKit sidecar's security context, the pod
//! security context's `runAsNonRoot`/`seccompProfile`, host namespaces off, the contract's
//! environment variables and the PAT volume. Silently weakening them would defeat the point.
//! Only the `register` init container may mount the PAT volume or name the PAT file: a
//! template that adds either to another container (where the job's steps could read it)
//! has it removed. With an operator-minted registration only `agent` may mount the
//! registration Secret.

use k8s_openapi::api::core::v1::{
    Capabilities, Container, Pod, PodSecurityContext, SeccompProfile, SecurityContext,
};

use crate::crd::AgentPool;

/// UID/GID of the non-root user in the agent and rootless BuildKit images.
const NON_ROOT_ID: i64 = 1000;

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

/// Pod-level security: non-root, RuntimeDefault seccomp, group-owned volumes.
pub(crate) fn pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(NON_ROOT_ID),
        run_as_group: Some(NON_ROOT_ID),
        fs_group: Some(NON_ROOT_ID),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..PodSecurityContext::default()
    }
}

/// The `register` and `agent` containers: non-root, no privilege escalation, all
/// capabilities dropped, RuntimeDefault seccomp.
///
/// The root filesystem stays writable, on purpose: Microsoft's agent writes its registration
/// (`.agent`, `.credentials*`) and `_diag` logs into its own install directory in the image,
/// and job steps write to `$HOME` and tool caches. With `readOnlyRootFilesystem: true`,
/// `config.sh` fails with EROFS on a real node. The writes land in the container's own
/// layer, which dies with the one-job pod.
pub(crate) fn agent_security_context() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        read_only_root_filesystem: Some(false),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            add: None,
            drop: Some(vec!["ALL".into()]),
        }),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..SecurityContext::default()
    }
}

/// The rootless BuildKit sidecar: still non-root and never privileged, but it needs user
/// namespaces and mounts, which RuntimeDefault seccomp and AppArmor block. Those two are
/// relaxed for this container only (the upstream rootless BuildKit recommendation).
pub(crate) fn buildkit_security_context() -> SecurityContext {
    use k8s_openapi::api::core::v1::AppArmorProfile;
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(NON_ROOT_ID),
        run_as_group: Some(NON_ROOT_ID),
        privileged: Some(false),
        seccomp_profile: Some(SeccompProfile {
            type_: "Unconfined".into(),
            localhost_profile: None,
        }),
        app_armor_profile: Some(AppArmorProfile {
            type_: "Unconfined".into(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

/// Re-applies what a template must not change, taking the values from `generated` (the pod
/// as rendered before the merge).
pub(crate) fn enforce(mut merged: Pod, generated: &Pod, pool: &AgentPool) -> Pod {
    let meta = &mut merged.metadata;
    meta.name = generated.metadata.name.clone();
    meta.namespace = generated.metadata.namespace.clone();
    meta.generate_name = None;
    meta.owner_references = generated.metadata.owner_references.clone();
    let labels = meta.labels.get_or_insert_default();
    labels.extend(generated.metadata.labels.clone().unwrap_or_default());
    let annotations = meta.annotations.get_or_insert_default();
    annotations.extend(generated.metadata.annotations.clone().unwrap_or_default());

    let (Some(spec), Some(reference)) = (merged.spec.as_mut(), generated.spec.as_ref()) else {
        return merged;
    };
    spec.restart_policy = Some("Never".into());
    spec.host_network = None;
    spec.host_pid = None;
    spec.host_ipc = None;
    let pod_security = spec.security_context.get_or_insert_default();
    pod_security.run_as_non_root = Some(true);
    pod_security.seccomp_profile = Some(runtime_default_seccomp());

    for container in spec.containers.iter_mut() {
        if let Some(original) = reference
            .containers
            .iter()
            .find(|c| c.name == container.name)
        {
            enforce_container(container, original);
        }
    }
    for container in spec.init_containers.iter_mut().flatten() {
        if let Some(original) = reference
            .init_containers
            .iter()
            .flatten()
            .find(|c| c.name == container.name)
        {
            enforce_container(container, original);
        }
    }
    for container in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
        .filter(|c| c.name != super::REGISTER_CONTAINER)
    {
        keep_pat_out(container);
    }
    if pool.spec.registration.is_minted() {
        // The agent's key is for the `agent` container alone.
        for container in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
            .filter(|c| c.name != super::AGENT_CONTAINER)
        {
            if let Some(mounts) = container.volume_mounts.as_mut() {
                mounts.retain(|m| m.name != super::REGISTRATION_VOLUME);
            }
        }
    }
    // The PAT volume always points at the referenced Secret.
    for volume in spec.volumes.iter_mut().flatten() {
        if let Some(original) = reference
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == volume.name && v.secret.is_some())
        {
            *volume = original.clone();
        }
    }
    merged
}

/// Removes the PAT volume's mounts and the PAT file variable from a container that must not
/// read the PAT.
fn keep_pat_out(container: &mut Container) {
    if let Some(mounts) = container.volume_mounts.as_mut() {
        mounts.retain(|m| m.name != super::PAT_VOLUME);
    }
    if let Some(env) = container.env.as_mut() {
        env.retain(|var| var.name != azp_contract::env::PAT_FILE);
    }
}

/// Operator-rendered containers keep their image-independent contract: security context,
/// termination message path, restart policy and the contract's environment variables.
fn enforce_container(container: &mut Container, original: &Container) {
    container.security_context = original.security_context.clone();
    container.restart_policy = original.restart_policy.clone();
    container.termination_message_path = original.termination_message_path.clone();
    container.termination_message_policy = original.termination_message_policy.clone();
    let env = container.env.get_or_insert_default();
    for var in original.env.iter().flatten() {
        if azp_contract::env::ALL.contains(&var.name.as_str()) {
            match env.iter_mut().find(|existing| existing.name == var.name) {
                Some(existing) => *existing = var.clone(),
                None => env.push(var.clone()),
            }
        }
    }
}
