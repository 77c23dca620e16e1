//! The one truth about what reaches the official agent's environment, and so what it
//! publishes to Azure DevOps as system capabilities and what a job's steps see.
//!
//! The official agent publishes every environment variable of its process as a capability
//! (minus the names in `VSO_AGENT_IGNORE`), and its jobs inherit that environment. So:
//!
//! * `azp-agent` computes the environment of `config.sh`/`run.sh` with [`agent_environment`]
//!   from its real process environment;
//! * the operator computes the same thing with the same function from the environment it
//!   renders onto the `agent` container (to predict the capabilities of a pod that does not
//!   exist yet: for the planner's matching and the placeholder registration);
//! * both call [`published`] to drop what the agent is told not to publish.
//!
//! What reaches the agent is exactly: the well-known variables of [`PASSED`] and
//! [`PASSED_PREFIXES`] (tools, locale, proxies, AWS and the contract's own variables), the
//! names listed in [`crate::env::PASS_ENV`] (the operator lists every `spec.agent.env` entry
//! there), and the AgentPool's `capabilities` — minus [`is_forbidden`] names (the PAT and
//! where it lives) in every case.

use std::collections::BTreeMap;

use crate::env as contract;

/// Names the official agent must not publish as capabilities (comma-separated).
pub const IGNORE_ENV: &str = "VSO_AGENT_IGNORE";

/// Passed through when set: tools, locale, and what jobs need to reach AWS, ECR and BuildKit.
pub const PASSED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "HOSTNAME",
    "TERM",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "DOCKER_CONFIG",
    "AGENT_ALLOW_RUNASROOT",
    "AGENT_TOOLSDIRECTORY",
    "VSS_ALLOW_UNSAFE_BASICAUTH",
    contract::ORGANIZATION_URL,
    contract::POOL,
    contract::AGENT_NAME,
    contract::AGENT_POOL_OWNER,
    contract::ECR_REGION,
    contract::ECR_REGISTRY,
    contract::ECR_API_ENDPOINT,
    contract::BUILDKIT_HOST,
    contract::BUILDKIT_CACHE,
    contract::BUILDKIT_TLS_DIR,
    contract::POD_NAME,
    contract::POD_NAMESPACE,
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Passed through by prefix (`LC_ALL`, `AWS_ENDPOINT_URL_ECR`, ...).
pub const PASSED_PREFIXES: &[&str] = &["LC_", "AWS_ENDPOINT_URL"];

/// Passed to jobs (they push with them) but never published as capabilities: `azp-agent`
/// lists them in [`IGNORE_ENV`].
pub const HIDDEN_FROM_CAPABILITIES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AZP_TOKEN",
    contract::PAT_FILE,
];

/// Never reaches the agent, whoever names it: the PAT, where it lives, and the operator's
/// instructions to `azp-agent` (their content is already in the environment).
pub fn is_forbidden(name: &str) -> bool {
    name.to_ascii_uppercase().starts_with("VSTS_AGENT_INPUT_")
        || name == "AZP_TOKEN"
        || name == contract::PAT_FILE
        || name == contract::CAPABILITIES
        || name == contract::PASS_ENV
}

/// Whether a `spec.agent.env` entry of this name reaches the agent: not a name the contract
/// reserves (the operator drops those so a user cannot override the agent name or the
/// ownership proof), not forbidden, and listable in [`crate::env::PASS_ENV`].
pub fn is_user_variable(name: &str) -> bool {
    !name.is_empty() && !name.contains(',') && !contract::ALL.contains(&name) && !is_forbidden(name)
}

/// The names a [`crate::env::PASS_ENV`] value lists.
pub fn parse_pass_env(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The environment of `config.sh`/`run.sh` (without the PAT and without [`IGNORE_ENV`],
/// which the caller sets): the passed variables of `inherited`, the names in `pass_env`, and
/// `capabilities` (which win over a variable of the same name).
pub fn agent_environment(
    inherited: impl IntoIterator<Item = (String, String)>,
    pass_env: &[String],
    capabilities: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for (name, value) in inherited {
        let passed = PASSED.contains(&name.as_str())
            || PASSED_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix))
            || pass_env.contains(&name);
        if passed && !is_forbidden(&name) {
            vars.insert(name, value);
        }
    }
    for (name, value) in capabilities {
        if !is_forbidden(name) {
            vars.insert(name.clone(), value.clone());
        }
    }
    vars
}

/// The names the agent is told not to publish: the names already in `existing` (an
/// inherited `VSO_AGENT_IGNORE`) followed by [`HIDDEN_FROM_CAPABILITIES`].
pub fn ignore_list(existing: &str) -> Vec<String> {
    let mut ignored = parse_pass_env(existing);
    for name in HIDDEN_FROM_CAPABILITIES {
        if !ignored.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            ignored.push((*name).to_owned());
        }
    }
    ignored
}

/// What the official agent publishes of `environment`: every variable except those named in
/// its `VSO_AGENT_IGNORE` (compared case-insensitively, as the agent does) and except
/// [`HIDDEN_FROM_CAPABILITIES`], which `azp-agent` always adds to that list.
pub fn published(environment: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let ignored = ignore_list(environment.get(IGNORE_ENV).map_or("", String::as_str));
    environment
        .iter()
        .filter(|(name, _)| !ignored.iter().any(|i| i.eq_ignore_ascii_case(name)))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn passed_listed_and_capability_variables_reach_the_agent_and_nothing_else() {
        let capabilities = BTreeMap::from([("buildkit".to_owned(), "true".to_owned())]);
        let env = agent_environment(
            pairs(&[
                ("PATH", "/usr/bin"),
                ("JAVA_HOME", "/opt/java"),
                ("GITHUB_TOKEN", "ghp_x"),
                ("AZP_TOKEN", "pat"),
                ("AZP_TOKEN_FILE", "/var/run/secrets/azp/token"),
                ("VSTS_AGENT_INPUT_TOKEN", "pat"),
                ("AZP_CAPABILITIES", "{}"),
                ("AZP_PASS_ENV", "JAVA_HOME"),
                ("buildkit", "from-env"),
            ]),
            &[
                "JAVA_HOME".into(),
                "AZP_TOKEN".into(),
                "VSTS_AGENT_INPUT_TOKEN".into(),
            ],
            &capabilities,
        );
        assert_eq!(
            env,
            BTreeMap::from([
                ("JAVA_HOME".to_owned(), "/opt/java".to_owned()),
                ("PATH".to_owned(), "/usr/bin".to_owned()),
                ("buildkit".to_owned(), "true".to_owned()),
            ])
        );
    }

    #[test]
    fn contract_names_and_secrets_are_not_user_variables() {
        assert!(is_user_variable("JAVA_HOME"));
        for name in [
            "AZP_AGENT_NAME",
            "AZP_AGENTPOOL",
            "AZP_TOKEN",
            "AZP_PASS_ENV",
            "A,B",
            "",
        ] {
            assert!(!is_user_variable(name), "{name}");
        }
    }

    #[test]
    fn published_drops_the_ignore_list_and_hidden_secrets() {
        let env = BTreeMap::from([
            ("PATH".to_owned(), "/bin".to_owned()),
            ("MY_SECRET".to_owned(), "x".to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "k".to_owned()),
            (IGNORE_ENV.to_owned(), "my_secret".to_owned()),
        ]);
        let published = published(&env);
        assert_eq!(published.get("PATH").map(String::as_str), Some("/bin"));
        assert!(!published.contains_key("MY_SECRET"));
        assert!(!published.contains_key("AWS_SECRET_ACCESS_KEY"));
    }
}
