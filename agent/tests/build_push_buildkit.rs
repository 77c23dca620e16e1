//! `azp-agent build-push --builder buildkit` against the real BuildKit v0.32.2, rootless as a
//! non-root user (as the pod's sidecar runs it), pushing with the credentials `ecr-login` wrote
//! (from moto) to an htpasswd docker-registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::buildkit::{Buildkitd, buildctl};
use support::faulty_proxy::{Fault, FaultyProxy};
use support::{Moto, Registry, agent, require, run, text, with_static_keys};

/// A build stage with busybox, a stage that runs a `RUN` step using a build argument (and
/// sleeping `SLOW_SECONDS`, so a cached build is measurably faster), and a final stage that
/// copies the result: a multi-stage build in the shape real Dockerfiles have.
const MULTI_STAGE: &str = r#"FROM scratch AS tools
COPY busybox /bin/busybox

FROM tools AS build
ARG GREETING=unset
ARG SLOW_SECONDS=0
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox sleep $SLOW_SECONDS; echo greeting=$GREETING; echo $GREETING > /greeting"]

FROM scratch
COPY --from=build /bin/busybox /bin/busybox
COPY --from=build /greeting /greeting
CMD ["/bin/busybox", "cat", "/greeting"]
"#;

/// A `RUN` step that writes to stderr and fails with exit code 3.
const FAILING_RUN: &str = r#"FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "echo compiling; echo 'main.c:7: error: expected ; before }' >&2; exit 3"]
"#;

struct Setup {
    moto: Moto,
    registry: Registry,
    work: tempfile::TempDir,
}

impl Setup {
    /// moto + registry + credentials from `ecr-login`.
    fn start() -> Self {
        let moto = Moto::start();
        let registry = Registry::start();
        let work = tempfile::tempdir().unwrap();
        let setup = Self {
            moto,
            registry,
            work,
        };
        setup.login(&setup.registry.host);
        setup
    }

    /// `ecr-login` for `host` (the registry, or a proxy in front of it).
    fn login(&self, host: &str) {
        let login = run(with_static_keys(&mut agent())
            .args([
                "ecr-login",
                "--api-endpoint",
                &self.moto.url,
                "--registry",
                host,
            ])
            .env("DOCKER_CONFIG", self.docker_config()));
        assert!(login.status.success(), "{:?}", text(&login));
    }

    fn docker_config(&self) -> std::path::PathBuf {
        self.work.path().join("docker")
    }

    fn repository(&self, name: &str) -> String {
        format!("{}/{name}", self.registry.host)
    }

    /// A build context with busybox and this Dockerfile.
    fn context(&self, name: &str, dockerfile: &str) -> std::path::PathBuf {
        let dir = self.work.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(require(Path::new("/bin/busybox")), dir.join("busybox")).unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        dir
    }

    /// `azp-agent build-push --builder buildkit` through `buildkitd`.
    fn build_push(
        &self,
        buildkitd_addr: &str,
        context: &Path,
        repository: &str,
        extra: &[&str],
    ) -> Output {
        run(agent()
            .args(["build-push", "--builder", "buildkit", "--repository"])
            .arg(repository)
            .arg("--context")
            .arg(context)
            .arg("--buildctl")
            .arg(buildctl())
            .args(["--buildkit-host", buildkitd_addr, "--plain-http"])
            .args(extra)
            .env("DOCKER_CONFIG", self.docker_config()))
    }

    /// The manifest digest skopeo (a real registry client) sees for `reference`.
    fn registry_digest(&self, reference: &str) -> String {
        let output = Command::new(require(Path::new("/usr/bin/skopeo")))
            .arg("inspect")
            .arg("--authfile")
            .arg(self.docker_config().join("config.json"))
            .args([
                "--tls-verify=false",
                "--format",
                "{{.Digest}}",
                &format!("docker://{reference}"),
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "skopeo inspect {reference}: {output:?}"
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// The content of `path` in the pushed image, read from its layers.
    fn file_in_image(&self, reference: &str, path: &str) -> String {
        let copy = self.work.path().join("pulled");
        let _ = std::fs::remove_dir_all(&copy);
        let status = Command::new("/usr/bin/skopeo")
            .arg("copy")
            .arg("--authfile")
            .arg(self.docker_config().join("config.json"))
            .args(["--src-tls-verify=false", &format!("docker://{reference}")])
            .arg(format!("dir:{}", copy.display()))
            .output()
            .unwrap();
        assert!(status.status.success(), "skopeo copy: {status:?}");
        for entry in std::fs::read_dir(&copy).unwrap() {
            let blob = entry.unwrap().path();
            let out = Command::new("tar")
                .arg("-xzOf")
                .arg(&blob)
                .arg(path)
                .output()
                .unwrap();
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
        }
        panic!("{path} is in no layer of {reference}");
    }
}

/// The last two stdout lines: the pinned reference and the output variable, machine-readable.
fn result_lines(stdout: &str, repository: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() > 2, "the build log is missing:\n{stdout}");
    let pinned = lines[lines.len() - 2];
    let digest = pinned
        .strip_prefix(&format!("{repository}@"))
        .unwrap_or_else(|| panic!("not a pinned reference: {pinned}\n{stdout}"))
        .to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(
        lines[lines.len() - 1],
        format!("##vso[task.setvariable variable=imageDigest;isOutput=true]{digest}")
    );
    digest
}

/// Names of the steps a plain progress log reports `CACHED`.
fn cached_steps(log: &str) -> Vec<String> {
    let mut names = std::collections::HashMap::new();
    let mut cached = Vec::new();
    for line in log.lines() {
        let Some((id, rest)) = line.split_once(' ') else {
            continue;
        };
        if !id.starts_with('#') {
            continue;
        }
        if rest == "CACHED" {
            cached.extend(names.get(id).cloned());
        } else {
            names
                .entry(id.to_owned())
                .or_insert_with(|| rest.to_owned());
        }
    }
    cached
}

#[test]
fn a_multi_stage_build_is_streamed_pushed_and_its_digest_is_the_registrys() {
    let setup = Setup::start();
    let buildkitd = Buildkitd::start();
    let context = setup.context("ctx", MULTI_STAGE);
    let repository = setup.repository("team/app");
    let output = setup.build_push(
        &buildkitd.addr,
        &context,
        &repository,
        &[
            "--tag",
            "v1",
            "--tag",
            "latest",
            "--build-arg",
            "GREETING=hello-from-run",
        ],
    );
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "build-push failed:\n{stdout}\n{stderr}\nbuildkitd:\n{}",
        buildkitd.log()
    );
    // The build log reaches the user: every stage's steps and the RUN step's own output.
    for step in [
        "[tools 1/1] COPY busybox /bin/busybox",
        "[build 1/1] RUN",
        "[stage-2 2/2] COPY --from=build /greeting /greeting",
        "greeting=hello-from-run",
        "exporting to image",
    ] {
        assert!(
            stdout.contains(step),
            "{step:?} is not in the log:\n{stdout}"
        );
    }
    let digest = result_lines(&stdout, &repository);
    assert_eq!(setup.registry_digest(&format!("{repository}:v1")), digest);
    assert_eq!(
        setup.registry_digest(&format!("{repository}:latest")),
        digest
    );
    assert_eq!(
        setup.file_in_image(&format!("{repository}@{digest}"), "greeting"),
        "hello-from-run\n"
    );
}

#[test]
fn a_failing_run_step_shows_its_stderr_the_step_and_the_exit_code() {
    let setup = Setup::start();
    let buildkitd = Buildkitd::start();
    let context = setup.context("ctx", FAILING_RUN);
    let repository = setup.repository("team/broken");
    let output = setup.build_push(&buildkitd.addr, &context, &repository, &["--tag", "v1"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    // The step's stderr is in the log, as BuildKit printed it, and nothing claims a digest.
    assert!(
        stdout.contains("main.c:7: error: expected ; before }"),
        "the RUN step's stderr is not in build-push's output:\n{stdout}"
    );
    assert!(stdout.contains("compiling"), "{stdout}");
    assert!(!stdout.contains("##vso[task.setvariable"), "{stdout}");
    // The error names the failing step, its exit code and repeats its output.
    let error = stderr
        .lines()
        .skip_while(|line| !line.starts_with("azp-agent: "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        error.contains(
            r#"step `[2/2] RUN ["/bin/busybox", "sh", "-c", "echo compiling; echo 'main.c:7: error: expected ; before }' >&2; exit 3"]` failed with exit code 3"#
        ),
        "{stderr}"
    );
    assert!(
        error.contains("  | main.c:7: error: expected ; before }"),
        "{stderr}"
    );
}

/// The layer upload that docker-registry rejects when two uploads of it race (seen in CI: BuildKit
/// pushes the image and its cache at once) fails the first attempt; build-push says so in the
/// log and pushes again, and the image arrives whole.
#[test]
fn a_push_the_registry_rejects_once_is_retried_and_the_image_arrives() {
    let setup = Setup::start();
    let proxy = FaultyProxy::start(
        &setup.registry.host,
        Fault::DigestInvalidOnBlobCommit { times: 1 },
    );
    setup.login(&proxy.host);
    let buildkitd = Buildkitd::start();
    let context = setup.context("ctx", MULTI_STAGE);
    let repository = format!("{}/team/retried", proxy.host);
    // No registry cache: its export writes blobs to the same repository, and the one injected
    // fault could land there instead (BuildKit exports the cache with ignore-error=true, so the
    // build would rightly succeed without a retry, and this test would prove nothing).
    let output = setup.build_push(
        &buildkitd.addr,
        &context,
        &repository,
        &[
            "--tag",
            "v1",
            "--build-arg",
            "GREETING=retried",
            "--cache",
            "none",
        ],
    );
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "build-push failed:\n{stdout}\n{stderr}\nbuildkitd:\n{}",
        buildkitd.log()
    );
    assert_eq!(proxy.injected(), 1, "the fault was not met:\n{stdout}");
    let warning = stdout
        .lines()
        .find(|line| {
            line.starts_with("##[warning]azp-agent: the build succeeded but the push failed")
        })
        .unwrap_or_else(|| panic!("no retry warning in the log:\n{stdout}"));
    assert!(
        warning.contains("provided digest did not match uploaded content")
            && warning.contains("(attempt 2 of 3)"),
        "{warning}"
    );
    // The second attempt built nothing again: its steps came from BuildKit's cache.
    let second_attempt = stdout.split(warning).nth(1).unwrap_or_default();
    assert!(
        cached_steps(second_attempt)
            .iter()
            .any(|step| step.starts_with("[build 1/1] RUN")),
        "the RUN step ran again:\n{second_attempt}"
    );
    let digest = result_lines(&stdout, &repository);
    let direct = setup.repository("team/retried");
    assert_eq!(setup.registry_digest(&format!("{direct}:v1")), digest);
    assert_eq!(
        setup.file_in_image(&format!("{direct}@{digest}"), "greeting"),
        "retried\n"
    );
}

/// A registry that refuses the push (no push rights) is not asked again: the error says so at
/// once, with the registry's error code (BuildKit prints `denied`, not the message).
#[test]
fn a_push_refused_for_lack_of_rights_fails_at_once_and_says_denied() {
    let setup = Setup::start();
    let proxy = FaultyProxy::start(&setup.registry.host, Fault::DeniedOnManifestPut);
    setup.login(&proxy.host);
    let buildkitd = Buildkitd::start();
    let context = setup.context("ctx", MULTI_STAGE);
    let repository = format!("{}/team/denied", proxy.host);
    let output = setup.build_push(
        &buildkitd.addr,
        &context,
        &repository,
        &["--tag", "v1", "--cache", "none"],
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(proxy.injected(), 1, "pushed more than once:\n{stdout}");
    assert!(!stdout.contains("##[warning]"), "{stdout}");
    assert!(
        stderr.contains("step `exporting to image` failed: failed to push ")
            && stderr.contains("team/denied:v1: denied"),
        "{stderr}"
    );
}

/// The registry cache outlives the daemon: a second build in a fresh BuildKit (new daemon,
/// empty state, as a new pod has) imports it, reports its steps cached and is faster.
#[test]
fn the_registry_cache_makes_a_fresh_daemons_build_cached_and_faster() {
    let setup = Setup::start();
    let context = setup.context("ctx", MULTI_STAGE);
    let repository = setup.repository("team/cached");
    let build = |tag: &str| {
        // A new daemon with an empty state each time: only the registry remembers.
        let buildkitd = Buildkitd::start();
        let start = Instant::now();
        let output = setup.build_push(
            &buildkitd.addr,
            &context,
            &repository,
            &[
                "--tag",
                tag,
                "--build-arg",
                "GREETING=cached",
                "--build-arg",
                "SLOW_SECONDS=3",
            ],
        );
        let elapsed = start.elapsed();
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        (stdout, elapsed)
    };
    let (cold, cold_time) = build("cold");
    let (warm, warm_time) = build("warm");
    let cold_digest = result_lines(&cold, &repository);
    let warm_digest = result_lines(&warm, &repository);
    eprintln!(
        "cold build {cold_time:.2?} ({cold_digest}), warm build from a fresh daemon {warm_time:.2?} ({warm_digest})"
    );
    // (The step's name shows the expanded arguments; its output line is `#N <secs> greeting=…`.)
    let printed = |log: &str| {
        log.lines()
            .any(|l| l.ends_with(" greeting=cached") && !l.contains("RUN"))
    };
    // Cold: no cache yet (BuildKit says so and goes on), the RUN step runs.
    assert!(
        cold.contains("importing cache manifest") && cold.contains(": not found"),
        "{cold}"
    );
    assert!(
        !cached_steps(&cold).iter().any(|s| s.contains("RUN")),
        "{cold}"
    );
    assert!(printed(&cold), "{cold}");
    // Warm: the cache is imported and every step that does work is CACHED.
    let cached = cached_steps(&warm);
    eprintln!("warm build: {} steps CACHED: {cached:?}", cached.len());
    // The RUN step is a cache hit either way BuildKit reports it: `CACHED`, or (when a later
    // step needs its files) its layers pulled from the cache and extracted, without running.
    let run_id = warm
        .lines()
        .find(|l| l.contains("[build 1/1] RUN"))
        .and_then(|l| l.split(' ').next())
        .expect("the RUN step in the warm log");
    assert!(
        cached.iter().any(|s| s.contains("[build 1/1] RUN"))
            || warm
                .lines()
                .any(|l| l.starts_with(&format!("{run_id} extracting sha256:"))),
        "the RUN step was neither CACHED nor loaded from the cache:\n{warm}"
    );
    for step in [
        "[tools 1/1] COPY busybox /bin/busybox",
        "[stage-2 2/2] COPY --from=build /greeting /greeting",
    ] {
        assert!(
            cached.iter().any(|s| s.contains(step)),
            "{step} was not cached:\n{warm}"
        );
    }
    assert!(!printed(&warm), "the RUN step ran again:\n{warm}");
    assert!(
        warm_time + Duration::from_secs(2) < cold_time,
        "warm {warm_time:?} is not faster than cold {cold_time:?}"
    );
}

/// `mode: remote`: a shared buildkitd on TCP that demands client certificates (as BuildKit's
/// own Kubernetes examples run it). build-push reaches it with `--buildkit-tls-dir`
/// (`AZP_BUILDKIT_TLS_DIR` in the pod); without the certificate it is refused.
#[test]
fn a_remote_buildkit_with_mutual_tls_builds_with_the_client_certificate_only() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };
    use support::buildkit::{ClientTls, Listen};

    let setup = Setup::start();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "azp test buildkit CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, dir: &Path| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    };
    let server_dir = setup.work.path().join("server-tls");
    let client_dir = setup.work.path().join("client-tls");
    leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
        &server_dir,
    );
    leaf(
        vec!["azp-agent".into()],
        ExtendedKeyUsagePurpose::ClientAuth,
        &client_dir,
    );
    let client = ClientTls { dir: client_dir };
    let buildkitd = Buildkitd::start_listening(
        Listen::TcpMutualTls {
            server_dir: server_dir.clone(),
        },
        Some(&client),
    );
    assert!(
        buildkitd.addr.starts_with("tcp://127.0.0.1:"),
        "{}",
        buildkitd.addr
    );
    let context = setup.context("ctx", MULTI_STAGE);
    let repository = setup.repository("team/remote");

    let output = run(agent()
        .args([
            "build-push",
            "--builder",
            "buildkit",
            "--repository",
            &repository,
        ])
        .arg("--context")
        .arg(&context)
        .arg("--buildctl")
        .arg(buildctl())
        .args([
            "--tag",
            "v1",
            "--build-arg",
            "GREETING=remote",
            "--plain-http",
        ])
        .env("BUILDKIT_HOST", &buildkitd.addr)
        .env("AZP_BUILDKIT_TLS_DIR", &client.dir)
        .env("DOCKER_CONFIG", setup.docker_config()));
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "{stdout}\n{stderr}\nbuildkitd:\n{}",
        buildkitd.log()
    );
    let digest = result_lines(&stdout, &repository);
    assert_eq!(setup.registry_digest(&format!("{repository}:v1")), digest);
    assert!(
        stdout.lines().any(|l| l.ends_with(" greeting=remote")),
        "{stdout}"
    );

    // The pod's preflight reaches the same daemon over mutual TLS, and fails without it.
    let preflight = |tls_dir: Option<&Path>| {
        let mut command = agent();
        command
            .args(["preflight", "--no-credential-probe", "--buildkit-host"])
            .arg(&buildkitd.addr);
        if let Some(dir) = tls_dir {
            command.env("AZP_BUILDKIT_TLS_DIR", dir);
        }
        let output = run(&mut command);
        let (stdout, _) = text(&output);
        stdout
            .lines()
            .find(|l| l.contains(" buildkit: "))
            .unwrap_or_default()
            .to_owned()
    };
    let passed = preflight(Some(&client.dir));
    assert!(
        passed.starts_with("PASS buildkit: ") && passed.contains("mutual TLS"),
        "{passed}"
    );
    let failed = preflight(None);
    assert!(failed.starts_with("FAIL buildkit: "), "{failed}");
    let wrong = setup.work.path().join("server-tls");
    let refused = preflight(Some(&wrong));
    assert!(
        refused.starts_with("FAIL buildkit: "),
        "a server certificate passed as a client one: {refused}"
    );

    // No client certificate: the daemon refuses the connection, and build-push says so.
    let refused = setup.build_push(&buildkitd.addr, &context, &repository, &["--tag", "v2"]);
    let (stdout, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("##vso[task.setvariable"), "{stdout}");
}
