//! The Entra token endpoint and Bearer access to Azure DevOps, with kube-sim as the cluster
//! whose service-account tokens are the client assertions (as an EKS cluster's would be).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use azp_ado_emulator::{EmulatorConfig, RunningEmulator};
use azp_kube_sim::{KubeSimConfig, RunningKubeSim};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0d9c2a5e-3c4b-4e7a-9f1d-6b2a8c3e5f70";
const SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";

struct World {
    emulator: RunningEmulator,
    sim: RunningKubeSim,
    accounts: Api<ServiceAccount>,
    http: reqwest::Client,
}

impl World {
    async fn start() -> Self {
        let emulator =
            RunningEmulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        let sim = RunningKubeSim::start(KubeSimConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let client = sim.client().await;
        let accounts: Api<ServiceAccount> = Api::namespaced(client, "default");
        accounts
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "azp-operator"}})).unwrap(),
            )
            .await
            .unwrap();
        Self {
            emulator,
            sim,
            accounts,
            http: reqwest::Client::new(),
        }
    }

    async fn register(&self, subject: &str, member: bool, admin: bool) {
        let app = json!({
            "tenantId": TENANT,
            "clientId": CLIENT,
            "federatedCredentials": [{"issuer": self.sim.url(), "subject": subject}],
            "organizationMember": member,
            "poolAdministrator": admin,
        });
        let response = self
            .http
            .post(format!(
                "{}/_emulator/entra/applications",
                self.emulator.base_url()
            ))
            .json(&app)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    async fn assertion(&self) -> String {
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec!["api://AzureADTokenExchange".into()],
                expiration_seconds: Some(600),
                ..Default::default()
            },
            ..Default::default()
        };
        self.accounts
            .create_token_request("azp-operator", &PostParams::default(), &request)
            .await
            .unwrap()
            .status
            .unwrap()
            .token
    }

    async fn exchange(&self, client_id: &str, assertion: &str) -> (u16, Value) {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", client_id)
            .append_pair("scope", SCOPE)
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", assertion)
            .finish();
        let response = self
            .http
            .post(format!(
                "{}/{TENANT}/oauth2/v2.0/token",
                self.emulator.base_url()
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn pools(&self, bearer: &str) -> u16 {
        self.http
            .get(format!(
                "{}/_apis/distributedtask/pools?api-version=7.1",
                self.emulator.org_url()
            ))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

fn code(body: &Value) -> u64 {
    let code = body["error_codes"][0].as_u64().unwrap();
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    code
}

const SUBJECT: &str = "system:serviceaccount:default:azp-operator";

#[tokio::test]
async fn a_federated_service_account_token_buys_an_access_token_that_administers_pools() {
    let world = World::start().await;
    world.register(SUBJECT, true, true).await;
    let (status, body) = world.exchange(CLIENT, &world.assertion().await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 3000);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(world.pools(token).await, 200);
    // The assertion itself is no Azure DevOps credential.
    assert_eq!(world.pools(&world.assertion().await).await, 401);
}

#[tokio::test]
async fn mismatched_federation_expiry_and_unknown_apps_get_entras_codes() {
    let world = World::start().await;
    world
        .register("system:serviceaccount:ci:someone-else", true, true)
        .await;
    let assertion = world.assertion().await;
    let (status, body) = world.exchange(CLIENT, &assertion).await;
    assert_eq!((status, code(&body)), (400, 700213), "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains(SUBJECT)
    );

    // A credential for another issuer (another cluster).
    let other = json!({"tenantId": TENANT, "clientId": CLIENT,
        "federatedCredentials": [{"issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/X", "subject": SUBJECT}]});
    world
        .http
        .post(format!(
            "{}/_emulator/entra/applications",
            world.emulator.base_url()
        ))
        .json(&other)
        .send()
        .await
        .unwrap();
    let (_, body) = world.exchange(CLIENT, &assertion).await;
    assert_eq!(code(&body), 700211, "{body}");

    world.register(SUBJECT, true, true).await;
    let (_, body) = world
        .exchange("11111111-2222-3333-4444-555555555555", &assertion)
        .await;
    assert_eq!(code(&body), 700016, "{body}");

    // Two hours later the ten-minute assertion has expired.
    world
        .http
        .post(format!(
            "{}/_emulator/entra/clock",
            world.emulator.base_url()
        ))
        .json(&json!({"offsetSeconds": 7200}))
        .send()
        .await
        .unwrap();
    let (_, body) = world.exchange(CLIENT, &assertion).await;
    assert_eq!(code(&body), 700024, "{body}");
}

#[tokio::test]
async fn a_forged_assertion_fails_signature_validation() {
    let world = World::start().await;
    world.register(SUBJECT, true, true).await;
    let assertion = world.assertion().await;
    let mut parts: Vec<String> = assertion.split('.').map(str::to_owned).collect();
    // Same claims, signature of a different payload.
    let other = world.assertion().await;
    parts[2] = other.split('.').nth(2).unwrap().to_owned();
    let (status, body) = world.exchange(CLIENT, &parts.join(".")).await;
    assert_eq!((status, code(&body)), (401, 700027), "{body}");
}

#[tokio::test]
async fn organization_membership_and_pool_rights_decide_between_401_403_and_200() {
    let world = World::start().await;
    world.register(SUBJECT, false, false).await;
    let (_, body) = world.exchange(CLIENT, &world.assertion().await).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        world.pools(&token).await,
        401,
        "not added to the organization"
    );

    world.register(SUBJECT, true, false).await;
    assert_eq!(world.pools(&token).await, 403, "no role on the agent pools");

    world.register(SUBJECT, true, true).await;
    assert_eq!(world.pools(&token).await, 200);

    // PAT Basic auth keeps working beside it.
    let basic = world
        .http
        .get(format!(
            "{}/_apis/distributedtask/pools?api-version=7.1",
            world.emulator.org_url()
        ))
        .basic_auth("", Some(EmulatorConfig::default().pat))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
}
