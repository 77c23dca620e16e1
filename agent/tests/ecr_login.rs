//! `azp-agent ecr-login` against moto (ECR + STS) and a real registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt as _;

use support::{MOTO_PASSWORD, Moto, Registry, agent, run, skopeo_accepts, text, with_static_keys};

#[test]
fn irsa_login_through_moto_sts_writes_credentials_the_registry_accepts() {
    let moto = Moto::start();
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let token_file = work.path().join("token");
    std::fs::write(&token_file, "not-a-jwt-but-long-enough").unwrap();
    let docker_config = work.path().join("docker");
    std::fs::create_dir(&docker_config).unwrap();
    let config_file = docker_config.join("config.json");
    std::fs::write(
        &config_file,
        r#"{"auths":{"other.example":{"auth":"b3RoZXI6cHc="}},"detachKeys":"ctrl-q"}"#,
    )
    .unwrap();

    let output = run(agent()
        .args([
            "ecr-login",
            "--api-endpoint",
            &moto.url,
            "--registry",
            &registry.host,
        ])
        .env("DOCKER_CONFIG", &docker_config)
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/pusher")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file)
        .env("AWS_ROLE_SESSION_NAME", "agent")
        // IRSA's STS call goes to moto, like a VPC endpoint for com.amazonaws.<region>.sts.
        .env("AWS_ENDPOINT_URL_STS", &moto.url));
    let (stdout, stderr) = text(&output);
    assert!(
        output.status.success(),
        "ecr-login failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(&registry.host), "{stdout}");
    for shown in [&stdout, &stderr] {
        assert!(
            !shown.contains(MOTO_PASSWORD) && !shown.contains("QVdTOjEy"),
            "token leaked: {shown}"
        );
    }

    // moto's expiresAt is 2015: the printed validity must be in the future, not in the past.
    let until = stdout
        .rsplit("valid until ")
        .next()
        .unwrap()
        .trim_end_matches([')', '\n']);
    let until = chrono::DateTime::parse_from_rfc3339(until).unwrap();
    let hours =
        (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!(
        (10.9..=11.0).contains(&hours),
        "expected ~11 h validity, got {hours} h"
    );

    let mode = std::fs::metadata(&config_file)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_file).unwrap()).unwrap();
    assert_eq!(config["auths"]["other.example"]["auth"], "b3RoZXI6cHc=");
    assert_eq!(config["detachKeys"], "ctrl-q");
    assert!(
        skopeo_accepts(&config_file, &registry.host),
        "registry rejected the written credentials"
    );

    // The acceptance check itself can fail: a wrong password is refused by the same registry.
    let wrong = work.path().join("wrong.json");
    std::fs::write(
        &wrong,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"QVdTOndyb25n"}}}}}}"#,
            registry.host
        ),
    )
    .unwrap();
    assert!(!skopeo_accepts(&wrong, &registry.host));
}

#[test]
fn static_keys_and_sdk_endpoint_variable_key_by_proxy_endpoint_and_unreachable_api_fails_cleanly() {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    // The SDK's own per-service endpoint variable works as well as --api-endpoint.
    let output = run(with_static_keys(&mut agent())
        .arg("ecr-login")
        .env("AWS_ENDPOINT_URL_ECR", &moto.url)
        .env("DOCKER_CONFIG", work.path()));
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.path().join("config.json")).unwrap())
            .unwrap();
    // Without --registry the host comes from moto's proxyEndpoint, the public-style ECR name.
    let hosts: Vec<&String> = config["auths"].as_object().unwrap().keys().collect();
    assert_eq!(hosts, ["123456789012.dkr.ecr.us-east-1.amazonaws.com"]);

    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let output = run(with_static_keys(&mut agent())
        .args(["ecr-login", "--api-endpoint", &closed])
        .env("DOCKER_CONFIG", work.path().join("unused")));
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("GetAuthorizationToken"), "{stderr}");
    assert!(!stderr.contains("testing"), "secret key leaked: {stderr}");
    assert!(!work.path().join("unused").exists());
}
