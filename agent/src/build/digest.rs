//! Content digests as registries report them.

/// The digest is absent or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// No digest where one was expected.
    #[error("no image digest: {0}")]
    Missing(String),
    /// Not `sha256:<64 lowercase hex>`.
    #[error("malformed digest {0:?}")]
    Malformed(String),
}

/// Accepts `sha256:` followed by 64 lowercase hex digits (what ECR and BuildKit produce).
pub fn validate_digest(digest: &str) -> Result<String, DigestError> {
    let ok = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    });
    if ok {
        Ok(digest.to_owned())
    } else {
        Err(DigestError::Malformed(digest.to_owned()))
    }
}

/// Finds the digest in `docker push` output (`<tag>: digest: sha256:… size: N`).
pub fn digest_from_docker_push(output: &str) -> Result<String, DigestError> {
    output
        .lines()
        .rev()
        .find_map(|line| {
            let (_, rest) = line.split_once("digest: ")?;
            rest.split_whitespace().next().map(str::to_owned)
        })
        .ok_or_else(|| DigestError::Missing("docker push printed no digest".to_owned()))
        .and_then(|d| validate_digest(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_push_digest_line_is_found() {
        let hex = "0123456789abcdef".repeat(4);
        let output = format!(
            "The push refers to repository [127.0.0.1:5000/team/app]\n5f70bf18a086: Pushed\nv1: digest: sha256:{hex} size: 528\n"
        );
        assert_eq!(
            digest_from_docker_push(&output),
            Ok(format!("sha256:{hex}"))
        );
        assert!(matches!(
            digest_from_docker_push("Pushed\n"),
            Err(DigestError::Missing(_))
        ));
        assert!(matches!(
            digest_from_docker_push("v1: digest: sha256:XYZ size: 1"),
            Err(DigestError::Malformed(_))
        ));
    }

    #[test]
    fn only_sha256_with_64_lowercase_hex_is_valid() {
        assert!(validate_digest(&format!("sha256:{}", "f".repeat(64))).is_ok());
        assert!(validate_digest(&format!("sha256:{}", "F".repeat(64))).is_err());
        assert!(validate_digest(&format!("sha512:{}", "f".repeat(64))).is_err());
        assert!(validate_digest("sha256:").is_err());
    }
}
