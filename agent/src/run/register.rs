//! The two halves of the pod's run: `register` (init container, holds the PAT) and `run` with
//! the registration it handed over (the job's container, no PAT).

use azp_contract::{Outcome, run_exit};

use super::{Ending, Run, RunResult, handoff, registration};

impl Run<'_> {
    /// `azp-agent register`: preflight → `config.sh` → hand the registration over. A
    /// registration that cannot be handed over is removed again, with the PAT only this
    /// process has.
    pub(super) async fn register(mut self) -> RunResult {
        if let Some(ending) = self.preflight().await {
            return self.finish(ending);
        }
        if let Err(ending) = self.configure().await {
            return self.deregister(ending).await;
        }
        let settings = self.settings;
        match handoff::export(&settings.agent_home, &settings.registration_dir) {
            Ok(()) => self.finish(Ending::new(
                run_exit::REGISTERED,
                // Not a job result: the `agent` container's message tells what the job did.
                Outcome::NoJob,
                format!(
                    "registered; registration handed over in {}",
                    settings.registration_dir.display()
                ),
            )),
            Err(err) => {
                self.deregister(Ending::new(
                    run_exit::REGISTRATION_FAILED,
                    Outcome::RegistrationFailed,
                    format!("cannot hand the registration over: {err}"),
                ))
                .await
            }
        }
    }

    /// `azp-agent run` with a handed-over registration: preflight → ECR login → take the
    /// registration → `run.sh --once`. Never deregisters (there is no PAT here); the agent id
    /// in the termination message lets the operator remove the registration.
    pub(super) async fn run_registered(mut self) -> RunResult {
        let settings = self.settings;
        // First, so every ending below reports which registration the operator must remove.
        self.message.agent_id = registration::read_agent_id(&settings.registration_dir);
        if let Some(ending) = self.preflight().await {
            return self.finish(ending);
        }
        let _ecr_refresh = match self.ecr_login().await {
            Ok(refresh) => refresh,
            Err(ending) => return self.finish(ending),
        };
        if let Err(err) = handoff::import(&settings.registration_dir, &settings.agent_home) {
            return self.finish(Ending::new(
                run_exit::REGISTRATION_FAILED,
                Outcome::RegistrationFailed,
                format!("cannot take the handed-over registration: {err}"),
            ));
        }
        let ending = self.run_agent().await;
        self.finish(ending)
    }
}
