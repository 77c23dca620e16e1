//! `azp-agent preflight`: independent start-up checks, each reporting one line with a fix.
//!
//! Every check implements [`Check`]; [`run_checks`] runs them concurrently, each under a
//! timeout, and collects a [`Report`] that renders as text or JSON.

pub mod ado;
pub mod buildkit;
pub mod buildkit_tls;
pub mod dns;
pub mod endpoints;
pub mod identity;
pub mod plan;
pub mod private_addr;

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The condition holds.
    Pass,
    /// The condition does not hold; the job would fail or run with the wrong privileges.
    Fail,
    /// Not applicable with this configuration (e.g. BuildKit disabled).
    Skip,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Outcome.
    pub status: Status,
    /// What was observed, in one line.
    pub detail: String,
    /// How to fix a failure (absent when passing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl CheckResult {
    /// A passing result.
    pub fn pass(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }
    /// A failing result with its fix.
    pub fn fail(detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    /// A not-applicable result.
    pub fn skip(detail: impl Into<String>) -> Self {
        Self {
            status: Status::Skip,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// One independent preflight check.
pub trait Check: Send + Sync {
    /// Stable identifier, used in output and JSON (e.g. `ecr-registry-private-dns`).
    fn name(&self) -> &'static str;
    /// Runs the check. Must not panic; errors become [`Status::Fail`].
    fn run(&self) -> BoxFuture<'_, CheckResult>;
    /// How long the check may take in all, given the per-check budget; a check that waits
    /// on purpose (for a sidecar to come up) asks for more.
    fn budget(&self, per_check: Duration) -> Duration {
        per_check
    }
}

/// A named result, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedResult {
    /// [`Check::name`].
    pub name: &'static str,
    /// The result.
    #[serde(flatten)]
    pub result: CheckResult,
}

/// All results of one preflight run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `true` when no check failed.
    pub ok: bool,
    /// Results in the order the checks were given.
    pub checks: Vec<NamedResult>,
}

impl Report {
    /// One line per check: `PASS name: detail` or `FAIL name: detail (fix: ...)`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let status = match check.result.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            out.push_str(&format!("{status} {}: {}", check.name, check.result.detail));
            if let Some(fix) = &check.result.fix {
                out.push_str(&format!(" (fix: {fix})"));
            }
            out.push('\n');
        }
        out
    }
}

/// Runs every check concurrently; a check that exceeds its [`Check::budget`] of `timeout`
/// fails with a timeout message.
pub async fn run_checks(checks: &[Box<dyn Check>], timeout: Duration) -> Report {
    let results = futures::future::join_all(checks.iter().map(|check| async move {
        let timeout = check.budget(timeout);
        let result = match tokio::time::timeout(timeout, check.run()).await {
            Ok(result) => result,
            Err(_) => CheckResult::fail(
                format!("no answer within {} s", timeout.as_secs_f32()),
                "check network reachability (security groups, NetworkPolicy, DNS) or raise --timeout",
            ),
        };
        NamedResult { name: check.name(), result }
    }))
    .await;
    Report {
        ok: results.iter().all(|r| r.result.status != Status::Fail),
        checks: results,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Fixed(&'static str, CheckResult);
    impl Check for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        fn run(&self) -> BoxFuture<'_, CheckResult> {
            Box::pin(async move { self.1.clone() })
        }
    }

    struct Hangs;
    impl Check for Hangs {
        fn name(&self) -> &'static str {
            "hangs"
        }
        fn run(&self) -> BoxFuture<'_, CheckResult> {
            Box::pin(futures::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_check_fails_with_timeout_and_others_still_report() {
        let checks: Vec<Box<dyn Check>> = vec![
            Box::new(Hangs),
            Box::new(Fixed("ok", CheckResult::pass("fine"))),
        ];
        let report = run_checks(&checks, Duration::from_secs(5)).await;
        assert!(!report.ok);
        assert_eq!(report.checks[0].result.status, Status::Fail);
        assert!(report.checks[0].result.detail.contains("5 s"));
        assert_eq!(report.checks[1].result.status, Status::Pass);
    }

    #[tokio::test]
    async fn skips_do_not_fail_the_report_and_text_is_one_line_per_check() {
        let checks: Vec<Box<dyn Check>> = vec![
            Box::new(Fixed("a", CheckResult::pass("fine"))),
            Box::new(Fixed("b", CheckResult::skip("not enabled"))),
        ];
        let report = run_checks(&checks, Duration::from_secs(1)).await;
        assert!(report.ok);
        assert_eq!(report.to_text(), "PASS a: fine\nSKIP b: not enabled\n");
    }

    #[tokio::test]
    async fn json_has_name_status_detail_and_fix() {
        let checks: Vec<Box<dyn Check>> =
            vec![Box::new(Fixed("x", CheckResult::fail("broken", "do y")))];
        let report = run_checks(&checks, Duration::from_secs(1)).await;
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"ok": false, "checks": [{"name": "x", "status": "fail", "detail": "broken", "fix": "do y"}]})
        );
        assert!(report.to_text().contains("(fix: do y)"));
    }
}
