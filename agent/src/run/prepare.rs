//! The phases before registration: preflight checks and ECR login. A signal here stops the
//! run at once; nothing is registered yet.

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use azp_contract::{Outcome, run_exit};

use crate::ecr;
use crate::preflight::{self, Status, dns::SystemResolver};

use super::{Ending, Run, millis};

/// The preflight check that needs an AWS identity.
const AWS_IDENTITY_CHECK: &str = "aws-identity";
/// ECR token refresh retry interval while a long job runs.
const ECR_RETRY: Duration = Duration::from_secs(60);

/// Aborts a background task when dropped.
pub(super) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Run<'_> {
    /// Runs the preflight checks; `Some` ends the run (failure or signal).
    pub(super) async fn preflight(&mut self) -> Option<Ending> {
        let settings = self.settings.preflight.as_ref()?;
        let started = Instant::now();
        let mut checks = preflight::plan::plan_checks(settings, Arc::new(SystemResolver), |name| {
            std::env::var(name).ok()
        });
        if !self.settings.check_aws_identity {
            checks.retain(|check| check.name() != AWS_IDENTITY_CHECK);
        }
        let report = tokio::select! {
            report = preflight::run_checks(&checks, settings.timeout) => report,
            name = self.stop.stopped() => return Some(Self::interrupted(name, "preflight")),
        };
        self.message.durations_ms.preflight = millis(started);
        eprint!("{}", report.to_text());
        if report.ok {
            return None;
        }
        let failures: Vec<String> = report
            .checks
            .iter()
            .filter(|check| check.result.status == Status::Fail)
            .map(|check| {
                let fix = check.result.fix.as_deref().unwrap_or("");
                format!("{}: {} (fix: {fix})", check.name, check.result.detail)
            })
            .collect();
        // By name too, so the operator can say "BuildKit unavailable" without parsing text.
        self.message.failed_checks = report
            .checks
            .iter()
            .filter(|check| check.result.status == Status::Fail)
            .map(|check| check.name.to_owned())
            .collect();
        Some(Ending::new(
            run_exit::PREFLIGHT_FAILED,
            Outcome::PreflightFailed,
            format!("preflight failed: {}", failures.join("; ")),
        ))
    }

    /// Logs in to ECR and starts the background refresh (aborted when the guard drops).
    pub(super) async fn ecr_login(&mut self) -> Result<Option<AbortOnDrop>, Ending> {
        let Some(options) = self.settings.ecr.clone() else {
            return Ok(None);
        };
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = ecr::login(&options) => outcome,
            name = self.stop.stopped() => return Err(Self::interrupted(name, "ECR login")),
        };
        self.message.durations_ms.ecr_login = millis(started);
        match outcome {
            Ok(outcome) => {
                let refresh_in = (ecr::refresh_at(outcome.expires_at) - chrono::Utc::now())
                    .to_std()
                    .unwrap_or_default();
                Ok(Some(AbortOnDrop(tokio::spawn(async move {
                    tokio::time::sleep(refresh_in).await;
                    if let Err(err) = ecr::watch(&options, ECR_RETRY).await {
                        tracing::error!(%err, "ECR token refresh gave up; pushes will fail");
                    }
                }))))
            }
            Err(err) => Err(Ending::new(
                run_exit::ECR_LOGIN_FAILED,
                Outcome::PreflightFailed,
                format!("ECR login failed: {err}"),
            )),
        }
    }
}
