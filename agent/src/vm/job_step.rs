//! The job step: `azp-agent run` as a child process with the handed-over registration, as the
//! run user, with no PAT (neither its file's name nor its value).
//!
//! Settings go on the command line (none of them is secret), so what the child does does not
//! depend on which of them the loop got from flags and which from the environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use clap::ValueEnum as _;

use crate::cli::RunArgs;

use super::run_user::RunUser;

/// Variables the job step never inherits: the PAT, where it lives, and systemd's credentials.
const WITHHELD: &[&str] = &[
    crate::env::PAT_FILE,
    "AZP_TOKEN",
    "CREDENTIALS_DIRECTORY",
    // The child's own settings come from its command line.
    azp_contract::env::AGENT_HOME,
    azp_contract::env::REGISTRATION_DIR,
    azp_contract::env::WORK_DIR,
    azp_contract::env::TERMINATION_LOG,
];

/// Where the job step works and reports.
#[derive(Debug, Clone)]
pub struct JobStepPaths {
    /// The agent home the job step runs `run.sh` from.
    pub agent_home: PathBuf,
    /// The handed-over registration.
    pub registration_dir: PathBuf,
    /// Where the job step writes its termination message.
    pub termination_log: PathBuf,
}

/// The `azp-agent run` command for one job.
pub fn command(
    exe: &Path,
    args: &RunArgs,
    agent_name: &str,
    paths: &JobStepPaths,
    user: Option<&RunUser>,
    inherited: &[(String, String)],
) -> tokio::process::Command {
    let mut command = match user {
        Some(user) => user.command(exe),
        None => tokio::process::Command::new(exe),
    };
    command
        .arg("run")
        .args(arguments(args, agent_name, paths))
        .current_dir(&paths.agent_home)
        .env_clear()
        .envs(
            inherited
                .iter()
                .filter(|(name, _)| !is_withheld(name))
                .map(|(name, value)| (name.as_str(), value.as_str())),
        )
        .stdin(Stdio::null());
    if let Some(user) = user {
        command
            .env("HOME", &user.home)
            .env("USER", &user.name)
            .env("LOGNAME", &user.name);
    }
    command
}

fn is_withheld(name: &str) -> bool {
    WITHHELD.contains(&name) || name.to_ascii_uppercase().starts_with("VSTS_AGENT_INPUT_")
}

/// The flags of the child (the loop's settings plus the job step's own paths).
fn arguments(args: &RunArgs, agent_name: &str, paths: &JobStepPaths) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    let mut pair = |flag: &str, value: OsString| {
        out.push(flag.into());
        out.push(value);
    };
    pair("--agent-name", agent_name.into());
    pair("--agent-home", paths.agent_home.clone().into());
    pair("--registration-dir", paths.registration_dir.clone().into());
    pair("--termination-log", paths.termination_log.clone().into());
    pair("--work", args.work.clone().into());
    pair("--grace-period", args.grace_period.to_string().into());
    pair("--docker-config", args.docker_config.clone().into());
    pair(
        "--preflight-timeout",
        args.preflight_timeout.to_string().into(),
    );
    pair("--buildkit-wait", args.buildkit_wait.to_string().into());
    if let Some(value) = args.expect_identity.to_possible_value() {
        pair("--expect-identity", value.get_name().into());
    }
    let optional = [
        ("--url", args.url.clone().map(OsString::from)),
        ("--pool", args.pool.clone().map(OsString::from)),
        ("--ca-bundle", args.ca_bundle.clone().map(OsString::from)),
        (
            "--capabilities",
            args.capabilities.clone().map(OsString::from),
        ),
        ("--region", args.api.region.clone().map(OsString::from)),
        (
            "--api-endpoint",
            args.api.api_endpoint.clone().map(OsString::from),
        ),
        ("--registry", args.registry.clone().map(OsString::from)),
        (
            "--s3-layer-host",
            args.s3_layer_host.clone().map(OsString::from),
        ),
        (
            "--buildkit-host",
            args.buildkit_host.clone().map(OsString::from),
        ),
    ];
    for (flag, value) in optional {
        if let Some(value) = value {
            pair(flag, value);
        }
    }
    if !args.pass_env.is_empty() {
        pair("--pass-env", args.pass_env.join(",").into());
    }
    let switches = [
        ("--skip-preflight", args.skip_preflight),
        ("--skip-ecr-login", args.skip_ecr_login),
        ("--allow-insecure-http", args.allow_insecure_http),
        ("--require-private-endpoint", args.require_private_endpoint),
    ];
    out.extend(
        switches
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(flag, _)| OsString::from(flag)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn the_job_step_gets_the_settings_but_not_the_pat_file() {
        let cli = crate::cli::Cli::try_parse_from([
            "azp-agent",
            "vm",
            "--url",
            "https://dev.azure.com/contoso",
            "--pool",
            "vm",
            "--agent-name",
            "build-vm",
            "--token-file",
            "/etc/azp-agent/pat",
            "--registry",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "--region",
            "eu-west-1",
            "--require-private-endpoint",
        ])
        .unwrap();
        let crate::cli::Command::Vm(vm) = cli.command else {
            panic!("not vm");
        };
        let paths = JobStepPaths {
            agent_home: "/home/azp-job/agent".into(),
            registration_dir: "/var/lib/azp-agent/registration".into(),
            termination_log: "/var/lib/azp-agent/registration/job.json".into(),
        };
        let args: Vec<String> = arguments(&vm.run, "build-vm-1", &paths)
            .into_iter()
            .map(|arg| arg.into_string().unwrap())
            .collect();
        let line = args.join(" ");
        for expected in [
            "--agent-name build-vm-1",
            "--agent-home /home/azp-job/agent",
            "--registration-dir /var/lib/azp-agent/registration",
            "--url https://dev.azure.com/contoso",
            "--pool vm",
            "--region eu-west-1",
            "--registry 123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "--require-private-endpoint",
            "--expect-identity any",
        ] {
            assert!(line.contains(expected), "{expected} missing: {line}");
        }
        assert!(!line.contains("/etc/azp-agent/pat"), "{line}");
        assert!(!line.contains("token-file"), "{line}");
        assert!(is_withheld("AZP_TOKEN_FILE"));
        assert!(is_withheld("VSTS_AGENT_INPUT_TOKEN"));
        assert!(!is_withheld("PATH"));
    }
}
