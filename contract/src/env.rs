//! Environment variables the operator sets on the `register` and `agent` containers and
//! `azp-agent` reads.
//!
//! Names follow the official Azure Pipelines agent container sample (`AZP_URL`, `AZP_POOL`, ...)
//! so people who know that sample recognise them. The PAT itself is never an environment
//! variable: only the path of its mounted file is ([`PAT_FILE`]).

/// Organization or collection URL, e.g. `https://dev.azure.com/contoso`.
pub const ORGANIZATION_URL: &str = "AZP_URL";
/// Azure DevOps agent pool name the agent registers into.
pub const POOL: &str = "AZP_POOL";
/// Agent name to register (see [`crate::naming::pod_agent_name`]).
pub const AGENT_NAME: &str = "AZP_AGENT_NAME";
/// Path of the mounted file holding the PAT used for registration and removal only; set on
/// the `register` init container only, never on the container that runs the job.
pub const PAT_FILE: &str = "AZP_TOKEN_FILE";
/// Directory (an `emptyDir` shared by the `register` init container and the `agent`
/// container) where `azp-agent register` leaves the files `config.sh` wrote and from which
/// `azp-agent run` takes them, so the container that runs the job never needs the PAT.
pub const REGISTRATION_DIR: &str = "AZP_REGISTRATION_DIR";
/// Job work directory passed to `config.sh --work`.
pub const WORK_DIR: &str = "AZP_WORK";
/// Directory holding the official agent (`config.sh`, `run.sh`).
pub const AGENT_HOME: &str = "AZP_AGENT_HOME";
/// User capabilities of the AgentPool as a JSON object of strings (`{"buildkit":"true"}`).
///
/// `azp-agent` exports each entry as an environment variable of the agent process, which the
/// official agent reports as a system capability, so jobs can demand them.
pub const CAPABILITIES: &str = "AZP_CAPABILITIES";
/// Comma-separated names of the `spec.agent.env` entries: `azp-agent` passes these
/// variables to the agent processes besides its allowlist, so they reach the job's steps and
/// are published as capabilities (see [`crate::agent_env`]).
pub const PASS_ENV: &str = "AZP_PASS_ENV";
/// Ownership proof: `<namespace>/<name>` of the AgentPool that created the pod.
///
/// As an environment variable of the agent process it becomes a system capability with the
/// same name, which is how the operator proves an Azure DevOps registration is its own
/// (see [`crate::naming::OWNER_CAPABILITY`], which is the same string).
pub const AGENT_POOL_OWNER: &str = "AZP_AGENTPOOL";
/// AWS region of the ECR registry, e.g. `ap-northeast-1`.
pub const ECR_REGION: &str = "AZP_ECR_REGION";
/// ECR registry host, e.g. `123456789012.dkr.ecr.ap-northeast-1.amazonaws.com`.
pub const ECR_REGISTRY: &str = "AZP_ECR_REGISTRY";
/// Optional ECR API endpoint override (a VPC interface endpoint URL).
pub const ECR_API_ENDPOINT: &str = "AZP_ECR_API_ENDPOINT";
/// `"true"` when preflight must fail unless the ECR endpoints resolve to private addresses.
pub const REQUIRE_PRIVATE_ENDPOINT: &str = "AZP_REQUIRE_PRIVATE_ENDPOINT";
/// BuildKit daemon address used by `buildctl`; the standard variable `buildctl` itself reads.
pub const BUILDKIT_HOST: &str = "BUILDKIT_HOST";
/// The AgentPool's registry build cache for `azp-agent build-push` (`spec.buildkit.cache`):
/// `none`, a full reference with a tag, or a repository (one tag per image is derived). Unset
/// means the image's own repository, tag `buildcache`.
pub const BUILDKIT_CACHE: &str = "AZP_BUILDKIT_CACHE";
/// Directory of the client certificate for a remote BuildKit with mutual TLS (`buildctl
/// --tlsdir`: `ca.crt`, `tls.crt`, `tls.key` as a Kubernetes TLS Secret mounts them).
pub const BUILDKIT_TLS_DIR: &str = "AZP_BUILDKIT_TLS_DIR";
/// Where `azp-agent` writes its [`crate::TerminationMessage`]; defaults to
/// [`crate::paths::TERMINATION_LOG`].
pub const TERMINATION_LOG: &str = "AZP_TERMINATION_LOG";
/// Optional PEM CA bundle path for a private-CA Azure DevOps Server (`config.sh --sslcacert`).
pub const CA_BUNDLE_FILE: &str = "AZP_CA_BUNDLE_FILE";
/// Pod name, from the downward API, for logs and the termination message.
pub const POD_NAME: &str = "AZP_POD_NAME";
/// Pod namespace, from the downward API.
pub const POD_NAMESPACE: &str = "AZP_POD_NAMESPACE";

/// Every variable above, for tests that check the operator sets only known names.
pub const ALL: &[&str] = &[
    ORGANIZATION_URL,
    POOL,
    AGENT_NAME,
    PAT_FILE,
    REGISTRATION_DIR,
    WORK_DIR,
    AGENT_HOME,
    CAPABILITIES,
    PASS_ENV,
    AGENT_POOL_OWNER,
    ECR_REGION,
    ECR_REGISTRY,
    ECR_API_ENDPOINT,
    REQUIRE_PRIVATE_ENDPOINT,
    BUILDKIT_HOST,
    BUILDKIT_CACHE,
    BUILDKIT_TLS_DIR,
    TERMINATION_LOG,
    CA_BUNDLE_FILE,
    POD_NAME,
    POD_NAMESPACE,
];

#[cfg(test)]
mod tests {
    use super::ALL;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_shell_safe() {
        let unique: HashSet<_> = ALL.iter().collect();
        assert_eq!(
            unique.len(),
            ALL.len(),
            "duplicate environment variable name"
        );
        for name in ALL {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{name} is not a portable environment variable name"
            );
        }
    }
}
