//! Pure rendering of one agent pod from an `AgentPool` and a pod name.
//!
//! The pod: an `agent` container, an optional BuildKit native sidecar (see [`buildkit`]),
//! `restartPolicy: Never`, an owner reference to the AgentPool, and the contract's labels and
//! annotations. With `registration: operator` (the default, see [`minted`]) the operator has
//! registered the agent already and the pod mounts only that agent's key, from a per-pod Secret,
//! in the `agent` container. With `registration: pod` a `register` init container mounts the PAT
//! Secret (as a file, never an environment variable), runs `azp-agent register` and hands the
//! registration files to `agent` through the `registration` emptyDir; `agent`, where the job's
//! steps run, has neither the PAT volume nor its path. Either way the operator removes the
//! registration once the pod has finished. The user's `spec.template` is merged on top, after
//! which the hardening is applied again (see [`merge`]): a template may add to the pod but
//! cannot silently remove the security settings or the operator's bookkeeping.

mod buildkit;
mod hardening;
pub mod merge;
mod minted;

use std::collections::BTreeMap;

use azp_contract::{env, labels, naming, paths};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction, KeyToPath,
    ObjectFieldSelector, Pod, PodSpec, Probe, SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use crate::crd::{AgentPool, BuildkitMode};

/// Name of the agent container.
pub const AGENT_CONTAINER: &str = "agent";
/// Name of the init container that registers the agent with the PAT.
pub const REGISTER_CONTAINER: &str = "register";
/// Name of the BuildKit native sidecar.
pub const BUILDKIT_CONTAINER: &str = "buildkitd";
const PAT_VOLUME: &str = "azp-pat";
/// The registration hand-over: an emptyDir with `register`, the per-pod Secret otherwise.
const REGISTRATION_VOLUME: &str = "registration";
const CA_VOLUME: &str = "azp-ca";
const WORK_VOLUME: &str = "work";
const TMP_VOLUME: &str = "tmp";
const DOCKER_CONFIG_VOLUME: &str = "docker-config";
const BUILDKIT_SOCKET_VOLUME: &str = "buildkit-socket";
const BUILDKIT_STATE_VOLUME: &str = "buildkit-state";
/// The sidecar's startup probe runs this every [`BUILDKIT_PROBE_PERIOD_SECONDS`]: it answers
/// only once buildkitd listens and has a worker, which is what a build needs.
pub const BUILDKIT_STARTUP_PROBE: [&str; 5] = [
    "buildctl",
    "--addr",
    paths::BUILDKIT_HOST,
    "debug",
    "workers",
];
/// Seconds between two startup probe runs: the agent starts at most this long after
/// buildkitd is ready.
pub const BUILDKIT_PROBE_PERIOD_SECONDS: i32 = 1;
/// Failed probe runs before the kubelet restarts the sidecar: buildkitd gets two minutes to
/// come up (it takes 1-3 s on a healthy node); the agent's own wait (60 s) is the fallback.
pub const BUILDKIT_PROBE_FAILURE_THRESHOLD: i32 = 120;
/// Files of the PAT Secret volume are readable by the owner only.
const PAT_FILE_MODE: i32 = 0o400;

/// Why a pod cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The AgentPool has no namespace or uid (never true for objects read from the API).
    #[error("AgentPool {0:?} lacks namespace or uid")]
    Incomplete(String),
    /// `spec.auth.patSecretRef` is missing.
    #[error("AgentPool {0:?} has no spec.auth.patSecretRef")]
    NoPatSecret(String),
    /// `spec.template` is not a PodTemplateSpec-shaped object or the merge result is no pod.
    #[error("spec.template cannot be merged onto the agent pod: {0}")]
    Template(String),
}

/// Generates the name of a new agent pod: `<agentpool>-<5 random lowercase alphanumerics>`,
/// the shape `generateName` produces. The operator chooses the name itself because the agent
/// name (`<namespace>.<pod>`) must be in the pod's environment at creation.
pub fn new_pod_name(pool_name: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    // Pod names are at most 253 characters, but the value is also used in agent names and
    // hostnames (63): keep the prefix short.
    let prefix: String = pool_name.chars().take(57).collect();
    format!("{}-{suffix}", prefix.trim_end_matches(['-', '.']))
}

/// Renders the agent pod `pod_name` for `pool`.
pub fn render_pod(pool: &AgentPool, pod_name: &str) -> Result<Pod, RenderError> {
    if pool.spec.registration.is_minted() {
        // The operator registered the agent: the pod gets its files, and no PAT at all.
        let pod = minted::shape_pod(render_registering_pod(pool, pod_name, None)?, pod_name);
        return finish(pool, pod);
    }
    let pool_name = pool.name_any();
    let pat = pool
        .spec
        .auth
        .pat_secret_ref
        .as_ref()
        .ok_or_else(|| RenderError::NoPatSecret(pool_name.clone()))?;
    let pod = render_registering_pod(pool, pod_name, Some(pat))?;
    finish(pool, pod)
}

/// Merges `spec.template` onto the generated pod and re-applies the hardening.
fn finish(pool: &AgentPool, mut pod: Pod) -> Result<Pod, RenderError> {
    // The spec the pod was made from, for rollouts; part of the bookkeeping the hardening
    // re-applies, so a template cannot hide a pod's spec.
    pod.metadata
        .annotations
        .get_or_insert_default()
        .insert(labels::SPEC_HASH.into(), pool.spec.pod_spec_hash());
    let generated = pod.clone();
    let merged = match &pool.spec.template {
        Some(template) => merge::merge_template(pod, template)?,
        None => pod,
    };
    Ok(hardening::enforce(merged, &generated, pool))
}

/// The pod of `spec.registration: pod`: a `register` init container with the PAT hands
/// the registration to `agent`. With `pat: None` the PAT volume and its mount are left out
/// (the caller reshapes the pod for an operator-minted registration).
fn render_registering_pod(
    pool: &AgentPool,
    pod_name: &str,
    pat: Option<&crate::crd::SecretKeyReference>,
) -> Result<Pod, RenderError> {
    let pool_name = pool.name_any();
    let namespace = pool
        .namespace()
        .ok_or_else(|| RenderError::Incomplete(pool_name.clone()))?;
    let owner = owner_reference(pool).ok_or_else(|| RenderError::Incomplete(pool_name.clone()))?;
    let agent_name = naming::pod_agent_name(&namespace, pod_name);

    let mut volumes = vec![
        empty_dir(REGISTRATION_VOLUME),
        empty_dir(WORK_VOLUME),
        empty_dir(TMP_VOLUME),
        empty_dir(DOCKER_CONFIG_VOLUME),
    ];
    if let Some(pat) = pat {
        volumes.insert(0, pat_volume(pat));
    }
    // Both containers see the registration hand-over, the work directory (config.sh records
    // its path in `.agent`) and a writable /tmp; only `register` sees the PAT.
    let mut mounts = vec![
        mount(REGISTRATION_VOLUME, paths::REGISTRATION_DIR, false),
        mount(WORK_VOLUME, &pool.spec.agent.work_dir, false),
        mount(TMP_VOLUME, "/tmp", false),
    ];
    if let Some(ca) = &pool.spec.ca_bundle {
        volumes.push(ca_volume(ca));
        mounts.push(mount(CA_VOLUME, paths::CA_BUNDLE_DIR, true));
    }
    let mut register_mounts = mounts.clone();
    if pat.is_some() {
        register_mounts.push(mount(PAT_VOLUME, paths::PAT_DIR, true));
    }
    mounts.push(mount(DOCKER_CONFIG_VOLUME, paths::DOCKER_CONFIG_DIR, false));
    let env = agent_env(pool, &namespace, &agent_name);
    let mut register_env = env.clone();
    register_env.push(value(env::PAT_FILE, paths::PAT_FILE));

    // `register` runs first: the sidecar starts only after it, so a failed registration
    // costs no BuildKit start-up (both orders work with the kubelet's sequential init).
    let mut init_containers = vec![agent_image_container(
        pool,
        REGISTER_CONTAINER,
        "register",
        register_env,
        register_mounts,
    )];
    if let Some(sidecar) = add_buildkit(pool, &mut volumes, &mut mounts) {
        init_containers.push(sidecar);
    }
    let agent = agent_image_container(pool, AGENT_CONTAINER, "run", env, mounts);

    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(pod_name.into()),
            namespace: Some(namespace),
            labels: Some(pod_labels(&pool_name)),
            annotations: Some(pod_annotations(&agent_name)),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            init_containers: Some(init_containers),
            containers: vec![agent],
            volumes: Some(volumes),
            security_context: Some(hardening::pod_security_context()),
            ..PodSpec::default()
        }),
        status: None,
    };
    Ok(pod)
}

/// The PAT Secret's key as a file only `register` mounts.
fn pat_volume(pat: &crate::crd::SecretKeyReference) -> Volume {
    Volume {
        name: PAT_VOLUME.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(pat.name.clone()),
            items: Some(vec![KeyToPath {
                key: pat.key.clone(),
                path: file_name(paths::PAT_FILE).into(),
                mode: None,
            }]),
            default_mode: Some(PAT_FILE_MODE),
            optional: Some(false),
        }),
        ..Volume::default()
    }
}

/// A container of the agent image running `azp-agent <command>` (`register` or `run`).
fn agent_image_container(
    pool: &AgentPool,
    name: &str,
    command: &str,
    env: Vec<EnvVar>,
    mounts: Vec<VolumeMount>,
) -> Container {
    Container {
        name: name.into(),
        image: Some(pool.spec.agent.image.clone()),
        args: Some(vec![command.into()]),
        env: Some(env),
        resources: pool.spec.agent.resources.clone(),
        volume_mounts: Some(mounts),
        // azp-agent writes here by default; AZP_TERMINATION_LOG is left unset so a runtime
        // that relocates the file (kube-sim's process kubelet) can point the agent at it.
        termination_message_path: Some(paths::TERMINATION_LOG.into()),
        termination_message_policy: Some("File".into()),
        security_context: Some(hardening::agent_security_context()),
        ..Container::default()
    }
}

/// BuildKit's volumes and the agent's mounts for `spec.buildkit`, and the sidecar to run
/// (none in `remote` mode: the client certificate is mounted for the agent container only).
fn add_buildkit(
    pool: &AgentPool,
    volumes: &mut Vec<Volume>,
    mounts: &mut Vec<VolumeMount>,
) -> Option<Container> {
    if !pool.spec.buildkit.enabled {
        return None;
    }
    if pool.spec.buildkit.mode == BuildkitMode::Remote {
        if let Some(remote) = &pool.spec.buildkit.remote {
            volumes.push(buildkit::client_tls_volume(remote));
            mounts.push(buildkit::client_tls_mount());
        }
        return None;
    }
    volumes.push(empty_dir(BUILDKIT_SOCKET_VOLUME));
    volumes.push(empty_dir(BUILDKIT_STATE_VOLUME));
    mounts.push(mount(
        BUILDKIT_SOCKET_VOLUME,
        paths::BUILDKIT_SOCKET_DIR,
        false,
    ));
    Some(if pool.spec.buildkit.mode == BuildkitMode::Privileged {
        buildkit::privileged_sidecar(pool)
    } else {
        buildkit_sidecar(pool)
    })
}

/// Labels the operator relies on (selection, ownership); re-applied after the template merge.
pub(crate) fn pod_labels(pool_name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::MANAGED_BY.into(), labels::MANAGED_BY_VALUE.into()),
        (labels::POOL.into(), pool_name.into()),
        (labels::COMPONENT.into(), labels::COMPONENT_AGENT.into()),
    ])
}

/// Annotations the operator relies on; re-applied after the template merge.
pub(crate) fn pod_annotations(agent_name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            labels::DO_NOT_DISRUPT.into(),
            labels::DO_NOT_DISRUPT_VALUE.into(),
        ),
        // The same promise to the Cluster Autoscaler, for clusters that do not run Karpenter.
        (
            labels::SAFE_TO_EVICT.into(),
            labels::SAFE_TO_EVICT_VALUE.into(),
        ),
        (labels::AGENT_NAME.into(), agent_name.into()),
    ])
}

/// Controller owner reference to the AgentPool, so pods go with it.
pub(crate) fn owner_reference(pool: &AgentPool) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: AgentPool::api_version(&()).into_owned(),
        kind: AgentPool::kind(&()).into_owned(),
        name: pool.name_any(),
        uid: pool.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

pub(crate) fn agent_env(pool: &AgentPool, namespace: &str, agent_name: &str) -> Vec<EnvVar> {
    let spec = &pool.spec;
    let owner = naming::AgentPoolRef::new(namespace, pool.name_any()).to_string();
    let capabilities =
        serde_json::to_string(&spec.capabilities).unwrap_or_else(|_| String::from("{}"));
    let mut vars = vec![
        value(env::ORGANIZATION_URL, &spec.organization),
        value(env::POOL, &spec.pool),
        value(env::AGENT_NAME, agent_name),
        value(env::REGISTRATION_DIR, paths::REGISTRATION_DIR),
        value(env::WORK_DIR, &spec.agent.work_dir),
        value(env::AGENT_HOME, paths::AGENT_HOME),
        value(env::CAPABILITIES, &capabilities),
        value(env::AGENT_POOL_OWNER, &owner),
        field_ref(env::POD_NAME, "metadata.name"),
        field_ref(env::POD_NAMESPACE, "metadata.namespace"),
        value("DOCKER_CONFIG", paths::DOCKER_CONFIG_DIR),
    ];
    vars.extend(integration_env(spec));
    vars.extend(user_env(spec));
    vars
}

/// What the agent needs for BuildKit, the CA bundle and ECR.
fn integration_env(spec: &crate::crd::AgentPoolSpec) -> Vec<EnvVar> {
    let mut vars = Vec::new();
    if spec.buildkit.enabled {
        match (&spec.buildkit.mode, &spec.buildkit.remote) {
            (BuildkitMode::Remote, Some(remote)) => {
                vars.push(value(env::BUILDKIT_HOST, &remote.address));
                vars.push(value(env::BUILDKIT_TLS_DIR, buildkit::CLIENT_TLS_DIR));
            }
            _ => vars.push(value(env::BUILDKIT_HOST, paths::BUILDKIT_HOST)),
        }
        // `build-push` reads it as its `--cache` default: a pipeline step needs no flag.
        if let Some(cache) = &spec.buildkit.cache {
            vars.push(value(env::BUILDKIT_CACHE, cache));
        }
    }
    if spec.ca_bundle.is_some() {
        vars.push(value(env::CA_BUNDLE_FILE, paths::CA_BUNDLE_FILE));
    }
    if let Some(ecr) = &spec.ecr {
        vars.push(value(env::ECR_REGION, &ecr.region));
        vars.push(value(env::ECR_REGISTRY, &ecr.registry));
        if let Some(endpoint) = &ecr.api_endpoint {
            vars.push(value(env::ECR_API_ENDPOINT, endpoint));
        }
        vars.push(value(
            env::REQUIRE_PRIVATE_ENDPOINT,
            if ecr.require_private_endpoint {
                "true"
            } else {
                "false"
            },
        ));
    }
    vars
}

/// `spec.agent.env`, after the operator's own variables, with the lists `azp-agent` reads.
fn user_env(spec: &crate::crd::AgentPoolSpec) -> Vec<EnvVar> {
    let mut vars = Vec::new();
    // User variables last; names the contract reserves are dropped so a user cannot
    // override the agent name or ownership proof. `azp-agent` passes exactly the names
    // listed in AZP_PASS_ENV on to the agent, so they reach the job and are published.
    // Values taken from a Secret reach the job but are listed in VSO_AGENT_IGNORE: the
    // agent would otherwise publish them as capabilities for anyone who can read the pool.
    let user: Vec<&EnvVar> = spec
        .agent
        .env
        .iter()
        .flatten()
        .filter(|var| azp_contract::agent_env::is_user_variable(&var.name))
        .filter(|var| var.name != azp_contract::agent_env::IGNORE_ENV)
        .collect();
    if !user.is_empty() {
        let names: Vec<&str> = user.iter().map(|var| var.name.as_str()).collect();
        vars.push(value(env::PASS_ENV, &names.join(",")));
    }
    let mut ignored: Vec<String> = spec
        .agent
        .env
        .iter()
        .flatten()
        .filter(|var| var.name == azp_contract::agent_env::IGNORE_ENV)
        .filter_map(|var| var.value.as_deref())
        .flat_map(azp_contract::agent_env::parse_pass_env)
        .collect();
    ignored.extend(
        user.iter()
            .filter(|var| {
                var.value_from
                    .as_ref()
                    .is_some_and(|from| from.secret_key_ref.is_some())
            })
            .map(|var| var.name.clone()),
    );
    if !ignored.is_empty() {
        vars.push(value(
            azp_contract::agent_env::IGNORE_ENV,
            &ignored.join(","),
        ));
    }
    vars.extend(user.into_iter().cloned());
    vars
}

fn buildkit_sidecar(pool: &AgentPool) -> Container {
    Container {
        name: BUILDKIT_CONTAINER.into(),
        image: Some(pool.spec.buildkit.image.clone()),
        // A native sidecar: an init container that keeps running next to the agent and is
        // stopped by the kubelet once the agent container exits.
        restart_policy: Some("Always".into()),
        args: Some(vec![
            "--oci-worker-no-process-sandbox".into(),
            "--addr".into(),
            paths::BUILDKIT_HOST.into(),
        ]),
        env: Some(vec![value(
            "BUILDKITD_FLAGS",
            "--oci-worker-no-process-sandbox",
        )]),
        resources: pool.spec.buildkit.resources.clone(),
        volume_mounts: Some(vec![
            mount(BUILDKIT_SOCKET_VOLUME, paths::BUILDKIT_SOCKET_DIR, false),
            mount(
                BUILDKIT_STATE_VOLUME,
                "/home/user/.local/share/buildkit",
                false,
            ),
        ]),
        security_context: Some(hardening::buildkit_security_context()),
        // The kubelet starts the next container as soon as a native sidecar has started,
        // unless its startup probe holds it back: without it the agent raced buildkitd's
        // socket and failed its preflight (issue 20).
        startup_probe: Some(buildkit_startup_probe()),
        ..Container::default()
    }
}

fn buildkit_startup_probe() -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(BUILDKIT_STARTUP_PROBE.map(str::to_owned).to_vec()),
        }),
        period_seconds: Some(BUILDKIT_PROBE_PERIOD_SECONDS),
        failure_threshold: Some(BUILDKIT_PROBE_FAILURE_THRESHOLD),
        timeout_seconds: Some(5),
        ..Probe::default()
    }
}

fn ca_volume(ca: &crate::crd::CaBundleSource) -> Volume {
    use k8s_openapi::api::core::v1::ConfigMapVolumeSource;
    let item = |key: &str| {
        Some(vec![KeyToPath {
            key: key.into(),
            path: file_name(paths::CA_BUNDLE_FILE).into(),
            mode: None,
        }])
    };
    let mut volume = Volume {
        name: CA_VOLUME.into(),
        ..Volume::default()
    };
    if let Some(secret) = &ca.secret_ref {
        volume.secret = Some(SecretVolumeSource {
            secret_name: Some(secret.name.clone()),
            items: item(&secret.key),
            ..SecretVolumeSource::default()
        });
    } else if let Some(config_map) = &ca.config_map_ref {
        volume.config_map = Some(ConfigMapVolumeSource {
            name: config_map.name.clone(),
            items: item(&config_map.key),
            ..ConfigMapVolumeSource::default()
        });
    }
    volume
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn field_ref(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: field_path.into(),
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

#[cfg(test)]
mod tests;
