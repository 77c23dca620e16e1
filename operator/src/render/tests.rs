use serde_json::json;

use super::*;

fn pool(extra: serde_json::Value) -> AgentPool {
    let mut spec = json!({
        "organization": "https://dev.azure.com/contoso",
        "pool": "eks",
        "auth": {"patSecretRef": {"name": "azp-pat", "key": "pat"}},
        "agent": {"image": "agent:1", "env": [{"name": "JAVA_HOME", "value": "/opt/java"}, {"name": "AZP_AGENT_NAME", "value": "hijack"}]},
        "capabilities": {"buildkit": "true"},
        "buildkit": {"enabled": true}
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

fn env_value<'a>(container: &'a Container, name: &str) -> Option<&'a str> {
    container
        .env
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .and_then(|v| v.value.as_deref())
}

fn agent(pod: &Pod) -> &Container {
    let spec = pod.spec.as_ref().unwrap();
    spec.containers
        .iter()
        .find(|c| c.name == AGENT_CONTAINER)
        .unwrap()
}

#[test]
fn pod_carries_labels_annotations_and_owner() {
    let pod = render_pod(&pool(json!({})), "linux-abcde").unwrap();
    let labels = pod.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[labels::MANAGED_BY], "azp-operator");
    assert_eq!(labels[labels::POOL], "linux");
    let annotations = pod.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations[labels::DO_NOT_DISRUPT], "true");
    assert_eq!(
        annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"],
        "false"
    );
    assert_eq!(annotations[labels::AGENT_NAME], "ci.linux-abcde");
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("AgentPool", "u-1", Some(true))
    );
    assert_eq!(
        pod.spec.as_ref().unwrap().restart_policy.as_deref(),
        Some("Never")
    );
}

fn register(pod: &Pod) -> &Container {
    let spec = pod.spec.as_ref().unwrap();
    spec.init_containers
        .iter()
        .flatten()
        .find(|c| c.name == REGISTER_CONTAINER)
        .unwrap()
}

fn mounts_volume(container: &Container, volume: &str) -> bool {
    container
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.name == volume)
}

/// Every variable whose value points at the PAT file or its directory.
fn pat_path_vars(container: &Container) -> Vec<&str> {
    container
        .env
        .iter()
        .flatten()
        .filter(|v| {
            v.name == env::PAT_FILE
                || v.value
                    .as_deref()
                    .is_some_and(|value| value.starts_with(paths::PAT_DIR))
        })
        .map(|v| v.name.as_str())
        .collect()
}

#[test]
fn only_the_register_init_container_reads_the_pat_and_only_as_a_file() {
    let pod = render_pod(&pool(json!({"registration": "pod"})), "linux-abcde").unwrap();
    let spec = pod.spec.as_ref().unwrap();
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.secret.is_some())
        .unwrap();
    let secret = volume.secret.as_ref().unwrap();
    assert_eq!(secret.secret_name.as_deref(), Some("azp-pat"));
    let item = &secret.items.as_ref().unwrap()[0];
    assert_eq!((item.key.as_str(), item.path.as_str()), ("pat", "token"));

    let register = register(&pod);
    assert_eq!(register.args, Some(vec!["register".to_owned()]));
    assert_eq!(env_value(register, env::PAT_FILE), Some(paths::PAT_FILE));
    let mount = register
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume.name)
        .unwrap();
    assert_eq!(
        (mount.mount_path.as_str(), mount.read_only),
        (paths::PAT_DIR, Some(true))
    );

    // The job runs in `agent` (and tools in the sidecar): no PAT volume, no path to it.
    let others = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .filter(|c| c.name != REGISTER_CONTAINER);
    for container in others {
        assert!(
            !mounts_volume(container, &volume.name),
            "{} mounts the PAT",
            container.name
        );
        assert!(
            pat_path_vars(container).is_empty(),
            "{} names the PAT file",
            container.name
        );
    }
    assert_eq!(agent(&pod).args, Some(vec!["run".to_owned()]));
    let json = serde_json::to_string(&pod).unwrap();
    assert!(
        !json.contains("secretKeyRef"),
        "PAT must not reach env: {json}"
    );
}

#[test]
fn register_runs_first_and_hands_over_through_a_shared_directory() {
    let pod = render_pod(&pool(json!({"registration": "pod"})), "linux-abcde").unwrap();
    let spec = pod.spec.as_ref().unwrap();
    let order: Vec<_> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.restart_policy.as_deref()))
        .collect();
    assert_eq!(
        order,
        [
            (REGISTER_CONTAINER, None),
            (BUILDKIT_CONTAINER, Some("Always"))
        ]
    );
    let register = register(&pod);
    let agent = agent(&pod);
    for container in [register, agent] {
        let mount = container
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == paths::REGISTRATION_DIR)
            .unwrap_or_else(|| panic!("{} lacks the registration mount", container.name));
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .unwrap();
        assert!(volume.empty_dir.is_some());
        assert_eq!(
            env_value(container, env::REGISTRATION_DIR),
            Some(paths::REGISTRATION_DIR)
        );
        // Same identity and capabilities, so the registration carries the agent's
        // capabilities and ownership proof from the start.
        assert_eq!(
            env_value(container, env::AGENT_NAME),
            Some("ci.linux-abcde")
        );
        assert_eq!(
            env_value(container, env::AGENT_POOL_OWNER),
            Some("ci/linux")
        );
        assert_eq!(
            container.security_context,
            Some(hardening::agent_security_context())
        );
        assert_eq!(
            container.termination_message_path.as_deref(),
            Some(paths::TERMINATION_LOG)
        );
    }
    assert_eq!(register.image, agent.image);
}

#[test]
fn a_template_cannot_give_the_agent_container_the_pat() {
    let template = json!({"registration": "pod", "template": {"spec": {
        "containers": [{
            "name": "agent",
            "env": [{"name": "AZP_TOKEN_FILE", "value": "/var/run/secrets/azp/token"}],
            "volumeMounts": [{"name": "azp-pat", "mountPath": "/var/run/secrets/azp"}]
        }, {
            "name": "helper",
            "image": "busybox",
            "volumeMounts": [{"name": "azp-pat", "mountPath": "/pat"}]
        }]
    }}});
    let pod = render_pod(&pool(template), "linux-abcde").unwrap();
    let spec = pod.spec.as_ref().unwrap();
    for container in &spec.containers {
        assert!(!mounts_volume(container, "azp-pat"), "{}", container.name);
        assert!(pat_path_vars(container).is_empty(), "{}", container.name);
    }
    assert!(mounts_volume(register(&pod), "azp-pat"));
}

#[test]
fn agent_container_is_hardened() {
    let pod = render_pod(&pool(json!({})), "linux-abcde").unwrap();
    let security = agent(&pod).security_context.as_ref().unwrap();
    assert_eq!(security.run_as_non_root, Some(true));
    // The official agent writes its registration into its install directory (hardening.rs).
    assert_eq!(security.read_only_root_filesystem, Some(false));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    assert_eq!(
        security.capabilities.as_ref().unwrap().drop,
        Some(vec!["ALL".to_owned()])
    );
    assert_eq!(
        security.seccomp_profile.as_ref().unwrap().type_,
        "RuntimeDefault"
    );
}

#[test]
fn buildkit_is_a_rootless_native_sidecar_with_only_its_own_relaxations() {
    let pod = render_pod(&pool(json!({})), "linux-abcde").unwrap();
    let spec = pod.spec.as_ref().unwrap();
    let sidecar = spec
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == BUILDKIT_CONTAINER)
        .unwrap();
    assert_eq!(sidecar.restart_policy.as_deref(), Some("Always"));
    assert!(sidecar.image.as_deref().unwrap().ends_with("-rootless"));
    // The kubelet holds the agent back until buildkitd answers (issue 20).
    let probe = sidecar.startup_probe.as_ref().expect("startup probe");
    assert_eq!(
        probe.exec.as_ref().unwrap().command.as_deref().unwrap(),
        [
            "buildctl",
            "--addr",
            "unix:///run/buildkit/buildkitd.sock",
            "debug",
            "workers"
        ]
    );
    assert_eq!(probe.period_seconds, Some(1));
    assert_eq!(probe.failure_threshold, Some(120));
    let security = sidecar.security_context.as_ref().unwrap();
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(security.privileged, Some(false));
    assert_eq!(
        security.seccomp_profile.as_ref().unwrap().type_,
        "Unconfined"
    );
    assert_eq!(
        security.app_armor_profile.as_ref().unwrap().type_,
        "Unconfined"
    );
    let socket = |c: &Container| {
        c.volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == paths::BUILDKIT_SOCKET_DIR)
    };
    assert!(socket(sidecar) && socket(agent(&pod)));
    assert_eq!(
        env_value(agent(&pod), env::BUILDKIT_HOST),
        Some(paths::BUILDKIT_HOST)
    );

    let without = render_pod(
        &pool(json!({"buildkit": {"enabled": false}, "registration": "pod"})),
        "p-1",
    )
    .unwrap();
    let inits: Vec<_> = without
        .spec
        .unwrap()
        .init_containers
        .into_iter()
        .flatten()
        .map(|c| c.name)
        .collect();
    assert_eq!(inits, [REGISTER_CONTAINER]);
}

#[test]
fn the_pools_build_cache_reaches_the_agent_so_a_step_needs_no_flag() {
    let cache = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/build-cache";
    let pod = render_pod(
        &pool(json!({"buildkit": {"enabled": true, "cache": cache}})),
        "linux-abcde",
    )
    .unwrap();
    assert_eq!(env_value(agent(&pod), env::BUILDKIT_CACHE), Some(cache));
    let none = render_pod(
        &pool(json!({"buildkit": {"enabled": true, "cache": "none"}})),
        "p-1",
    )
    .unwrap();
    assert_eq!(env_value(agent(&none), env::BUILDKIT_CACHE), Some("none"));
    // Unset: build-push's own default (the image's repository, tag buildcache).
    let unset = render_pod(&pool(json!({})), "p-1").unwrap();
    assert_eq!(env_value(agent(&unset), env::BUILDKIT_CACHE), None);
}

#[test]
fn environment_follows_the_contract_and_reserved_names_cannot_be_overridden() {
    let pod = render_pod(&pool(json!({})), "linux-abcde").unwrap();
    let agent = agent(&pod);
    assert_eq!(env_value(agent, env::AGENT_NAME), Some("ci.linux-abcde"));
    assert_eq!(env_value(agent, env::AGENT_POOL_OWNER), Some("ci/linux"));
    assert_eq!(env_value(agent, env::POOL), Some("eks"));
    assert_eq!(
        env_value(agent, env::CAPABILITIES),
        Some(r#"{"buildkit":"true"}"#)
    );
    assert_eq!(env_value(agent, "JAVA_HOME"), Some("/opt/java"));
    // azp-agent passes exactly these on to the agent, so they reach the job and its capabilities.
    assert_eq!(env_value(agent, env::PASS_ENV), Some("JAVA_HOME"));
    let names: Vec<_> = agent.env.iter().flatten().map(|v| &v.name).collect();
    assert_eq!(
        names.iter().filter(|n| **n == env::AGENT_NAME).count(),
        1,
        "{names:?}"
    );
    for name in &names {
        assert!(
            env::ALL.contains(&name.as_str()) || *name == "JAVA_HOME" || *name == "DOCKER_CONFIG",
            "unexpected variable {name}"
        );
    }
}

#[test]
fn template_adds_scheduling_but_cannot_remove_hardening() {
    let template = json!({"template": {
        "metadata": {"labels": {"team": "a", "azp.dev/pool": "other"}},
        "spec": {
            "nodeSelector": {"kubernetes.io/arch": "arm64"},
            "restartPolicy": "Always",
            "hostNetwork": true,
            "serviceAccountName": "builder",
            "containers": [{
                "name": "agent",
                "securityContext": {"privileged": true, "runAsNonRoot": false},
                "env": [{"name": "EXTRA", "value": "1"}, {"name": "AZP_AGENTPOOL", "value": "evil/x"}],
                "resources": {"limits": {"memory": "4Gi"}}
            }]
        }
    }});
    let pod = render_pod(&pool(template), "linux-abcde").unwrap();
    let labels = pod.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["team"], "a");
    assert_eq!(labels[labels::POOL], "linux");
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    assert_eq!(spec.host_network, None);
    assert_eq!(spec.service_account_name.as_deref(), Some("builder"));
    assert_eq!(
        spec.node_selector.as_ref().unwrap()["kubernetes.io/arch"],
        "arm64"
    );
    assert_eq!(spec.containers.len(), 1, "agent merged by name");
    let agent = agent(&pod);
    let security = agent.security_context.as_ref().unwrap();
    assert_eq!(security.privileged, Some(false));
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(env_value(agent, "EXTRA"), Some("1"));
    assert_eq!(env_value(agent, env::AGENT_POOL_OWNER), Some("ci/linux"));
    assert!(agent.resources.as_ref().unwrap().limits.is_some());
    assert_eq!(agent.image.as_deref(), Some("agent:1"));
}

#[test]
fn template_with_unknown_top_level_field_is_refused() {
    let error = render_pod(&pool(json!({"template": {"kind": "Pod"}})), "p-1").unwrap_err();
    assert!(matches!(error, RenderError::Template(_)), "{error}");
}

#[test]
fn generated_names_look_like_generate_name_and_differ() {
    let a = new_pod_name("linux");
    let b = new_pod_name("linux");
    assert!(
        a.starts_with("linux-") && a.len() == "linux-".len() + 5,
        "{a}"
    );
    assert_ne!(a, b);
    assert!(new_pod_name(&"x".repeat(80)).len() <= 63);
}

fn buildkit_sidecar_of(pod: &Pod) -> Option<&Container> {
    pod.spec
        .as_ref()
        .unwrap()
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == BUILDKIT_CONTAINER)
}

#[test]
fn privileged_mode_is_a_rootful_privileged_sidecar_and_nothing_else_changes() {
    let pod = render_pod(
        &pool(json!({"buildkit": {"enabled": true, "mode": "privileged"}})),
        "linux-abcde",
    )
    .unwrap();
    let sidecar = buildkit_sidecar_of(&pod).unwrap();
    assert_eq!(sidecar.image.as_deref(), Some("moby/buildkit:v0.32.2"));
    let security = sidecar.security_context.as_ref().unwrap();
    assert_eq!(security.privileged, Some(true));
    assert_eq!(security.run_as_user, Some(0));
    assert_eq!(security.run_as_non_root, Some(false));
    assert!(
        sidecar
            .args
            .iter()
            .flatten()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w[0] == "--group" && w[1] == "1000"),
        "the agent's group must own the socket: {:?}",
        sidecar.args
    );
    assert!(sidecar.startup_probe.is_some());
    // The agent is as locked down as in rootless mode and uses the same socket.
    let agent = agent(&pod);
    let agent_security = agent.security_context.as_ref().unwrap();
    assert_eq!(agent_security.privileged, Some(false));
    assert_eq!(agent_security.allow_privilege_escalation, Some(false));
    assert_eq!(
        env_value(agent, env::BUILDKIT_HOST),
        Some(paths::BUILDKIT_HOST)
    );
    // A custom image is kept.
    let custom = render_pod(
        &pool(json!({"buildkit": {"enabled": true, "mode": "privileged", "image": "r.io/buildkit:1"}})),
        "p-1",
    )
    .unwrap();
    assert_eq!(
        buildkit_sidecar_of(&custom).unwrap().image.as_deref(),
        Some("r.io/buildkit:1")
    );
}

#[test]
fn remote_mode_has_no_sidecar_and_gives_only_the_agent_the_client_certificate() {
    let pod = render_pod(
        &pool(
            json!({"buildkit": {"enabled": true, "mode": "remote", "remote": {
                "address": "tcp://buildkitd.buildkit.svc:1234",
                "clientSecretName": "buildkit-client"
            }}}),
        ),
        "linux-abcde",
    )
    .unwrap();
    assert!(buildkit_sidecar_of(&pod).is_none());
    let agent = agent(&pod);
    assert_eq!(
        env_value(agent, env::BUILDKIT_HOST),
        Some("tcp://buildkitd.buildkit.svc:1234")
    );
    assert_eq!(
        env_value(agent, env::BUILDKIT_TLS_DIR),
        Some(buildkit::CLIENT_TLS_DIR)
    );
    let tls_mount = agent
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == buildkit::CLIENT_TLS_DIR)
        .unwrap();
    assert_eq!(tls_mount.read_only, Some(true));
    let volume = pod
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == tls_mount.name)
        .unwrap();
    assert_eq!(
        volume.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("buildkit-client")
    );
    // No container but `agent` sees the client key: not the BuildKit-less init containers, and in
    // `registration: pod` not the register container, which holds the PAT.
    for registration in ["operator", "pod"] {
        let pod = render_pod(
            &pool(json!({
                "registration": registration,
                "buildkit": {"enabled": true, "mode": "remote", "remote": {
                    "address": "tcp://buildkitd.buildkit.svc:1234",
                    "clientSecretName": "buildkit-client"
                }}
            })),
            "linux-abcde",
        )
        .unwrap();
        let spec = pod.spec.as_ref().unwrap();
        let mounting: Vec<&str> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .filter(|c| {
                c.volume_mounts
                    .iter()
                    .flatten()
                    .any(|m| m.mount_path == buildkit::CLIENT_TLS_DIR)
            })
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(mounting, ["agent"], "registration: {registration}");
        let has_register = spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| c.name == REGISTER_CONTAINER);
        assert_eq!(has_register, registration == "pod");
    }
}

#[test]
fn pod_carries_the_spec_hash_a_template_cannot_override() {
    for registration in ["operator", "pod"] {
        let template = json!({"registration": registration, "template": {
            "metadata": {"annotations": {labels::SPEC_HASH: "forged", "team": "ci"}}
        }});
        let agent_pool = pool(template);
        let pod = render_pod(&agent_pool, "linux-abcde").unwrap();
        let annotations = pod.metadata.annotations.as_ref().unwrap();
        assert_eq!(
            annotations[labels::SPEC_HASH],
            agent_pool.spec.pod_spec_hash(),
            "{registration}"
        );
        assert_eq!(annotations["team"], "ci");
    }
    // Another image, another hash on the pod.
    let edited = pool(json!({"agent": {"image": "agent:2"}}));
    let pod = render_pod(&edited, "linux-abcde").unwrap();
    assert_ne!(
        pod.metadata.annotations.as_ref().unwrap()[labels::SPEC_HASH],
        pool(json!({})).spec.pod_spec_hash()
    );
}
