//! Image pulls as the real kubelet reports them, without pulling anything: a reference that
//! does not parse is `InvalidImageName` (never retried), an image the node's registries do
//! not have ([`KubeletConfig::missing_images`](super::KubeletConfig)) is `ErrImagePull`,
//! then `ImagePullBackOff` while the kubelet waits (10 s doubling to 5 min, as the kubelet's
//! image back-off), then pulled again. Every other image "pulls" at once.
//!
//! The messages follow kubelet + containerd: `Failed to apply default image tag "X":
//! couldn't parse image name "X": invalid reference format`; `rpc error: code = NotFound desc
//! = failed to pull and unpack image "X": ... not found`; `Back-off pulling image "X"`.

use std::time::Duration;

/// The kubelet's first image pull back-off.
pub const PULL_BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// The kubelet's longest image pull back-off.
pub const PULL_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Why an image cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullError {
    /// The reference does not parse (`InvalidImageName`).
    InvalidName(String),
    /// The registry does not have it (`ErrImagePull`, then `ImagePullBackOff`).
    NotFound(String),
}

impl PullError {
    /// The container's waiting reason while this error stands.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidName(_) => "InvalidImageName",
            Self::NotFound(_) => "ErrImagePull",
        }
    }

    /// The waiting message.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidName(message) | Self::NotFound(message) => message,
        }
    }
}

/// The back-off message the kubelet shows between two pulls of `image`.
pub fn back_off_message(image: &str) -> String {
    format!("Back-off pulling image \"{image}\"")
}

/// The delay before pull attempt `failures + 1`.
pub fn back_off(failures: u32) -> Duration {
    PULL_BACKOFF_INITIAL
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(PULL_BACKOFF_MAX)
}

/// "Pulls" `image`: an error when the reference is invalid or `missing` names it.
pub fn pull(image: &str, missing: &[String]) -> Result<(), PullError> {
    if !is_valid_reference(image) {
        return Err(PullError::InvalidName(format!(
            "Failed to apply default image tag \"{image}\": couldn't parse image name \"{image}\": invalid reference format"
        )));
    }
    if missing.iter().any(|m| m == image) {
        let full = fully_qualified(image);
        return Err(PullError::NotFound(format!(
            "rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
        )));
    }
    Ok(())
}

/// `busybox` → `docker.io/library/busybox:latest`, as containerd names what it pulls.
fn fully_qualified(image: &str) -> String {
    let (name, suffix) = match image.find('@') {
        Some(at) => (&image[..at], &image[at..]),
        None => (image, ""),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let name_with_tag = if suffix.is_empty() && !last.contains(':') {
        format!("{name}:latest")
    } else {
        name.to_owned()
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_domain = name.contains('/')
        && (first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first);
    match (has_domain, name.contains('/')) {
        (true, _) => format!("{name_with_tag}{suffix}"),
        (false, true) => format!("docker.io/{name_with_tag}{suffix}"),
        (false, false) => format!("docker.io/library/{name_with_tag}{suffix}"),
    }
}

/// The grammar of `github.com/distribution/reference` (what the kubelet parses with):
/// `[domain/]path[:tag][@digest]`, path components lower-case alphanumerics joined by `.`,
/// `_`, `__` or dashes, tag `[\w][\w.-]{0,127}`, digest `algorithm:hex`, name ≤ 255 chars.
pub fn is_valid_reference(image: &str) -> bool {
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    if digest.is_some_and(|d| !is_digest(d)) {
        return false;
    }
    // A tag follows the last ':' after the last '/' (a ':' before it is a registry port).
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if !rest[colon..].contains('/') => (&rest[..colon], Some(&rest[colon + 1..])),
        _ => (rest, None),
    };
    if tag.is_some_and(|t| !is_tag(t)) || name.is_empty() || name.len() > 255 {
        return false;
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first {
            if !is_domain(first) {
                return false;
            }
            components.remove(0);
        }
    }
    !components.is_empty() && components.iter().all(|c| is_path_component(c))
}

fn is_path_component(component: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes: Vec<char> = component.chars().collect();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator: String = bytes[start..i].iter().collect();
        let ok = separator == "."
            || separator == "_"
            || separator == "__"
            || separator.chars().all(|c| c == '-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    chars.next().is_some_and(word)
        && tag.len() <= 128
        && chars.all(|c| word(c) || c == '.' || c == '-')
}

fn is_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    !algorithm.is_empty()
        && algorithm
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+.".contains(c))
        && hex.len() >= 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_as_the_distribution_grammar_says() {
        let valid = [
            "busybox",
            "azp-agent:test",
            "a:1",
            "library/busybox:1.36",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/azp-agent:0.1.0",
            "localhost:5000/team/agent",
            "moby/buildkit:v0.32.2-rootless",
            "ghcr.io/org/my_image__x:latest",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ];
        for image in valid {
            assert!(is_valid_reference(image), "{image}");
            assert_eq!(pull(image, &[]), Ok(()), "{image}");
        }
        let invalid = [
            "",
            "Azp-Agent:test",
            "azp agent",
            "azp-agent:",
            "azp-agent:-x",
            "azp-agent::1",
            "-agent",
            "agent-",
            "team//agent",
            "busybox@sha256:xyz",
        ];
        for image in invalid {
            assert!(!is_valid_reference(image), "{image}");
            let error = pull(image, &[]).unwrap_err();
            assert_eq!(error.reason(), "InvalidImageName", "{image}");
            assert!(
                error.message().ends_with("invalid reference format"),
                "{image}"
            );
        }
    }

    #[test]
    fn a_missing_image_is_err_image_pull_with_containerds_message_and_backs_off() {
        let error = pull("azp-agent:gone", &["azp-agent:gone".to_owned()]).unwrap_err();
        assert_eq!(error.reason(), "ErrImagePull");
        assert!(
            error
                .message()
                .contains("failed to pull and unpack image \"docker.io/library/azp-agent:gone\""),
            "{}",
            error.message()
        );
        assert_eq!(
            back_off_message("azp-agent:gone"),
            "Back-off pulling image \"azp-agent:gone\""
        );
        assert_eq!(back_off(1), Duration::from_secs(10));
        assert_eq!(back_off(2), Duration::from_secs(20));
        assert_eq!(back_off(10), Duration::from_secs(300));
        assert_eq!(
            fully_qualified("registry.example:5000/team/agent@sha256:ab"),
            "registry.example:5000/team/agent@sha256:ab"
        );
        assert_eq!(fully_qualified("team/agent:1"), "docker.io/team/agent:1");
    }
}
