//! The shared poll of a group (rule 1): one client per Azure DevOps pool, one job-request
//! list and one agent list per pass, whatever the number of AgentPools on it.

use std::sync::Arc;
use std::time::Duration;

use azp_ado::{AdoClient, AdoClientConfig, AdoError, RateLimitSnapshot};
use tokio::time::Instant;
use tracing::info;

use super::Controller;
use super::admit::Admitted;
use super::group::GroupState;
use crate::crd::AzureDevOpsPoolKey;
use crate::credentials::Credential;
use crate::metrics::{AdoPoolLabels, AdoRequestMetrics, PollLabels};
use crate::poller::{Observation, observe_pool};
use crate::reason::Reason;

/// A successful poll and the client that made it.
pub(super) struct Polled {
    /// The group's client (the rest of the pass writes through it).
    pub(super) client: AdoClient,
    /// The Azure DevOps pool's id.
    pub(super) pool_id: i32,
    /// Unfinished jobs and registered agents.
    pub(super) observation: Observation,
    /// The last rate-limit headers Azure DevOps sent this client.
    pub(super) rate_limit: Option<RateLimitSnapshot>,
    /// The server asked this client to slow down.
    pub(super) rate_limited: bool,
}

impl Controller {
    /// Polls the group's Azure DevOps pool; on failure every member gets the condition and
    /// the error is the wait until the next attempt (the backoff's).
    pub(super) async fn poll_group(
        &self,
        key: &AzureDevOpsPoolKey,
        admitted: &Admitted<'_>,
        group: &mut GroupState,
        interval: Duration,
    ) -> Result<Polled, Duration> {
        let client = match self.client_for(
            group,
            &admitted.organization,
            admitted.credential.clone(),
            admitted.ca_bundle.clone(),
        ) {
            Ok(client) => client,
            Err(error) => {
                for member in &admitted.members {
                    self.report_ado_failure(member.pool, &error).await;
                }
                return Err(group.backoff.failed(interval, &error));
            }
        };
        let (pool_id, observation) = match self.poll(&client, group, &admitted.ado_pool).await {
            Ok(ok) => ok,
            Err(error) => {
                return Err(self
                    .poll_failed(key, admitted, group, interval, &error)
                    .await);
            }
        };
        self.count_poll(key, "ok");
        let rate_limit = client.rate_limit();
        if let Some(snapshot) = &rate_limit {
            let remaining = snapshot
                .remaining
                .map_or(-1, |r| i64::try_from(r).unwrap_or(i64::MAX));
            self.metrics
                .rate_limit_remaining
                .get_or_create(&AdoPoolLabels {
                    organization: key.organization.clone(),
                    pool: key.pool.clone(),
                })
                .set(remaining);
        }
        let rate_limited = rate_limit
            .as_ref()
            .is_some_and(|s| s.server_hint().is_some());
        self.observe_assignments(group, &observation);
        Ok(Polled {
            client,
            pool_id,
            observation,
            rate_limit,
            rate_limited,
        })
    }

    /// Reports a failed poll on every member and returns the backoff's wait. A pool that is
    /// gone in Azure DevOps leaves nothing to clean up for a deleting AgentPool.
    async fn poll_failed(
        &self,
        key: &AzureDevOpsPoolKey,
        admitted: &Admitted<'_>,
        group: &mut GroupState,
        interval: Duration,
        error: &AdoError,
    ) -> Duration {
        self.count_poll(key, &Reason::from(error).as_str());
        let pool_gone = matches!(error, AdoError::PoolNotFound { .. });
        if pool_gone {
            group.pool_id = None;
        }
        for member in &admitted.members {
            if pool_gone && member.is_deleting() {
                self.abandon(member.pool).await;
            } else {
                self.report_ado_failure(member.pool, error).await;
            }
        }
        let wait = group.backoff.failed(interval, error);
        info!(pool = %key.pool, reason = %Reason::from(error), wait_s = wait.as_secs(), "poll failed; backing off");
        wait
    }

    /// The group's client, rebuilt when the credential or the CA bundle changes.
    fn client_for(
        &self,
        group: &mut GroupState,
        organization: &str,
        credential: Credential,
        ca_bundle: Option<Vec<u8>>,
    ) -> Result<AdoClient, AdoError> {
        if let Some((current, current_ca, client)) = &group.client
            && *current == credential
            && *current_ca == ca_bundle
        {
            return Ok(client.clone());
        }
        let url = url::Url::parse(organization).map_err(|e| AdoError::InvalidConfig {
            message: e.to_string(),
        })?;
        let mut config = AdoClientConfig::new(url, credential.auth());
        config.allow_insecure_http = self.settings.allow_insecure_http;
        config.request_timeout = self.settings.ado_timeout;
        config.max_job_list_bytes = self.settings.max_job_list_bytes;
        config.observer = Some(Arc::new(AdoRequestMetrics(self.metrics.clone())));
        config.ca_bundle_pem = ca_bundle.clone();
        let client = AdoClient::new(config)?;
        group.client = Some((credential, ca_bundle, client.clone()));
        group.pool_id = None;
        Ok(client)
    }

    async fn poll(
        &self,
        client: &AdoClient,
        group: &mut GroupState,
        pool_name: &str,
    ) -> Result<(i32, Observation), AdoError> {
        let pool_id = match group.pool_id {
            Some(id) => id,
            None => {
                let pool = client.find_pool(pool_name).await?;
                group.pool_id = Some(pool.id);
                pool.id
            }
        };
        group.polled_at = Some(Instant::now());
        Ok((pool_id, observe_pool(client, pool_id).await?))
    }

    fn count_poll(&self, key: &AzureDevOpsPoolKey, result: &str) {
        self.metrics
            .polls
            .get_or_create(&PollLabels {
                pool: key.pool.clone(),
                result: result.to_owned(),
            })
            .inc();
    }
}
