//! `--builder docker`: a local Docker daemon (the plain-VM case), driven through its CLI.

use std::path::PathBuf;

/// One `docker build` (BuildKit mode) followed by one `docker push` per tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerBuildRequest {
    /// Build context directory.
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: PathBuf,
    /// Full references, `<registry>/<repo>:<tag>`.
    pub image_names: Vec<String>,
    /// Target platform (the Docker 20.10 builder takes one).
    pub platform: Option<String>,
    /// `KEY=VALUE` build arguments.
    pub build_args: Vec<String>,
    /// `docker build --network` (e.g. `none` or `host` on daemons without a bridge).
    pub network: Option<String>,
}

/// Environment for every docker invocation: BuildKit on (the 20.10 client defaults to the legacy builder).
pub const DOCKER_ENV: [(&str, &str); 1] = [("DOCKER_BUILDKIT", "1")];

/// Argv (without the program) of `docker build`.
pub fn docker_build_argv(request: &DockerBuildRequest) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        "build".into(),
        // Every step and its output, in the format `progress` reads.
        "--progress=plain".into(),
        "--file".into(),
        request.dockerfile.display().to_string(),
    ];
    if let Some(platform) = &request.platform {
        argv.push("--platform".into());
        argv.push(platform.clone());
    }
    if let Some(network) = &request.network {
        argv.push(format!("--network={network}"));
    }
    for arg in &request.build_args {
        argv.push("--build-arg".into());
        argv.push(arg.clone());
    }
    for name in &request.image_names {
        argv.push("--tag".into());
        argv.push(name.clone());
    }
    argv.push(request.context.display().to_string());
    argv
}

/// Argv (without the program) of `docker push` for one reference.
pub fn docker_push_argv(image_name: &str) -> Vec<String> {
    vec!["push".into(), image_name.to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_argv_has_file_platform_network_args_tags_and_context_last() {
        let request = DockerBuildRequest {
            context: "/src".into(),
            dockerfile: "/src/Dockerfile".into(),
            image_names: vec!["r/app:1".into(), "r/app:latest".into()],
            platform: Some("linux/amd64".into()),
            build_args: vec!["A=1".into()],
            network: Some("none".into()),
        };
        assert_eq!(
            docker_build_argv(&request),
            [
                "build",
                "--progress=plain",
                "--file",
                "/src/Dockerfile",
                "--platform",
                "linux/amd64",
                "--network=none",
                "--build-arg",
                "A=1",
                "--tag",
                "r/app:1",
                "--tag",
                "r/app:latest",
                "/src"
            ]
        );
        assert_eq!(docker_push_argv("r/app:1"), ["push", "r/app:1"]);
    }
}
