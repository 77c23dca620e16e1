//! `azp-agent build-push`: build an image, push it, verify the pushed digest in the registry.

pub mod buildctl;
pub mod cache;
pub mod digest;
pub mod docker;
pub mod image_ref;
pub mod progress;
pub mod push_retry;
pub mod registry;
pub mod stream;
pub mod vso;

use std::path::{Path, PathBuf};

use crate::ecr::{self, BasicCredentials, EcrClientSettings, RepositoryState};
use buildctl::{BuildctlRequest, buildctl_argv, digest_from_metadata};
pub use cache::CacheSetting;
use digest::{DigestError, digest_from_docker_push};
use docker::{DOCKER_ENV, DockerBuildRequest, docker_build_argv, docker_push_argv};
pub use image_ref::{ImageRefError, ImageTarget, validate_tag};
use registry::{RegistryError, manifest_digest, registry_base_url};

/// Which engine builds the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Builder {
    /// `buildctl` against a BuildKit daemon (the pod's rootless sidecar).
    Buildkit,
    /// A local Docker daemon through the `docker` CLI (plain VM / EC2).
    Docker,
}

/// Create the ECR repository when it is missing.
#[derive(Debug, Clone)]
pub struct CreateRepository {
    /// How to reach the ECR API.
    pub ecr: EcrClientSettings,
    /// Enable scan on push for a new repository.
    pub scan_on_push: bool,
    /// Make tags immutable on a new repository (opt-in).
    pub immutable_tags: bool,
}

/// Everything `build-push` needs.
#[derive(Debug, Clone)]
pub struct BuildPushOptions {
    /// Build context directory.
    pub context: PathBuf,
    /// Dockerfile; `None` = `<context>/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    /// Destination.
    pub target: ImageTarget,
    /// Tags to push (at least one).
    pub tags: Vec<String>,
    /// Registry cache (BuildKit only).
    pub cache: CacheSetting,
    /// Target platforms.
    pub platforms: Vec<String>,
    /// `KEY=VALUE` build arguments.
    pub build_args: Vec<String>,
    /// Engine.
    pub builder: Builder,
    /// BuildKit address (required for [`Builder::Buildkit`]).
    pub buildkit_host: Option<String>,
    /// Client certificate directory for a remote BuildKit with mutual TLS.
    pub buildkit_tls_dir: Option<PathBuf>,
    /// `buildctl` program.
    pub buildctl_bin: PathBuf,
    /// `docker` program.
    pub docker_bin: PathBuf,
    /// `docker build --network`.
    pub docker_network: Option<String>,
    /// `$DOCKER_CONFIG` (credentials written by `ecr-login`).
    pub docker_config_dir: PathBuf,
    /// Verify over plain HTTP (loopback registries only).
    pub plain_http: bool,
    /// Create the ECR repository if missing.
    pub create_repository: Option<CreateRepository>,
}

/// Result of a verified push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPushOutcome {
    /// Manifest digest, `sha256:…`, confirmed by the registry.
    pub digest: String,
    /// `<registry>/<repo>@<digest>`.
    pub pinned_ref: String,
    /// Whether the repository was created by this run.
    pub repository_created: bool,
}

/// Why `build-push` failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Bad repository or tag.
    #[error(transparent)]
    ImageRef(#[from] ImageRefError),
    /// No credentials for the registry.
    #[error(transparent)]
    DockerConfig(#[from] ecr::DockerConfigError),
    /// ECR API failure (repository creation).
    #[error(transparent)]
    Ecr(#[from] ecr::client::EcrError),
    /// No tags.
    #[error("at least one --tag is required")]
    NoTags,
    /// `--builder buildkit` without an address.
    #[error("--builder buildkit needs --buildkit-host or BUILDKIT_HOST")]
    NoBuildkitHost,
    /// The program could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The program failed (its whole output is in the log above the error).
    #[error("{program} {step} failed with {status}{}", describe_failure(.failure))]
    Failed {
        /// The program.
        program: String,
        /// Which step.
        step: &'static str,
        /// Exit status.
        status: std::process::ExitStatus,
        /// The failing build step, its error and last output, when the progress output named one.
        failure: progress::BuildFailure,
    },
    /// The digest could not be determined.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// Reading the manifest back failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The registry holds a different manifest than the builder reported.
    #[error("{reference}: builder reported {pushed} but the registry serves {served}")]
    DigestMismatch {
        /// Tag reference checked.
        reference: String,
        /// Digest from the builder.
        pushed: String,
        /// Digest from the registry.
        served: String,
    },
}

/// Builds, pushes and verifies.
pub async fn build_push(options: &BuildPushOptions) -> Result<BuildPushOutcome, BuildError> {
    if options.tags.is_empty() {
        return Err(BuildError::NoTags);
    }
    for tag in &options.tags {
        validate_tag(tag)?;
    }
    let target = &options.target;
    // Fail before a long build when the push could not authenticate anyway.
    let credentials = ecr::read_registry_credentials(&options.docker_config_dir, &target.registry)?;
    let base_url = registry_base_url(&target.registry, options.plain_http)?;

    let mut repository_created = false;
    if let Some(create) = &options.create_repository {
        let client = ecr::ecr_client(&create.ecr).await;
        let state = ecr::ensure_repository(
            &client,
            &target.repository,
            create.scan_on_push,
            create.immutable_tags,
        )
        .await?;
        repository_created = state == RepositoryState::Created;
        tracing::info!(repository = %target.repository, ?state, "ECR repository");
    }

    let image_names: Vec<String> = options.tags.iter().map(|tag| target.tagged(tag)).collect();
    let context = options.context.clone();
    let dockerfile = options
        .dockerfile
        .clone()
        .unwrap_or_else(|| context.join("Dockerfile"));
    let digest = match options.builder {
        Builder::Buildkit => {
            build_with_buildkit(options, &context, &dockerfile, image_names).await?
        }
        Builder::Docker => build_with_docker(options, &context, &dockerfile, image_names).await?,
    };

    let http = reqwest::Client::builder()
        .build()
        .map_err(|error| RegistryError::Transport {
            url: base_url.clone(),
            message: error.to_string(),
        })?;
    verify_tags(
        &http,
        &base_url,
        target,
        &options.tags,
        &digest,
        &credentials,
    )
    .await?;
    Ok(BuildPushOutcome {
        pinned_ref: target.pinned(&digest),
        digest,
        repository_created,
    })
}

async fn verify_tags(
    http: &reqwest::Client,
    base_url: &str,
    target: &ImageTarget,
    tags: &[String],
    digest: &str,
    credentials: &BasicCredentials,
) -> Result<(), BuildError> {
    for tag in tags {
        let served = manifest_digest(http, base_url, &target.repository, tag, credentials).await?;
        if served != digest {
            return Err(BuildError::DigestMismatch {
                reference: target.tagged(tag),
                pushed: digest.to_owned(),
                served,
            });
        }
    }
    Ok(())
}

async fn build_with_buildkit(
    options: &BuildPushOptions,
    context: &Path,
    dockerfile: &Path,
    image_names: Vec<String>,
) -> Result<String, BuildError> {
    let addr = options
        .buildkit_host
        .clone()
        .ok_or(BuildError::NoBuildkitHost)?;
    let cache_ref = options.cache.reference(&options.target);
    let metadata_file = std::env::temp_dir().join(format!(
        "azp-buildctl-{}-{}.json",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let request = BuildctlRequest {
        addr,
        tls_dir: options.buildkit_tls_dir.clone(),
        context: context.to_owned(),
        dockerfile: dockerfile.to_owned(),
        image_names,
        cache_ref,
        platforms: options.platforms.clone(),
        build_args: options.build_args.clone(),
        metadata_file: metadata_file.clone(),
    };
    let argv = buildctl_argv(&request);
    let result = run_retrying_the_push(&options.buildctl_bin, &argv, options).await;
    let metadata = std::fs::read_to_string(&metadata_file);
    let _ = std::fs::remove_file(&metadata_file);
    result?;
    let metadata = metadata
        .map_err(|error| DigestError::Missing(format!("buildctl metadata file: {error}")))?;
    Ok(digest_from_metadata(&metadata)?)
}

/// `buildctl build`, run again (at most [`push_retry::PUSH_ATTEMPTS`] times in all) when every
/// step succeeded and only the push failed in a way another attempt can fix: the steps are in
/// BuildKit's cache, so a new attempt repeats the export only.
async fn run_retrying_the_push(
    buildctl: &Path,
    argv: &[String],
    options: &BuildPushOptions,
) -> Result<String, BuildError> {
    let mut attempt = 1;
    loop {
        match run(buildctl, argv, options, "build").await {
            Err(BuildError::Failed { failure, .. })
                if attempt < push_retry::PUSH_ATTEMPTS
                    && push_retry::is_retryable_push_failure(&failure) =>
            {
                attempt += 1;
                let delay = push_retry::delay_before(attempt);
                // In the pipeline log, highlighted, between the failed attempt's output and the next.
                // One line: a logging command ends at the line break (the whole error is above).
                let error = failure.error.as_deref().unwrap_or_default();
                let error: Vec<&str> = error.lines().collect();
                println!(
                    "##[warning]azp-agent: the build succeeded but the push failed ({}); pushing again in {} s (attempt {attempt} of {}), the steps come from BuildKit's cache",
                    error.join(" / "),
                    delay.as_secs(),
                    push_retry::PUSH_ATTEMPTS
                );
                tracing::warn!(%failure, attempt, "push failed; retrying the export");
                tokio::time::sleep(delay).await;
            }
            result => return result,
        }
    }
}

async fn build_with_docker(
    options: &BuildPushOptions,
    context: &Path,
    dockerfile: &Path,
    image_names: Vec<String>,
) -> Result<String, BuildError> {
    if options.cache != CacheSetting::Default {
        tracing::warn!(
            "--cache is ignored with --builder docker: registry cache export needs BuildKit (buildctl)"
        );
    }
    if options.platforms.len() > 1 {
        tracing::warn!("--builder docker builds one platform; using the first");
    }
    let request = DockerBuildRequest {
        context: context.to_owned(),
        dockerfile: dockerfile.to_owned(),
        image_names: image_names.clone(),
        platform: options.platforms.first().cloned(),
        build_args: options.build_args.clone(),
        network: options.docker_network.clone(),
    };
    run(
        &options.docker_bin,
        &docker_build_argv(&request),
        options,
        "build",
    )
    .await?;
    let mut digest: Option<String> = None;
    for name in &image_names {
        let output = run(
            &options.docker_bin,
            &docker_push_argv(name),
            options,
            "push",
        )
        .await?;
        let pushed = digest_from_docker_push(&output)?;
        if let Some(previous) = &digest
            && previous != &pushed
        {
            return Err(BuildError::DigestMismatch {
                reference: name.clone(),
                pushed: previous.clone(),
                served: pushed,
            });
        }
        digest = Some(pushed);
    }
    digest.ok_or(BuildError::NoTags)
}

/// `: <what failed>` when the progress output said anything, else nothing.
fn describe_failure(failure: &progress::BuildFailure) -> String {
    if *failure == progress::BuildFailure::default() {
        String::new()
    } else {
        format!(": {failure}")
    }
}

/// Runs `program argv` with its output streamed to our stdout (see [`stream`]); returns the
/// program's stdout for callers that read a result from it (`docker push`).
async fn run(
    program: &Path,
    argv: &[String],
    options: &BuildPushOptions,
    step: &'static str,
) -> Result<String, BuildError> {
    let program_name = program.display().to_string();
    tracing::info!(program = %program_name, ?argv, "running");
    let mut command = tokio::process::Command::new(program);
    command
        .args(argv)
        .envs(DOCKER_ENV)
        .env(crate::env::DOCKER_CONFIG, &options.docker_config_dir);
    let streamed = stream::run_streamed(command)
        .await
        .map_err(|source| BuildError::Spawn {
            program: program_name.clone(),
            source,
        })?;
    if !streamed.status.success() {
        return Err(BuildError::Failed {
            program: program_name,
            step,
            status: streamed.status,
            failure: streamed.failure,
        });
    }
    Ok(streamed.stdout)
}
