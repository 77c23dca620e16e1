//! The TokenRequest subresource and the service-account issuer's OIDC discovery, as a relying
//! party (Microsoft Entra) uses them: token from kube-rs, keys found through discovery.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

fn request(audience: &str, seconds: i64) -> TokenRequest {
    TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![audience.to_owned()],
            expiration_seconds: Some(seconds),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn get_json(url: &str) -> Value {
    let response = reqwest::get(url).await.unwrap();
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_service_account_token_verifies_through_the_issuers_discovery_document() {
    let (sim, client) = start().await;
    let accounts: Api<ServiceAccount> = Api::default_namespaced(client);
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "azp-operator"}})).unwrap(),
        )
        .await
        .unwrap();
    let answer = accounts
        .create_token_request(
            "azp-operator",
            &PostParams::default(),
            &request("api://AzureADTokenExchange", 600),
        )
        .await
        .unwrap();
    let status = answer.status.unwrap();

    // As Entra does: the issuer from the token, keys through discovery.
    let discovery = get_json(&format!("{}/.well-known/openid-configuration", sim.url())).await;
    assert_eq!(discovery["issuer"], sim.url());
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(get_json(discovery["jwks_uri"].as_str().unwrap()).await).unwrap();
    let header = jsonwebtoken::decode_header(&status.token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["api://AzureADTokenExchange"]);
    validation.set_issuer(&[sim.url()]);
    let claims = jsonwebtoken::decode::<Value>(
        &status.token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], "system:serviceaccount:default:azp-operator");
    assert_eq!(claims["kubernetes.io"]["namespace"], "default");
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 600);
    assert_eq!(
        status.expiration_timestamp.0.as_second(),
        claims["exp"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn unknown_service_accounts_and_short_lifetimes_are_refused() {
    let (_sim, client) = start().await;
    let accounts: Api<ServiceAccount> = Api::default_namespaced(client);
    let missing = accounts
        .create_token_request("nobody", &PostParams::default(), &request("aud", 600))
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, kube::Error::Api(s) if s.code == 404 && s.message.contains("serviceaccounts \"nobody\" not found")),
        "{missing:?}"
    );
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "short"}})).unwrap(),
        )
        .await
        .unwrap();
    let short = accounts
        .create_token_request("short", &PostParams::default(), &request("aud", 60))
        .await
        .unwrap_err();
    assert!(
        matches!(&short, kube::Error::Api(s) if s.code == 422 && s.message.contains("10 minutes")),
        "{short:?}"
    );
}
