//! Removing a registration through the REST API with the PAT: by its recorded id, or by name
//! when the loop died before it learned the id. An agent that is already gone counts as removed.

use std::path::PathBuf;
use std::time::Duration;

use azp_ado::{AdoClient, AdoClientConfig, AdoError, Auth, Secret};

use crate::run::secret::{Pat, PatFileError};

use super::state::Recorded;

/// The longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why a registration could not be removed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    /// The PAT file cannot be used.
    #[error(transparent)]
    Pat(#[from] PatFileError),
    /// The URL or CA bundle is unusable.
    #[error("{0}")]
    Setup(String),
    /// The service refused or could not be reached (after all attempts).
    #[error("cannot remove agent {what} after {attempts} attempts: {source}")]
    Api {
        /// The agent, by id or name.
        what: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        source: AdoError,
    },
}

/// How to reach Azure DevOps with the PAT.
#[derive(Debug, Clone)]
pub struct AdoAccess {
    /// Organization or collection URL.
    pub url: String,
    /// Pool name.
    pub pool: String,
    /// The PAT file, read at every removal (so a rotated PAT is picked up).
    pub pat_file: PathBuf,
    /// CA bundle of a private-CA server.
    pub ca_bundle: Option<PathBuf>,
    /// http:// allowed (tests only).
    pub allow_insecure_http: bool,
    /// Attempts per removal.
    pub attempts: u32,
    /// First pause between attempts (doubles).
    pub backoff: Duration,
}

impl AdoAccess {
    fn client(&self) -> Result<AdoClient, RemoveError> {
        let pat = Pat::read_file(&self.pat_file)?;
        let url = reqwest::Url::parse(&self.url)
            .map_err(|error| RemoveError::Setup(format!("bad AZP_URL: {error}")))?;
        let mut config = AdoClientConfig::new(url, Auth::Pat(Secret::new(pat.expose())));
        config.allow_insecure_http = self.allow_insecure_http;
        if let Some(ca) = &self.ca_bundle {
            config.ca_bundle_pem = Some(std::fs::read(ca).map_err(|error| {
                RemoveError::Setup(format!("cannot read {}: {error}", ca.display()))
            })?);
        }
        AdoClient::new(config).map_err(|error| RemoveError::Setup(error.to_string()))
    }

    /// Removes the recorded agent; returns the id removed (`None`: there was none).
    pub async fn remove(&self, recorded: &Recorded) -> Result<Option<i32>, RemoveError> {
        let client = self.client()?;
        let what = match recorded.agent_id {
            Some(id) => format!("{id} ({})", recorded.agent_name),
            None => recorded.agent_name.clone(),
        };
        let attempts = self.attempts.max(1);
        let mut pause = self.backoff;
        let mut attempt = 1;
        loop {
            match remove_once(&client, &self.pool, recorded).await {
                Ok(removed) => return Ok(removed),
                Err(source) if attempt >= attempts || !source.is_transient() => {
                    return Err(RemoveError::Api {
                        what,
                        attempts: attempt,
                        source,
                    });
                }
                Err(error) => {
                    tracing::warn!(attempt, agent = %what, %error, "removing the agent failed; retrying");
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }
}

async fn remove_once(
    client: &AdoClient,
    pool: &str,
    recorded: &Recorded,
) -> Result<Option<i32>, AdoError> {
    let pool = client.find_pool(pool).await?;
    let id = match recorded.agent_id.and_then(|id| i32::try_from(id).ok()) {
        Some(id) => id,
        None => match client.find_agent(pool.id, &recorded.agent_name).await? {
            Some(agent) => agent.id,
            None => return Ok(None),
        },
    };
    match client.delete_agent(pool.id, id).await {
        Ok(()) => Ok(Some(id)),
        Err(AdoError::AgentNotFound { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}
