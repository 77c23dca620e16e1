//! `--builder buildkit`: the exact `buildctl` command line, and the digest it reports.

use std::path::{Path, PathBuf};

use super::digest::{DigestError, validate_digest};

/// Cache exporter attributes ECR accepts (it rejects BuildKit's old manifest-list cache format).
pub const ECR_CACHE_ATTRIBUTES: &str =
    "mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true";

/// Everything one `buildctl build` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildctlRequest {
    /// BuildKit address (`BUILDKIT_HOST`).
    pub addr: String,
    /// Client certificate directory (`--tlsdir`) for a remote BuildKit with mutual TLS.
    pub tls_dir: Option<PathBuf>,
    /// Build context directory.
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: PathBuf,
    /// Full references to push, `<registry>/<repo>:<tag>`, at least one.
    pub image_names: Vec<String>,
    /// Registry cache reference; `None` disables cache import/export.
    pub cache_ref: Option<String>,
    /// Target platforms (`linux/amd64`), empty = the daemon's.
    pub platforms: Vec<String>,
    /// `KEY=VALUE` build arguments.
    pub build_args: Vec<String>,
    /// Where buildctl writes its result metadata (JSON).
    pub metadata_file: PathBuf,
}

/// Quotes one CSV field as buildctl's `--output` parser (Go `encoding/csv`) expects:
/// fields with `,` or `"` are wrapped in quotes, inner quotes doubled.
fn csv_field(field: &str) -> String {
    if field.contains(',') || field.contains('"') {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// The argv (without the program name) for `buildctl`.
pub fn buildctl_argv(request: &BuildctlRequest) -> Vec<String> {
    let dockerfile_dir = request
        .dockerfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let dockerfile_name = request
        .dockerfile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".to_owned());
    let mut argv: Vec<String> = vec!["--addr".into(), request.addr.clone()];
    if let Some(dir) = &request.tls_dir {
        argv.push("--tlsdir".into());
        argv.push(dir.display().to_string());
    }
    argv.extend([
        "build".into(),
        // Plain progress shows every step's output (auto would too without a TTY, but the
        // failure summary relies on this format, so it is never left to chance).
        "--progress".into(),
        "plain".into(),
        "--frontend".into(),
        "dockerfile.v0".into(),
        "--local".into(),
        format!("context={}", request.context.display()),
        "--local".into(),
        format!("dockerfile={}", dockerfile_dir.display()),
        "--opt".into(),
        format!("filename={dockerfile_name}"),
    ]);
    if !request.platforms.is_empty() {
        argv.push("--opt".into());
        argv.push(format!("platform={}", request.platforms.join(",")));
    }
    for arg in &request.build_args {
        argv.push("--opt".into());
        argv.push(format!("build-arg:{arg}"));
    }
    let names = format!("name={}", request.image_names.join(","));
    argv.push("--output".into());
    argv.push(format!("type=image,{},push=true", csv_field(&names)));
    if let Some(cache) = &request.cache_ref {
        argv.push("--export-cache".into());
        argv.push(format!("type=registry,ref={cache},{ECR_CACHE_ATTRIBUTES}"));
        argv.push("--import-cache".into());
        argv.push(format!("type=registry,ref={cache}"));
    }
    argv.push("--metadata-file".into());
    argv.push(request.metadata_file.display().to_string());
    argv
}

/// Reads `containerimage.digest` from buildctl's `--metadata-file` JSON.
pub fn digest_from_metadata(json: &str) -> Result<String, DigestError> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|error| DigestError::Missing(format!("metadata is not JSON: {error}")))?;
    let digest = value
        .get("containerimage.digest")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| DigestError::Missing("metadata has no containerimage.digest".to_owned()))?;
    validate_digest(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> BuildctlRequest {
        BuildctlRequest {
            addr: "unix:///run/buildkit/buildkitd.sock".into(),
            tls_dir: None,
            context: "/src".into(),
            dockerfile: "/src/docker/App.Dockerfile".into(),
            image_names: vec!["r.io/team/app:42".into()],
            cache_ref: None,
            platforms: vec![],
            build_args: vec![],
            metadata_file: "/tmp/meta.json".into(),
        }
    }

    #[test]
    fn minimal_build_has_frontend_locals_output_and_metadata() {
        assert_eq!(
            buildctl_argv(&request()),
            [
                "--addr",
                "unix:///run/buildkit/buildkitd.sock",
                "build",
                "--progress",
                "plain",
                "--frontend",
                "dockerfile.v0",
                "--local",
                "context=/src",
                "--local",
                "dockerfile=/src/docker",
                "--opt",
                "filename=App.Dockerfile",
                "--output",
                "type=image,name=r.io/team/app:42,push=true",
                "--metadata-file",
                "/tmp/meta.json",
            ]
        );
    }

    #[test]
    fn several_tags_are_one_quoted_name_field() {
        let mut req = request();
        req.image_names = vec!["r.io/team/app:42".into(), "r.io/team/app:latest".into()];
        let argv = buildctl_argv(&req);
        let output = argv
            .iter()
            .position(|a| a == "--output")
            .map(|i| argv[i + 1].clone());
        assert_eq!(
            output.as_deref(),
            Some("type=image,\"name=r.io/team/app:42,r.io/team/app:latest\",push=true")
        );
    }

    #[test]
    fn cache_platform_and_build_args_are_passed() {
        let mut req = request();
        req.cache_ref = Some("r.io/team/app:buildcache".into());
        req.platforms = vec!["linux/amd64".into(), "linux/arm64".into()];
        req.build_args = vec!["VERSION=1.2".into(), "LIST=a,b".into()];
        let argv = buildctl_argv(&req);
        let joined = argv.join(" ");
        assert!(
            joined.contains("--opt platform=linux/amd64,linux/arm64"),
            "{joined}"
        );
        assert!(
            joined.contains("--opt build-arg:VERSION=1.2 --opt build-arg:LIST=a,b"),
            "{joined}"
        );
        assert!(joined.contains(
            "--export-cache type=registry,ref=r.io/team/app:buildcache,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true"
        ));
        assert!(joined.contains("--import-cache type=registry,ref=r.io/team/app:buildcache"));
        // Order matters only in that options precede nothing positional; metadata stays last.
        assert_eq!(argv[argv.len() - 2], "--metadata-file");
    }

    #[test]
    fn dockerfile_in_context_root_and_relative_paths() {
        let mut req = request();
        req.context = ".".into();
        req.dockerfile = "Dockerfile".into();
        let argv = buildctl_argv(&req);
        assert!(argv.contains(&"dockerfile=.".to_owned()));
        assert!(argv.contains(&"filename=Dockerfile".to_owned()));
    }

    #[test]
    fn a_tls_dir_is_a_global_flag_before_build() {
        let mut req = request();
        req.addr = "tcp://buildkitd.build.svc:1234".into();
        req.tls_dir = Some("/run/buildkit-client".into());
        assert_eq!(
            &buildctl_argv(&req)[..5],
            [
                "--addr",
                "tcp://buildkitd.build.svc:1234",
                "--tlsdir",
                "/run/buildkit-client",
                "build"
            ]
        );
    }

    #[test]
    fn csv_quoting_doubles_inner_quotes() {
        assert_eq!(csv_field("name=a"), "name=a");
        assert_eq!(csv_field("name=a,b"), "\"name=a,b\"");
        assert_eq!(csv_field("x=\"y\""), "\"x=\"\"y\"\"\"");
    }

    #[test]
    fn metadata_digest_is_read_and_validated() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let json = format!(r#"{{"containerimage.digest":"{digest}","image.name":"r.io/x:1"}}"#);
        assert_eq!(digest_from_metadata(&json), Ok(digest));
        assert!(digest_from_metadata(r#"{"image.name":"x"}"#).is_err());
        assert!(digest_from_metadata(r#"{"containerimage.digest":"sha256:short"}"#).is_err());
        assert!(digest_from_metadata("nope").is_err());
    }
}
