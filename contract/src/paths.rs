//! Paths mounted into the agent pod.

/// Directory where the PAT Secret is mounted (read-only, mode 0400) in the `register` init
/// container only.
pub const PAT_DIR: &str = "/var/run/secrets/azp";
/// The PAT file inside [`PAT_DIR`]; the Secret key is projected to this file name.
pub const PAT_FILE: &str = "/var/run/secrets/azp/token";
/// Directory where the optional CA bundle is mounted.
pub const CA_BUNDLE_DIR: &str = "/var/run/secrets/azp-ca";
/// The CA bundle file inside [`CA_BUNDLE_DIR`].
pub const CA_BUNDLE_FILE: &str = "/var/run/secrets/azp-ca/ca.crt";
/// Default registration hand-off directory (an `emptyDir`, see
/// [`crate::env::REGISTRATION_DIR`]).
pub const REGISTRATION_DIR: &str = "/azp/registration";
/// Default job work directory (an `emptyDir`).
pub const WORK_DIR: &str = "/azp/_work";
/// Where the official agent is installed in the agent image.
pub const AGENT_HOME: &str = "/azp/agent";
/// Directory shared with the BuildKit sidecar holding its socket.
pub const BUILDKIT_SOCKET_DIR: &str = "/run/buildkit";
/// `BUILDKIT_HOST` value pointing at the sidecar's socket.
pub const BUILDKIT_HOST: &str = "unix:///run/buildkit/buildkitd.sock";
/// Docker config directory `azp-agent ecr-login` writes `config.json` into.
pub const DOCKER_CONFIG_DIR: &str = "/azp/.docker";
/// Kubernetes' default `terminationMessagePath`.
pub const TERMINATION_LOG: &str = "/dev/termination-log";
