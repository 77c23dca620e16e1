//! Registration: `config.sh` with the PAT in its environment only.

use std::time::Instant;

use azp_contract::{Outcome, run_exit};

use super::process::{AgentProcess, describe};
use super::{Ending, IDLE_STOP_LIMIT, Run, millis, registration};

impl Run<'_> {
    /// `config.sh --unattended --replace ...` with the PAT in `VSTS_AGENT_INPUT_TOKEN`.
    pub(super) async fn configure(&mut self) -> Result<(), Ending> {
        let settings = self.settings;
        let Some(pat) = settings.pat.as_ref() else {
            return Err(Ending::new(
                run_exit::REGISTRATION_FAILED,
                Outcome::RegistrationFailed,
                "no PAT to register with",
            ));
        };
        let mut args: Vec<String> = vec![
            "--unattended".into(),
            "--url".into(),
            settings.url.clone(),
            "--auth".into(),
            "pat".into(),
            "--pool".into(),
            settings.pool.clone(),
            "--agent".into(),
            settings.agent_name.clone(),
            "--replace".into(),
            "--work".into(),
            settings.work_dir.display().to_string(),
            "--acceptTeeEula".into(),
        ];
        if let Some(ca) = &settings.ca_bundle {
            args.push("--sslcacert".into());
            args.push(ca.display().to_string());
        }
        if let Some(name) = self.stop.received() {
            return Err(Self::interrupted(name, "registration"));
        }
        let started = Instant::now();
        let process = AgentProcess::spawn(
            &settings.config_script(),
            &args,
            &settings.agent_home,
            settings.agent_env.for_config(pat),
            Some(pat),
            None,
        )
        .map_err(|err| {
            Ending::new(
                run_exit::REGISTRATION_FAILED,
                Outcome::RegistrationFailed,
                format!("cannot start config.sh: {err}"),
            )
        })?;
        let grace = settings.grace_period.min(IDLE_STOP_LIMIT);
        let finished = process.wait_or_stop(&mut self.stop, || grace).await;
        self.message.durations_ms.configure = millis(started);
        self.message.agent_id = registration::read_agent_id(&settings.agent_home);
        let finished = finished.map_err(|err| {
            Ending::new(
                run_exit::REGISTRATION_FAILED,
                Outcome::RegistrationFailed,
                format!("waiting for config.sh: {err}"),
            )
        })?;
        if let Some(name) = finished.stopped_by {
            self.configure_interrupted = true;
            return Err(Self::interrupted(name, "registration"));
        }
        if !finished.status.success() {
            return Err(Ending::new(
                run_exit::REGISTRATION_FAILED,
                Outcome::RegistrationFailed,
                format!("config.sh failed with {}", describe(&finished.status)),
            ));
        }
        if self.message.agent_id.is_none() {
            return Err(Ending::new(
                run_exit::REGISTRATION_FAILED,
                Outcome::RegistrationFailed,
                "config.sh succeeded but left no readable .agent file",
            ));
        }
        Ok(())
    }
}
