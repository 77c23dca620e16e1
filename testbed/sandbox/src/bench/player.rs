//! The in-process agent player: a kubelet [`PodRuntime`] whose `agent` container, instead of
//! spawning `azp-agent`, plays one agent against the emulator over HTTP, as the official
//! agent does: keyed registration with the PAT, OAuth client assertion, session, message
//! long-poll, one job (renew, then finish), session and registration removal, and a
//! termination message the operator reads. Sidecars run until stopped.
//!
//! Why: 500 `azp-agent` processes (plus their stand-ins) do not fit on two cores, and the
//! simulated runtime's pods never register, so nothing would take the jobs. The player
//! also records when each agent was online without a job (idle agent-seconds) and counts
//! every Azure DevOps request it makes, so the bench can subtract them from the emulator's
//! per-route counts and report the operator's own traffic.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azp_ado_emulator::testing::AgentKey;
use azp_contract::termination::{Outcome, TerminationMessage};
use azp_kube_sim::kubelet::{
    ContainerExit, ContainerHandle, PodRuntime, PodSandbox, RuntimeError, StopSignal,
};
use chrono::{DateTime, Utc};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Container, Pod, Secret};
use serde_json::{Value, json};

const API_POOLS: &str = "5.1-preview.1";
const API_AGENTS: &str = "6.0-preview.2";
const API_MESSAGES: &str = "6.0-preview.1";
const POOL_ROUTE: &str = "/_apis/distributedtask/pools/{poolId}";
const EMPTY_LOCK_TOKEN: &str = "00000000-0000-0000-0000-000000000000";
const AGENT_CONTAINER: &str = "agent";

/// What one played agent did, for the idle-time and duplicate figures.
#[derive(Debug, Clone, Default)]
pub struct AgentRecord {
    /// Pod the agent ran in.
    pub pod: String,
    /// Agent name (contract naming, from the pod's environment).
    pub agent_name: String,
    /// Session opened: the agent is online from here.
    pub online_at: Option<DateTime<Utc>>,
    /// First job message received.
    pub job_at: Option<DateTime<Utc>>,
    /// Job request it ran.
    pub request_id: Option<i64>,
    /// Session closed (or the container was stopped).
    pub offline_at: Option<DateTime<Utc>>,
}

impl AgentRecord {
    /// Seconds online without a job: from the session to the job (or to going offline;
    /// an agent still idle is counted up to `now`).
    pub fn idle_seconds(&self, now: DateTime<Utc>) -> f64 {
        self.idle_seconds_between(DateTime::<Utc>::MIN_UTC, now)
    }

    /// Idle seconds that fall inside `[from, to]` (the measured part of a run).
    pub fn idle_seconds_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        let Some(online) = self.online_at else {
            return 0.0;
        };
        let end = self.job_at.or(self.offline_at).unwrap_or(to).min(to);
        let start = online.max(from);
        (end - start).num_milliseconds().max(0) as f64 / 1000.0
    }
}

/// Shared state of the player: HTTP client, one RSA key for every agent (generating 500
/// RSA-2048 keys would dominate the run; the emulator keys tokens by client id, so sharing
/// the key changes nothing it checks), pool ids, records and request counts.
struct Shared {
    http: reqwest::Client,
    pat: String,
    key: AgentKey,
    job_seconds: Option<f64>,
    pool_ids: Mutex<HashMap<(String, String), i64>>,
    records: Mutex<BTreeMap<String, AgentRecord>>,
    requests: Mutex<BTreeMap<String, u64>>,
}

/// The runtime handed to the kubelet simulator; clone it to read records and counts.
#[derive(Clone)]
pub struct AgentPlayerRuntime {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AgentPlayerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentPlayerRuntime { pat: *** }")
    }
}

/// Why the player could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PlayerError {
    /// Key generation failed.
    #[error("agent key: {0}")]
    Key(String),
}

impl AgentPlayerRuntime {
    /// A player that registers with `pat`. `job_seconds` overrides how long each job runs
    /// (else the job's `azp.emulator.durationSeconds` variable).
    pub fn new(pat: impl Into<String>, job_seconds: Option<f64>) -> Result<Self, PlayerError> {
        let key = AgentKey::generate().map_err(|e| PlayerError::Key(e.to_string()))?;
        Ok(Self {
            shared: Arc::new(Shared {
                http: reqwest::Client::new(),
                pat: pat.into(),
                key,
                job_seconds,
                pool_ids: Mutex::new(HashMap::new()),
                records: Mutex::new(BTreeMap::new()),
                requests: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// Every agent played so far, by pod name.
    pub fn records(&self) -> Vec<AgentRecord> {
        lock(&self.shared.records).values().cloned().collect()
    }

    /// Requests the player sent, keyed like the emulator's stats (`"METHOD /_apis/..."`).
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the request counts (with the emulator's `stats/reset`).
    pub fn reset_request_counts(&self) {
        lock(&self.shared.requests).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent (single inserts).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The operator-minted registration Secret a pod mounts (`spec.registration: operator`).
fn registration_secret_of(pod: &Pod) -> Option<String> {
    pod.spec
        .as_ref()?
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| v.secret.as_ref()?.secret_name.clone())
        .find(|name| name.ends_with("-registration"))
}

/// How often and how long `prepare` looks for a pod's registration Secret before reporting
/// the pod not ready (the kubelet then retries): the real kubelet's volume manager
/// reconciles every 100 ms, and the operator writes the Secret right after the pod.
const SECRET_POLL: Duration = Duration::from_millis(100);
const SECRET_POLLS: u32 = 30;

impl PodRuntime for AgentPlayerRuntime {
    fn prepare(
        &self,
        client: kube::Client,
        pod: Arc<Pod>,
    ) -> BoxFuture<'static, Result<PodSandbox, RuntimeError>> {
        async move {
            let mut secrets = HashMap::new();
            if let Some(name) = registration_secret_of(&pod) {
                let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
                let api: kube::Api<Secret> = kube::Api::namespaced(client, namespace);
                let mut polls = 0;
                let secret = loop {
                    match api.get_opt(&name).await {
                        Ok(Some(secret)) => break secret,
                        Ok(None) if polls < SECRET_POLLS => {
                            polls += 1;
                            tokio::time::sleep(SECRET_POLL).await;
                        }
                        Ok(None) => {
                            return Err(RuntimeError::Config(format!(
                                "secret \"{name}\" not found"
                            )));
                        }
                        Err(e) => return Err(RuntimeError::Config(e.to_string())),
                    }
                };
                let data: BTreeMap<String, Vec<u8>> = secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                secrets.insert(name, data);
            }
            Ok(PodSandbox {
                pod,
                secrets,
                ..PodSandbox::default()
            })
        }
        .boxed()
    }

    fn start_container(
        &self,
        sandbox: &PodSandbox,
        container: &Container,
    ) -> BoxFuture<'static, Result<ContainerHandle, RuntimeError>> {
        let shared = self.shared.clone();
        let pod_name = sandbox.pod.metadata.name.clone().unwrap_or_default();
        let plays_agent = container.name == AGENT_CONTAINER;
        // A plain init container (not a native sidecar, which has `restartPolicy: Always`).
        let is_register_step = !plays_agent
            && sandbox
                .pod
                .spec
                .as_ref()
                .and_then(|spec| spec.init_containers.as_ref())
                .is_some_and(|inits| inits.iter().any(|c| c.name == container.name))
            && container.restart_policy.as_deref() != Some("Always");
        let env = env_of(container);
        // Only `agent` mounts the registration; the player reads it as `azp-agent run` does.
        let minted = registration_secret_of(&sandbox.pod)
            .and_then(|name| sandbox.secrets.get(&name).cloned())
            .filter(|_| plays_agent);
        async move {
            let (handle, mut control) = ContainerHandle::new_pair();
            tokio::spawn(async move {
                if is_register_step {
                    // `azp-agent register`: the played agent registers in the `agent`
                    // container instead, so the hand-over step succeeds at once.
                    control.exited(ContainerExit::from_code(0, String::new()));
                    return;
                }
                if !plays_agent {
                    // Sidecars (BuildKit) idle until stopped, like the simulated runtime.
                    let signal = control.signals.recv().await;
                    let code = if signal == Some(StopSignal::Kill) {
                        137
                    } else {
                        143
                    };
                    control.exited(ContainerExit::from_code(code, String::new()));
                    return;
                }
                let agent = PlayedAgent::new(shared, pod_name, env, minted);
                let exit = agent.run(&mut control.signals).await;
                control.exited(exit);
            });
            Ok(handle)
        }
        .boxed()
    }

    fn release(&self, _sandbox: &PodSandbox) {}
}

/// `url?name=value&...` with the values percent-encoded (reqwest's `query` needs a feature
/// the workspace does not enable).
fn with_query(url: String, pairs: &[(&str, &str)]) -> String {
    let mut out = url;
    for (i, (name, value)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        out.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

fn env_of(container: &Container) -> HashMap<String, String> {
    container
        .env
        .iter()
        .flatten()
        .filter_map(|var| var.value.clone().map(|v| (var.name.clone(), v)))
        .collect()
}

/// Why one played agent failed.
#[derive(Debug, thiserror::Error)]
enum PlayError {
    #[error("missing environment variable {0}")]
    Env(&'static str),
    #[error("{0}")]
    Http(String),
    #[error("stopped")]
    Stopped,
}

struct Session {
    pool_url: String,
    token: String,
    session_id: String,
    agent_id: i64,
}

struct PlayedAgent {
    shared: Arc<Shared>,
    pod: String,
    env: HashMap<String, String>,
    /// The operator-minted registration files, by name, when the pod has them.
    minted: Option<BTreeMap<String, Vec<u8>>>,
    record: AgentRecord,
}

impl PlayedAgent {
    fn new(
        shared: Arc<Shared>,
        pod: String,
        env: HashMap<String, String>,
        minted: Option<BTreeMap<String, Vec<u8>>>,
    ) -> Self {
        let agent_name = env
            .get(azp_contract::env::AGENT_NAME)
            .cloned()
            .unwrap_or_default();
        Self {
            shared,
            record: AgentRecord {
                pod: pod.clone(),
                agent_name,
                ..AgentRecord::default()
            },
            pod,
            env,
            minted,
        }
    }

    fn count(&self, method: &str, route: &str) {
        *lock(&self.shared.requests)
            .entry(format!("{method} {route}"))
            .or_default() += 1;
    }

    fn save(&self) {
        lock(&self.shared.records).insert(self.pod.clone(), self.record.clone());
    }

    fn var(&self, name: &'static str) -> Result<&str, PlayError> {
        self.env
            .get(name)
            .map(String::as_str)
            .ok_or(PlayError::Env(name))
    }

    /// Plays the agent until its job is done or the kubelet stops the container.
    async fn run(
        mut self,
        signals: &mut tokio::sync::mpsc::UnboundedReceiver<StopSignal>,
    ) -> ContainerExit {
        let mut session: Option<Session> = None;
        let played = {
            let work = self.play(&mut session);
            tokio::pin!(work);
            tokio::select! {
                result = &mut work => result,
                _ = signals.recv() => Err(PlayError::Stopped),
            }
        };
        let (outcome, code, reason) = match &played {
            Ok(true) => (Outcome::Succeeded, 0, String::new()),
            Ok(false) => (Outcome::NoJob, 0, String::new()),
            Err(PlayError::Stopped) => (Outcome::Interrupted, 14, "stopped".to_owned()),
            Err(e) => {
                tracing::warn!(pod = %self.pod, error = %e, "played agent failed");
                (Outcome::RegistrationFailed, 12, e.to_string())
            }
        };
        // Deregister always (like `azp-agent run`), even after a stop signal.
        let agent_id = session.as_ref().map(|s| s.agent_id);
        if let Some(s) = session.take() {
            self.deregister(&s).await;
        }
        if self.record.online_at.is_some() && self.record.offline_at.is_none() {
            self.record.offline_at = Some(Utc::now());
        }
        self.save();
        let message = TerminationMessage {
            agent_id,
            agent_name: self.record.agent_name.clone(),
            request_id: self.record.request_id,
            outcome,
            exit_reason: reason,
            durations_ms: Default::default(),
            failed_checks: Vec::new(),
        };
        ContainerExit::from_code(code, message.to_json())
    }

    /// Registers, waits for one job and runs it. `Ok(true)` when a job ran.
    async fn play(&mut self, session: &mut Option<Session>) -> Result<bool, PlayError> {
        let opened = match self.minted.take() {
            // `run.sh` with the files the operator wrote: no registration step at all.
            Some(files) => self.open_minted(&files).await?,
            None => {
                let org = self.var(azp_contract::env::ORGANIZATION_URL)?.to_owned();
                let pool = self.var(azp_contract::env::POOL)?.to_owned();
                let pool_id = self.pool_id(&org, &pool).await?;
                self.register(&org, pool_id).await?
            }
        };
        self.record.online_at = Some(Utc::now());
        self.save();
        let session = session.insert(opened);
        let Some((message_id, body)) = self.wait_for_job(session).await? else {
            return Ok(false);
        };
        self.record.job_at = Some(Utc::now());
        let request_id = body["requestId"].as_i64().unwrap_or_default();
        self.record.request_id = Some(request_id);
        self.save();
        self.delete_message(session, message_id).await?;
        self.patch_job(session, request_id, None).await?;
        let seconds = self.shared.job_seconds.unwrap_or_else(|| {
            body["variables"]["azp.emulator.durationSeconds"]["value"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1.0)
        });
        tokio::time::sleep(Duration::from_secs_f64(seconds.max(0.0))).await;
        self.patch_job(session, request_id, Some("succeeded"))
            .await?;
        Ok(true)
    }

    async fn pool_id(&self, org: &str, pool: &str) -> Result<i64, PlayError> {
        let cache_key = (org.to_owned(), pool.to_owned());
        if let Some(id) = lock(&self.shared.pool_ids).get(&cache_key) {
            return Ok(*id);
        }
        self.count("GET", "/_apis/distributedtask/pools");
        let list: Value = self
            .send(
                self.shared
                    .http
                    .get(with_query(
                        format!("{org}/_apis/distributedtask/pools"),
                        &[("poolName", pool), ("api-version", API_POOLS)],
                    ))
                    .basic_auth("agent", Some(&self.shared.pat)),
            )
            .await?;
        let id = list["value"][0]["id"]
            .as_i64()
            .ok_or_else(|| PlayError::Http(format!("pool {pool} not found")))?;
        lock(&self.shared.pool_ids).insert(cache_key, id);
        Ok(id)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, PlayError> {
        let response = request
            .send()
            .await
            .map_err(|e| PlayError::Http(e.without_url().to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| PlayError::Http(e.without_url().to_string()))?;
        if !status.is_success() {
            return Err(PlayError::Http(format!(
                "{status}: {}",
                text.chars().take(200).collect::<String>()
            )));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| PlayError::Http(e.to_string()))
    }

    /// `config.sh`'s part: keyed registration with the PAT, then the listener's: OAuth
    /// token and session.
    async fn register(&self, org: &str, pool_id: i64) -> Result<Session, PlayError> {
        let name = self.record.agent_name.clone();
        if name.is_empty() {
            return Err(PlayError::Env(azp_contract::env::AGENT_NAME));
        }
        // The official agent publishes its environment as system capabilities: the owner
        // capability and each AZP_CAPABILITIES entry arrive that way.
        let mut capabilities: BTreeMap<String, String> = self
            .env
            .get(azp_contract::env::CAPABILITIES)
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default();
        if let Some(owner) = self.env.get(azp_contract::env::AGENT_POOL_OWNER) {
            capabilities.insert(
                azp_contract::env::AGENT_POOL_OWNER.to_owned(),
                owner.clone(),
            );
        }
        let pool_url = format!("{org}/_apis/distributedtask/pools/{pool_id}");
        self.count("POST", &format!("{POOL_ROUTE}/agents"));
        let agent: Value = self
            .send(
                self.shared
                    .http
                    .post(with_query(
                        format!("{pool_url}/agents"),
                        &[("api-version", API_AGENTS)],
                    ))
                    .basic_auth("agent", Some(&self.shared.pat))
                    .json(&json!({
                        "name": name, "version": "4.261.0", "osDescription": "Linux (bench player)",
                        "maxParallelism": 1, "provisioningState": "Provisioned",
                        "systemCapabilities": capabilities,
                        "authorization": {"publicKey": self.shared.key.public_key_json()},
                    })),
            )
            .await?;
        let agent_id = agent["id"]
            .as_i64()
            .ok_or_else(|| PlayError::Http("registration answer without id".into()))?;
        let client_id = agent["authorization"]["clientId"]
            .as_str()
            .unwrap_or_default();
        let token_url = agent["authorization"]["authorizationUrl"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.open_session(pool_url, agent_id, client_id, &token_url, &self.shared.key)
            .await
    }

    /// What `run.sh` does with operator-minted files: `.agent` names the agent and pool,
    /// `.credentials` the OAuth client, `.credentials_rsaparams` the key that signs for it.
    async fn open_minted(&self, files: &BTreeMap<String, Vec<u8>>) -> Result<Session, PlayError> {
        let json = |name: &str| -> Result<Value, PlayError> {
            let bytes = files
                .get(name)
                .ok_or_else(|| PlayError::Http(format!("registration file {name} missing")))?;
            serde_json::from_slice(bytes).map_err(|e| PlayError::Http(format!("{name}: {e}")))
        };
        let (settings, credentials) = (json(".agent")?, json(".credentials")?);
        let key = AgentKey::from_rsa_params(&json(".credentials_rsaparams")?)
            .map_err(|e| PlayError::Http(e.to_string()))?;
        let server = settings["serverUrl"].as_str().unwrap_or_default();
        let pool_id = settings["poolId"].as_i64().unwrap_or_default();
        let agent_id = settings["agentId"].as_i64().unwrap_or_default();
        let data = &credentials["data"];
        let client_id = data["clientId"].as_str().unwrap_or_default();
        let token_url = data["oauthEndpointUrl"]
            .as_str()
            .or_else(|| data["authorizationUrl"].as_str())
            .unwrap_or_default();
        let pool_url = format!("{server}/_apis/distributedtask/pools/{pool_id}");
        self.open_session(pool_url, agent_id, client_id, token_url, &key)
            .await
    }

    /// The listener's start: OAuth token for `client_id`, then a session.
    async fn open_session(
        &self,
        pool_url: String,
        agent_id: i64,
        client_id: &str,
        token_url: &str,
        key: &AgentKey,
    ) -> Result<Session, PlayError> {
        let name = self.record.agent_name.clone();
        let assertion = key
            .fresh_assertion(client_id, token_url)
            .map_err(|e| PlayError::Http(e.to_string()))?;
        self.count("POST", "/_apis/oauth2/token");
        let token: Value = self
            .send(
                self.shared
                    .http
                    .post(token_url)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(format!(
                        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
                    )),
            )
            .await?;
        let token = token["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.count("POST", &format!("{POOL_ROUTE}/sessions"));
        let opened: Value = self
            .send(
                self.shared
                    .http
                    .post(with_query(format!("{pool_url}/sessions"), &[("api-version", API_POOLS)]))
                    .bearer_auth(&token)
                    .json(&json!({
                        "sessionId": EMPTY_LOCK_TOKEN, "ownerName": name,
                        "agent": {"id": agent_id, "name": name, "version": "4.261.0", "osDescription": "Linux"},
                    })),
            )
            .await?;
        let session_id = opened["sessionId"]
            .as_str()
            .ok_or_else(|| PlayError::Http("session answer without sessionId".into()))?
            .to_owned();
        Ok(Session {
            pool_url,
            token,
            session_id,
            agent_id,
        })
    }

    /// Long-polls until a job message arrives: `(message id, parsed body)`; `None` when the
    /// session ended (agent disabled and deleted, for example).
    async fn wait_for_job(&self, s: &Session) -> Result<Option<(i64, Value)>, PlayError> {
        loop {
            let message = self
                .send(
                    self.shared
                        .http
                        .get(with_query(
                            format!("{}/messages", s.pool_url),
                            &[
                                ("sessionId", s.session_id.as_str()),
                                ("api-version", API_MESSAGES),
                            ],
                        ))
                        .bearer_auth(&s.token),
                )
                .await;
            // Counted when answered: the emulator counts a long poll when it answers, so a
            // poll held across a stats reset is on the same side of it for both.
            self.count("GET", &format!("{POOL_ROUTE}/messages"));
            let message = match message {
                Ok(m) => m,
                // A disabled-then-deleted agent loses its session: it got no job.
                Err(PlayError::Http(e)) if e.starts_with("400") || e.starts_with("401") => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            if message.is_null() {
                continue;
            }
            let id = message["messageId"].as_i64().unwrap_or_default();
            if message["messageType"] == "PipelineAgentJobRequest" {
                let body = message["body"]
                    .as_str()
                    .and_then(|b| serde_json::from_str(b).ok())
                    .unwrap_or(Value::Null);
                return Ok(Some((id, body)));
            }
            // Anything else (refresh, cancellation of nothing) is acknowledged and ignored.
            self.delete_message(s, id).await?;
        }
    }

    async fn delete_message(&self, s: &Session, id: i64) -> Result<(), PlayError> {
        self.count("DELETE", &format!("{POOL_ROUTE}/messages/{{messageId}}"));
        self.send(
            self.shared
                .http
                .delete(with_query(
                    format!("{}/messages/{id}", s.pool_url),
                    &[
                        ("sessionId", s.session_id.as_str()),
                        ("api-version", API_POOLS),
                    ],
                ))
                .bearer_auth(&s.token),
        )
        .await
        .map(drop)
    }

    async fn patch_job(
        &self,
        s: &Session,
        request_id: i64,
        result: Option<&str>,
    ) -> Result<(), PlayError> {
        let mut body = json!({"requestId": request_id});
        if let Some(result) = result {
            body["result"] = json!(result);
            body["finishTime"] =
                json!(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        }
        self.count("PATCH", &format!("{POOL_ROUTE}/jobrequests/{{requestId}}"));
        self.send(
            self.shared
                .http
                .patch(with_query(
                    format!("{}/jobrequests/{request_id}", s.pool_url),
                    &[("lockToken", EMPTY_LOCK_TOKEN), ("api-version", API_POOLS)],
                ))
                .bearer_auth(&s.token)
                .json(&body),
        )
        .await
        .map(drop)
    }

    /// Closes the session and, when the container has the PAT (the single-container pod),
    /// removes the registration (`config.sh remove`). Failures are left for the operator's
    /// sweep, as with the real agent.
    async fn deregister(&mut self, s: &Session) {
        self.count("DELETE", &format!("{POOL_ROUTE}/sessions/{{sessionId}}"));
        let _ = self
            .send(
                self.shared
                    .http
                    .delete(with_query(
                        format!("{}/sessions/{}", s.pool_url, s.session_id),
                        &[("api-version", API_POOLS)],
                    ))
                    .bearer_auth(&s.token),
            )
            .await;
        self.record.offline_at = Some(Utc::now());
        // The agent container of a pod with a `register` step has no PAT: like `azp-agent
        // run`, it leaves the registration to the operator.
        if !self.env.contains_key(azp_contract::env::PAT_FILE) {
            return;
        }
        self.count("DELETE", &format!("{POOL_ROUTE}/agents/{{agentId}}"));
        if let Err(e) = self
            .send(
                self.shared
                    .http
                    .delete(with_query(
                        format!("{}/agents/{}", s.pool_url, s.agent_id),
                        &[("api-version", API_AGENTS)],
                    ))
                    .basic_auth("agent", Some(&self.shared.pat)),
            )
            .await
        {
            tracing::debug!(pod = %self.pod, error = %e, "deregistration failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            with_query(
                "http://h/p".into(),
                &[("poolName", "my pool/x"), ("api-version", "5.1-preview.1")]
            ),
            "http://h/p?poolName=my%20pool%2Fx&api-version=5.1-preview.1"
        );
    }

    #[test]
    fn idle_time_runs_from_session_to_job_or_offline() {
        let t0 = Utc::now();
        let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
        let took_job = AgentRecord {
            online_at: Some(at(0)),
            job_at: Some(at(1500)),
            offline_at: Some(at(9000)),
            ..AgentRecord::default()
        };
        assert_eq!(took_job.idle_seconds(at(20_000)), 1.5);
        let scaled_down = AgentRecord {
            online_at: Some(at(0)),
            offline_at: Some(at(4000)),
            ..AgentRecord::default()
        };
        assert_eq!(scaled_down.idle_seconds(at(20_000)), 4.0);
        let still_idle = AgentRecord {
            online_at: Some(at(0)),
            ..AgentRecord::default()
        };
        assert_eq!(still_idle.idle_seconds(at(2500)), 2.5);
        assert_eq!(AgentRecord::default().idle_seconds(at(1)), 0.0);
        // Only the measured window counts.
        assert_eq!(took_job.idle_seconds_between(at(1000), at(20_000)), 0.5);
        assert_eq!(scaled_down.idle_seconds_between(at(1000), at(3000)), 2.0);
        assert_eq!(scaled_down.idle_seconds_between(at(5000), at(9000)), 0.0);
    }
}
