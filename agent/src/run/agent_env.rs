//! The environment of `config.sh` and `run.sh`.
//!
//! The official agent publishes every environment variable of its process to Azure DevOps as a
//! system capability (minus `VSO_AGENT_IGNORE`), and its jobs inherit that environment. So the
//! agent processes get an explicit allowlist instead of our environment (shared with the
//! operator's prediction: [`azp_contract::agent_env`]), the PAT only reaches `config.sh`, and
//! anything sensitive that jobs still need is listed in `VSO_AGENT_IGNORE`.

use std::collections::BTreeMap;

use azp_contract::agent_env as contract;

use super::secret::Pat;

/// The official agent reads `--token` from this variable and removes it from its environment.
pub const TOKEN_INPUT_ENV: &str = "VSTS_AGENT_INPUT_TOKEN";
/// Names the official agent must not publish as capabilities.
pub const IGNORE_ENV: &str = contract::IGNORE_ENV;
/// The vss client refuses Basic (PAT) auth over http unless this is `true`.
pub const ALLOW_UNSAFE_BASIC_AUTH_ENV: &str = "VSS_ALLOW_UNSAFE_BASICAUTH";

/// The environment shared by `config.sh` and `run.sh` (without the PAT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEnvironment {
    vars: BTreeMap<String, String>,
}

impl AgentEnvironment {
    /// The variables of `inherited` that reach the agent ([`contract::agent_environment`]:
    /// the allowlist plus the names in `extra_passed`, the operator's `AZP_PASS_ENV`), the
    /// AgentPool's `capabilities` as variables (so the agent publishes them), and
    /// `VSO_AGENT_IGNORE`. `allow_insecure_http` sets `VSS_ALLOW_UNSAFE_BASICAUTH=true`.
    pub fn build(
        inherited: impl IntoIterator<Item = (String, String)>,
        extra_passed: &[String],
        capabilities: &BTreeMap<String, String>,
        allow_insecure_http: bool,
    ) -> Self {
        let inherited: Vec<(String, String)> = inherited.into_iter().collect();
        let existing_ignore = inherited
            .iter()
            .find(|(name, _)| name == IGNORE_ENV)
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        let mut vars = contract::agent_environment(
            inherited.into_iter().filter(|(name, _)| name != IGNORE_ENV),
            extra_passed,
            capabilities,
        );
        if allow_insecure_http {
            vars.insert(ALLOW_UNSAFE_BASIC_AUTH_ENV.to_string(), "true".to_string());
        }
        vars.insert(
            IGNORE_ENV.to_string(),
            contract::ignore_list(&existing_ignore).join(","),
        );
        Self { vars }
    }

    /// The environment of `config.sh` and `config.sh remove`: the PAT travels only here.
    pub fn for_config(&self, pat: &Pat) -> Vec<(String, String)> {
        let mut vars = self.for_run();
        vars.push((TOKEN_INPUT_ENV.to_string(), pat.expose().to_string()));
        vars
    }

    /// The environment of `run.sh` and therefore of the job: no PAT.
    pub fn for_run(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }

    /// One variable, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn build(inherited: &[(&str, &str)], extra: &[&str]) -> AgentEnvironment {
        let extra: Vec<String> = extra.iter().map(|name| name.to_string()).collect();
        let capabilities = BTreeMap::from([("buildkit".to_string(), "true".to_string())]);
        AgentEnvironment::build(pairs(inherited), &extra, &capabilities, false)
    }

    #[test]
    fn unknown_and_secret_variables_are_not_inherited() {
        let env = build(
            &[
                ("PATH", "/usr/bin"),
                ("GITHUB_TOKEN", "ghp_x"),
                ("AZP_TOKEN", "pat"),
                ("AZP_TOKEN_FILE", "/var/run/secrets/azp/token"),
                ("VSTS_AGENT_INPUT_TOKEN", "pat"),
                ("AZP_CAPABILITIES", "{}"),
                ("AZP_AGENTPOOL", "ns/pool"),
            ],
            &["VSTS_AGENT_INPUT_TOKEN", "AZP_TOKEN"],
        );
        assert_eq!(env.get("PATH"), Some("/usr/bin"));
        assert_eq!(env.get("AZP_AGENTPOOL"), Some("ns/pool"));
        for hidden in [
            "GITHUB_TOKEN",
            "AZP_TOKEN",
            "AZP_TOKEN_FILE",
            "VSTS_AGENT_INPUT_TOKEN",
            "AZP_CAPABILITIES",
        ] {
            assert_eq!(env.get(hidden), None, "{hidden} leaked");
        }
    }

    #[test]
    fn capabilities_become_variables_and_extra_names_pass() {
        let env = build(
            &[("AZP_STANDIN_POLL_DELAY_MS", "50")],
            &["AZP_STANDIN_POLL_DELAY_MS"],
        );
        assert_eq!(env.get("buildkit"), Some("true"));
        assert_eq!(env.get("AZP_STANDIN_POLL_DELAY_MS"), Some("50"));
    }

    #[test]
    fn ignore_list_keeps_existing_entries_and_hides_aws_secrets() {
        let env = build(
            &[
                ("VSO_AGENT_IGNORE", "MY_SECRET"),
                ("AWS_SECRET_ACCESS_KEY", "k"),
            ],
            &[],
        );
        let ignore = env.get(IGNORE_ENV).unwrap();
        assert!(ignore.starts_with("MY_SECRET,"), "{ignore}");
        assert!(ignore.contains("AWS_SECRET_ACCESS_KEY"), "{ignore}");
        assert_eq!(env.get("AWS_SECRET_ACCESS_KEY"), Some("k"));
    }

    #[test]
    fn only_the_config_environment_carries_the_pat() {
        let env = build(&[("PATH", "/bin")], &[]);
        let pat = Pat::for_test("s3cret");
        assert!(
            env.for_config(&pat)
                .iter()
                .any(|(name, value)| name == TOKEN_INPUT_ENV && value == "s3cret")
        );
        assert!(
            !env.for_run()
                .iter()
                .any(|(_, value)| value.contains("s3cret"))
        );
    }
}
