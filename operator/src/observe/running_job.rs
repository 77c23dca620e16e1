//! A job an agent of ours has taken, as the pod's annotations and an Event describe it.

use std::collections::BTreeMap;

use azp_ado::JobRequest;
use azp_contract::labels::job;

/// Annotation values longer than this are cut (a pipeline name is short; this bounds the pod).
const VALUE_LIMIT: usize = 512;

/// What a pod's agent is running, from the job request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningJob {
    /// `requestId`.
    pub request_id: i64,
    /// `jobName`.
    pub job_name: Option<String>,
    /// `definition.name`.
    pub pipeline: Option<String>,
    /// `owner.name` (the run number).
    pub run: Option<String>,
    /// `owner._links.web.href`.
    pub run_url: Option<String>,
    /// `assignTime`, RFC 3339.
    pub assigned_at: Option<String>,
}

fn cut(value: &str) -> String {
    match value.char_indices().nth(VALUE_LIMIT) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

impl RunningJob {
    /// From a job request.
    pub fn from_request(request: &JobRequest) -> Self {
        Self {
            request_id: request.request_id,
            job_name: request.job_name.clone(),
            pipeline: request.definition.as_ref().and_then(|d| d.name.clone()),
            run: request.owner.as_ref().and_then(|o| o.name.clone()),
            run_url: request
                .owner
                .as_ref()
                .and_then(|o| o.links.as_ref())
                .and_then(|links| links.web.as_ref())
                .map(|web| web.href.clone()),
            assigned_at: request.assign_time.map(|t| t.to_rfc3339()),
        }
    }

    /// The pod's annotations for this job.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut annotations =
            BTreeMap::from([(job::REQUEST_ID.to_owned(), self.request_id.to_string())]);
        for (key, value) in [
            (job::NAME, &self.job_name),
            (job::PIPELINE, &self.pipeline),
            (job::RUN, &self.run),
            (job::RUN_URL, &self.run_url),
            (job::ASSIGNED_AT, &self.assigned_at),
        ] {
            if let Some(value) = value {
                annotations.insert(key.to_owned(), cut(value));
            }
        }
        annotations
    }

    /// One line for an Event: which job of which run the pod runs.
    pub fn describe(&self, pod: &str) -> String {
        let mut line = format!(
            "pod {pod} runs job {:?} of pipeline {:?}, run {} (request {})",
            self.job_name.as_deref().unwrap_or("?"),
            self.pipeline.as_deref().unwrap_or("?"),
            self.run.as_deref().unwrap_or("?"),
            self.request_id
        );
        if let Some(url) = &self.run_url {
            line.push_str(": ");
            line.push_str(url);
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> JobRequest {
        serde_json::from_value(serde_json::json!({
            "requestId": 1234,
            "queueTime": "2026-12-03T10:00:00Z",
            "assignTime": "2026-12-03T10:00:02.5Z",
            "jobName": "Build app",
            "definition": {"id": 7, "name": "app-ci", "_links": {"web": {"href": "https://dev.azure.com/contoso/p/_build/definition?definitionId=7"}}},
            "owner": {"id": 99, "name": "20261203.4", "_links": {"self": {"href": "x"}, "web": {"href": "https://dev.azure.com/contoso/p/_build/results?buildId=99"}}},
            "demands": []
        }))
        .expect("a job request as Azure DevOps sends it")
    }

    #[test]
    fn the_annotations_name_the_job_its_pipeline_run_and_page() {
        let job = RunningJob::from_request(&request());
        let annotations = job.annotations();
        assert_eq!(annotations["azp.dev/job-request-id"], "1234");
        assert_eq!(annotations["azp.dev/job-name"], "Build app");
        assert_eq!(annotations["azp.dev/pipeline"], "app-ci");
        assert_eq!(annotations["azp.dev/run"], "20261203.4");
        assert_eq!(
            annotations["azp.dev/run-url"],
            "https://dev.azure.com/contoso/p/_build/results?buildId=99"
        );
        assert_eq!(
            annotations["azp.dev/job-assigned-at"],
            "2026-12-03T10:00:02.500+00:00"
        );
        assert_eq!(
            job.describe("linux-abcde"),
            "pod linux-abcde runs job \"Build app\" of pipeline \"app-ci\", run 20261203.4 (request 1234): https://dev.azure.com/contoso/p/_build/results?buildId=99"
        );
    }

    #[test]
    fn missing_fields_are_left_out_and_long_values_are_cut() {
        let mut request = request();
        request.owner = None;
        request.job_name = Some("x".repeat(2000));
        let annotations = RunningJob::from_request(&request).annotations();
        assert!(!annotations.contains_key("azp.dev/run"));
        assert!(!annotations.contains_key("azp.dev/run-url"));
        assert_eq!(
            annotations["azp.dev/job-name"].chars().count(),
            VALUE_LIMIT + 1
        );
    }
}
