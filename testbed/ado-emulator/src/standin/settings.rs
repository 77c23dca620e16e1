//! The files `config.sh` leaves in the agent directory (protocol §6), with the real names and shapes.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::StandinError;
use super::key::{AgentKey, RsaParamsFile};

/// `.agent`.
pub const AGENT_FILE: &str = ".agent";
/// `.credentials`.
pub const CREDENTIALS_FILE: &str = ".credentials";
/// `.credentials_rsaparams` (mode 0600).
pub const RSA_PARAMS_FILE: &str = ".credentials_rsaparams";
/// `.certificates` (CA bundle recorded from `--sslcacert`).
pub const CERTIFICATES_FILE: &str = ".certificates";
/// `.capabilities` (user capabilities, `key=value` lines).
pub const CAPABILITIES_FILE: &str = ".capabilities";

/// `AgentSettings` (`EmitDefaultValue=false`: defaults are omitted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentSettings {
    /// Server-assigned agent id.
    pub agent_id: i32,
    /// Agent name.
    pub agent_name: String,
    /// Pool id.
    pub pool_id: i32,
    /// Pool name.
    pub pool_name: String,
    /// The `--url` given to configure.
    pub server_url: String,
    /// Work folder, relative to the agent root unless absolute.
    pub work_folder: String,
    /// `--acceptTeeEula`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_tee_eula: bool,
    /// `--disableloguploads`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_log_uploads: bool,
}

/// `.credentials` data of the OAuth scheme.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OAuthData {
    /// Agent OAuth client id.
    pub client_id: String,
    /// JWT audience.
    pub authorization_url: String,
    /// Where tokens are requested; optional, as in the real agent (`OAuthCredential`), which
    /// then uses `authorizationUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_endpoint_url: Option<String>,
}

impl OAuthData {
    /// The token endpoint: `oauthEndpointUrl`, else `authorizationUrl`.
    pub fn token_endpoint(&self) -> &str {
        self.oauth_endpoint_url
            .as_deref()
            .unwrap_or(&self.authorization_url)
    }
}

/// `.credentials` (`CredentialData`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CredentialData {
    /// Always `OAuth` for the stand-in.
    pub scheme: String,
    /// Scheme data.
    pub data: OAuthData,
}

/// `.certificates` (`AgentCertificateSettings`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSettings {
    /// `--sslskipcertvalidation` (recorded only; never honoured by the stand-in).
    #[serde(default)]
    pub skip_server_cert_validation: bool,
    /// Absolute path of the CA bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
}

/// The agent root directory (where `config.sh` lives) and its files.
#[derive(Debug, Clone)]
pub struct AgentRoot {
    dir: PathBuf,
}

impl AgentRoot {
    /// Wraps a directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a file in the root.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Configured means `.agent` exists (as `ConfigurationStore.IsConfigured`).
    pub fn is_configured(&self) -> bool {
        self.file(AGENT_FILE).exists()
    }

    /// Reads `.agent`.
    pub fn read_settings(&self) -> Result<AgentSettings, StandinError> {
        read_json(&self.file(AGENT_FILE))
    }

    /// Reads `.credentials`.
    pub fn read_credentials(&self) -> Result<CredentialData, StandinError> {
        read_json(&self.file(CREDENTIALS_FILE))
    }

    /// Reads `.certificates` if present.
    pub fn read_certificates(&self) -> Result<Option<CertificateSettings>, StandinError> {
        let path = self.file(CERTIFICATES_FILE);
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }

    /// Loads the agent key from `.credentials_rsaparams`.
    pub fn read_key(&self) -> Result<AgentKey, StandinError> {
        let file: RsaParamsFile = read_json(&self.file(RSA_PARAMS_FILE))?;
        AgentKey::from_params_file(&file)
    }

    /// Writes `.agent`.
    pub fn write_settings(&self, settings: &AgentSettings) -> Result<(), StandinError> {
        write_json(&self.file(AGENT_FILE), settings, 0o644)
    }

    /// Writes `.credentials`.
    pub fn write_credentials(&self, credentials: &CredentialData) -> Result<(), StandinError> {
        write_json(&self.file(CREDENTIALS_FILE), credentials, 0o644)
    }

    /// Writes `.certificates`.
    pub fn write_certificates(
        &self,
        certificates: &CertificateSettings,
    ) -> Result<(), StandinError> {
        write_json(&self.file(CERTIFICATES_FILE), certificates, 0o644)
    }

    /// Writes `.credentials_rsaparams`, created 0600 so the key is never world-readable.
    pub fn write_key(&self, key: &AgentKey) -> Result<(), StandinError> {
        write_json(&self.file(RSA_PARAMS_FILE), &key.to_params_file(), 0o600)
    }

    /// User capabilities from `.capabilities` (`key=value` lines; `#` comments and blanks
    /// skipped); `None` without the file, so a `--replace` does not wipe capabilities an
    /// administrator set on the server.
    pub fn read_user_capabilities(
        &self,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, StandinError> {
        let path = self.file(CAPABILITIES_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = fs::read_to_string(&path).map_err(|source| StandinError::io(&path, source))?;
        Ok(Some(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .filter_map(|line| {
                    let (key, value) = line.split_once('=')?;
                    Some((key.trim().to_string(), value.trim().to_string()))
                })
                .filter(|(key, _)| !key.is_empty())
                .collect(),
        ))
    }

    /// Deletes the configuration files; returns the names that existed.
    pub fn remove_configuration(&self) -> Result<Vec<&'static str>, StandinError> {
        let mut removed = Vec::new();
        for name in [
            CREDENTIALS_FILE,
            RSA_PARAMS_FILE,
            AGENT_FILE,
            CERTIFICATES_FILE,
        ] {
            let path = self.file(name);
            match fs::remove_file(&path) {
                Ok(()) => removed.push(name),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(StandinError::io(&path, source)),
            }
        }
        Ok(removed)
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, StandinError> {
    let bytes = fs::read(path).map_err(|source| StandinError::io(path, source))?;
    serde_json::from_slice(&bytes).map_err(|err| StandinError::CorruptFile {
        path: path.to_path_buf(),
        reason: err.to_string(),
    })
}

/// Replaces `path` atomically enough for our purposes: the file is created with `mode` from the start.
fn write_json<T: Serialize>(path: &Path, value: &T, mode: u32) -> Result<(), StandinError> {
    let text = serde_json::to_vec_pretty(value).map_err(|err| StandinError::CorruptFile {
        path: path.to_path_buf(),
        reason: err.to_string(),
    })?;
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(StandinError::io(path, source)),
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| StandinError::io(path, source))?;
    file.write_all(&text)
        .map_err(|source| StandinError::io(path, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn key_file_is_private_and_settings_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = AgentRoot::new(dir.path());
        root.write_key(&AgentKey::generate().unwrap()).unwrap();
        let mode = fs::metadata(root.file(RSA_PARAMS_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(root.read_key().is_ok());

        let settings = AgentSettings {
            agent_id: 7,
            agent_name: "a".into(),
            pool_id: 1,
            pool_name: "default".into(),
            server_url: "http://127.0.0.1:1/org".into(),
            work_folder: "_work".into(),
            accept_tee_eula: false,
            disable_log_uploads: true,
        };
        root.write_settings(&settings).unwrap();
        let text = fs::read_to_string(root.file(AGENT_FILE)).unwrap();
        assert!(text.contains("\"agentId\": 7"), "{text}");
        assert!(
            !text.contains("acceptTeeEula"),
            "defaults are omitted: {text}"
        );
        assert_eq!(root.read_settings().unwrap(), settings);
        assert_eq!(
            root.remove_configuration().unwrap(),
            vec![RSA_PARAMS_FILE, AGENT_FILE]
        );
        assert!(!root.is_configured());
    }

    #[test]
    fn user_capabilities_file_is_parsed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join(CAPABILITIES_FILE),
            "# comment\nbuildkit=true\n\n pool = eks \nnoequals\n",
        )
        .unwrap();
        assert_eq!(
            AgentRoot::new(dir.path().join("nothing-here"))
                .read_user_capabilities()
                .unwrap(),
            None
        );
        let caps = AgentRoot::new(dir.path())
            .read_user_capabilities()
            .unwrap()
            .unwrap();
        assert_eq!(caps.get("buildkit").map(String::as_str), Some("true"));
        assert_eq!(caps.get("pool").map(String::as_str), Some("eks"));
        assert_eq!(caps.len(), 2);
    }
}
