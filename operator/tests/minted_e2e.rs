//! Operator-minted registrations end to end (`spec.registration: operator`, the default): the
//! real operator binary, kube-sim's process kubelet running the real `azp-agent` in every
//! pod with `azp-agent-standin` as the official agent, against the Azure DevOps emulator.
//!
//! What a user relies on: no container of an agent pod mounts or receives the PAT or a path
//! to it; the per-pod Secret is mounted by `agent` alone, readable only by its user, and
//! goes with the pod; the registration goes after the job; a registration whose pod or
//! Secret could not be created, or that was minted for a pod never created, does not stay.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use azp_kube_sim::faults::Fault;
use common::agents::{kubelet, kubelet_in};
use common::{Harness, NAMESPACE, PAT, eventually};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use serde_json::json;

const REGISTRATION_FILES: [&str; 3] = [".agent", ".credentials", ".credentials_rsaparams"];

fn secrets(h: &Harness) -> Api<Secret> {
    Api::namespaced(h.client.clone(), NAMESPACE)
}

fn pod_name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap()
}

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_below(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The PAT in no form: not its Secret as a volume or variable, not its path, not its value.
fn assert_no_pat(pod: &Pod) {
    let json = serde_json::to_string(pod).unwrap();
    for needle in ["azp-pat", "/var/run/secrets/azp/", "AZP_TOKEN_FILE", PAT] {
        assert!(!json.contains(needle), "{needle} in pod {}", pod_name(pod));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minted_pod_runs_its_job_without_the_pat_and_leaves_nothing_behind() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"maxAgents": 2, "pollInterval": "5s"}}),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let pods_dir = tempfile::tempdir().unwrap();
    let kubelet = kubelet_in(&h, home.path(), pods_dir.path());
    h.start_operator(&[]).await;
    h.wait_for_placeholder("linux").await;
    let job = h
        .emu
        .queue_job(azp_ado_emulator::QueueJob {
            pool: "Linux".into(),
            duration_seconds: 3,
            ..Default::default()
        })
        .unwrap();

    let pod = eventually("agent pod", Duration::from_secs(30), || async {
        h.pods().await.into_iter().next()
    })
    .await;
    let name = pod_name(&pod);
    assert_no_pat(&pod);
    let spec = pod.spec.as_ref().unwrap();
    let init: Vec<&str> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert!(!init.contains(&"register"), "{init:?}");
    let secret_name = format!("{name}-registration");
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| {
            v.secret
                .as_ref()
                .is_some_and(|s| s.secret_name.as_deref() == Some(secret_name.as_str()))
        })
        .expect("registration Secret volume");
    for container in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let mounts = container
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == volume.name);
        assert_eq!(mounts, container.name == "agent", "{}", container.name);
    }

    // The Secret: the three files run.sh reads, owned by the pod.
    let secret = secrets(&h).get(&secret_name).await.unwrap();
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Pod", pod.metadata.uid.as_deref().unwrap())
    );
    let mut keys: Vec<&str> = secret
        .data
        .as_ref()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, REGISTRATION_FILES);
    let agent_id: i64 =
        serde_json::from_slice::<serde_json::Value>(&secret.data.as_ref().unwrap()[".agent"].0)
            .unwrap()["agentId"]
            .as_i64()
            .unwrap();

    // As the kubelet wrote them for the running pod: owner-only, and no PAT anywhere in the
    // pod's files.
    let pod_dir = pods_dir.path().join(format!(
        "{NAMESPACE}_{name}_{}",
        pod.metadata.uid.as_deref().unwrap()
    ));
    let key_file = pod_dir
        .join("volumes")
        .join(&volume.name)
        .join(".credentials_rsaparams");
    eventually(
        "registration files on the node",
        Duration::from_secs(30),
        || async { key_file.is_file().then_some(()) },
    )
    .await;
    for file in REGISTRATION_FILES {
        let mode = std::fs::metadata(pod_dir.join("volumes").join(&volume.name).join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400, "{file}");
    }
    for file in files_below(&pod_dir.join("volumes")) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PAT),
            "PAT in {}",
            file.display()
        );
    }

    eventually("job succeeded", Duration::from_secs(90), || async {
        h.emu.job(job).and_then(|j| {
            (j.state == "finished").then(|| assert_eq!(j.result.as_deref(), Some("succeeded")))
        })
    })
    .await;
    let ran_on = h.emu.job(job).unwrap().agent_name.unwrap();
    assert_eq!(ran_on, format!("{NAMESPACE}.{name}"));
    eventually(
        "pod and its Secret gone",
        Duration::from_secs(60),
        || async {
            let pod_gone = h.pods().await.is_empty();
            let secret_gone = secrets(&h).get_opt(&secret_name).await.unwrap().is_none();
            (pod_gone && secret_gone).then_some(())
        },
    )
    .await;
    assert!(
        !h.emu.agents().iter().any(|a| i64::from(a.id) == agent_id),
        "registration {agent_id} left behind"
    );
    let names: Vec<String> = h.emu.agents().into_iter().map(|a| a.name).collect();
    assert_eq!(names, vec![format!("{NAMESPACE}.linux.placeholder")]);
    kubelet.shutdown().await.unwrap();
}

/// Registrations of the AgentPool other than its placeholder, by id.
fn pod_registrations(h: &Harness) -> HashMap<i32, String> {
    h.emu
        .agents()
        .into_iter()
        .filter(|a| !a.name.ends_with(".placeholder"))
        .map(|a| (a.id, a.name))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_whose_pod_or_secret_cannot_be_created_is_deleted_at_once() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"maxAgents": 1, "pollInterval": "5s"}}),
    )
    .await;
    h.sim.inject_fault(Fault {
        method: Some("POST".into()),
        path_contains: "/pods".into(),
        code: 500,
        times: 1,
        retry_after_seconds: None,
    });
    h.start_operator(&[]).await;
    h.wait_for_placeholder("linux").await;
    h.queue("Linux", &[]);
    // Removed by the failed creation itself, not left to the cleanup sweep.
    eventually(
        "registration of the uncreated pod removed",
        Duration::from_secs(30),
        || async { revoked(&h, "its pod could not be created").then_some(()) },
    )
    .await;
    assert!(h.pods().await.is_empty());
    assert!(
        pod_registrations(&h).is_empty(),
        "{:?}",
        pod_registrations(&h)
    );

    // Now the Secret fails: the pod is deleted and its registration too.
    h.sim.inject_fault(Fault {
        method: Some("POST".into()),
        path_contains: "/secrets".into(),
        code: 500,
        times: 1,
        retry_after_seconds: None,
    });
    eventually(
        "registration of the Secret-less pod removed",
        Duration::from_secs(30),
        || async { revoked(&h, "its Secret could not be created").then_some(()) },
    )
    .await;
    // The pod went with it (a pod whose Secret never comes would wait forever).
    let logs = h.operators[0].logs.lock().unwrap().clone();
    assert!(
        !logs.contains("could not delete the pod without its Secret"),
        "{logs}"
    );
    // The next pass creates a working pod for the job (no kubelet here: it stays Pending).
    eventually(
        "a new pod with its Secret",
        Duration::from_secs(30),
        || async {
            let pods = h.pods().await;
            let pod = pods
                .iter()
                .find(|p| p.metadata.deletion_timestamp.is_none())?;
            let secret = format!("{}-registration", pod_name(pod));
            secrets(&h).get_opt(&secret).await.unwrap().map(|_| ())
        },
    )
    .await;
    assert_eq!(
        pod_registrations(&h).len(),
        1,
        "{:?}",
        pod_registrations(&h)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_minted_for_a_pod_never_created_is_removed_within_one_poll_interval() {
    let mut h = Harness::start(&["Linux"]).await;
    h.pat_secret("azp-pat", PAT).await;
    h.agent_pool(
        "linux",
        "Linux",
        json!({"scaling": {"maxAgents": 1, "pollInterval": "5s"}}),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let kubelet = kubelet(&h, home.path());
    h.start_operator(&[]).await;
    h.wait_for_placeholder("linux").await;
    // What an operator that stopped between `POST agents` and creating the pod leaves: a
    // keyed registration of this AgentPool, named for a pod that does not exist.
    let ado = azp_ado::AdoClient::new({
        let mut config = azp_ado::AdoClientConfig::new(
            h.emu.org_url().parse().unwrap(),
            azp_ado::Auth::Pat(azp_ado::Secret::new(PAT)),
        );
        config.allow_insecure_http = true;
        config
    })
    .unwrap();
    let pool = ado.find_pool("Linux").await.unwrap();
    let (exponent, modulus) = public_key();
    let agent = ado
        .add_agent(
            pool.id,
            &azp_ado::NewAgent {
                name: format!("{NAMESPACE}.linux-never"),
                version: "4.0.0".into(),
                system_capabilities: HashMap::from([(
                    "AZP_AGENTPOOL".to_owned(),
                    format!("{NAMESPACE}/linux"),
                )]),
                authorization: Some(azp_ado::AgentAuthorization {
                    public_key: Some(azp_ado::AgentPublicKey { exponent, modulus }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let minted_at = Instant::now();
    eventually(
        "stray registration removed",
        Duration::from_secs(30),
        || async { (!h.emu.agents().iter().any(|a| a.id == agent.id)).then_some(()) },
    )
    .await;
    let took = minted_at.elapsed();
    // One poll interval (5 s) plus the pass itself; the grace period of `registration: pod`
    // (120 s by default) does not apply.
    assert!(took < Duration::from_secs(7), "took {took:?}");
    kubelet.shutdown().await.unwrap();
}

/// The public half of a fresh agent key, base64 (exponent, modulus).
fn public_key() -> (String, String) {
    let key = azp_operator::mint::key::AgentKey::generate().unwrap();
    (key.exponent, key.modulus)
}

/// Whether the operator logged that it removed a minted registration, for `why`.
fn revoked(h: &Harness, why: &str) -> bool {
    let logs = h.operators[0].logs.lock().unwrap().clone();
    logs.lines()
        .any(|line| line.contains("minted registration removed") && line.contains(why))
}
