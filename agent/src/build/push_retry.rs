//! Whether a failed BuildKit build is worth running again because only its push failed.
//!
//! A build whose steps all succeeded can still fail while exporting: registries answer 5xx or 429,
//! connections drop, and some registries (distribution's filesystem storage, seen in our own CI)
//! reject one of two concurrent uploads of the same layer with `DIGEST_INVALID` when BuildKit pushes
//! the image and the registry cache at once. Running `buildctl build` again against the same
//! BuildKit repeats only the export: every step is in BuildKit's local cache. Failures that another
//! attempt cannot fix (credentials, permissions, a missing repository, an immutable tag) and every
//! failure of the build itself are not retried.

use std::time::Duration;

use super::progress::BuildFailure;

/// Attempts in all, the first included.
pub const PUSH_ATTEMPTS: u32 = 3;

/// Wait before attempt `attempt` (2, 3, …): 2 s, then 4 s.
pub fn delay_before(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(5))
}

/// Words of registry errors that a second attempt will meet again (lower case). Docker
/// distribution, ECR and Harbor phrase them like this.
const PERMANENT: &[&str] = &[
    "unauthorized",
    "authentication required",
    "denied",
    "forbidden",
    "insufficient_scope",
    "name unknown",
    "repository name not known",
    "does not exist",
    "cannot be overwritten because the repository is immutable",
    "tag invalid",
    "manifest invalid",
    "unsupported",
];

/// `true` when `failure` is an export step (`exporting to image`, `exporting cache to registry`)
/// failing in a way a new attempt can fix.
pub fn is_retryable_push_failure(failure: &BuildFailure) -> bool {
    let Some(step) = failure.step.as_deref() else {
        return false;
    };
    if !step.starts_with("exporting ") {
        return false;
    }
    let error = failure.error.as_deref().unwrap_or_default().to_lowercase();
    !PERMANENT.iter().any(|word| error.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(step: &str, error: &str) -> BuildFailure {
        BuildFailure {
            step: Some(step.to_owned()),
            error: Some(error.to_owned()),
            ..BuildFailure::default()
        }
    }

    #[test]
    fn a_concurrent_upload_rejected_by_the_registry_is_retried() {
        // Verbatim (shortened URL) from buildctl v0.32.2 pushing to docker-registry 2.8 in CI.
        assert!(is_retryable_push_failure(&failure(
            "exporting to image",
            "failed to push 127.0.0.1:45301/team/app:v1: errors:\nunknown: provided digest did not match uploaded content\nunknown: blob unknown to registry - sha256:81ba6d90"
        )));
        assert!(is_retryable_push_failure(&failure(
            "exporting cache to registry",
            "error writing layer blob: failed commit on ref \"layer-sha256:e2dd\": failed to do request: Put \"http://127.0.0.1:45301/v2/team/app/blobs/uploads/6a3f\": EOF"
        )));
        assert!(is_retryable_push_failure(&failure(
            "exporting to image",
            "failed to push r/app:v1: unexpected status from PUT request to https://r/v2/app/manifests/v1: 503 Service Unavailable"
        )));
        assert!(is_retryable_push_failure(&failure(
            "exporting to image",
            "failed to push r/app:v1: toomanyrequests: Rate exceeded"
        )));
    }

    #[test]
    fn credentials_permissions_and_immutable_tags_are_not_retried() {
        for error in [
            "failed to push r/app:v1: failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized",
            "failed to push 1234.dkr.ecr.eu-west-1.amazonaws.com/app:v1: denied: User: arn:aws:sts::1234:assumed-role/x is not authorized to perform: ecr:InitiateLayerUpload",
            "failed to push r/app:v1: unexpected status from PUT request to https://r/v2/app/manifests/v1: 403 Forbidden",
            "failed to push r/app:v1: name unknown: The repository with name 'app' does not exist in the registry with id '1234'",
            "failed to push r/app:v1: tag invalid: The image tag 'v1' already exists in the 'app' repository and cannot be overwritten because the repository is immutable.",
        ] {
            assert!(
                !is_retryable_push_failure(&failure("exporting to image", error)),
                "{error}"
            );
        }
    }

    #[test]
    fn a_failed_build_step_or_an_unnamed_failure_is_not_retried() {
        assert!(!is_retryable_push_failure(&failure(
            "[build 2/3] RUN make",
            "process \"make\" did not complete successfully: exit code: 2"
        )));
        assert!(!is_retryable_push_failure(&BuildFailure {
            error: Some("failed to solve: EOF".to_owned()),
            ..BuildFailure::default()
        }));
    }

    #[test]
    fn attempts_wait_longer_each_time() {
        assert_eq!(delay_before(2), Duration::from_secs(2));
        assert_eq!(delay_before(3), Duration::from_secs(4));
    }
}
