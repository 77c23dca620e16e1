//! Docker client `config.json`: where `buildctl`, `docker` and `skopeo` look for registry credentials.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// File name inside `$DOCKER_CONFIG`.
pub const CONFIG_FILE: &str = "config.json";

/// Why the Docker config could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DockerConfigError {
    /// Filesystem error.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The existing file is not a JSON object; refusing to overwrite someone else's data.
    #[error("{path} is not a JSON object ({reason}); fix or remove it")]
    NotAnObject {
        /// The file.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
    /// No usable `auths.<host>.auth` entry.
    #[error("{path} has no credentials for registry {host}; run `azp-agent ecr-login` first")]
    NoCredentials {
        /// The file.
        path: PathBuf,
        /// Registry host that was looked up.
        host: String,
    },
}

/// Basic credentials for a registry, decoded from `auths.<host>.auth`. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// User name (`AWS` for ECR).
    pub username: String,
    /// Password (the ECR token); secret.
    pub password: String,
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The config file path inside `dir`.
pub fn config_path(dir: &Path) -> PathBuf {
    dir.join(CONFIG_FILE)
}

/// Sets `auths.<host>.auth = auth` in `<dir>/config.json`, keeping every other entry and key.
///
/// The file is replaced atomically (temp file in the same directory, mode 0600, fsync, rename),
/// so a concurrent `buildctl` never reads a half-written file and the token is never
/// world-readable. Returns the path written.
pub fn write_registry_auth(
    dir: &Path,
    host: &str,
    auth: &str,
) -> Result<PathBuf, DockerConfigError> {
    let path = config_path(dir);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| io_error("create directory", dir, source))?;
    let mut root = read_object(&path)?;
    warn_if_shadowed(&root, host);
    let auths = root
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    if let Value::Object(auths) = auths {
        auths.insert(host.to_owned(), serde_json::json!({ "auth": auth }));
    }
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(root))
        .map_err(|error| io_error("serialize", &path, std::io::Error::other(error)))?;
    bytes.push(b'\n');
    write_atomically(&path, &bytes)?;
    Ok(path)
}

/// Reads the Basic credentials stored for `host` in `<dir>/config.json`.
pub fn read_registry_credentials(
    dir: &Path,
    host: &str,
) -> Result<BasicCredentials, DockerConfigError> {
    let path = config_path(dir);
    let root = read_object(&path)?;
    let missing = || DockerConfigError::NoCredentials {
        path: path.clone(),
        host: host.to_owned(),
    };
    let auth = root
        .get("auths")
        .and_then(|auths| auths.get(host))
        .and_then(|entry| entry.get("auth"))
        .and_then(Value::as_str)
        .ok_or_else(missing)?;
    let decoded = STANDARD.decode(auth.trim()).map_err(|_| missing())?;
    let text = String::from_utf8(decoded).map_err(|_| missing())?;
    let (username, password) = text.split_once(':').ok_or_else(missing)?;
    Ok(BasicCredentials {
        username: username.to_owned(),
        password: password.to_owned(),
    })
}

fn read_object(path: &Path) -> Result<Map<String, Value>, DockerConfigError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => return Err(io_error("read", path, source)),
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(DockerConfigError::NotAnObject {
            path: path.to_owned(),
            reason: "top level is not an object".to_owned(),
        }),
        Err(error) => Err(DockerConfigError::NotAnObject {
            path: path.to_owned(),
            reason: error.to_string(),
        }),
    }
}

/// Docker clients prefer credential helpers over `auths`; say so instead of failing later with a 401.
fn warn_if_shadowed(root: &Map<String, Value>, host: &str) {
    if root.get("credHelpers").and_then(|h| h.get(host)).is_some() {
        tracing::warn!(
            host,
            "config.json has a credHelpers entry for this registry; clients will use it instead of the token written here"
        );
    } else if root
        .get("credsStore")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        tracing::warn!(
            host,
            "config.json sets credsStore; the Docker CLI may use it instead of the token written here"
        );
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DockerConfigError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let temp = dir.join(format!(".{CONFIG_FILE}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|source| io_error("create", &temp, source))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|source| io_error("write", &temp, source))?;
        fs::rename(&temp, path).map_err(|source| io_error("replace", path, source))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> DockerConfigError {
    DockerConfigError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    const MOTO_AUTH: &str = "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu";

    #[test]
    fn creates_file_with_0600_and_reads_back_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("docker");
        let path = write_registry_auth(&cfg, "127.0.0.1:5000", MOTO_AUTH).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let creds = read_registry_credentials(&cfg, "127.0.0.1:5000").unwrap();
        assert_eq!(creds.username, "AWS");
        assert_eq!(creds.password, "123456789012-auth-token");
        assert!(!format!("{creds:?}").contains("auth-token"));
    }

    #[test]
    fn preserves_other_registries_and_top_level_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_path(dir.path());
        fs::write(
            &path,
            r#"{"auths":{"other.example":{"auth":"b3RoZXI6cHc="},"h":{"auth":"old","email":"x"}},"proxies":{"default":{"httpProxy":"p"}}}"#,
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_registry_auth(dir.path(), "h", MOTO_AUTH).unwrap();
        let value: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(value["auths"]["other.example"]["auth"], "b3RoZXI6cHc=");
        assert_eq!(value["auths"]["h"], serde_json::json!({"auth": MOTO_AUTH}));
        assert_eq!(value["proxies"]["default"]["httpProxy"], "p");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp file left behind");
    }

    #[test]
    fn refuses_to_overwrite_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_path(dir.path());
        fs::write(&path, "{not json").unwrap();
        let error = write_registry_auth(dir.path(), "h", MOTO_AUTH).unwrap_err();
        assert!(
            matches!(error, DockerConfigError::NotAnObject { .. }),
            "{error}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "{not json");
    }

    #[test]
    fn missing_host_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        write_registry_auth(dir.path(), "a", MOTO_AUTH).unwrap();
        let error = read_registry_credentials(dir.path(), "b").unwrap_err();
        assert!(error.to_string().contains("ecr-login"), "{error}");
    }
}
