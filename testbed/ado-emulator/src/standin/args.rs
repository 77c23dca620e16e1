//! Command-line parsing with the official agent's rules: `--name value` or `--name=value`,
//! case-insensitive names, and every argument also readable from `VSTS_AGENT_INPUT_<NAME>`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::error::StandinError;

/// Prefix of the environment variables that stand in for command-line arguments.
pub const ENV_INPUT_PREFIX: &str = "VSTS_AGENT_INPUT_";

/// Which arguments a command accepts (names in lowercase).
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    /// Arguments that take a value.
    pub values: &'static [&'static str],
    /// Boolean flags.
    pub flags: &'static [&'static str],
}

/// `config.sh` (configure) arguments.
pub const CONFIGURE_SPEC: ArgSpec = ArgSpec {
    values: &[
        "url",
        "auth",
        "token",
        "pool",
        "agent",
        "work",
        "sslcacert",
        "username",
        "password",
    ],
    flags: &[
        "unattended",
        "replace",
        "acceptteeeula",
        "disableloguploads",
        "sslskipcertvalidation",
    ],
};

/// `config.sh remove` arguments.
pub const REMOVE_SPEC: ArgSpec = ArgSpec {
    values: &["auth", "token", "username", "password", "url"],
    flags: &["unattended"],
};

/// `run.sh` arguments.
pub const RUN_SPEC: ArgSpec = ArgSpec {
    values: &["startuptype"],
    flags: &["once"],
};

/// Arguments whose values are secrets and must never be shown.
const SECRET_ARGS: &[&str] = &["token", "password"];

/// Parsed arguments of one command.
#[derive(Clone, Default)]
pub struct AgentArgs {
    values: BTreeMap<String, String>,
    flags: BTreeSet<String>,
}

impl fmt::Debug for AgentArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: BTreeMap<&str, &str> = self
            .values
            .iter()
            .map(|(name, value)| {
                let shown = if SECRET_ARGS.contains(&name.as_str()) {
                    "***"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("AgentArgs")
            .field("values", &shown)
            .field("flags", &self.flags)
            .finish()
    }
}

impl AgentArgs {
    /// Parses `args`, then fills what is missing from `VSTS_AGENT_INPUT_<NAME>` via `lookup_env`.
    /// Unknown arguments are an error, as with the real agent.
    pub fn parse(
        spec: &ArgSpec,
        args: &[String],
        lookup_env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, StandinError> {
        let mut parsed = Self::default();
        let mut unknown = Vec::new();
        let mut index = 0;
        while index < args.len() {
            let arg = &args[index];
            index += 1;
            let Some(body) = arg.strip_prefix("--") else {
                unknown.push(arg.clone());
                continue;
            };
            let (name, inline_value) = match body.split_once('=') {
                Some((name, value)) => (name.to_ascii_lowercase(), Some(value.to_string())),
                None => (body.to_ascii_lowercase(), None),
            };
            if spec.flags.contains(&name.as_str()) {
                let on = inline_value.is_none_or(|value| value.eq_ignore_ascii_case("true"));
                if on {
                    parsed.flags.insert(name);
                }
            } else if spec.values.contains(&name.as_str()) {
                let value = match inline_value {
                    Some(value) => Some(value),
                    None if index < args.len() && !args[index].starts_with("--") => {
                        index += 1;
                        Some(args[index - 1].clone())
                    }
                    None => None,
                };
                match value {
                    Some(value) => {
                        parsed.values.insert(name, value);
                    }
                    None => {
                        return Err(StandinError::Usage(format!(
                            "Missing value for command-line argument '--{name}'."
                        )));
                    }
                }
            } else {
                unknown.push(arg.clone());
            }
        }
        if !unknown.is_empty() {
            return Err(StandinError::Usage(format!(
                "Unrecognized command-line input arguments: '{}'. For usage refer to: ./config.sh --help",
                unknown.join(", ")
            )));
        }
        for name in spec.values {
            if !parsed.values.contains_key(*name)
                && let Some(value) = lookup_env(&env_name(name)).filter(|v| !v.is_empty())
            {
                parsed.values.insert((*name).to_string(), value);
            }
        }
        for name in spec.flags {
            if lookup_env(&env_name(name)).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                parsed.flags.insert((*name).to_string());
            }
        }
        Ok(parsed)
    }

    /// The value of `name` (lowercase), if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether flag `name` (lowercase) was set.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(name)
    }
}

/// The environment variable that can carry argument `name`.
pub fn env_name(name: &str) -> String {
    format!("{ENV_INPUT_PREFIX}{}", name.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_values_are_case_insensitive() {
        let args = AgentArgs::parse(
            &CONFIGURE_SPEC,
            &strings(&[
                "--URL",
                "http://x/org",
                "--Replace",
                "--acceptTeeEula",
                "--pool=P1",
            ]),
            |_| None,
        )
        .unwrap();
        assert_eq!(args.value("url"), Some("http://x/org"));
        assert_eq!(args.value("pool"), Some("P1"));
        assert!(args.flag("replace"));
        assert!(args.flag("acceptteeeula"));
        assert!(!args.flag("unattended"));
    }

    #[test]
    fn unknown_flag_is_rejected() {
        let err = AgentArgs::parse(&CONFIGURE_SPEC, &strings(&["--bogus"]), |_| None).unwrap_err();
        assert!(err.to_string().contains("--bogus"), "{err}");
    }

    #[test]
    fn environment_fills_missing_arguments_but_command_line_wins() {
        let env = |name: &str| match name {
            "VSTS_AGENT_INPUT_TOKEN" => Some("from-env".to_string()),
            "VSTS_AGENT_INPUT_POOL" => Some("env-pool".to_string()),
            "VSTS_AGENT_INPUT_REPLACE" => Some("True".to_string()),
            _ => None,
        };
        let args =
            AgentArgs::parse(&CONFIGURE_SPEC, &strings(&["--pool", "cli-pool"]), env).unwrap();
        assert_eq!(args.value("token"), Some("from-env"));
        assert_eq!(args.value("pool"), Some("cli-pool"));
        assert!(args.flag("replace"));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let args = AgentArgs::parse(
            &CONFIGURE_SPEC,
            &strings(&["--token", "s3cr3t-pat"]),
            |_| None,
        )
        .unwrap();
        assert!(!format!("{args:?}").contains("s3cr3t-pat"));
    }

    #[test]
    fn value_argument_without_value_is_an_error() {
        assert!(
            AgentArgs::parse(
                &CONFIGURE_SPEC,
                &strings(&["--url", "--unattended"]),
                |_| None
            )
            .is_err()
        );
    }
}
