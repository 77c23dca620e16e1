//! AWS identity: which source the default credential chain would use, and whether that is the
//! one the operator wired into the pod.
//!
//! The failure this guards against: IRSA or Pod Identity was expected but is not wired (missing
//! service-account annotation, association, or webhook), so the chain silently falls through to
//! instance metadata and the job pushes with the node's role.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Check, CheckResult};
use crate::env;

/// The identity source the default chain picks, in aws-config's order
/// (environment, profile, web identity, container endpoint, instance metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (the plain-VM case).
    StaticKeys,
    /// A named profile (`AWS_PROFILE`).
    Profile(String),
    /// A static key in the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE` or
    /// `~/.aws/credentials`): the hand-made VM's IAM user key, which the chain prefers to the
    /// instance role.
    SharedCredentialsFile(String),
    /// IRSA: web identity token file + role ARN.
    WebIdentity {
        /// Projected token path.
        token_file: String,
        /// Role to assume.
        role_arn: String,
    },
    /// EKS Pod Identity (or ECS task role): the container credentials endpoint.
    ContainerEndpoint {
        /// Authorization token file, when set.
        token_file: Option<String>,
    },
    /// Instance metadata: on a node, the node's role.
    InstanceMetadata,
    /// Nothing, and instance metadata is disabled.
    None,
}

impl IdentitySource {
    /// Detects the source from environment variables (`lookup` is `std::env::var` in production).
    /// Profiles are recognised only through `AWS_PROFILE`; a default profile in `~/.aws` is not
    /// looked for, because agent pods have none.
    pub fn detect(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        if set(env::AWS_ACCESS_KEY_ID).is_some() && set(env::AWS_SECRET_ACCESS_KEY).is_some() {
            return Self::StaticKeys;
        }
        if let Some(profile) = set(env::AWS_PROFILE) {
            return Self::Profile(profile);
        }
        let credentials_file = set("AWS_SHARED_CREDENTIALS_FILE")
            .or_else(|| set("HOME").map(|home| format!("{home}/.aws/credentials")));
        if let Some(path) = credentials_file
            && std::fs::read_to_string(&path)
                .is_ok_and(|text| text.to_ascii_lowercase().contains("aws_access_key_id"))
        {
            return Self::SharedCredentialsFile(path);
        }
        if let (Some(token_file), Some(role_arn)) = (
            set(env::AWS_WEB_IDENTITY_TOKEN_FILE),
            set(env::AWS_ROLE_ARN),
        ) {
            return Self::WebIdentity {
                token_file,
                role_arn,
            };
        }
        if set(env::AWS_CONTAINER_CREDENTIALS_FULL_URI).is_some()
            || set(env::AWS_CONTAINER_CREDENTIALS_RELATIVE_URI).is_some()
        {
            return Self::ContainerEndpoint {
                token_file: set(env::AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE),
            };
        }
        if set(env::AWS_EC2_METADATA_DISABLED).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Self::None;
        }
        Self::InstanceMetadata
    }

    fn describe(&self) -> String {
        match self {
            Self::StaticKeys => "static access keys from the environment".to_owned(),
            Self::Profile(name) => format!("profile {name}"),
            Self::SharedCredentialsFile(path) => format!("the static key in {path}"),
            Self::WebIdentity { role_arn, .. } => format!("IRSA web identity for {role_arn}"),
            Self::ContainerEndpoint { .. } => {
                "EKS Pod Identity / container credentials endpoint".to_owned()
            }
            Self::InstanceMetadata => {
                "instance metadata (the node's or instance's role)".to_owned()
            }
            Self::None => "nothing (instance metadata disabled)".to_owned(),
        }
    }
}

/// The identity the operator says the pod has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExpectedIdentity {
    /// Whatever the chain finds, including instance metadata (the plain-VM case).
    Any,
    /// IAM Roles for Service Accounts.
    Irsa,
    /// EKS Pod Identity.
    PodIdentity,
    /// Static keys in the environment.
    Static,
    /// A plain EC2 instance's own role through IMDSv2 (`azp-agent vm`); a static key that
    /// would win over it fails.
    InstanceProfile,
}

/// Resolves credentials through the real chain, to prove the identity works (not just that env vars exist).
pub trait CredentialProbe: Send + Sync {
    /// Returns a printable hint about the credentials obtained (never the secret), or an error message.
    fn probe(&self) -> BoxFuture<'_, Result<String, String>>;
}

/// [`CredentialProbe`] through aws-config's default chain.
#[derive(Debug, Clone, Default)]
pub struct AwsChainProbe {
    /// Region for STS (web identity needs one); `None` uses the default chain.
    pub region: Option<String>,
}

impl CredentialProbe for AwsChainProbe {
    fn probe(&self) -> BoxFuture<'_, Result<String, String>> {
        use aws_credential_types::provider::ProvideCredentials as _;
        Box::pin(async move {
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
            if let Some(region) = &self.region {
                loader = loader.region(aws_config::Region::new(region.clone()));
            }
            let config = loader.load().await;
            let provider = config
                .credentials_provider()
                .ok_or_else(|| "no credentials provider configured".to_owned())?;
            let credentials = provider
                .provide_credentials()
                .await
                .map_err(|error| aws_sdk_ecr::error::DisplayErrorContext(error).to_string())?;
            // The key id prefix tells static (AKIA) from temporary (ASIA) keys; the rest stays private.
            let prefix: String = credentials.access_key_id().chars().take(4).collect();
            let temporary = if credentials.session_token().is_some() {
                ", temporary"
            } else {
                ""
            };
            Ok(format!("credentials obtained ({prefix}…{temporary})"))
        })
    }
}

/// The `aws-identity` check.
pub struct IdentityCheck {
    /// Detected source.
    pub source: IdentitySource,
    /// What the operator expects.
    pub expected: ExpectedIdentity,
    /// Proves the credentials resolve; `None` only checks the wiring.
    pub probe: Option<Arc<dyn CredentialProbe>>,
}

impl IdentityCheck {
    fn wiring(&self) -> Result<(), CheckResult> {
        let found = self.source.describe();
        let matches = match self.expected {
            ExpectedIdentity::Any => !matches!(self.source, IdentitySource::None),
            ExpectedIdentity::Irsa => matches!(self.source, IdentitySource::WebIdentity { .. }),
            ExpectedIdentity::PodIdentity => {
                matches!(self.source, IdentitySource::ContainerEndpoint { .. })
            }
            ExpectedIdentity::Static => matches!(
                self.source,
                IdentitySource::StaticKeys | IdentitySource::SharedCredentialsFile(_)
            ),
            ExpectedIdentity::InstanceProfile => {
                matches!(self.source, IdentitySource::InstanceMetadata)
            }
        };
        if !matches {
            let fix = match self.expected {
                ExpectedIdentity::Irsa => {
                    "annotate the agent service account with eks.amazonaws.com/role-arn and make sure the EKS pod identity webhook injects AWS_ROLE_ARN/AWS_WEB_IDENTITY_TOKEN_FILE; set AWS_EC2_METADATA_DISABLED=true so a miss fails loudly"
                }
                ExpectedIdentity::PodIdentity => {
                    "create an EKS Pod Identity association for the agent service account and install the eks-pod-identity-agent add-on; set AWS_EC2_METADATA_DISABLED=true so a miss fails loudly"
                }
                ExpectedIdentity::Static => "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                ExpectedIdentity::InstanceProfile => match self.source {
                    IdentitySource::None => {
                        "unset AWS_EC2_METADATA_DISABLED and attach an instance profile to the instance (examples/vm/terraform)"
                    }
                    _ => {
                        "remove the static key (unset AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_PROFILE, delete ~/.aws/credentials of root and the run user) so the default chain reaches the instance role through IMDSv2; then deactivate the IAM user's key"
                    }
                },
                ExpectedIdentity::Any => {
                    "give the pod an identity (IRSA or EKS Pod Identity), or static keys on a VM"
                }
            };
            let expected = match self.expected {
                ExpectedIdentity::Any => "an AWS identity",
                ExpectedIdentity::Irsa => "IRSA (web identity)",
                ExpectedIdentity::PodIdentity => "EKS Pod Identity",
                ExpectedIdentity::Static => "static access keys",
                ExpectedIdentity::InstanceProfile => "the instance's role (IMDSv2)",
            };
            return Err(CheckResult::fail(
                format!("expected {expected}, but the chain would use {found}"),
                fix,
            ));
        }
        let token_file = match &self.source {
            IdentitySource::WebIdentity { token_file, .. } => Some(token_file),
            IdentitySource::ContainerEndpoint { token_file } => token_file.as_ref(),
            _ => None,
        };
        if let Some(path) = token_file
            && let Err(error) = std::fs::File::open(path)
        {
            return Err(CheckResult::fail(
                format!("token file {path} is not readable: {error}"),
                "make the projected token readable by the agent user (pod securityContext.fsGroup)",
            ));
        }
        Ok(())
    }
}

impl Check for IdentityCheck {
    fn name(&self) -> &'static str {
        "aws-identity"
    }

    fn run(&self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move {
            if let Err(failure) = self.wiring() {
                return failure;
            }
            let found = self.source.describe();
            let Some(probe) = &self.probe else {
                return CheckResult::pass(found);
            };
            match probe.probe().await {
                Ok(hint) => CheckResult::pass(format!("{found}: {hint}")),
                Err(error) => CheckResult::fail(
                    format!("{found}: cannot obtain credentials: {error}"),
                    "check the role's trust policy and that STS (or eks-auth) is reachable through its VPC endpoint",
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::Status;
    use std::collections::HashMap;

    fn detect(vars: &[(&str, &str)]) -> IdentitySource {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        IdentitySource::detect(|name| map.get(name).cloned())
    }

    fn irsa_env(token_file: &str) -> Vec<(&'static str, String)> {
        vec![
            (env::AWS_WEB_IDENTITY_TOKEN_FILE, token_file.to_owned()),
            (env::AWS_ROLE_ARN, "arn:aws:iam::1:role/r".to_owned()),
        ]
    }

    #[test]
    fn detection_follows_the_sdk_chain_order() {
        assert_eq!(
            detect(&[
                (env::AWS_ACCESS_KEY_ID, "AKIA"),
                (env::AWS_SECRET_ACCESS_KEY, "s"),
                (env::AWS_ROLE_ARN, "r")
            ]),
            IdentitySource::StaticKeys
        );
        assert!(matches!(
            detect(&[
                (env::AWS_WEB_IDENTITY_TOKEN_FILE, "/t"),
                (env::AWS_ROLE_ARN, "r")
            ]),
            IdentitySource::WebIdentity { .. }
        ));
        assert_eq!(
            detect(&[(
                env::AWS_CONTAINER_CREDENTIALS_FULL_URI,
                "http://169.254.170.23/v1/credentials"
            )]),
            IdentitySource::ContainerEndpoint { token_file: None }
        );
        assert_eq!(detect(&[]), IdentitySource::InstanceMetadata);
        assert_eq!(
            detect(&[(env::AWS_EC2_METADATA_DISABLED, "true")]),
            IdentitySource::None
        );
    }

    #[test]
    fn half_configured_irsa_falls_through_to_instance_metadata() {
        // Role ARN without token file: the webhook did not run. The SDK would use the node role.
        assert_eq!(
            detect(&[(env::AWS_ROLE_ARN, "arn:aws:iam::1:role/r")]),
            IdentitySource::InstanceMetadata
        );
        assert_eq!(
            detect(&[(env::AWS_ACCESS_KEY_ID, "AKIA")]),
            IdentitySource::InstanceMetadata
        );
    }

    #[tokio::test]
    async fn expected_irsa_but_instance_metadata_fails_naming_the_node_role() {
        let check = IdentityCheck {
            source: IdentitySource::InstanceMetadata,
            expected: ExpectedIdentity::Irsa,
            probe: None,
        };
        let result = check.run().await;
        assert_eq!(result.status, Status::Fail);
        assert!(
            result.detail.contains("instance metadata"),
            "{}",
            result.detail
        );
        assert!(
            result
                .fix
                .unwrap_or_default()
                .contains("eks.amazonaws.com/role-arn")
        );
    }

    #[tokio::test]
    async fn expected_pod_identity_with_irsa_wired_fails() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let token = dir.path().join("token");
        std::fs::write(&token, "jwt").unwrap_or_else(|e| panic!("{e}"));
        let vars = irsa_env(&token.to_string_lossy());
        let map: HashMap<&str, String> = vars.into_iter().collect();
        let source = IdentitySource::detect(|name| map.get(name).cloned());
        let wrong = IdentityCheck {
            source: source.clone(),
            expected: ExpectedIdentity::PodIdentity,
            probe: None,
        };
        assert_eq!(wrong.run().await.status, Status::Fail);
        let right = IdentityCheck {
            source,
            expected: ExpectedIdentity::Irsa,
            probe: None,
        };
        assert_eq!(right.run().await.status, Status::Pass);
    }

    #[tokio::test]
    async fn unreadable_irsa_token_file_fails() {
        let check = IdentityCheck {
            source: IdentitySource::WebIdentity {
                token_file: "/nonexistent/token".into(),
                role_arn: "r".into(),
            },
            expected: ExpectedIdentity::Irsa,
            probe: None,
        };
        let result = check.run().await;
        assert_eq!(result.status, Status::Fail);
        assert!(result.detail.contains("/nonexistent/token"));
    }

    #[tokio::test]
    async fn no_identity_at_all_fails_even_when_anything_is_accepted() {
        let check = IdentityCheck {
            source: IdentitySource::None,
            expected: ExpectedIdentity::Any,
            probe: None,
        };
        assert_eq!(check.run().await.status, Status::Fail);
        let vm = IdentityCheck {
            source: IdentitySource::InstanceMetadata,
            expected: ExpectedIdentity::Any,
            probe: None,
        };
        assert_eq!(vm.run().await.status, Status::Pass);
    }

    #[tokio::test]
    #[allow(clippy::unwrap_used, reason = "test")]
    async fn a_vm_expecting_its_instance_role_fails_when_a_static_key_would_win() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        let vars = [("HOME", home.as_str())];
        // No key anywhere: the chain reaches instance metadata, which is what the VM expects.
        assert_eq!(detect(&vars), IdentitySource::InstanceMetadata);
        let role = IdentityCheck {
            source: detect(&vars),
            expected: ExpectedIdentity::InstanceProfile,
            probe: None,
        };
        assert_eq!(role.run().await.status, Status::Pass);

        // The hand-made VM's IAM user key, left in ~/.aws/credentials.
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s3cret\n",
        )
        .unwrap();
        for (source, names) in [
            (detect(&vars), ".aws/credentials"),
            (
                detect(&[
                    (env::AWS_ACCESS_KEY_ID, "AKIA"),
                    (env::AWS_SECRET_ACCESS_KEY, "s3cret"),
                ]),
                "static access keys from the environment",
            ),
        ] {
            let check = IdentityCheck {
                source,
                expected: ExpectedIdentity::InstanceProfile,
                probe: None,
            };
            let result = check.run().await;
            assert_eq!(result.status, Status::Fail);
            assert!(result.detail.contains(names), "{}", result.detail);
            assert!(
                result.detail.contains("instance's role"),
                "{}",
                result.detail
            );
            assert!(!result.detail.contains("s3cret"), "{}", result.detail);
            assert!(result.fix.unwrap_or_default().contains("IMDSv2"));
        }
    }

    struct FailingProbe;
    impl CredentialProbe for FailingProbe {
        fn probe(&self) -> BoxFuture<'_, Result<String, String>> {
            Box::pin(async { Err("AccessDenied".to_owned()) })
        }
    }

    #[tokio::test]
    async fn wired_identity_whose_credentials_fail_to_resolve_fails() {
        let check = IdentityCheck {
            source: IdentitySource::StaticKeys,
            expected: ExpectedIdentity::Static,
            probe: Some(Arc::new(FailingProbe)),
        };
        let result = check.run().await;
        assert_eq!(result.status, Status::Fail);
        assert!(result.detail.contains("AccessDenied"));
    }
}
