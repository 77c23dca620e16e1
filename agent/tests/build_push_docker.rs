//! `azp-agent build-push --builder docker`: a real BuildKit build in Debian's dockerd, pushed to a
//! real registry with the credentials `ecr-login` wrote (from moto), digest verified.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{DOCKER_CLI, Dockerd, Moto, Registry, agent, require, run, text, with_static_keys};

/// `FROM scratch` + static busybox + a RUN step, so the build really executes something.
fn write_context(dir: &Path) {
    std::fs::copy(require(Path::new("/bin/busybox")), dir.join("busybox")).unwrap();
    std::fs::write(
        dir.join("Containerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nARG GREETING=unset\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo $GREETING > /greeting\"]\nCMD [\"/bin/busybox\", \"cat\", \"/greeting\"]\n",
    )
    .unwrap();
}

fn skopeo_digest(auth_file: &Path, reference: &str) -> String {
    let output = Command::new(require(Path::new("/usr/bin/skopeo")))
        .arg("inspect")
        .arg("--authfile")
        .arg(auth_file)
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
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn docker_builder_builds_pushes_and_reports_the_registry_digest() {
    let moto = Moto::start();
    let registry = Registry::start();
    let dockerd = Dockerd::start(&registry.host);
    let work = tempfile::tempdir().unwrap();
    let docker_config = work.path().join("docker");
    let context = work.path().join("ctx");
    std::fs::create_dir(&context).unwrap();
    write_context(&context);

    let login = run(with_static_keys(&mut agent())
        .args([
            "ecr-login",
            "--api-endpoint",
            &moto.url,
            "--registry",
            &registry.host,
        ])
        .env("DOCKER_CONFIG", &docker_config));
    assert!(login.status.success(), "{:?}", text(&login));

    let repository = format!("{}/team/app", registry.host);
    let output = run(with_static_keys(&mut agent())
        .args([
            "build-push",
            "--builder",
            "docker",
            "--repository",
            &repository,
        ])
        .args([
            "--tag",
            "v1",
            "--tag",
            "latest",
            "--build-arg",
            "GREETING=hello-from-run",
        ])
        .arg("--context")
        .arg(&context)
        .arg("--file")
        .arg(context.join("Containerfile"))
        .args([
            "--docker-network",
            "none",
            "--plain-http",
            "--docker",
            DOCKER_CLI,
        ])
        .args(["--create-repository", "--api-endpoint", &moto.url])
        .env("DOCKER_CONFIG", &docker_config)
        .env("DOCKER_HOST", &dockerd.host));
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "build-push failed:\n{stdout}\n{stderr}"
    );

    // The build log comes first; the result is the last two lines.
    // The build log (each step) and docker push's own lines reach the user.
    assert!(
        stdout.contains("RUN [\"/bin/busybox\"") && stdout.contains("digest: sha256:"),
        "no build log:\n{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() > 2, "{stdout}");
    let lines = &lines[lines.len() - 2..];
    let digest = lines[0]
        .strip_prefix(&format!("{repository}@"))
        .expect("pinned reference")
        .to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(
        lines[1],
        format!("##vso[task.setvariable variable=imageDigest;isOutput=true]{digest}")
    );

    // A real registry client sees the same manifest under both tags.
    let auth_file = docker_config.join("config.json");
    assert_eq!(
        skopeo_digest(&auth_file, &format!("{repository}:v1")),
        digest
    );
    assert_eq!(
        skopeo_digest(&auth_file, &format!("{repository}:latest")),
        digest
    );

    // The RUN step ran with the build argument: the image prints it.
    let ran = Command::new(DOCKER_CLI)
        .args([
            "-H",
            &dockerd.host,
            "run",
            "--rm",
            "--network=none",
            &format!("{repository}:v1"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        "hello-from-run",
        "{ran:?}"
    );

    // --create-repository made the ECR repository (scan on push, mutable tags by default).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let repositories = runtime.block_on(async {
        let config = aws_sdk_ecr::Config::builder()
            .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
            .region(aws_sdk_ecr::config::Region::new("us-east-1"))
            .endpoint_url(&moto.url)
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "AKIA", "testing", None, None, "test",
            ))
            .build();
        aws_sdk_ecr::Client::from_conf(config)
            .describe_repositories()
            .send()
            .await
            .unwrap()
    });
    let created = &repositories.repositories()[0];
    assert_eq!(created.repository_name(), Some("team/app"));
    assert_eq!(
        created
            .image_scanning_configuration()
            .map(|c| c.scan_on_push()),
        Some(true)
    );
    assert_eq!(
        created.image_tag_mutability().map(|m| m.as_str()),
        Some("MUTABLE")
    );

    // A failing RUN step: its stderr is in build-push's output, and the error names the step.
    let broken = work.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::copy(context.join("busybox"), broken.join("busybox")).unwrap();
    std::fs::write(
        broken.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo docker-step-broke >&2; exit 4\"]\n",
    )
    .unwrap();
    let failed = run(agent()
        .args([
            "build-push",
            "--builder",
            "docker",
            "--repository",
            &repository,
            "--tag",
            "broken",
            "--plain-http",
            "--docker-network",
            "none",
            "--docker",
            DOCKER_CLI,
        ])
        .arg("--context")
        .arg(&broken)
        .env("DOCKER_CONFIG", &docker_config)
        .env("DOCKER_HOST", &dockerd.host));
    let (stdout, stderr) = text(&failed);
    assert_eq!(failed.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("docker-step-broke"), "{stdout}");
    assert!(
        stderr.contains("failed with exit code 4") && stderr.contains("  | docker-step-broke"),
        "{stderr}"
    );

    // Without credentials for the registry, build-push refuses before building.
    let empty_config = work.path().join("empty");
    let refused = run(agent()
        .args([
            "build-push",
            "--builder",
            "docker",
            "--repository",
            &repository,
            "--tag",
            "v2",
            "--plain-http",
        ])
        .arg("--context")
        .arg(&context)
        .env("DOCKER_CONFIG", &empty_config)
        .env("DOCKER_HOST", &dockerd.host));
    let (_, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr.contains("run `azp-agent ecr-login` first"),
        "{stderr}"
    );
}
