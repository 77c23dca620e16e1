//! Plays the official agent against the emulator (OAuth token, session, message poll) so a job gets assigned.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use azp_ado::{AdoClient, Agent, AgentAuthorization, AgentPublicKey, NewAgent};
use azp_ado_emulator::RunningEmulator;
use azp_ado_emulator::testing::AgentKey;
use serde_json::{Value, json};

/// An agent with an open session.
pub struct OnlineAgent {
    pub agent: Agent,
    http: reqwest::Client,
    token: String,
    pool_url: String,
    session_id: String,
}

impl OnlineAgent {
    /// One `GET messages` long poll; `Null` when idle.
    pub async fn poll(&self) -> Value {
        let response = self
            .http
            .get(format!(
                "{}/messages?sessionId={}",
                self.pool_url, self.session_id
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let text = response.text().await.unwrap();
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }
}

/// Registers a keyed agent through `client` (as the operator would), fetches its OAuth token and opens a session.
pub async fn register_online(
    emulator: &RunningEmulator,
    client: &AdoClient,
    pool_id: i32,
    name: &str,
) -> OnlineAgent {
    let key = AgentKey::generate().unwrap();
    let public_key: AgentPublicKey = serde_json::from_value(key.public_key_json()).unwrap();
    let new = NewAgent {
        name: name.to_owned(),
        version: "4.261.0".to_owned(),
        max_parallelism: Some(1),
        provisioning_state: Some("Provisioned".to_owned()),
        authorization: Some(AgentAuthorization {
            public_key: Some(public_key),
            ..AgentAuthorization::default()
        }),
        ..NewAgent::default()
    };
    let agent = client.add_agent(pool_id, &new).await.unwrap();
    let authorization = agent
        .authorization
        .clone()
        .expect("keyed registration returns OAuth data");
    let (client_id, token_url) = (
        authorization.client_id.unwrap(),
        authorization.authorization_url.unwrap(),
    );

    let http = reqwest::Client::new();
    let assertion = key.fresh_assertion(&client_id, &token_url).unwrap();
    let form = format!(
        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
    );
    let token: Value = http
        .post(&token_url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();

    let pools = format!(
        "{}/_apis/distributedtask/pools/{pool_id}",
        emulator.org_url()
    );
    let session: Value = http
        .post(format!("{pools}/sessions?api-version=5.1-preview.1"))
        .bearer_auth(&token)
        .json(&json!({"sessionId": "00000000-0000-0000-0000-000000000000", "ownerName": name,
            "agent": {"id": agent.id, "name": name, "version": "4.261.0", "osDescription": "Linux"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session_id = session["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {session}"))
        .to_owned();
    OnlineAgent {
        agent,
        http,
        token,
        pool_url: pools,
        session_id,
    }
}
