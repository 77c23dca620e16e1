//! System capabilities the way the real agent computes them: every environment variable of the
//! process (minus `VSO_AGENT_IGNORE` and `VSTS_AGENT_INPUT_*`), the tools found on `PATH`
//! (`NixCapabilitiesProvider`) and the `Agent.*` facts (`AgentCapabilitiesProvider`).
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
    let path = env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, path)| path.clone())
        .unwrap_or_default();
    let mut capabilities: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(name, _)| !name.starts_with(ENV_INPUT_PREFIX))
        .filter(|(name, _)| !ignored.contains(&name.to_ascii_uppercase()))
        .collect();
    capabilities.extend(tools_on_path(&path));
    let facts = [
        ("Agent.Name", agent_name.to_string()),
        ("Agent.OS", "Linux".to_string()),
        ("Agent.OSArchitecture", os_architecture().to_string()),
        ("Agent.Version", AGENT_VERSION.to_string()),
        ("Agent.ComputerName", host_name()),
        ("Agent.HomeDirectory", home.display().to_string()),
        // Run by a service manager or a container entrypoint, never from a desktop session.
        ("InteractiveSession", "False".to_string()),
    ];
    for (name, value) in facts {
        capabilities.insert(name.to_string(), value);
    }
    capabilities
}

/// The tools Microsoft's Linux agent looks for (`NixCapabilitiesProvider.cs`, microsoft/
/// azure-pipelines-agent): capability name and the executables that provide it, first found
/// wins. The macOS-only Xamarin and Xcode checks are left out.
pub const TOOLS: &[(&str, &[&str])] = &[
    ("ant", &["ant"]),
    ("AzureGuestAgent", &["waagent"]),
    ("bundler", &["bundle"]),
    ("clang", &["clang"]),
    ("cmake", &["cmake"]),
    ("curl", &["curl"]),
    ("docker", &["docker"]),
    ("dotnet", &["dotnet"]),
    ("git", &["git"]),
    ("gulp", &["gulp"]),
    ("java", &["java"]),
    ("JDK", &["javac"]),
    ("make", &["make"]),
    ("maven", &["mvn"]),
    ("MSBuild", &["xbuild", "msbuild"]),
    ("node.js", &["node", "nodejs"]),
    ("npm", &["npm"]),
    ("python", &["python"]),
    ("python3", &["python3"]),
    ("sh", &["sh"]),
    ("subversion", &["svn"]),
    ("ruby", &["ruby"]),
    ("rake", &["rake"]),
    ("svn", &["svn"]),
    ("AndroidSDK", &["android"]),
];

/// A capability for each [`TOOLS`] entry found on `path` (a `PATH` value), valued with the
/// executable's full path, as `which` would find it.
pub fn tools_on_path(path: &str) -> BTreeMap<String, String> {
    TOOLS
        .iter()
        .filter_map(|(capability, executables)| {
            executables
                .iter()
                .find_map(|executable| which(path, executable))
                .map(|found| ((*capability).to_string(), found.display().to_string()))
        })
        .collect()
}

/// The first executable regular file named `executable` in the directories of `path`.
fn which(path: &str, executable: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(executable))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
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
    fn tools_on_path_are_published_with_their_path_and_missing_ones_are_not() {
        use std::os::unix::fs::PermissionsExt;
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let tool = |dir: &Path, name: &str, mode: u32| {
            let file = dir.join(name);
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            file
        };
        let git = tool(first.path(), "git", 0o755);
        tool(second.path(), "git", 0o755);
        let mvn = tool(second.path(), "mvn", 0o755);
        let nodejs = tool(second.path(), "nodejs", 0o755);
        tool(first.path(), "cmake", 0o644);
        let path = format!("{}:{}", first.path().display(), second.path().display());
        let caps = system_capabilities(env(&[("PATH", &path)]), "a", Path::new("/azp"));
        let get = |name: &str| caps.get(name).map(String::as_str);
        assert_eq!(
            get("git"),
            Some(git.to_str().unwrap()),
            "first on PATH wins"
        );
        assert_eq!(get("maven"), Some(mvn.to_str().unwrap()));
        assert_eq!(get("node.js"), Some(nodejs.to_str().unwrap()));
        assert_eq!(get("cmake"), None, "not executable");
        assert_eq!(get("java"), None);
        assert_eq!(get("InteractiveSession"), Some("False"));
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
