//! System capabilities the way the real agent computes them: every environment variable of the
//! process (minus `VSO_AGENT_IGNORE` and `VSTS_AGENT_INPUT_*`) plus the `Agent.*` facts.
//! This is why a pod entrypoint must keep secrets out of the agent's environment.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::AGENT_VERSION;
use super::args::ENV_INPUT_PREFIX;

/// Comma-separated list of environment variable names the agent must not publish.
pub const IGNORE_ENV: &str = "VSO_AGENT_IGNORE";

/// Capabilities from `env`, for agent `agent_name` installed in `home`.
pub fn system_capabilities(
    env: impl IntoIterator<Item = (String, String)>,
    agent_name: &str,
    home: &Path,
) -> BTreeMap<String, String> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let ignored: HashSet<String> = env
        .iter()
        .find(|(name, _)| name == IGNORE_ENV)
        .map(|(_, list)| {
            list.split(',')
                .map(|name| name.trim().to_ascii_uppercase())
                .filter(|name| !name.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut capabilities: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(name, _)| !name.starts_with(ENV_INPUT_PREFIX))
        .filter(|(name, _)| !ignored.contains(&name.to_ascii_uppercase()))
        .collect();
    let facts = [
        ("Agent.Name", agent_name.to_string()),
        ("Agent.OS", "Linux".to_string()),
        ("Agent.OSArchitecture", os_architecture().to_string()),
        ("Agent.Version", AGENT_VERSION.to_string()),
        ("Agent.ComputerName", host_name()),
        ("Agent.HomeDirectory", home.display().to_string()),
    ];
    for (name, value) in facts {
        capabilities.insert(name.to_string(), value);
    }
    capabilities
}

/// The process environment with non-UTF-8 entries converted lossily.
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

/// .NET `RuntimeInformation.OSArchitecture` names.
pub fn os_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "X64",
        "aarch64" => "ARM64",
        "x86" => "X86",
        "arm" => "ARM",
        other => other,
    }
}

/// The machine name (`Environment.MachineName`).
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// `RuntimeInformation.OSDescription`, e.g. `Linux 6.1.0 #1 SMP ...`.
pub fn os_description() -> String {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|text| text.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "Linux {} {}",
        read("/proc/sys/kernel/osrelease"),
        read("/proc/sys/kernel/version")
    )
    .trim()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_variable_is_published_except_ignored_and_inputs() {
        let caps = system_capabilities(
            env(&[
                ("PATH", "/bin"),
                ("AZP_TOKEN", "secret-pat"),
                ("JAVA_HOME", "/jdk"),
                ("VSTS_AGENT_INPUT_TOKEN", "secret-pat"),
                ("VSO_AGENT_IGNORE", "AZP_TOKEN, azp_token_file"),
                ("AZP_TOKEN_FILE", "/secret/file"),
            ]),
            "agent-1",
            Path::new("/azp"),
        );
        assert_eq!(caps.get("PATH").map(String::as_str), Some("/bin"));
        assert_eq!(caps.get("JAVA_HOME").map(String::as_str), Some("/jdk"));
        assert!(!caps.contains_key("AZP_TOKEN"));
        assert!(!caps.contains_key("AZP_TOKEN_FILE"));
        assert!(!caps.contains_key("VSTS_AGENT_INPUT_TOKEN"));
        assert!(!caps.values().any(|value| value.contains("secret")));
        assert_eq!(caps.get("Agent.Name").map(String::as_str), Some("agent-1"));
        assert_eq!(caps.get("Agent.OS").map(String::as_str), Some("Linux"));
        assert_eq!(
            caps.get("Agent.HomeDirectory").map(String::as_str),
            Some("/azp")
        );
        assert_eq!(
            caps.get("Agent.Version").map(String::as_str),
            Some(AGENT_VERSION)
        );
    }

    #[test]
    fn without_ignore_list_secrets_in_the_environment_leak() {
        let caps = system_capabilities(env(&[("AZP_TOKEN", "secret-pat")]), "a", Path::new("/"));
        assert_eq!(
            caps.get("AZP_TOKEN").map(String::as_str),
            Some("secret-pat")
        );
    }
}
