//! The agent pod the operator renders, run under Debian's dockerd as a kubelet would run it,
//! with the images the Dockerfile builds offline (scripts/build-images.sh): `register`
//! registers with the Azure DevOps emulator, the rootless BuildKit sidecar starts, `agent`
//! runs one job whose script builds an image through the sidecar's socket with
//! `azp-agent build-push` and pushes it to docker-registry with the credentials `ecr-login`
//! got from moto; then the operator's side reads the termination message and removes the
//! registration.
//!
//! Slow on purpose (about a minute warm, a few minutes cold): the first run builds the images
//! (cached in `.cache/images` by the hash of their inputs), and the pod runs real containers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../agent/tests/support/peers.rs"]
mod peers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azp_ado_emulator::{EmulatorConfig, QueueJob, RunningEmulator};
use azp_contract::{Outcome, TerminationMessage};
use azp_operator::crd::AgentPool;
use azp_operator::observe::{PodOutcome, pod_outcome};
use azp_operator::render::{AGENT_CONTAINER, BUILDKIT_CONTAINER, REGISTER_CONTAINER, render_pod};
use azp_pod_docker::{Docker, PodRunner, SourceData};
use peers::{DOCKER_CLI, Dockerd, Moto, Registry, require, workspace_root};

const NAMESPACE: &str = "ci";
const POD: &str = "linux-d0ck9";
const POOL: &str = "Default";

/// The images scripts/build-images.sh built (or found cached) for the binaries under test.
struct Images {
    agent: String,
    buildkit: String,
    operator: String,
    tars: Vec<PathBuf>,
}

/// `<target>/debug` of this very test binary (`<target>/debug/deps/rendered_pod-…`): the
/// binaries `cargo` built for this test run go into the images.
fn binaries_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_owned()
}

fn build_images() -> Images {
    let root = workspace_root();
    let started = Instant::now();
    let output = Command::new(root.join("scripts/build-images.sh"))
        .env("AZP_BIN_DIR", binaries_dir())
        .env("AZP_PEERS_DIR", peers::peers_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "scripts/build-images.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "images ready in {:?}:\n{}",
        started.elapsed(),
        String::from_utf8_lossy(&output.stderr)
    );
    let env = std::fs::read_to_string(root.join(".cache/images/images.env")).unwrap();
    let vars: BTreeMap<&str, &str> = env.lines().filter_map(|l| l.split_once('=')).collect();
    Images {
        agent: vars["AZP_IMAGE_AGENT"].to_owned(),
        buildkit: vars["AZP_IMAGE_BUILDKIT"].to_owned(),
        operator: vars["AZP_IMAGE_OPERATOR"].to_owned(),
        tars: ["AGENT", "BUILDKIT", "OPERATOR"]
            .iter()
            .map(|t| PathBuf::from(vars[format!("AZP_IMAGE_{t}_TAR").as_str()]))
            .collect(),
    }
}

fn agent_pool(
    emulator: &RunningEmulator,
    images: &Images,
    moto: &Moto,
    registry: &str,
    registration: &str,
) -> AgentPool {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "azp.dev/v1alpha1",
        "kind": "AgentPool",
        "metadata": {"name": "linux", "namespace": NAMESPACE, "uid": "7c1d5f2e-0000-4000-8000-000000000001"},
        "spec": {
            "organization": emulator.org_url(),
            "pool": POOL,
            "auth": {"patSecretRef": {"name": "azp-pat", "key": "token"}},
            "registration": registration,
            "capabilities": {"buildkit": "true"},
            "agent": {
                "image": images.agent,
                // No IRSA here: moto accepts any static key. The pod spec carries them like
                // any user-added variable.
                "env": [
                    {"name": "AWS_ACCESS_KEY_ID", "value": "AKIAIOSFODNN7EXAMPLE"},
                    {"name": "AWS_SECRET_ACCESS_KEY", "value": "testing"},
                    {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"}
                ]
            },
            "buildkit": {"enabled": true, "image": images.buildkit},
            "ecr": {
                "region": "us-east-1",
                "registry": registry,
                "apiEndpoint": moto.url,
                "requirePrivateEndpoint": false
            }
        }
    }))
    .unwrap()
}

/// The job's one script step: an image built by the sidecar, with a RUN step (so BuildKit's
/// runc really runs inside the rootless sidecar), from a base in the registry, pushed.
fn job_script(registry: &str) -> String {
    format!(
        "set -e\nmkdir -p ctx\n\
         printf 'FROM {registry}/tools/busybox:1\\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo built-in-a-pod > /hello\"]\\n' > ctx/Containerfile\n\
         azp-agent build-push --repository {registry}/team/app --tag v1 \
         --context ctx --file ctx/Containerfile --plain-http --create-repository\n"
    )
}

/// Pushes a FROM-scratch image holding a static busybox as `<registry>/tools/busybox:1`: the
/// job's base image (no public registry is reachable).
fn push_busybox_base(docker: &Docker, registry: &str, dir: &Path) {
    let context = dir.join("busybox");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::copy(require(Path::new("/bin/busybox")), context.join("busybox")).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\n",
    )
    .unwrap();
    let tag = format!("{registry}/tools/busybox:1");
    let build = Command::new(DOCKER_CLI)
        .args([
            "-H",
            docker.host(),
            "build",
            "--network",
            "none",
            "-t",
            &tag,
        ])
        .arg(&context)
        .env("DOCKER_BUILDKIT", "1")
        .env("DOCKER_CONFIG", dir.join("docker-cli"))
        .output()
        .unwrap();
    assert!(build.status.success(), "{build:?}");
    let login = Command::new(DOCKER_CLI)
        .args([
            "-H",
            docker.host(),
            "login",
            registry,
            "-u",
            "AWS",
            "--password-stdin",
        ])
        .env("DOCKER_CONFIG", dir.join("docker-cli"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(peers::MOTO_PASSWORD.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(login.status.success(), "{login:?}");
    let push = Command::new(DOCKER_CLI)
        .args(["-H", docker.host(), "push", &tag])
        .env("DOCKER_CONFIG", dir.join("docker-cli"))
        .output()
        .unwrap();
    assert!(push.status.success(), "{push:?}");
}

fn docker_load(docker: &Docker, tar: &Path) {
    docker
        .run(&[
            "load".into(),
            "-q".into(),
            "-i".into(),
            tar.display().to_string(),
        ])
        .unwrap();
}

fn message(run: &azp_pod_docker::PodRun, container: &str) -> TerminationMessage {
    let result = run
        .container(container)
        .unwrap_or_else(|| panic!("{container} never ran: {run:#?}"));
    TerminationMessage::from_json(&result.message).unwrap_or_else(|e| {
        panic!(
            "{container}: no termination message ({e}); exit {} logs:\n{}",
            result.exit_code, result.logs
        )
    })
}

fn skopeo_digest(auth_file: &Path, reference: &str) -> String {
    let output = Command::new(require(Path::new("/usr/bin/skopeo")))
        .arg("inspect")
        .arg("--authfile")
        .arg(auth_file)
        .args(["--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The default pod: the operator mints the registration (the test calls the operator's own
/// minting code against the emulator and hands its files over as the pod's Secret); no container
/// gets the PAT, and the PAT Secret is not even provided to the runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_pod_runs_its_operator_minted_agent_and_builds_through_the_sidecar_in_docker() {
    run_rendered_pod("operator").await;
}

/// `registration: pod`: the register init container registers with the PAT file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_pod_registers_builds_through_the_sidecar_and_pushes_in_docker() {
    run_rendered_pod("pod").await;
}

async fn run_rendered_pod(registration: &str) {
    let minted_mode = registration == "operator";
    let images = tokio::task::spawn_blocking(build_images).await.unwrap();
    let moto = Moto::start();
    let registry = Registry::start();
    let dockerd = Dockerd::start_with_storage(&registry.host, "overlay2");
    let docker = Docker::new(DOCKER_CLI, dockerd.host.clone());
    let loading = Instant::now();
    for tar in &images.tars {
        docker_load(&docker, tar);
    }
    eprintln!("docker load of the three images: {:?}", loading.elapsed());

    let pat = format!("pat-{}", std::process::id());
    let emulator = RunningEmulator::start(
        EmulatorConfig {
            pat: pat.clone(),
            pools: vec![POOL.into()],
            long_poll: Duration::from_secs(1),
            ..EmulatorConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();

    let pool = agent_pool(&emulator, &images, &moto, &registry.host, registration);
    let agent_name = azp_contract::naming::pod_agent_name(NAMESPACE, POD);
    let mut pod = render_pod(&pool, POD).unwrap();
    // The one change to the rendered pod: the emulator speaks plain http on 127.0.0.1, which
    // azp-agent refuses without this flag (a real organization is https://).
    let spec = pod.spec.as_mut().unwrap();
    for container in spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut())
    {
        if container.name == REGISTER_CONTAINER || container.name == AGENT_CONTAINER {
            container
                .args
                .get_or_insert_default()
                .push("--allow-insecure-http".into());
        }
    }
    // Until the operator renders a startup probe on the sidecar (issue #20), the test adds the
    // one the BuildKit notes recommend: without it a real kubelet starts `agent` while
    // buildkitd is still coming up, and the agent's preflight fails with "connection refused"
    // (seen in this test). With the probe rendered, this does nothing.
    for container in spec.init_containers.iter_mut().flatten() {
        if container.name == BUILDKIT_CONTAINER && container.startup_probe.is_none() {
            eprintln!("NOTE: the rendered sidecar has no startupProbe; the test adds one");
            container.startup_probe = Some(serde_json::from_value(serde_json::json!({
                "exec": {"command": ["buildctl", "--addr", azp_contract::paths::BUILDKIT_HOST, "debug", "workers"]},
                "periodSeconds": 1,
                "failureThreshold": 60
            })).unwrap());
        }
    }
    let ado = ado_client(&emulator, &pat);
    let pool_id = ado.find_pool(POOL).await.unwrap().id;
    let (secrets, minted_id) = if minted_mode {
        let key = azp_operator::mint::key::AgentKey::generate().unwrap();
        let minted = azp_operator::mint::mint_registration(&ado, &pool, pool_id, &agent_name, key)
            .await
            .unwrap();
        let secret = (azp_operator::mint::secret_name(POD), minted.files);
        (BTreeMap::from([secret]), Some(minted.agent_id))
    } else {
        let secret = (
            "azp-pat".to_owned(),
            BTreeMap::from([("token".to_owned(), format!("{pat}\n").into_bytes())]),
        );
        (BTreeMap::from([secret]), None)
    };
    let sources = SourceData {
        secrets,
        ..SourceData::default()
    };

    let work = tempfile::tempdir().unwrap();
    push_busybox_base(&docker, &registry.host, work.path());
    let runner = PodRunner::new(docker.clone(), work.path());
    let starts: Arc<Mutex<BTreeMap<String, Instant>>> = Arc::default();
    let pod_run = {
        let (pod, starts) = (pod.clone(), starts.clone());
        tokio::task::spawn_blocking(move || {
            runner.run(&pod, &sources, Duration::from_secs(240), |name, at| {
                starts.lock().unwrap().insert(name.to_owned(), at);
            })
        })
    };

    // As Azure DevOps would: the job is queued once the agent is registered (a pool without
    // agents fails jobs at once), and the agent picks it up when it comes online.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut request = None;
    let mut online_after = None;
    while online_after.is_none() && !pod_run.is_finished() {
        assert!(Instant::now() < deadline, "agent never came online");
        if let Some(agent) = emulator.agents().into_iter().find(|a| a.name == agent_name) {
            if request.is_none() {
                request = Some(
                    emulator
                        .queue_job(QueueJob {
                            pool: POOL.into(),
                            demands: vec![],
                            duration_seconds: 0,
                            result: None,
                            script: Some(job_script(&registry.host)),
                            name: Some("build-push".into()),
                        })
                        .unwrap(),
                );
            }
            if agent.status == "online"
                && let Some(started) = starts.lock().unwrap().get(AGENT_CONTAINER)
            {
                online_after = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run = pod_run.await.unwrap().unwrap();
    for container in &run.containers {
        eprintln!(
            "--- {} (exit {}, ran {:?}) ---\n{}termination message: {}\n",
            container.name,
            container.exit_code,
            container.finished - container.started,
            container.logs,
            container.message
        );
    }
    let request = request.expect("the agent never registered");
    let job = emulator.job(request).unwrap();
    let log = job.log.clone().unwrap_or_default();
    eprintln!("job: {job:?}\njob log:\n{log}");

    // The pod succeeded, in the kubelet's order: register, then the sidecar, then agent.
    assert_eq!(
        run.phase, "Succeeded",
        "{:?} (container logs above)",
        run.failure
    );
    // The PAT appears in no container's output and not in the job's log.
    for container in &run.containers {
        assert!(
            !container.logs.contains(&pat),
            "PAT in {} logs",
            container.name
        );
        assert!(
            !container.message.contains(&pat),
            "PAT in {}'s message",
            container.name
        );
    }
    assert!(!log.contains(&pat), "PAT in the job log");
    let order: Vec<&str> = run.containers.iter().map(|c| c.name.as_str()).collect();
    if minted_mode {
        assert_eq!(order, [BUILDKIT_CONTAINER, AGENT_CONTAINER]);
    } else {
        assert_eq!(
            order,
            [REGISTER_CONTAINER, BUILDKIT_CONTAINER, AGENT_CONTAINER]
        );
    }

    // Termination messages, read from the files terminationMessagePath names.
    let agent_id = match minted_id {
        Some(id) => i64::from(id),
        None => {
            let registered = message(&run, REGISTER_CONTAINER);
            assert_eq!(registered.agent_name, agent_name);
            registered.agent_id.expect("register reports the agent id")
        }
    };
    let finished = message(&run, AGENT_CONTAINER);
    assert_eq!(finished.outcome, Outcome::Succeeded, "{finished:?}");
    assert_eq!(finished.request_id, Some(request));
    assert_eq!(finished.agent_id, Some(agent_id));

    // The job succeeded and pushed: the digest in its log is what the registry serves.
    assert_eq!(job.result.as_deref(), Some("succeeded"), "{log}");
    let repository = format!("{}/team/app", registry.host);
    let pinned = log
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{repository}@")))
        .unwrap_or_else(|| panic!("no pinned reference in the job log:\n{log}"))
        .to_owned();
    assert!(
        pinned.starts_with("sha256:") && pinned.len() == 71,
        "{pinned}"
    );
    let auth = work.path().join("auth.json");
    std::fs::write(
        &auth,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            registry.host,
            base64_basic("AWS", peers::MOTO_PASSWORD)
        ),
    )
    .unwrap();
    assert_eq!(skopeo_digest(&auth, &format!("{repository}:v1")), pinned);
    // The RUN step ran inside the sidecar: the pushed image holds its output.
    let ran = Command::new(DOCKER_CLI)
        .args(["-H", docker.host(), "run", "--rm", "--network", "none"])
        .arg(format!("{repository}@{pinned}"))
        .args(["/bin/busybox", "cat", "/hello"])
        .env("DOCKER_CONFIG", work.path().join("docker-cli"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "built-in-a-pod",
        "{ran:?}"
    );

    // The operator's side: it reads the outcome from the pod status the kubelet wrote, then
    // removes the registration with the same Azure DevOps call its apply step makes.
    let mut finished_pod = pod.clone();
    finished_pod.status = Some(run.status());
    let outcome = pod_outcome(&finished_pod);
    assert!(outcome.succeeded(), "{outcome:?}");
    let PodOutcome::Reported(reported) = outcome else {
        unreachable!()
    };
    let reported_id = i32::try_from(reported.agent_id.unwrap()).unwrap();
    ado.delete_agent(pool_id, reported_id).await.unwrap();
    assert!(
        !emulator.agents().iter().any(|a| a.name == agent_name),
        "the registration outlived the operator's cleanup"
    );

    let online = online_after.expect("the agent was never seen online");
    let register = run
        .container(REGISTER_CONTAINER)
        .map(|c| c.finished - c.started);
    let sidecar = run.container(BUILDKIT_CONTAINER).unwrap();
    eprintln!(
        "timings ({registration}): register ran {register:?}; buildkitd start -> startup probe ok {:?}; \
         agent container start -> agent online {online:?}",
        sidecar.probe_succeeded.map(|at| at - sidecar.started),
    );

    // The operator image runs its binary as the distroless uid.
    let crd = docker
        .run_str(&["run", "--rm", "--network", "none", &images.operator, "crd"])
        .unwrap();
    assert!(crd.contains("kind: CustomResourceDefinition"), "{crd}");
    let user = docker
        .run_str(&[
            "image",
            "inspect",
            "-f",
            "{{.Config.User}}",
            &images.operator,
        ])
        .unwrap();
    assert_eq!(user, "65532:65532");
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn ado_client(emulator: &RunningEmulator, pat: &str) -> azp_ado::AdoClient {
    let url = url::Url::parse(&emulator.org_url()).unwrap();
    let mut config =
        azp_ado::AdoClientConfig::new(url, azp_ado::Auth::Pat(azp_ado::Secret::new(pat)));
    config.allow_insecure_http = true;
    azp_ado::AdoClient::new(config).unwrap()
}
