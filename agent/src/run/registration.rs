//! Registration state on disk and removing the registration, with bounded retries.
//!
//! `config.sh remove` needs `.agent`; the official agent writes it only after the "Testing
//! agent connection" step, so a `config.sh` that failed after `POST agents` leaves a
//! registration the script cannot see. Then the agent is looked up by name with the PAT and
//! deleted through the REST API.

use std::path::Path;
use std::time::Duration;

use azp_ado::{AdoClient, AdoClientConfig, AdoError, Auth, Secret};

use super::config::RunSettings;
use super::process::{AgentProcess, describe};
use super::secret::Pat;

/// The longest pause between deregistration attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// One `config.sh remove` may take this long before it is killed.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(60);

/// The agent id from `.agent`, if the file exists and parses.
pub fn read_agent_id(agent_home: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(agent_home.join(".agent")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("agentId")?.as_i64()
}

/// Whether `config.sh` left a full (`.agent`) or partial (`.credentials`) registration.
pub fn has_local_registration(agent_home: &Path) -> bool {
    agent_home.join(".agent").exists() || agent_home.join(".credentials").exists()
}

/// Removes the registration: `config.sh remove` when `.agent` exists, otherwise a lookup by
/// name and `DELETE` through the API. Returns a one-line reason after the last failed attempt.
pub async fn deregister(settings: &RunSettings) -> Result<(), String> {
    let Some(pat) = settings.pat.as_ref() else {
        return Err("no PAT to deregister with".to_owned());
    };
    let mut last_error = String::new();
    for attempt in 1..=settings.deregister_attempts {
        let result = if settings.agent_home.join(".agent").exists() {
            remove_with_config_script(settings, pat).await
        } else {
            delete_through_api(settings, pat).await
        };
        match result {
            Ok(()) => {
                tracing::info!(attempt, "agent deregistered");
                return Ok(());
            }
            Err(reason) => {
                tracing::warn!(attempt, %reason, "deregistration failed");
                last_error = reason;
            }
        }
        if attempt < settings.deregister_attempts {
            let exponent = (attempt - 1).min(16);
            let pause = settings
                .deregister_backoff
                .saturating_mul(1 << exponent)
                .min(MAX_BACKOFF);
            tokio::time::sleep(pause).await;
        }
    }
    Err(format!(
        "deregistration failed after {} attempts: {last_error}",
        settings.deregister_attempts
    ))
}

async fn remove_with_config_script(settings: &RunSettings, pat: &Pat) -> Result<(), String> {
    let args = ["remove", "--unattended", "--auth", "pat"].map(String::from);
    let process = AgentProcess::spawn(
        &settings.config_script(),
        &args,
        &settings.agent_home,
        settings.agent_env.for_config(pat),
        Some(pat),
        None,
    )
    .map_err(|err| format!("cannot start config.sh remove: {err}"))?;
    let status = process
        .wait_with_limit(REMOVE_TIMEOUT)
        .await
        .map_err(|err| format!("config.sh remove: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("config.sh remove ended with {}", describe(&status)))
    }
}

async fn delete_through_api(settings: &RunSettings, pat: &Pat) -> Result<(), String> {
    let url = reqwest::Url::parse(&settings.url).map_err(|err| format!("bad AZP_URL: {err}"))?;
    let mut config = AdoClientConfig::new(url, Auth::Pat(Secret::new(pat.expose())));
    config.allow_insecure_http = settings.allow_insecure_http;
    if let Some(ca) = &settings.ca_bundle {
        config.ca_bundle_pem =
            Some(std::fs::read(ca).map_err(|err| format!("cannot read {}: {err}", ca.display()))?);
    }
    let client = AdoClient::new(config).map_err(|err| err.to_string())?;
    let pool = client
        .find_pool(&settings.pool)
        .await
        .map_err(|err| err.to_string())?;
    let Some(agent) = client
        .find_agent(pool.id, &settings.agent_name)
        .await
        .map_err(|err| err.to_string())?
    else {
        tracing::info!("no registration found by name; nothing to remove");
        return Ok(());
    };
    match client.delete_agent(pool.id, agent.id).await {
        Ok(()) | Err(AdoError::AgentNotFound { .. }) => {
            tracing::info!(
                agent_id = agent.id,
                "partial registration removed through the API"
            );
            Ok(())
        }
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_id_is_read_from_the_settings_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_agent_id(dir.path()), None);
        std::fs::write(
            dir.path().join(".agent"),
            r#"{"agentId":17,"agentName":"a","poolId":10}"#,
        )
        .unwrap();
        assert_eq!(read_agent_id(dir.path()), Some(17));
    }
}
