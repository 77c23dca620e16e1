//! Reading a manifest digest back from a real registry (docker-registry with htpasswd).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use azp_agent::build::registry::{RegistryError, manifest_digest, registry_base_url};
use azp_agent::ecr::BasicCredentials;
use support::{MOTO_PASSWORD, Registry};

#[tokio::test]
async fn wrong_credentials_and_missing_tags_are_distinct_errors() {
    let registry = Registry::start();
    let http = reqwest::Client::new();
    let base = registry_base_url(&registry.host, true).unwrap();
    let good = BasicCredentials {
        username: "AWS".into(),
        password: MOTO_PASSWORD.into(),
    };
    let bad = BasicCredentials {
        username: "AWS".into(),
        password: "expired-token".into(),
    };

    match manifest_digest(&http, &base, "team/app", "v1", &bad).await {
        Err(RegistryError::Status {
            status: 401, hint, ..
        }) => assert!(hint.contains("ecr-login"), "{hint}"),
        other => panic!("expected 401, got {other:?}"),
    }
    match manifest_digest(&http, &base, "team/app", "v1", &good).await {
        Err(RegistryError::Status { status: 404, .. }) => {}
        other => panic!("expected 404 for a tag never pushed, got {other:?}"),
    }
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    assert!(matches!(
        manifest_digest(&http, &closed, "team/app", "v1", &good).await,
        Err(RegistryError::Transport { .. })
    ));
}
