//! `_apis/distributedtask/pools/{poolId}/jobrequests`.

use reqwest::Method;

use super::JOB_REQUESTS_API_VERSION;
use crate::client::{AdoClient, Call, NotFound};
use crate::error::{AdoError, PoolLookup};
use crate::models::{Collection, JobRequest};

impl AdoClient {
    /// All unfinished job requests of the pool (queued and running), in exactly one HTTP request.
    ///
    /// Uses `completedRequestCount=0`: the full shape (with `matchedAgents`) without finished jobs and without the
    /// 200-item cap of `$top`. Filter with [`JobRequest::is_pending`] / [`JobRequest::is_running`].
    ///
    /// The body is decoded while it arrives, keeping only the fields of [`JobRequest`] (of each
    /// `matchedAgents` entry only the id), and refused with [`AdoError::JobListTooLarge`] past
    /// [`crate::AdoClientConfig::max_job_list_bytes`].
    pub async fn list_pending_job_requests(
        &self,
        pool_id: i32,
    ) -> Result<Vec<JobRequest>, AdoError> {
        let mut url = self.distributedtask_url(&["pools", &pool_id.to_string(), "jobrequests"]);
        url.query_pairs_mut()
            .append_pair("completedRequestCount", "0")
            .append_pair("api-version", JOB_REQUESTS_API_VERSION);
        let call = Call {
            method: Method::GET,
            route: "pools/{poolId}/jobrequests",
            url,
            body: None,
            not_found: NotFound::Pool(PoolLookup::Id(pool_id)),
            agent_name: None,
        };
        let requests: Collection<JobRequest> =
            self.json_streamed(call, self.max_job_list_bytes()).await?;
        Ok(requests.value)
    }
}
