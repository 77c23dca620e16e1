//! How the client authenticates: a personal access token or a bearer token source.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::HeaderValue;

use crate::error::AdoError;
use crate::secret::Secret;

/// A boxed, sendable future (what [`TokenSource::token`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Supplies bearer tokens (for example Entra workload-identity tokens).
///
/// The client asks for a token before every HTTP attempt, so the source decides about caching and refresh.
pub trait TokenSource: Send + Sync {
    /// Returns a currently valid access token.
    fn token(&self) -> BoxFuture<'_, Result<Secret, AdoError>>;
}

/// Credentials sent with every request.
#[derive(Clone)]
pub enum Auth {
    /// A personal access token, sent as `Authorization: Basic base64(":" + PAT)` (empty user name, like KEDA).
    Pat(Secret),
    /// A bearer token obtained from the source before each attempt.
    Bearer(Arc<dyn TokenSource>),
}

impl Auth {
    /// A short name for logs and `Debug` output; never contains the credential.
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::Pat(_) => "pat",
            Auth::Bearer(_) => "bearer",
        }
    }

    /// Builds the `Authorization` header value, marked sensitive so HTTP layers do not log it.
    pub(crate) async fn header_value(&self) -> Result<HeaderValue, AdoError> {
        let raw = match self {
            Auth::Pat(pat) => format!("Basic {}", STANDARD.encode(format!(":{}", pat.expose()))),
            Auth::Bearer(source) => format!("Bearer {}", source.token().await?.expose()),
        };
        let mut value = HeaderValue::from_str(&raw).map_err(|_| AdoError::InvalidConfig {
            message: "credential contains characters that are not allowed in an HTTP header"
                .to_owned(),
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Pat(_) => f.write_str("Auth::Pat(***)"),
            Auth::Bearer(_) => f.write_str("Auth::Bearer(<token source>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn pat_is_sent_as_basic_with_empty_user_and_marked_sensitive() {
        let header = Auth::Pat(Secret::new("s3cret"))
            .header_value()
            .await
            .unwrap();
        assert!(header.is_sensitive());
        let encoded = header.to_str().unwrap().strip_prefix("Basic ").unwrap();
        assert_eq!(STANDARD.decode(encoded).unwrap(), b":s3cret");
    }

    #[test]
    fn debug_hides_the_pat() {
        assert!(!format!("{:?}", Auth::Pat(Secret::new("s3cret"))).contains("s3cret"));
    }
}
