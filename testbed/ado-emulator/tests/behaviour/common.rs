//! Shared helpers: start an emulator, act as admin (PAT) or as a keyed agent.

use std::net::SocketAddr;
use std::time::Duration;

use azp_ado_emulator::testing::AgentKey;
use azp_ado_emulator::{EmulatorConfig, RunningEmulator};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

pub const PAT: &str = "test-pat-0123";
pub const API_VERSION_ACCEPT: &str = "application/json; api-version=7.1-preview.1";
/// Pool ids: "Default" = 10, "Linux" = 11.
pub const DEFAULT_POOL: i32 = 10;
pub const LINUX_POOL: i32 = 11;

/// Test timings: real behaviour, shorter holds.
pub fn config() -> EmulatorConfig {
    EmulatorConfig {
        pat: PAT.to_owned(),
        pools: vec!["Default".to_owned(), "Linux".to_owned()],
        long_poll: Duration::from_millis(400),
        sweep_interval: Duration::from_millis(50),
        ..EmulatorConfig::default()
    }
}

pub struct Emu {
    pub emu: RunningEmulator,
    pub http: reqwest::Client,
}

/// A registered keyed agent with its key and (once fetched) its access token.
pub struct TestAgent {
    pub id: i32,
    pub pool_id: i32,
    pub client_id: String,
    pub authorization_url: String,
    pub key: AgentKey,
    pub token: String,
}

impl Emu {
    pub async fn start(cfg: EmulatorConfig) -> Self {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let emu = RunningEmulator::start(cfg, addr).await.unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self { emu, http }
    }

    pub async fn default() -> Self {
        Self::start(config()).await
    }

    /// `{org}/_apis/{path}`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/_apis/{path}", self.emu.org_url())
    }

    pub fn control(&self, path: &str) -> String {
        format!("{}/_emulator/{path}", self.emu.base_url())
    }

    /// `POST /_emulator/{path}` with a JSON body (the control API needs no credentials).
    pub async fn post_control(&self, path: &str, body: &Value) -> Response {
        self.http
            .post(self.control(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// A request as the PAT holder, with the api-version in `Accept` as the .NET client sends it.
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.api(path))
            .basic_auth("VstsAgent", Some(PAT))
            .header("Accept", API_VERSION_ACCEPT)
    }

    pub fn as_agent(&self, agent: &TestAgent, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.api(path))
            .bearer_auth(&agent.token)
            .header("Accept", API_VERSION_ACCEPT)
    }

    /// `POST pools/{pool_id}/agents` as admin, which must succeed; the agent the server returns.
    async fn add_agent(&self, pool_id: i32, body: &Value) -> Value {
        let response = self
            .admin(
                Method::POST,
                &format!("distributedtask/pools/{pool_id}/agents"),
            )
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{:?}",
            response.text().await
        );
        response.json().await.unwrap()
    }

    /// Registers an agent with a fresh RSA key and fetches an access token for it.
    pub async fn register(&self, pool_id: i32, name: &str, capabilities: Value) -> TestAgent {
        let key = AgentKey::generate().unwrap();
        let body = json!({
            "name": name, "version": "4.261.0", "osDescription": "Linux", "maxParallelism": 1,
            "provisioningState": "Provisioned", "systemCapabilities": capabilities,
            "authorization": { "publicKey": key.public_key_json() },
        });
        let agent = self.add_agent(pool_id, &body).await;
        let mut agent = TestAgent {
            id: agent["id"].as_i64().unwrap() as i32,
            pool_id,
            client_id: agent["authorization"]["clientId"]
                .as_str()
                .unwrap()
                .to_owned(),
            authorization_url: agent["authorization"]["authorizationUrl"]
                .as_str()
                .unwrap()
                .to_owned(),
            key,
            token: String::new(),
        };
        agent.token = self
            .fetch_token(
                &agent,
                &agent
                    .key
                    .fresh_assertion(&agent.client_id, &agent.authorization_url)
                    .unwrap(),
            )
            .await
            .unwrap();
        agent
    }

    /// POSTs an assertion to the agent's authorizationUrl; Ok(access token) or Err(status, body).
    pub async fn fetch_token(
        &self,
        agent: &TestAgent,
        assertion: &str,
    ) -> Result<String, (StatusCode, Value)> {
        let form = format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
        );
        let response = self
            .http
            .post(&agent.authorization_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if status == StatusCode::OK {
            Ok(body["access_token"].as_str().unwrap().to_owned())
        } else {
            Err((status, body))
        }
    }

    /// Registers a keyless placeholder agent (always offline).
    pub async fn register_placeholder(&self, pool_id: i32, name: &str, capabilities: Value) -> i32 {
        let body = json!({ "name": name, "version": "99.999.9", "enabled": true, "status": "offline", "systemCapabilities": capabilities });
        let agent = self.add_agent(pool_id, &body).await;
        assert!(
            agent.get("authorization").is_none(),
            "keyless agents get no OAuth client: {agent}"
        );
        agent["id"].as_i64().unwrap() as i32
    }

    /// Creates a session as the agent; returns the session id.
    pub async fn session(&self, agent: &TestAgent) -> String {
        let response = self.create_session(agent).await;
        assert_eq!(response.status(), StatusCode::OK);
        let session: Value = response.json().await.unwrap();
        assert!(session.get("encryptionKey").is_none());
        session["sessionId"].as_str().unwrap().to_owned()
    }

    pub async fn create_session(&self, agent: &TestAgent) -> Response {
        let body = json!({
            "sessionId": "00000000-0000-0000-0000-000000000000", "ownerName": "pod-1",
            "agent": { "id": agent.id, "name": "x", "version": "4.261.0", "osDescription": "Linux" },
        });
        self.as_agent(
            agent,
            Method::POST,
            &format!("distributedtask/pools/{}/sessions", agent.pool_id),
        )
        .json(&body)
        .send()
        .await
        .unwrap()
    }

    /// One `GET messages` poll; `(status, message or Null)`.
    pub async fn poll(
        &self,
        agent: &TestAgent,
        session: &str,
        last: Option<i64>,
    ) -> (StatusCode, Value) {
        let mut path = format!(
            "distributedtask/pools/{}/messages?sessionId={session}",
            agent.pool_id
        );
        if let Some(last) = last {
            path.push_str(&format!("&lastMessageId={last}"));
        }
        let response = self
            .as_agent(agent, Method::GET, &path)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, body)
    }

    pub async fn delete_message(
        &self,
        agent: &TestAgent,
        session: &str,
        message_id: i64,
    ) -> StatusCode {
        self.as_agent(
            agent,
            Method::DELETE,
            &format!(
                "distributedtask/pools/{}/messages/{message_id}?sessionId={session}",
                agent.pool_id
            ),
        )
        .fetch_status()
        .await
    }

    /// `POST /_emulator/jobs`.
    pub async fn queue(&self, body: Value) -> i64 {
        let response = self.post_control("jobs", &body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["requestId"]
            .as_i64()
            .unwrap()
    }

    /// `GET /_emulator/jobs/{id}`.
    pub async fn job(&self, id: i64) -> Value {
        self.http
            .get(self.control(&format!("jobs/{id}")))
            .fetch_json()
            .await
    }

    /// `PATCH jobrequests/{id}` as the agent; `(status, body)`.
    pub async fn patch_job(&self, agent: &TestAgent, id: i64, body: Value) -> (StatusCode, Value) {
        let response = self
            .as_agent(agent, Method::PATCH, &format!("distributedtask/pools/{}/jobrequests/{id}?lockToken=00000000-0000-0000-0000-000000000000", agent.pool_id))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits (up to 5 s) until the control API reports the job in `state`.
    pub async fn wait_state(&self, id: i64, state: &str) -> Value {
        for _ in 0..100 {
            let job = self.job(id).await;
            if job["state"] == state {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} never reached {state}: {}", self.job(id).await);
    }
}

/// The `typeKey` of a WrappedException answer.
pub async fn type_key(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["typeKey"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Sending for tests, one call per thing a test looks at; a request that cannot be sent at all
/// (connection refused, timeout) fails the test.
pub trait Exchange {
    /// Sends; the status code.
    async fn fetch_status(self) -> StatusCode;
    /// Sends; the body parsed as JSON.
    async fn fetch_json(self) -> Value;
    /// Sends; the status and the `typeKey` of the WrappedException answer.
    async fn fetch_type_key(self) -> (StatusCode, String);
}

impl Exchange for RequestBuilder {
    async fn fetch_status(self) -> StatusCode {
        self.send().await.unwrap().status()
    }

    async fn fetch_json(self) -> Value {
        self.send().await.unwrap().json().await.unwrap()
    }

    async fn fetch_type_key(self) -> (StatusCode, String) {
        type_key(self.send().await.unwrap()).await
    }
}

/// Message body parsed from its JSON string.
pub fn message_body(message: &Value) -> Value {
    serde_json::from_str(message["body"].as_str().unwrap()).unwrap()
}
