//! `_apis/distributedtask/pools`.

use reqwest::Method;

use super::API_VERSION;
use crate::client::{AdoClient, Call, NotFound};
use crate::error::{AdoError, PoolLookup};
use crate::models::{Collection, Pool};

impl AdoClient {
    /// Finds the pool with exactly this name (case-insensitive, as Azure DevOps compares pool names).
    ///
    /// No match → [`AdoError::PoolNotFound`]; several exact matches → [`AdoError::AmbiguousPool`].
    pub async fn find_pool(&self, name: &str) -> Result<Pool, AdoError> {
        let mut url = self.distributedtask_url(&["pools"]);
        url.query_pairs_mut()
            .append_pair("poolName", name)
            .append_pair("api-version", API_VERSION);
        let lookup = PoolLookup::Name(name.to_owned());
        let call = Call {
            method: Method::GET,
            route: "pools",
            url,
            body: None,
            not_found: NotFound::Pool(lookup.clone()),
            agent_name: None,
        };
        let pools: Collection<Pool> = self.json(call).await?;
        let mut matches: Vec<Pool> = pools
            .value
            .into_iter()
            .filter(|pool| pool.name.eq_ignore_ascii_case(name))
            .collect();
        match matches.len() {
            0 => Err(AdoError::PoolNotFound { pool: lookup }),
            1 => Ok(matches.remove(0)),
            count => Err(AdoError::AmbiguousPool {
                name: name.to_owned(),
                count,
            }),
        }
    }

    /// Reads one pool by id.
    pub async fn get_pool(&self, pool_id: i32) -> Result<Pool, AdoError> {
        let mut url = self.distributedtask_url(&["pools", &pool_id.to_string()]);
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        let call = Call {
            method: Method::GET,
            route: "pools/{poolId}",
            url,
            body: None,
            not_found: NotFound::Pool(PoolLookup::Id(pool_id)),
            agent_name: None,
        };
        self.json(call).await
    }
}
