//! Errors of the stand-in. Messages name URLs and statuses, never credentials.

use std::path::PathBuf;

/// Everything that can go wrong in `config.sh`, `config.sh remove` or `run.sh`.
#[derive(Debug, thiserror::Error)]
pub enum StandinError {
    /// Bad command line or missing input; the real agent exits 1 on these too.
    #[error("{0}")]
    Usage(String),
    /// The server answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A local file exists but does not hold what we wrote there.
    #[error("{}: {reason}", path.display())]
    CorruptFile {
        /// The file involved.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// The agent's RSA key could not be generated, loaded or used.
    #[error("RSA key: {0}")]
    Key(String),
    /// A condition the real agent reports with a specific message (e.g. duplicate agent name).
    #[error("{0}")]
    Refused(String),
}

/// A failed HTTP exchange with Azure DevOps (or the emulator).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Non-success status; `type_key` is the `WrappedException.typeKey` when the body had one.
    #[error("{method} {url} failed with HTTP status {status}{}: {message}", type_key.as_deref().map(|key| format!(" ({key})")).unwrap_or_default())]
    Status {
        /// HTTP method.
        method: String,
        /// Request URL (never carries credentials).
        url: String,
        /// HTTP status code.
        status: u16,
        /// `typeKey` of the wrapped exception, which is what the real agent branches on.
        type_key: Option<String>,
        /// Server-provided message (or a short excerpt of the body).
        message: String,
        /// A 401 whose `WWW-Authenticate` offers `Bearer`: the cue for the OAuth handshake.
        bearer_challenge: bool,
    },
    /// The request never got a response.
    #[error("{method} {url} failed: {reason}")]
    Transport {
        /// HTTP method.
        method: String,
        /// Request URL.
        url: String,
        /// Connection-level reason.
        reason: String,
    },
    /// The response was 2xx but its body was not what the protocol promises.
    #[error("{method} {url}: unexpected response body: {reason}")]
    Decode {
        /// HTTP method.
        method: String,
        /// Request URL.
        url: String,
        /// Parse error.
        reason: String,
    },
    /// The OAuth token endpoint refused the agent's client assertion.
    #[error("OAuth token request to {url} failed with HTTP status {status}: {description}")]
    OAuth {
        /// Token endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// `error_description` (or `error`) from the response.
        description: String,
    },
}

impl ApiError {
    /// The HTTP status, if the server answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::OAuth { status, .. } => Some(*status),
            Self::Transport { .. } | Self::Decode { .. } => None,
        }
    }

    /// True when the wrapped exception's `typeKey` equals `key`.
    pub fn has_type_key(&self, key: &str) -> bool {
        matches!(self, Self::Status { type_key: Some(found), .. } if found == key)
    }

    /// True for authentication failures (401, or 203 with a sign-in page, or a refused token request).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.status(), Some(401 | 203)) || matches!(self, Self::OAuth { .. })
    }
}

impl StandinError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
