//! Test support for the agent's integration tests: the real peers (moto, docker-registry,
//! dockerd; see [`peers`]), rootless BuildKit ([`buildkit`]) and the agent binary under test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod buildkit;
pub mod faulty_proxy;
pub mod imds;
mod peers;

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub use peers::*;

/// The agent binary under test, with an environment free of the developer's AWS settings.
pub fn agent() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_azp-agent"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_")
            || name == "DOCKER_CONFIG"
            || name == "BUILDKIT_HOST"
            || name.starts_with("AZP_")
        {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

/// Static moto credentials (any key works).
pub fn with_static_keys(command: &mut Command) -> &mut Command {
    command
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
}

/// Runs and returns output; panics with stderr when it cannot start.
pub fn run(command: &mut Command) -> Output {
    command.output().unwrap()
}

/// stdout + stderr as text, for assertions and failure messages.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `skopeo login` with an existing auth file: succeeds only if the registry accepts the stored credentials.
pub fn skopeo_accepts(auth_file: &Path, registry: &str) -> bool {
    let skopeo = require(Path::new("/usr/bin/skopeo"));
    Command::new(skopeo)
        .arg("login")
        .arg("--authfile")
        .arg(auth_file)
        .args(["--tls-verify=false", registry])
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .status
        .success()
}
