//! Where an image goes: registry host + repository, from `--repository` (name or full URI).

use std::fmt;

/// Why `--repository` / `--tag` are unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageRefError {
    /// A bare repository name needs a registry.
    #[error(
        "repository {0:?} is a bare name: pass --registry (or AZP_ECR_REGISTRY), or a full URI <registry>/<repo>"
    )]
    NoRegistry(String),
    /// Not a valid repository path.
    #[error(
        "invalid repository {0:?}: use lowercase letters, digits, '.', '_', '-' and '/' separators"
    )]
    BadRepository(String),
    /// The tag belongs in `--tag`.
    #[error("repository {0:?} contains a tag or digest: pass tags with --tag")]
    TagInRepository(String),
    /// Not a valid tag.
    #[error(
        "invalid tag {0:?}: 1-128 characters from [A-Za-z0-9_.-], not starting with '.' or '-'"
    )]
    BadTag(String),
}

/// Registry host and repository path of the image being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTarget {
    /// `host[:port]`, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `team/app`.
    pub repository: String,
}

impl ImageTarget {
    /// Parses `--repository`: a full URI (`host[:port]/path`, where the first component has a
    /// `.` or `:` or is `localhost`, Docker's rule) or a bare name combined with `registry`.
    pub fn parse(repository: &str, registry: Option<&str>) -> Result<Self, ImageRefError> {
        let (host, path) = match repository.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ => match registry {
                Some(host) => (host.to_owned(), repository.to_owned()),
                None => return Err(ImageRefError::NoRegistry(repository.to_owned())),
            },
        };
        if path.contains(':') || path.contains('@') {
            return Err(ImageRefError::TagInRepository(repository.to_owned()));
        }
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if host.is_empty() || !path.split('/').all(component_ok) {
            return Err(ImageRefError::BadRepository(repository.to_owned()));
        }
        Ok(Self {
            registry: host,
            repository: path,
        })
    }

    /// `<registry>/<repository>:<tag>`.
    pub fn tagged(&self, tag: &str) -> String {
        format!("{self}:{tag}")
    }

    /// `<registry>/<repository>@<digest>`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{self}@{digest}")
    }
}

impl fmt::Display for ImageTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)
    }
}

/// Checks a tag against the OCI distribution grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), ImageRefError> {
    let ok = (1..=128).contains(&tag.len())
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ImageRefError::BadTag(tag.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_uri_carries_its_registry() {
        let target = ImageTarget::parse(
            "1.dkr.ecr.eu-west-1.amazonaws.com/team/app",
            Some("ignored"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(target.registry, "1.dkr.ecr.eu-west-1.amazonaws.com");
        assert_eq!(target.repository, "team/app");
        let local =
            ImageTarget::parse("127.0.0.1:5000/app", None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(local.tagged("v1"), "127.0.0.1:5000/app:v1");
        assert_eq!(local.pinned("sha256:ab"), "127.0.0.1:5000/app@sha256:ab");
    }

    #[test]
    fn bare_name_needs_registry() {
        assert_eq!(
            ImageTarget::parse("team/app", None),
            Err(ImageRefError::NoRegistry("team/app".into()))
        );
        let target =
            ImageTarget::parse("team/app", Some("reg:5000")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(target.to_string(), "reg:5000/team/app");
    }

    #[test]
    fn tags_and_bad_names_are_rejected() {
        assert!(matches!(
            ImageTarget::parse("reg.io/app:v1", None),
            Err(ImageRefError::TagInRepository(_))
        ));
        assert!(matches!(
            ImageTarget::parse("reg.io/App", None),
            Err(ImageRefError::BadRepository(_))
        ));
        assert!(matches!(
            ImageTarget::parse("reg.io/a//b", None),
            Err(ImageRefError::BadRepository(_))
        ));
        assert!(validate_tag("v1.2-rc_3").is_ok());
        assert!(validate_tag("-x").is_err());
        assert!(validate_tag("a,b").is_err());
        assert!(validate_tag(&"x".repeat(129)).is_err());
    }
}
