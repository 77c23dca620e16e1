//! `run.sh [--once]`: the listener (protocol §5). Creates a session, long-polls messages,
//! dispatches jobs, honours cancellation, AgentRefresh and SIGTERM/SIGINT, and exits with the
//! real agent's return codes.

mod session;

use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::standin::args::AgentArgs;
use crate::standin::console;
use crate::standin::error::{ApiError, StandinError};
use crate::standin::http::{AdoClient, Credential, build_http_client};
use crate::standin::job::{JobContext, JobReport};
use crate::standin::key::AgentKey;
use crate::standin::message_crypto::MessageDecryptor;
use crate::standin::oauth::TokenSource;
use crate::standin::settings::{AgentRoot, AgentSettings};
use crate::standin::timing::Timing;
use crate::standin::wire::{AgentMessage, JobCancellation, JobRequestMessage};
use session::ActiveSession;

/// Normal stop, run-once done, SIGTERM/SIGINT.
pub const EXIT_SUCCESS: i32 = 0;
/// Not configured, or a non-retriable session failure.
pub const EXIT_TERMINATED: i32 = 1;
/// Unhandled failure while listening (401, agent deleted).
pub const EXIT_RETRYABLE: i32 = 2;
/// AgentRefresh received.
pub const EXIT_UPDATING: i32 = 3;
/// AgentRefresh received with `--once`.
pub const EXIT_RUN_ONCE_UPDATING: i32 = 4;

/// Runs the listener in `root`; returns the process exit code.
pub async fn run(root: &AgentRoot, args: &AgentArgs) -> i32 {
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(err) => {
            console::error(&format!("cannot install signal handlers: {err}"));
            return EXIT_TERMINATED;
        }
    };
    let listener = match Listener::load(root, args.flag("once")) {
        Ok(listener) => listener,
        Err(err) => {
            console::error(&err.to_string());
            return EXIT_TERMINATED;
        }
    };
    console::info("Scanning for tool capabilities.");
    console::info("Connecting to the server.");
    let start = async {
        listener.read_feature_flag().await;
        listener.create_session().await
    };
    let session = tokio::select! {
        created = start => match created {
            Ok(session) => session,
            Err(code) => return code,
        },
        () = signals.recv() => return EXIT_SUCCESS,
    };
    listener.listen(session, &mut signals).await
}

/// SIGTERM and SIGINT, merged.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// A dispatched job.
struct RunningJob {
    job_id: String,
    cancel: CancellationToken,
    handle: JoinHandle<JobReport>,
}

struct Listener {
    client: AdoClient,
    /// A second handle on the agent key (the first lives in the token source) for session keys.
    key: AgentKey,
    settings: AgentSettings,
    root: AgentRoot,
    timing: Timing,
    once: bool,
}

/// What woke the listener up.
enum Event {
    Signal,
    JobDone(JobReport),
    Polled(Result<Option<AgentMessage>, ApiError>),
}

/// What the loop does after handling a message.
enum Next {
    Continue,
    Exit(i32),
}

impl Listener {
    fn load(root: &AgentRoot, once: bool) -> Result<Self, StandinError> {
        if !root.is_configured() {
            return Err(StandinError::Refused(
                "Must configure first. Run ./config.sh".to_string(),
            ));
        }
        let settings = root.read_settings()?;
        let credentials = root.read_credentials()?;
        if !credentials.scheme.eq_ignore_ascii_case("OAuth") {
            return Err(StandinError::Refused(format!(
                "credential scheme {} is not supported by the stand-in",
                credentials.scheme
            )));
        }
        let key = root.read_key()?;
        let session_key = root.read_key()?;
        let ca_cert = root.read_certificates()?.and_then(|certs| certs.ca_cert);
        let http = build_http_client(ca_cert.as_deref().map(std::path::Path::new))?;
        let endpoint = credentials.data.token_endpoint().to_owned();
        let tokens = TokenSource::new(
            http.clone(),
            key,
            credentials.data.client_id,
            credentials.data.authorization_url,
            &endpoint,
        )?;
        let client = AdoClient::new(
            http,
            &settings.server_url,
            Credential::OAuth(Arc::new(tokens)),
        );
        Ok(Self {
            client,
            key: session_key,
            settings,
            root: root.clone(),
            timing: Timing::from_env(),
            once,
        })
    }

    fn pool_path(&self, resource: &str) -> String {
        format!(
            "_apis/distributedtask/pools/{}/{resource}",
            self.settings.pool_id
        )
    }

    async fn listen(&self, session: ActiveSession, signals: &mut Signals) -> i32 {
        console::line("Listening for Jobs");
        let ActiveSession {
            id: mut session_id,
            mut decryptor,
        } = session;
        let (session_tx, session_rx) = tokio::sync::watch::channel(session_id.clone());
        let _keepalive = self.spawn_keepalive(session_rx);
        let mut last_message_id: Option<i64> = None;
        let mut running: Option<RunningJob> = None;
        let mut job_dispatched = false;
        let mut refresh_pending = false;
        let mut next_poll_delay = Duration::ZERO;
        loop {
            let poll_session = session_id.clone();
            let poll = async move {
                tokio::time::sleep(next_poll_delay).await;
                self.poll(&poll_session, last_message_id).await
            };
            // Collect the event first so every future is dropped before we act on it.
            let event = tokio::select! {
                biased;
                () = signals.recv() => Event::Signal,
                report = wait_for(&mut running) => Event::JobDone(report),
                polled = poll => Event::Polled(polled),
            };
            next_poll_delay = Duration::ZERO;
            match event {
                Event::Signal => {
                    console::line("Exiting...");
                    if let Some(job) = running.take() {
                        job.cancel.cancel();
                        let _ = job.handle.await;
                    }
                    self.delete_session(&session_id).await;
                    return EXIT_SUCCESS;
                }
                Event::JobDone(report) => {
                    running = None;
                    tracing::info!(request_id = report.request_id, result = ?report.result, "job done");
                    if refresh_pending {
                        self.delete_session(&session_id).await;
                        return self.update_exit_code();
                    }
                    if self.once {
                        self.delete_session(&session_id).await;
                        return EXIT_SUCCESS;
                    }
                }
                Event::Polled(Ok(None)) => next_poll_delay = self.timing.idle_poll_delay(),
                Event::Polled(Ok(Some(message))) => {
                    last_message_id = Some(message.message_id);
                    let next = self
                        .handle_message(
                            &session_id,
                            decryptor.as_ref(),
                            message,
                            &mut running,
                            &mut job_dispatched,
                            &mut refresh_pending,
                        )
                        .await;
                    if let Next::Exit(code) = next {
                        return code;
                    }
                }
                Event::Polled(Err(err)) if err.has_type_key("TaskAgentSessionExpiredException") => {
                    console::line("Session expired; creating a new one.");
                    match self.create_session().await {
                        Ok(new_session) => {
                            session_id = new_session.id;
                            decryptor = new_session.decryptor;
                            let _ = session_tx.send(session_id.clone());
                        }
                        // The real listener rethrows the expiry when recovery fails: exit 2.
                        Err(_) => {
                            if let Some(job) = running.take() {
                                job.cancel.cancel();
                                let _ = job.handle.await;
                            }
                            return EXIT_RETRYABLE;
                        }
                    }
                }
                Event::Polled(Err(err))
                    if is_fatal(&err) || err.has_type_key("TaskAgentNotFoundException") =>
                {
                    console::error(&format!("Agent listener stopped: {err}"));
                    if let Some(job) = running.take() {
                        job.cancel.cancel();
                        let _ = job.handle.await;
                    }
                    return EXIT_RETRYABLE;
                }
                Event::Polled(Err(err)) => {
                    console::line(&format!("Failed to get the next message, retrying. {err}"));
                    next_poll_delay = self.timing.poll_error_backoff();
                }
            }
        }
    }

    fn update_exit_code(&self) -> i32 {
        if self.once {
            EXIT_RUN_ONCE_UPDATING
        } else {
            EXIT_UPDATING
        }
    }

    async fn handle_message(
        &self,
        session_id: &str,
        decryptor: Option<&MessageDecryptor>,
        message: AgentMessage,
        running: &mut Option<RunningJob>,
        job_dispatched: &mut bool,
        refresh_pending: &mut bool,
    ) -> Next {
        let iv = message.iv.as_deref().filter(|iv| !iv.is_empty());
        let body = match (iv, decryptor) {
            (None, _) => message.body.clone(),
            (Some(iv), Some(decryptor)) => match decryptor.decrypt(iv, &message.body) {
                Ok(body) => body,
                Err(err) => {
                    console::error(&format!(
                        "Message {} could not be decrypted: {err}",
                        message.message_id
                    ));
                    self.delete_message(session_id, message.message_id).await;
                    return Next::Continue;
                }
            },
            (Some(_), None) => {
                console::error(&format!(
                    "Message {} is encrypted but the session has no encryption key.",
                    message.message_id
                ));
                self.delete_message(session_id, message.message_id).await;
                return Next::Continue;
            }
        };
        let kind = message.message_type.to_ascii_lowercase();
        match kind.as_str() {
            "pipelineagentjobrequest" | "jobrequest" => {
                if running.is_some() || (self.once && *job_dispatched) {
                    // Run-once: leave further jobs on the server for another agent.
                    tracing::info!(
                        message_id = message.message_id,
                        "ignoring a second job while one is dispatched"
                    );
                    return Next::Continue;
                }
                self.delete_message(session_id, message.message_id).await;
                let job: JobRequestMessage = match serde_json::from_str(&body) {
                    Ok(job) => job,
                    Err(err) => {
                        console::error(&format!(
                            "Job message {} could not be read: {err}",
                            message.message_id
                        ));
                        return Next::Continue;
                    }
                };
                if job.plan.as_ref().is_some_and(|plan| plan.version >= 8) {
                    tracing::warn!(
                        "plan.version >= 8: the stand-in still reports completion itself"
                    );
                }
                // Same wording as the real agent's `_diag/Agent_*.log` (JobDispatcher), which
                // wrappers grep for the request id.
                tracing::info!(
                    "Job request {} for plan {} job {} received.",
                    job.request_id,
                    job.plan
                        .as_ref()
                        .and_then(|plan| plan.plan_id.as_deref())
                        .unwrap_or_default(),
                    job.job_id
                );
                let cancel = CancellationToken::new();
                let context = JobContext {
                    client: self.client.clone(),
                    settings: self.settings.clone(),
                    root: self.root.dir().to_path_buf(),
                    timing: self.timing,
                };
                let job_id = job.job_id.clone();
                let handle = tokio::spawn(context.run(job, cancel.clone()));
                *running = Some(RunningJob {
                    job_id,
                    cancel,
                    handle,
                });
                *job_dispatched = true;
            }
            "jobcancellation" => {
                self.delete_message(session_id, message.message_id).await;
                match serde_json::from_str::<JobCancellation>(&body) {
                    Ok(cancellation) => {
                        if let Some(job) = running
                            .as_ref()
                            .filter(|job| job.job_id.eq_ignore_ascii_case(&cancellation.job_id))
                        {
                            console::line("Job cancellation requested.");
                            job.cancel.cancel();
                        }
                    }
                    Err(err) => tracing::warn!(%err, "unreadable JobCancellation"),
                }
            }
            "agentrefresh" => {
                self.delete_message(session_id, message.message_id).await;
                console::line("Agent update requested.");
                *refresh_pending = true;
                if running.is_none() {
                    self.delete_session(session_id).await;
                    return Next::Exit(self.update_exit_code());
                }
            }
            _ => {
                tracing::info!(message_type = %message.message_type, "ignoring message");
                self.delete_message(session_id, message.message_id).await;
            }
        }
        Next::Continue
    }
}

/// Waits for the running job, or forever when there is none.
async fn wait_for(running: &mut Option<RunningJob>) -> JobReport {
    match running {
        Some(job) => match (&mut job.handle).await {
            Ok(report) => report,
            Err(err) => {
                tracing::error!(%err, "job task failed");
                JobReport {
                    request_id: 0,
                    name: job.job_id.clone(),
                    result: None,
                }
            }
        },
        None => std::future::pending().await,
    }
}

/// Errors the real agent does not retry.
fn is_fatal(err: &ApiError) -> bool {
    err.is_unauthorized()
        || err.status() == Some(403)
        || err.has_type_key("TaskAgentPoolNotFoundException")
        || err.has_type_key("AccessDeniedException")
}
