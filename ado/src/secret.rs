//! A credential that cannot leak through formatting.

use std::fmt;

/// A secret string (PAT or bearer token).
///
/// `Debug` and `Display` print `***`; the only way to read the value is [`Secret::expose`], which the client calls in
/// exactly one place: when it builds the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value. Call it only where the value leaves the process on purpose.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string (a missing or unmounted credential).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let secret = Secret::new("pat-abc123");
        assert_eq!(format!("{secret}"), "***");
        assert!(!format!("{secret:?}").contains("abc123"));
        assert!(!format!("{secret:#?}").contains("abc123"));
        assert_eq!(secret.expose(), "pat-abc123");
    }
}
