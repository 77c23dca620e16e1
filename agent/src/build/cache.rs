//! The registry build cache: where `buildctl` exports its layers and imports them from, so a
//! build in a new pod (an empty BuildKit) reuses the previous pod's work.

use super::image_ref::ImageTarget;

/// Tag of the default cache image in the image's own repository.
pub const DEFAULT_CACHE_TAG: &str = "buildcache";

/// Registry build cache setting (`--cache`, `AZP_BUILDKIT_CACHE`, `spec.buildkit.cache`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheSetting {
    /// `<registry>/<repo>:buildcache`.
    Default,
    /// No cache import/export.
    Disabled,
    /// A reference with a tag (used as is), or a repository (tagged per image, see
    /// [`CacheSetting::reference`]).
    Ref(String),
}

impl CacheSetting {
    /// Parses `--cache`: absent or empty → default, `none` → disabled, else a reference.
    pub fn from_flag(flag: Option<&str>) -> Self {
        match flag.map(str::trim) {
            None | Some("") => Self::Default,
            Some("none") => Self::Disabled,
            Some(reference) => Self::Ref(reference.to_owned()),
        }
    }

    /// The cache reference for building `target`, `None` when disabled.
    ///
    /// A repository without a tag (a dedicated cache repository shared by an AgentPool's
    /// builds) gets the image's repository path as its tag (`team/app` → `team-app`), so two
    /// images never overwrite each other's cache.
    pub fn reference(&self, target: &ImageTarget) -> Option<String> {
        match self {
            Self::Default => Some(target.tagged(DEFAULT_CACHE_TAG)),
            Self::Disabled => None,
            Self::Ref(reference) => {
                let last = reference.rsplit('/').next().unwrap_or(reference);
                if last.contains(':') || last.contains('@') || !reference.contains('/') {
                    Some(reference.clone())
                } else {
                    Some(format!(
                        "{reference}:{}",
                        target.repository.replace('/', "-")
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> ImageTarget {
        ImageTarget::parse("r.io/team/app", None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn default_is_the_images_own_repository() {
        assert_eq!(
            CacheSetting::from_flag(None)
                .reference(&target())
                .as_deref(),
            Some("r.io/team/app:buildcache")
        );
        assert_eq!(CacheSetting::from_flag(Some(" ")), CacheSetting::Default);
    }

    #[test]
    fn none_disables() {
        assert_eq!(
            CacheSetting::from_flag(Some("none")).reference(&target()),
            None
        );
    }

    #[test]
    fn a_tagged_reference_is_used_as_is() {
        let setting = CacheSetting::from_flag(Some("r.io:5000/cache/all:shared"));
        assert_eq!(
            setting.reference(&target()).as_deref(),
            Some("r.io:5000/cache/all:shared")
        );
    }

    #[test]
    fn a_repository_gets_one_tag_per_image() {
        let setting = CacheSetting::from_flag(Some("r.io:5000/build-cache"));
        assert_eq!(
            setting.reference(&target()).as_deref(),
            Some("r.io:5000/build-cache:team-app")
        );
    }
}
