//! The PAT, read once from its mounted file and never shown.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why the PAT file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PatFileError {
    /// The file could not be read.
    #[error("cannot read the PAT file {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file holds nothing but whitespace.
    #[error("the PAT file {path} is empty")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The PAT contains a character that cannot be passed in an environment variable.
    #[error("the PAT in {path} contains a NUL byte or a line break inside the token")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
}

/// A personal access token. `Debug` and `Display` print `***`; only [`Pat::expose`] reveals it.
#[derive(Clone)]
pub struct Pat(String);

impl Pat {
    /// Reads the PAT from `path`, trimming the trailing newline Secrets often carry.
    pub fn read_file(path: &Path) -> Result<Self, PatFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| PatFileError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, PatFileError> {
        let token = text.trim();
        if token.is_empty() {
            return Err(PatFileError::Empty {
                path: path.to_path_buf(),
            });
        }
        if token.contains(['\0', '\n', '\r']) {
            return Err(PatFileError::Malformed {
                path: path.to_path_buf(),
            });
        }
        Ok(Self(token.to_string()))
    }

    /// A PAT from a literal, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_test(token: &str) -> Self {
        Self(token.to_string())
    }

    /// The token itself, for the one place it is needed (`VSTS_AGENT_INPUT_TOKEN`).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the token replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        text.replace(&self.0, "***")
    }
}

impl fmt::Debug for Pat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pat(***)")
    }
}

impl fmt::Display for Pat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_newline_is_trimmed_and_the_token_is_hidden() {
        let pat = Pat::parse("s3cret-pat\n", Path::new("/x")).unwrap();
        assert_eq!(pat.expose(), "s3cret-pat");
        assert!(!format!("{pat:?} {pat}").contains("s3cret"));
        assert_eq!(pat.scrub("a s3cret-pat b"), "a *** b");
    }

    #[test]
    fn empty_file_names_the_path() {
        let err = Pat::parse(" \n", Path::new("/var/run/secrets/azp/token")).unwrap_err();
        assert!(
            err.to_string().contains("/var/run/secrets/azp/token"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Pat::read_file(Path::new("/nonexistent/azp-token")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/azp-token"), "{err}");
    }

    #[test]
    fn token_with_inner_line_break_is_refused() {
        assert!(Pat::parse("abc\ndef", Path::new("/x")).is_err());
    }
}
